"""Streaming generation: a reader that leaves stops the work, and the worker thread gets the cores."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from workbench import load_model
from workbench.inference.generation import GenerationSettings, as_messages, stream_batch
from workbench.inference.threads import release_idle_workers


def test_closing_the_stream_stops_generation_at_once(tiny_model_dir):
    lm = load_model(str(tiny_model_dir))
    steps = []
    hook = lm.model.register_forward_hook(lambda *_: steps.append(1))
    settings = GenerationSettings(max_new_tokens=400, temperature=1.0)
    threads_before = set(threading.enumerate())
    try:
        stream = stream_batch(lm.model, lm.tokenizer, [as_messages("Tell me a long story")], settings)
        next(stream)
        stream.close()  # what Gradio does when the page closes, and what a `break` in a notebook loop does
        still_running = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        assert not still_running, "the generation thread outlived its reader"
        assert len(steps) < 20, f"{len(steps)} forward passes: generation went on after the reader left"
    finally:
        hook.remove()


@pytest.mark.skipif(torch.get_num_threads() < 2, reason="one thread: OpenMP keeps no worker pool")
def test_the_caller_releases_its_idle_openmp_workers():
    def threads_in_process() -> int:
        return len(os.listdir("/proc/self/task"))

    if not os.path.isdir("/proc/self/task"):
        pytest.skip("no /proc to count threads")
    torch.randn(512, 512) @ torch.randn(512, 512)  # a parallel region: this thread now keeps a worker pool
    with_pool = threads_in_process()
    release_idle_workers()
    assert threads_in_process() < with_pool
    torch.randn(512, 512) @ torch.randn(512, 512)  # the pool comes back when this thread computes again
    assert threads_in_process() == with_pool
