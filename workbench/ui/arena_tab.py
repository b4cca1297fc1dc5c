"""Compare tab: the base and up to two runs' adapters answer one prompt side by side; votes become DPO pairs.

One :class:`ModelBench` per server holds its own copy of the base (PEFT wraps it in place, so it cannot
be the Chat tab's model) and every adapter asked for so far. Votes go to a temporary folder per browser
session, so visitors never mix their preference files.
"""

from __future__ import annotations

import tempfile
import threading

import gradio as gr

from workbench.compare import BASE, ModelBench
from workbench.errors import WorkbenchError
from workbench.generation import GenerationSettings
from workbench.models import load_model
from workbench.training import list_runs
from workbench.ui import public
from workbench.ui.run_manager import runs_root
from workbench.votes import PAIRS_FILE, read_pairs, read_votes, record_vote

_lock = threading.Lock()
_benches: dict[str, ModelBench] = {}
VOTES = {"A is better": "a", "B is better": "b", "Tie": "tie", "Both are bad": "both_bad"}


def adapter_runs() -> list[str]:
    """Runs that saved a LoRA adapter (full fine-tuning runs are whole models, not adapters)."""
    return [p.name for p in list_runs(runs_root()) if (p / "adapter" / "adapter_config.json").is_file()]


def bench_with(model_name: str, sides: list[str]) -> ModelBench:
    """The server's bench, with the adapters of the runs in ``sides`` attached (once each)."""
    if model_name not in _benches:
        _benches[model_name] = ModelBench(load_model(model_name))
    bench = _benches[model_name]
    for side in sides:
        if side != BASE and side not in bench.adapters:
            bench.add_adapter(runs_root() / side, name=side)
    return bench


def build_compare_tab(app: gr.Blocks, model_name: str) -> None:
    def answer(prompt: str, side_a: str, side_b: str, temperature: float, max_new_tokens: int):
        if not prompt.strip():
            raise gr.Error("Write a prompt first.")
        if side_a == side_b:
            raise gr.Error("Choose two different models for A and B.")
        try:
            public.check_prompt([prompt])
        except WorkbenchError as exc:
            raise gr.Error(str(exc)) from exc
        settings = GenerationSettings(temperature=temperature, max_new_tokens=int(max_new_tokens))
        # One generation at a time: adding an adapter while another visitor generates would change the model mid-answer.
        with _lock:
            try:
                bench = bench_with(model_name, [side_a, side_b])
            except WorkbenchError as exc:
                raise gr.Error(str(exc)) from exc
            for texts in bench.stream_side_by_side(prompt, sides=[side_a, side_b], settings=settings):
                yield texts[side_a], texts[side_b]

    def vote(label: str, folder: str | None, prompt: str, side_a: str, side_b: str, text_a: str, text_b: str,
             temperature: float, max_new_tokens: int):
        if not (text_a.strip() and text_b.strip()):
            raise gr.Error("Generate two answers before voting.")
        folder = folder or tempfile.mkdtemp(prefix="workbench-votes-")
        settings = GenerationSettings(temperature=temperature, max_new_tokens=int(max_new_tokens))
        record_vote(folder, prompt, text_a, text_b, VOTES[label], side_a, side_b, settings)
        pairs = read_pairs(folder)
        status = (f"Votes this session: {len(read_votes(folder))}. Preference rows: **{len(pairs)}** "
                  "(ties and 'both bad' are logged but make no pair).")
        return folder, status, f"{folder}/{PAIRS_FILE}" if pairs else None

    def refresh():
        choices = [BASE, *adapter_runs()]
        return gr.update(choices=choices), gr.update(choices=choices, value=choices[1] if len(choices) > 1 else BASE)

    with gr.Tab("Compare", id="compare"):
        gr.Markdown("Ask the base model and a tuned adapter the same thing with the same sampling seed, then vote. "
                    "Votes for A or B become rows of a `preferences.jsonl` that DPO trains on as it is.")
        with gr.Row():
            side_a = gr.Dropdown([BASE], value=BASE, label="Model A")
            side_b = gr.Dropdown([BASE], value=BASE, label="Model B", info="Runs with a LoRA adapter appear here.")
            refresh_button = gr.Button("Refresh runs", size="sm", scale=0)
        prompt = gr.Textbox(label="Prompt", lines=2, value="Rate this product review.\n\nThe kettle boils fast and looks great.")
        with gr.Row():
            temperature = gr.Slider(0, 1.5, value=0.3, step=0.05, label="Temperature", info="0 = greedy; both sides share the seed.")
            max_new_tokens = gr.Slider(16, 256, value=96, step=16, label="Max new tokens")
        generate = gr.Button("Answer side by side", variant="primary")
        with gr.Row():
            text_a = gr.Textbox(label="A", lines=8, interactive=False)
            text_b = gr.Textbox(label="B", lines=8, interactive=False)
        with gr.Row():
            vote_buttons = [gr.Button(label) for label in VOTES]
        folder = gr.State(None)  # this session's votes folder, created at its first vote
        vote_status = gr.Markdown()
        pairs_file = gr.File(label="preferences.jsonl (download)", interactive=False)

        gr.on([refresh_button.click, app.load], refresh, outputs=[side_a, side_b], api_name="compare_runs")
        gr.on([generate.click, prompt.submit], answer, inputs=[prompt, side_a, side_b, temperature, max_new_tokens],
              outputs=[text_a, text_b], api_name="compare", concurrency_id="generate",
              concurrency_limit=public.caps().generations)
        for button in vote_buttons:
            # The button's own label says which vote it is, so one handler serves all four.
            button.click(vote, inputs=[button, folder, prompt, side_a, side_b, text_a, text_b, temperature, max_new_tokens],
                         outputs=[folder, vote_status, pairs_file], api_name="vote")
