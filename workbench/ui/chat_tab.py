"""Chat tab: talk to the base model or any run (a one-side arena) with visible sampling settings; a thumbs up or
down on any answer becomes a KTO row (the conversation before it, the answer, the label) that ``method: kto`` trains.

Messages are shown as exactly the text the model read or wrote (:mod:`workbench.ui.chat_text`). Answers come
from :mod:`workbench.server.zerogpu` (``@spaces.GPU`` calls on ZeroGPU, plain calls elsewhere); the runs a page may
talk to are the Arena tab's (the learner's own and shared ones in workshop mode).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.inference.answers import Side
from workbench.inference.bench import BASE
from workbench.inference.generation import GenerationSettings, Message
from workbench.inference.votes import read_jsonl, record_feedback
from workbench.server import public
from workbench.ui.arena_tab import gpu_arena, sides_for
from workbench.ui.chat_text import message_text, shown
from workbench.ui.fields import field_input
from workbench.ui.identity import current
from workbench.workspace.learners import Identity, feedback_file


def answer_stream(
    model_name: str, side: str, messages: list[Message], settings: GenerationSettings, runs: dict | None = None
):
    """The answer so far, growing: the base or a run (one of ``runs``), on the one answer path the Arena uses."""
    for (text,) in gpu_arena(model_name, runs or {}, [Side(side)]).stream([Side(side)], [messages], settings):
        yield text


def respond(
    request: gr.Request,
    who: Identity | None,
    model_name: str,
    message: str,
    history: list[dict],
    temperature: float,
    top_p: float,
    repetition_penalty: float,
    max_new_tokens: int,
    side: str = BASE,
):
    if not message.strip():
        yield history, ""
        return
    # The chat history is passed as messages so the model's chat template sees every turn.
    messages = [
        *({"role": m["role"], "content": message_text(m["content"])} for m in history),
        {"role": "user", "content": message},
    ]
    try:
        public.check_prompt([m["content"] for m in messages])
        runs = None if (side or BASE) == BASE else sides_for(request, who)[1]
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    history = [*history, {"role": "user", "content": shown(message)}]
    settings = GenerationSettings(
        max_new_tokens=int(max_new_tokens), temperature=temperature, top_p=top_p, repetition_penalty=repetition_penalty
    )
    try:
        for answer in answer_stream(model_name, side or BASE, messages, settings, runs):
            yield [*history, {"role": "assistant", "content": shown(answer)}], ""
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc


def thumb(request: gr.Request | None, who: Identity | None, side: str, history: list[dict], like: gr.LikeData) -> str:
    """A thumbs up or down on an answer: its KTO row goes to this page's feedback file
    (:func:`workbench.workspace.learners.feedback_file`); a thumb taken back removes the row."""
    index = like.index if isinstance(like.index, int) else like.index[0]
    if not 0 <= index < len(history or []) or history[index].get("role") != "assistant":
        raise gr.Error("Only the model's answers take a thumb.")
    conversation = [{"role": m["role"], "content": message_text(m["content"])} for m in history[: index + 1]]
    label = like.liked if isinstance(like.liked, bool) else None  # "" when the thumb is taken back
    if label is not None and not all(m["content"].strip() for m in conversation):
        # The data check refuses empty turns, so such a row could never train.
        raise gr.Error("This conversation has an empty answer (the model stopped at once): press Clear and ask again.")
    try:
        public.check_prompt([m["content"] for m in conversation])
        path = feedback_file(current(who, request))
        rows = record_feedback(
            path, conversation[:-1], conversation[-1]["content"], label, side or BASE, public.caps().max_rows
        )
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    said = {True: "👍 recorded", False: "👎 recorded", None: "Thumb taken back"}[label]
    return f"{said}. Your thumbs file holds **{rows}** KTO rows: download it and train it with method **kto**."


def thumbs_download(request: gr.Request | None, who: Identity | None) -> str:
    """A copy of this page's thumbs file to download (the feedback folder itself is never served: it holds the
    conversations)."""
    try:
        path = feedback_file(current(who, request))
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    if not read_jsonl(path):
        raise gr.Error("No thumbs yet: press 👍 or 👎 on an answer first.")
    copy = Path(tempfile.mkdtemp(prefix="workbench-thumbs-")) / "kto.jsonl"
    shutil.copyfile(path, copy)
    return str(copy)


def models(request: gr.Request, who: Identity | None):
    """The Model picker: the base and the runs this page may talk to."""
    try:
        runs = list(sides_for(request, who)[1])
    except WorkbenchError:
        runs = []
    return gr.update(choices=[BASE, *runs])


def build_chat_tab(model_name: str, who: gr.State) -> None:
    with gr.Tab("Chat") as tab:
        gr.Markdown(
            f"Talk to **{model_name}** before you fine-tune it, or to any run after. "
            "Sampling settings are below the chat."
        )
        side = gr.Dropdown([BASE], value=BASE, label="Model", info="The base, or a run (its adapter or full model).")
        chatbot = gr.Chatbot(height=380, label="Conversation", render_markdown=False)
        message = gr.Textbox(placeholder="Ask something, e.g. What is the capital of France?", label="Message")
        with gr.Row():
            send = gr.Button("Send", variant="primary")
            clear = gr.Button("Clear")
        with gr.Row():
            thumbs_status = gr.Markdown(
                "👍 or 👎 on any answer saves it as a KTO row (the conversation before it, the answer, your label)."
            )
            download = gr.Button("Download my thumbs (kto.jsonl)", scale=0)
        thumbs_file = gr.File(label="kto.jsonl", interactive=False, height=90)
        with gr.Accordion("Sampling settings", open=False):
            temperature = field_input(GenerationSettings, "temperature", "Temperature (0 = greedy)")
            top_p = field_input(GenerationSettings, "top_p", "Top-p")
            repetition_penalty = field_input(
                GenerationSettings, "repetition_penalty", "Repetition penalty (stops the small model from looping)"
            )
            max_new_tokens = field_input(GenerationSettings, "max_new_tokens", "Max new tokens")
        model = gr.State(model_name)
        gr.on(
            [send.click, message.submit],
            respond,
            inputs=[who, model, message, chatbot, temperature, top_p, repetition_penalty, max_new_tokens, side],
            outputs=[chatbot, message],
            # One pool for every event that generates (chat, arena, evaluate): they share the same cores.
            concurrency_id="generate",
            concurrency_limit=public.caps().generations,
        )
        chatbot.like(thumb, inputs=[who, side, chatbot], outputs=thumbs_status, api_name="chat_thumb")
        download.click(thumbs_download, inputs=who, outputs=thumbs_file, api_name="chat_thumbs")
        clear.click(lambda: ([], ""), outputs=[chatbot, message])
        # A new model starts a new conversation; the list is read again whenever the tab is opened.
        side.change(lambda: ([], ""), outputs=[chatbot, message], api_name=False)
        tab.select(models, inputs=who, outputs=side, api_name="chat_models")
