"""One answer path: a run answers the same wherever it is asked, on the base it trained on.

A QLoRA adapter learned to correct the 4-bit base. The Arena, the Chat tab, `workbench compare` and evaluation all
answer through workbench.inference.answers, so its greedy answer is one text everywhere, and the server keeps one
copy of each base.
"""

from __future__ import annotations

import json
from argparse import Namespace

import pytest

from workbench.inference import answers
from workbench.inference.answers import Side
from workbench.inference.generation import GenerationSettings

PROMPT = "Review: the kettle boils fast and looks great."
GREEDY = GenerationSettings(max_new_tokens=12, temperature=0.0, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def qlora_run(tmp_path_factory, tokenizer):
    pytest.importorskip("bitsandbytes")
    from conftest import build_tiny_model
    from datasets import Dataset

    from workbench.data import SAMPLES, load_data
    from workbench.training import TrainConfig, train

    tmp = tmp_path_factory.mktemp("qlora-answers")
    rows = list(load_data(SAMPLES["sentiment_json"].train_path).dataset)[:4]
    # Layers at least one 4-bit block wide (64): bitsandbytes' CPU inference kernel needs that.
    model_dir = build_tiny_model(tmp / "model", tokenizer, hidden_size=128, intermediate_size=256)
    config = TrainConfig(
        model=str(model_dir),
        name="q",
        output_dir=str(tmp / "runs"),
        adaptation="qlora",
        max_steps=2,
        batch_size=2,
        save_steps=2,
        max_length=128,
        learning_rate=5e-3,
        precision="fp32",
    )
    return train(config, dataset=Dataset.from_list(rows)).run_dir, model_dir


def test_a_qlora_run_answers_the_same_in_the_arena_chat_compare_and_evaluation(qlora_run, tmp_path, monkeypatch):
    from workbench.commands import compare
    from workbench.evaluation.evaluate import evaluate_run
    from workbench.inference.arena import Arena, ArenaChat
    from workbench.ui import chat_tab
    from workbench.workspace.learners import single_user

    run_dir, model_dir = qlora_run
    model = str(model_dir)
    monkeypatch.setenv("WORKBENCH_RUNS", str(run_dir.parent))

    chat = ArenaChat([Side("base"), Side("q")])
    for _ in chat.ask(Arena(model, run_dirs={"q": run_dir}), PROMPT, GREEDY):
        pass
    arena_answer = chat.turns[-1].answers[1]

    *_, (history, _) = chat_tab.respond(None, single_user(), model, PROMPT, [], 0.0, 1.0, 1.0, 12, "q")
    chat_answer = chat_tab.message_text(history[-1]["content"]).strip()

    printed = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
    settings = Namespace(temperature=0.0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=12, seed=0)
    compare.run(Namespace(adapter=[str(run_dir)], base=None, prompt=[PROMPT], system=None, **vars(settings)))
    monkeypatch.undo()
    compare_answer = next(p for p in printed if p.startswith("=== q ===")).split("\n", 1)[1].strip()

    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text(json.dumps({"prompt": PROMPT, "completion": "{}"}) + "\n")
    results = evaluate_run(run_dir, data=held_out, probe=False, settings=GREEDY)
    eval_answer = results["examples"][0]["answers"]["q"]

    assert results["base_quantization"] == "4bit"
    assert arena_answer, "the run said something"
    assert arena_answer == chat_answer == compare_answer == eval_answer
    on_full_base = answers.answers(model, [Side("base")], [[{"role": "user", "content": PROMPT}]], GREEDY)[0]
    assert arena_answer != on_full_base, "the run's answer differs from the base's, so the comparison can fail"


def test_the_server_keeps_one_copy_of_a_base_for_chat_and_the_arena(tiny_model_dir):
    from workbench.inference.arena import Arena, ArenaChat

    model = str(tiny_model_dir)
    chat_bench = answers.seat(Side("base"), model).bench
    chat = ArenaChat([Side("base")])
    for _ in chat.ask(Arena(model, run_dirs={}), "hello", GREEDY):
        pass
    assert answers.seat(Side("base"), model).bench is chat_bench
    assert answers.base_model(model) is chat_bench.base


def test_an_answer_resumed_by_another_thread_releases_its_bench(tiny_model_dir):
    """Gradio resumes a streamed answer on whichever thread serves the page next: the bench is freed all the same."""
    from concurrent.futures import ThreadPoolExecutor

    bench = answers.bench(str(tiny_model_dir))
    stream = bench.stream_rows(["base"], [[{"role": "user", "content": "hello"}]], GREEDY)
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:
        first.submit(next, stream).result()
        second.submit(lambda: list(stream)).result()
    assert bench.lock.acquire(timeout=5), "the bench is free for the next caller"
    bench.lock.release()


def test_an_answer_the_page_stopped_reading_does_not_keep_the_bench(tiny_model_dir):
    """A closed tab leaves its stream unread, never closed: the next caller still gets the bench."""
    import threading

    bench = answers.bench(str(tiny_model_dir))
    abandoned = bench.stream_rows(["base"], [[{"role": "user", "content": "hello"}]], GREEDY)
    next(abandoned)  # read once, then left as a closed tab leaves it
    done = threading.Event()

    def next_caller():
        answers.answers(str(tiny_model_dir), [Side("base")], [[{"role": "user", "content": "hi"}]], GREEDY)
        done.set()

    threading.Thread(target=next_caller, daemon=True).start()
    assert done.wait(timeout=60), "the next answer waited for a stream nobody reads"
    del abandoned
