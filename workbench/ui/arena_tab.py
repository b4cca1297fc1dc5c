"""Arena tab: two to four sides chat turn after turn, named or blind; votes feed a leaderboard and DPO rows.

The answers come from :func:`workbench.server.zerogpu.stream_answers` (a ``@spaces.GPU`` call on ZeroGPU, a plain
call elsewhere) on the one answer path (:mod:`workbench.inference.answers`), whose bench the Chat tab shares. Each
visitor's conversation is an :class:`~workbench.inference.arena.ArenaChat` in ``gr.State``: a vote records what
the server generated, never text the page sends back.

Which runs a page may put on a side, and where its votes go, the workspace answers
(:func:`workbench.workspace.learners.visible_runs`, :func:`~workbench.workspace.learners.votes_dir`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.inference.answers import MAX_SCALE, Side
from workbench.inference.arena import LETTERS, MAX_MESSAGE_CHARS, MAX_SIDES, MAX_SYSTEM_CHARS, ArenaChat, blind_pair
from workbench.inference.bench import BASE
from workbench.inference.generation import GenerationSettings
from workbench.inference.votes import vote_log
from workbench.server import public
from workbench.server.zerogpu import GpuArena
from workbench.ui.chat_text import shown
from workbench.ui.fields import field_input
from workbench.ui.identity import current
from workbench.workspace.learners import Identity, visible_runs, votes_dir
from workbench.workspace.runs import run_kind

NONE = "(none)"
NAMED, BLIND = "Named sides", "Blind pair"
VOTES = {"A is better": "a", "B is better": "b", "Tie": "tie", "Both are bad": "both_bad"}
MAX_SESSION_ROWS = 1000  # preference rows a visitor can download; older ones stay in the server's log

_boards: dict[Path, tuple] = {}  # votes log -> (its leaderboard, the view drawn from it, named votes counted)


def answering(identity: Identity) -> dict[str, Path]:
    """Side name -> run folder of every run this page may put on a side."""
    return {name: path for name, path in visible_runs(identity).items() if run_kind(path) is not None}


def sides_for(request: gr.Request | None, who: Identity | None) -> tuple[Identity, dict[str, Path]]:
    """This page's identity and its runs (a located error before a learner joins)."""
    identity = current(who, request)
    return identity, answering(identity)


def gpu_arena(model_name: str, runs: dict[str, Path], sides: list[Side]) -> GpuArena:
    """The arena that answers for this page; a side that is not one of its runs is refused here, by name."""
    for side in sides:
        if side.run != BASE and side.run not in runs:
            raise WorkbenchError(f"no run {side.run[:60]!r} among your runs: pick one from the list (Refresh runs)")
    return GpuArena(model_name, {name: str(path) for name, path in runs.items()})


def refresh(request: gr.Request, who: Identity | None):
    """The side pickers and the blind pool with the runs this page may use now."""
    try:
        choices = [BASE, *sides_for(request, who)[1]]
    except WorkbenchError:
        choices = [BASE]
    slots = [gr.update(choices=[NONE, *choices]) for _ in range(MAX_SIDES)]
    return *slots, gr.update(choices=choices, value=choices)


def _render(chat: ArenaChat | None):
    """One Chatbot update per slot: each side's own conversation, escaped (markup shows as text)."""
    updates = []
    for i in range(MAX_SIDES):
        if chat is None or i >= len(chat.sides):
            updates.append(gr.update(value=[], visible=i < 2 and chat is None, label=f"Side {LETTERS[i]}"))
            continue
        messages = []
        for turn in chat.turns:
            messages += [
                {"role": "user", "content": shown(turn.user)},
                {"role": "assistant", "content": shown(turn.answers[i])},
            ]
        updates.append(gr.update(value=messages, visible=True, label=chat.names()[i]))
    return updates


def _settings(temperature: float, max_new_tokens: float, seed: float) -> GenerationSettings:
    return GenerationSettings(temperature=float(temperature), max_new_tokens=int(max_new_tokens), seed=int(seed))


def _chat_for(chat: ArenaChat | None, mode: str, pool: list[str], slots: tuple, system: str) -> tuple[ArenaChat, str]:
    """The conversation this message continues, or a new one when the sides or the system prompt changed."""
    if len(system) > MAX_SYSTEM_CHARS:
        raise WorkbenchError(
            f"the system prompt is {len(system)} characters long; the arena takes up to {MAX_SYSTEM_CHARS}"
        )
    if mode == BLIND:
        if chat is not None and chat.blind and not chat.revealed and chat.system == system:
            return chat, ""
        return ArenaChat(
            blind_pair(pool), system=system, blind=True
        ), "New blind round: names are shown after your vote."
    sides = [Side(name, float(scale)) for name, scale in zip(slots[::2], slots[1::2]) if name and name != NONE]
    if len(sides) < 2:
        raise WorkbenchError("choose at least two sides (or use the Chat tab to talk to one)")
    labels = [s.label for s in sides]
    if chat is not None and not chat.blind and [s.label for s in chat.sides] == labels and chat.system == system:
        return chat, ""
    return ArenaChat(sides, system=system), "New conversation with " + ", ".join(labels) + "."


def _stream(chat: ArenaChat, turns, note: str):
    """Run a turn generator, yielding (chat, chatbots..., message box, status) as the sides write.

    The message box is emptied once, at the first token: later updates leave it alone, so a visitor can
    type the next message while the answers stream.
    """
    box = ""
    try:
        for _ in turns:
            yield chat, *_render(chat), box, note
            box = gr.update()
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    done = f"{note} Turn {len(chat.turns)}: every side answered.".strip()
    yield chat, *_render(chat), box, done + (" Vote below." if chat.can_vote() is None else "")


def answer(
    request: gr.Request,
    who: Identity | None,
    model_name: str,
    message: str,
    chat: ArenaChat | None,
    mode: str,
    pool: list[str],
    *rest,
):
    """Send ``message`` to every side (slots: side and scale per slot, then system, temperature, max tokens, seed)."""
    *slots, system, temperature, max_new_tokens, seed = rest
    try:
        if len(message) > MAX_MESSAGE_CHARS:
            raise WorkbenchError(
                f"the message is {len(message)} characters long; the arena takes up to {MAX_MESSAGE_CHARS}"
            )
        _, runs = sides_for(request, who)
        chat, note = _chat_for(chat, mode, pool or [], tuple(slots), (system or "").strip())
        public.check_prompt(["x" * chat.text_size(), message])
        turns = chat.ask(gpu_arena(model_name, runs, chat.sides), message, _settings(temperature, max_new_tokens, seed))
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    yield from _stream(chat, turns, note)


def regenerate(request: gr.Request, who: Identity | None, model_name: str, chat: ArenaChat | None):
    """Answer the last message again, every side with the next seed."""
    if chat is None:
        raise gr.Error("Nothing to regenerate yet: send a message first.")
    try:
        turns = chat.regenerate(gpu_arena(model_name, sides_for(request, who)[1], chat.sides))
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    yield from _stream(chat, turns, "Regenerated with the next seed.")


def clear():
    return None, *_render(None), "", ""


def new_blind_round(pool: list[str], system: str):
    try:
        chat = ArenaChat(blind_pair(pool or []), system=(system or "").strip()[:MAX_SYSTEM_CHARS], blind=True)
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    return (
        chat,
        *_render(chat),
        "",
        f"Blind round: two sides drawn from {len(set(pool))}; names are shown after your vote.",
    )


def vote(
    label: str,
    request: gr.Request | None,
    who: Identity | None,
    chat: ArenaChat | None,
    rows: list[dict] | None,
    model_name: str = "",
):
    """Record the vote on the last turn from the server's own copy of the conversation; reveal blind names.

    Each button binds its own ``label``: the page sends nothing but which button, so a vote cannot carry text.
    The vote goes to this page's votes folder (:func:`workbench.workspace.learners.votes_dir`).
    """
    if chat is None:
        raise gr.Error("Send a message and let both sides answer before voting.")
    try:
        identity = current(who, request)
        pair = chat.vote(VOTES[label], votes_dir(identity), base=model_name, voter=identity.owner)
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    rows = [*(rows or []), pair][-MAX_SESSION_ROWS:] if pair else list(rows or [])
    a, b = (s.label for s in chat.sides)
    status = (
        f"Recorded: **{label}** (A was {a}, B was {b}). Your preference rows this session: **{len(rows)}** "
        "(ties and 'both bad' are logged but make no pair)."
    )
    return chat, *_render(chat), status, rows


def download(rows: list[dict] | None):
    """This visitor's preference rows as a file, written once per click (never per vote)."""
    if not rows:
        raise gr.Error("No preference rows yet: vote 'A is better' or 'B is better' first.")
    path = Path(tempfile.mkdtemp(prefix="workbench-prefs-")) / "preferences.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def leaderboard_view(request: gr.Request | None, who: Identity | None):
    """The leaderboard table, the win-rate heatmap and the vote counts of this page's votes log (drawn again only
    when the log's fit changed: :class:`workbench.inference.votes.VoteLog` refits only when votes were added)."""
    try:
        log = vote_log(votes_dir(current(who, request)))
    except WorkbenchError as exc:
        return str(exc), None, ""
    named = sum(log.named.values())
    named_note = (
        f" {_votes(named)} in named rounds, shown apart: a named vote knows whose side is whose." if named else ""
    )
    try:
        board = log.leaderboard()
    except ValueError:
        return f"No blind votes yet: play a blind round and the ranking appears here.{named_note}", None, ""
    drawn = _boards.get(log.path)
    if drawn is None or drawn[0] is not board or drawn[2] != named:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(board.choices.items()))
        _boards[log.path] = drawn = (
            board,
            (
                board.table(),
                board.heatmap(),
                f"{_votes(sum(board.choices.values()))} in blind rounds ({counts})." + named_note,
            ),
            named,
        )
        while len(_boards) > 64:  # one per learner's log in a room
            _boards.pop(next(iter(_boards)))
    return drawn[1]


def _votes(count: int) -> str:
    return f"{count} vote{'' if count == 1 else 's'}"


def _vote_handler(label: str):
    """The handler of one vote button (a function, not a partial: Gradio finds ``gr.Request`` by its annotation)."""

    def vote_button(
        request: gr.Request, who: Identity | None, chat: ArenaChat | None, rows: list[dict] | None, model_name: str
    ):
        return vote(label, request, who, chat, rows, model_name)

    return vote_button


def build_arena_tab(app: gr.Blocks, model_name: str, who: gr.State) -> None:
    """The Arena tab; ``who`` is the page's identity (runs it may use, where its votes go)."""
    with gr.Tab("Arena", id="arena"):
        gr.Markdown(
            "Chat with two to four models at once: the base, your runs, an adapter at another LoRA scale. "
            "Each side keeps its own conversation and samples with the same seed. Vote on two sides; "
            "votes for A or B become preference rows that DPO trains on as they are. "
            "A **blind pair** hides the names until you vote."
        )
        mode = gr.Radio([NAMED, BLIND], value=NAMED, label="Mode")
        with gr.Row(visible=True) as named_row:
            slots = []
            for i, letter in enumerate(LETTERS[:MAX_SIDES]):
                with gr.Column(min_width=160):
                    slots.append(gr.Dropdown([NONE, BASE], value=BASE if i == 0 else NONE, label=f"Side {letter}"))
                    slots.append(gr.Slider(0, MAX_SCALE, value=1.0, step=0.1, label="LoRA scale", info="adapters only"))
        with gr.Row(visible=False) as blind_row:
            pool = gr.CheckboxGroup(
                [BASE], value=[BASE], label="Blind pool", info="Two are drawn at random each round."
            )
            new_round = gr.Button("New blind round", scale=0)
        refresh_button = gr.Button("Refresh runs", size="sm")
        system = gr.Textbox(label="System prompt (optional)", lines=1, max_lines=4)
        with gr.Row():
            chatbots = [
                gr.Chatbot(
                    height=320,
                    label=f"Side {letter}",
                    render_markdown=False,
                    visible=i < 2,
                    elem_id=f"arena-side-{letter}",
                )
                for i, letter in enumerate(LETTERS[:MAX_SIDES])
            ]
        message = gr.Textbox(
            label="Message",
            elem_id="arena-message",
            placeholder="Ask every side, e.g. Rate this review: the kettle boils fast.",
        )
        with gr.Row():
            send = gr.Button("Send", variant="primary")
            regenerate_button = gr.Button("Regenerate")
            clear_button = gr.Button("Clear")
        with gr.Row():
            vote_buttons = [gr.Button(label) for label in VOTES]
        status = gr.Markdown()
        with gr.Accordion("Sampling settings", open=False):
            temperature = field_input(GenerationSettings, "temperature", "Temperature (0 = greedy)")
            # Shorter answers than Chat's: every side answers in turn.
            max_new_tokens = field_input(
                GenerationSettings, "max_new_tokens", "Max new tokens", 96, maximum=256, elem_id="arena-max-tokens"
            )
            seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed (the same for every side)")
        with gr.Row():
            download_button = gr.Button("Download my preference rows", size="sm", scale=0)
            pairs_file = gr.File(label="preferences.jsonl", interactive=False, height=90)
        with gr.Accordion("Leaderboard", open=True):
            board_button = gr.Button("Refresh leaderboard", size="sm")
            board_table = gr.Markdown(elem_id="arena-leaderboard")
            board_plot = gr.Plot(label="Win rate")
            board_counts = gr.Markdown()

        chat = gr.State(None)  # this visitor's ArenaChat: the only source a vote records
        rows = gr.State([])  # this visitor's preference rows, for the download
        model = gr.State(model_name)
        turn_outputs = [chat, *chatbots, message, status]
        board_outputs = [board_table, board_plot, board_counts]

        gr.on(
            [refresh_button.click, app.load, who.change],
            refresh,
            inputs=who,
            outputs=[*slots[::2], pool],
            api_name="arena_runs",
        )
        mode.change(
            lambda m: (gr.update(visible=m == NAMED), gr.update(visible=m == BLIND), *clear()),
            inputs=mode,
            outputs=[named_row, blind_row, *turn_outputs],
            api_name=False,
        )
        generate = dict(concurrency_id="generate", concurrency_limit=public.caps().generations)
        gr.on(
            [send.click, message.submit],
            answer,
            inputs=[who, model, message, chat, mode, pool, *slots, system, temperature, max_new_tokens, seed],
            outputs=turn_outputs,
            api_name="arena",
            **generate,
        )
        regenerate_button.click(
            regenerate, inputs=[who, model, chat], outputs=turn_outputs, api_name="arena_regenerate", **generate
        )
        clear_button.click(clear, outputs=turn_outputs, api_name="arena_clear")
        new_round.click(new_blind_round, inputs=[pool, system], outputs=turn_outputs, api_name="arena_blind")
        for button, (label, choice) in zip(vote_buttons, VOTES.items()):
            button.click(
                _vote_handler(label),
                inputs=[who, chat, rows, model],
                outputs=[chat, *chatbots, status, rows],
                api_name=f"vote_{choice}",
            ).then(leaderboard_view, inputs=who, outputs=board_outputs, api_name=False)
        download_button.click(download, inputs=rows, outputs=pairs_file, api_name="arena_download")
        gr.on(
            [board_button.click, app.load, who.change],
            leaderboard_view,
            inputs=who,
            outputs=board_outputs,
            api_name="leaderboard",
        )
