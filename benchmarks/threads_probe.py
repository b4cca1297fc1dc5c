"""Does a second thread's OpenMP pool slow decoding, and does releasing the caller's pool fix it?

One process, the embedded model, one batch of 3 answers x 64 tokens, each case 3 times (see
``workbench/inference/threads.py`` and docs/benchmarks.md):

    uv run python -m benchmarks.threads_probe
"""

from __future__ import annotations

import threading
import time

import torch

from workbench.inference.generation import GenerationSettings, as_messages, batch_chat_inputs
from workbench.inference.threads import release_idle_workers
from workbench.models import load_model


def main(repeats: int = 3) -> None:
    lm = load_model("default")
    inputs = batch_chat_inputs(lm.tokenizer, [as_messages("Tell me about the history of Paris.")] * 3, "cpu")
    settings = GenerationSettings(max_new_tokens=64).generate_kwargs(3)

    def generate() -> None:
        with torch.inference_mode():
            lm.model.generate(**inputs, pad_token_id=lm.tokenizer.pad_token_id, **settings)

    def timed(run) -> float:
        start = time.perf_counter()
        run()
        return round(time.perf_counter() - start, 2)

    def in_new_thread(release: bool):
        def run() -> None:
            if release:
                release_idle_workers()
            thread = threading.Thread(target=generate)
            thread.start()
            thread.join()

        return run

    generate()  # warm-up: this thread now holds an OpenMP pool, as a notebook's or a server's thread does
    print("calling thread:", [timed(generate) for _ in range(repeats)], flush=True)
    print("new thread per call:", [timed(in_new_thread(False)) for _ in range(repeats)], flush=True)
    print("new thread, caller's pool released:", [timed(in_new_thread(True)) for _ in range(repeats)], flush=True)
    parked = threading.Event()

    def park() -> None:
        torch.randn(512, 512) @ torch.randn(512, 512)  # a parallel region: this thread keeps a pool from now on
        parked.wait()

    other = threading.Thread(target=park)
    other.start()
    time.sleep(1)
    print("calling thread, another thread's pool alive:", [timed(generate) for _ in range(repeats)], flush=True)
    parked.set()
    other.join()


if __name__ == "__main__":
    main()
