"""An Ollama Modelfile for an exported GGUF: the chat template in Go template syntax, stop tokens, sampling defaults.

Ollama formats prompts with Go's text/template, not Jinja, so the tokenizer's chat template cannot be copied
over. Translating Jinja in general is a compiler's job; instead the template's pieces are *measured*: the Jinja
template is rendered on marker conversations, which gives each role's text before and after the content, the
default system turn (if the template adds one) and the generation prompt. Those pieces make a small Go template,
which is then rendered here (a renderer of exactly the Go subset written) on several conversations and compared
with the Jinja output. A template that does not decompose this way (content-dependent logic, tools) gets no
TEMPLATE line and a note, rather than a wrong one; Ollama then falls back to the template it knows for the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.inference.generation import GenerationSettings, Message

ROLES = ("system", "user", "assistant")
_MARK = {role: f"\x00{role.upper()}-CONTENT\x00" for role in ROLES}


@dataclass
class TemplatePieces:
    """The chat template taken apart: per role (text before, text after) the content, plus the fixed parts."""

    turns: dict[str, tuple[str, str]]
    default_system: str  # added before the first message when it is not a system message ("" if none)
    generation_prompt: str  # what starts the assistant's answer


def _render(tokenizer, messages: list[Message], generation: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)


def measure_template(tokenizer) -> TemplatePieces:
    """Render the tokenizer's chat template on marker conversations and cut out the fixed pieces."""
    conversation = [{"role": role, "content": _MARK[role]} for role in ROLES]
    renders = [_render(tokenizer, conversation[: n + 1]) for n in range(3)]
    turns = {}
    previous = ""
    for role, text in zip(ROLES, renders):
        if not text.startswith(previous) or text[len(previous) :].count(_MARK[role]) != 1:
            raise WorkbenchError("the chat template does not render turn by turn")
        before, after = text[len(previous) :].split(_MARK[role])
        turns[role] = (before, after)
        previous = text
    user_alone = _render(tokenizer, conversation[1:2])
    user_turn = turns["user"][0] + _MARK["user"] + turns["user"][1]
    if not user_alone.endswith(user_turn):
        raise WorkbenchError("the chat template's first user turn differs from later ones")
    with_prompt = _render(tokenizer, conversation[:2], generation=True)
    if not with_prompt.startswith(renders[1]):
        raise WorkbenchError("the chat template's generation prompt is not appended at the end")
    return TemplatePieces(turns, user_alone[: -len(user_turn)], with_prompt[len(renders[1]) :])


def go_template(pieces: TemplatePieces) -> str:
    """The Go template for Ollama: one line of actions, the measured text between them.

    No ``{{-`` trim markers: the measured pieces carry their own newlines, and trimming would eat them.
    """
    texts = [pieces.default_system, pieces.generation_prompt, *(p for pair in pieces.turns.values() for p in pair)]
    if any("{{" in t or '"""' in t for t in texts):
        raise WorkbenchError(
            "the chat template's text contains '{{' or '\"\"\"', which a Modelfile TEMPLATE cannot hold"
        )
    out = "{{ range $i, $m := .Messages }}"
    if pieces.default_system:
        out += '{{ if and (eq $i 0) (ne $m.Role "system") }}' + pieces.default_system + "{{ end }}"
    for n, (role, (before, after)) in enumerate(pieces.turns.items()):
        test = f"{{{{ {'if' if n == 0 else 'else if'} eq $m.Role {json.dumps(role)} }}}}"
        out += f"{test}{before}{{{{ $m.Content }}}}{after}"
    return out + "{{ end }}{{ end }}" + pieces.generation_prompt


# ---- a renderer for the Go template subset written above, to check it before it is shipped -------------------

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|-?\d+|\$\w+(?:\.\w+)*|\.\w+|\w+)')


def render_go_template(template: str, messages: list[Message]) -> str:
    """Render ``template`` as Go's text/template would, for the subset :func:`go_template` writes.

    Supported: ``range $i, $m := .Messages``, ``if``/``else if``/``else``/``end``, ``$m.Role``/``$m.Content``, and
    the functions ``and``, ``or``, ``not``, ``eq``, ``ne`` with string and integer literals. Anything else raises.
    """
    parts = _ACTION.split(template)  # text, action, text, action, ...
    out: list[str] = []
    _run_block(parts, 0, {".Messages": messages}, out, emit=True)
    return "".join(out)


def _run_block(parts: list[str], i: int, scope: dict, out: list[str], emit: bool) -> tuple[int, str]:
    """Run from ``parts[i]`` until an unmatched ``end``/``else`` action; return (its index, the action)."""
    while i < len(parts):
        if i % 2 == 0:
            if emit:
                out.append(parts[i])
            i += 1
            continue
        action = parts[i].strip()
        if action == "end" or action == "else" or action.startswith("else if "):
            return i, action
        if action.startswith("if "):
            i = _run_if(parts, i, action[3:], scope, out, emit)
        elif action.startswith("range "):
            match = re.fullmatch(r"range \$(\w+), \$(\w+) := \.Messages", action)
            if not match:
                raise WorkbenchError(f"unsupported range: {action}")
            items = list(enumerate(scope[".Messages"])) if emit else []
            end = i
            for index, message in items or [(0, None)]:  # with no items, one silent pass finds the end
                inner = scope | {"$" + match[1]: index, "$" + match[2]: message}
                end, closing = _run_block(parts, i + 1, inner, out, emit and message is not None)
                if closing != "end":
                    raise WorkbenchError("range without end")
            i = end + 1
        else:
            if emit:
                out.append(str(_eval(_TOKEN.findall(action), scope)))
            i += 1
    return i, ""


def _run_if(parts: list[str], i: int, condition: str, scope: dict, out: list[str], emit: bool) -> int:
    taken = False
    while True:
        run = emit and not taken and (condition is None or bool(_eval(_TOKEN.findall(condition), scope)))
        i, closing = _run_block(parts, i + 1, scope, out, run)
        taken = taken or run
        if closing == "end":
            return i + 1
        if closing == "else":
            condition = None
        elif closing.startswith("else if "):
            condition = closing[8:]
        else:
            raise WorkbenchError("if without end")


def _eval(tokens: list[str], scope: dict):
    value, rest = _expression(tokens, scope)
    if rest:
        raise WorkbenchError(f"unsupported template expression near {' '.join(rest)}")
    return value


_FUNCTIONS = {
    "and": lambda *a: all(a),
    "or": lambda *a: any(a),
    "not": lambda a: not a,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


def _expression(tokens: list[str], scope: dict):
    if tokens and tokens[0] in _FUNCTIONS:
        args, rest = [], tokens[1:]
        while rest and rest[0] != ")":
            arg, rest = _term(rest, scope)
            args.append(arg)
        return _FUNCTIONS[tokens[0]](*args), rest
    return _term(tokens, scope)


def _term(tokens: list[str], scope: dict):
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        value, rest = _expression(rest, scope)
        return value, rest[1:]
    if head.startswith('"'):
        return json.loads(head), rest
    if re.fullmatch(r"-?\d+", head):
        return int(head), rest
    if head.startswith("$"):
        name, *fields = head.split(".")
        value = scope[name]
        for f in fields:
            value = value[{"Role": "role", "Content": "content"}[f]]
        return value, rest
    raise WorkbenchError(f"unsupported template term {head!r}")


# ---- the Modelfile ---------------------------------------------------------------------------------------------


def checked_go_template(tokenizer) -> str:
    """The Go template, verified to render like the tokenizer's chat template on a few conversations."""
    template = go_template(measure_template(tokenizer))
    probes = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!\n"},
            {"role": "user", "content": "Bye"},
        ],
    ]
    for messages in probes:
        if render_go_template(template, messages) != _render(tokenizer, messages, generation=True):
            raise WorkbenchError("the Go template does not reproduce the chat template")
    return template


def modelfile_text(gguf_name: str, tokenizer, settings: GenerationSettings | None = None) -> tuple[str, list[str]]:
    """The Modelfile for ``./gguf_name`` and notes for the user.

    Stop tokens: the end-of-sequence token and the special tokens that close an answer or open the next turn.
    Sampling: the workbench's own defaults, so ``ollama run`` answers like the app (Ollama applies
    repeat_penalty over the last 64 tokens, transformers over all of them: close, not identical).
    """
    settings = settings or GenerationSettings()
    notes: list[str] = []
    lines = [
        "# Ollama Modelfile written by `workbench export`.",
        "# Use: ollama create my-model -f Modelfile && ollama run my-model",
        f"FROM ./{gguf_name}",
    ]
    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    try:
        template = checked_go_template(tokenizer)
        pieces = measure_template(tokenizer)
        boundary = pieces.turns["assistant"][1] + pieces.turns["user"][0]
        stops += [t for t in tokenizer.all_special_tokens if t in boundary and t not in stops]
        lines.append(f'TEMPLATE """{template}"""')
    except WorkbenchError as exc:
        notes.append(f"no TEMPLATE in the Modelfile ({exc}); Ollama will use the chat template it detects in the file")
    lines += [f"PARAMETER stop {json.dumps(s)}" for s in stops]
    lines.append("# The workbench's sampling defaults (workbench.inference.generation.GenerationSettings)")
    lines.append(f"PARAMETER temperature {settings.temperature:g}")
    if settings.temperature > 0:
        lines.append(f"PARAMETER top_p {settings.top_p:g}")
    lines.append(f"PARAMETER repeat_penalty {settings.repetition_penalty:g}")
    lines.append(f"PARAMETER num_predict {settings.max_new_tokens}")
    return "\n".join(lines) + "\n", notes
