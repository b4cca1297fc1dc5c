"""The dataset formats the workbench reads, how each is detected, and how it becomes what TRL's trainers take.

Every format is one row of :data:`FORMATS`: the columns that identify it, the kind of data the trainer sees,
and a function that turns one raw record into TRL's columns (or reports what is wrong with it). Detection
picks the first format whose columns most records have, so more specific formats come first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from trl.data_utils import extract_prompt  # TRL's own rule, so the split matches what its trainers do

from workbench.errors import WorkbenchError

Kind = Literal["conversational", "prompt_completion", "text", "preference", "kto"]
Message = dict[str, str]

# ShareGPT and other exports name the speakers in many ways; TRL's maybe_convert_to_chatml renames the keys
# (from/value -> role/content) but keeps these names, which chat templates do not understand.
ROLE_ALIASES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
}


@dataclass
class Problems:
    """What is wrong with one record: (field, message, code) triples, errors and warnings apart."""

    errors: list[tuple[str | None, str, str]] = field(default_factory=list)
    warnings: list[tuple[str | None, str, str]] = field(default_factory=list)

    def error(self, field_name: str | None, message: str, code: str) -> None:
        self.errors.append((field_name, message, code))

    def warn(self, field_name: str | None, message: str, code: str) -> None:
        self.warnings.append((field_name, message, code))


def _string(record: dict, name: str, problems: Problems, required: bool = True) -> str | None:
    """The field as a non-empty string, or None with the problem recorded."""
    value = record.get(name)
    if value is None:
        if required:
            problems.error(name, f"required field '{name}' is missing", "missing_field")
        return None
    if not isinstance(value, str):
        problems.error(name, f"expected a string, got {type(value).__name__}", "wrong_type")
        return None
    if required and not value.strip():
        problems.error(name, f"'{name}' is empty", "empty_field")
        return None
    return value


def _messages(
    value: Any, name: str, problems: Problems, keys: tuple[str, str] = ("role", "content")
) -> list[Message] | None:
    """A list of chat messages in role/content form; ``keys`` reads ShareGPT's from/value instead."""
    role_key, content_key = keys
    if value is None:
        problems.error(name, f"required field '{name}' is missing", "missing_field")
        return None
    if isinstance(value, dict):  # a single message where a list is expected (ShareGPT preference data)
        value = [value]
    if not isinstance(value, list):
        problems.error(name, f"expected a list of messages, got {type(value).__name__}", "wrong_type")
        return None
    if not value:
        problems.error(name, f"'{name}' has no messages", "empty_field")
        return None
    messages: list[Message] = []
    for i, message in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(message, dict):
            problems.error(where, f"expected a message object, got {type(message).__name__}", "wrong_type")
            return None
        if not _message_keys(message, where, keys, problems):
            return None
        role, content = message.get(role_key), message.get(content_key)
        if role is None or content is None:
            missing = role_key if role is None else content_key
            problems.error(f"{where}.{missing}", f"message has no '{missing}'", "missing_field")
            return None
        if not isinstance(content, str):
            problems.error(f"{where}.{content_key}", f"expected a string, got {type(content).__name__}", "wrong_type")
            return None
        if not isinstance(role, str) or role.lower() not in ROLE_ALIASES:
            problems.error(
                f"{where}.{role_key}", f"unknown role {short(role)} (use system, user or assistant)", "bad_role"
            )
            return None
        if not content.strip():
            problems.error(f"{where}.{content_key}", "message content is empty", "empty_field")
            return None
        messages.append({"role": ROLE_ALIASES[role.lower()], "content": content})
    return messages


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message must not grow with a hostile value (a huge integer,
    an expanded YAML alias)."""
    text = repr(value) if not isinstance(value, (dict, list)) else f"a {type(value).__name__} of {len(value)}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Message keys that carry meaning the trainer would silently drop: training the record as it is misleads.
TOOL_KEYS = ("tool_calls", "function_call", "tool_call_id")


def _message_keys(message: dict, where: str, keys: tuple[str, str], problems: Problems) -> bool:
    """Report message keys the workbench does not train on; False when the message cannot be trained as meant."""
    if any(k in message for k in TOOL_KEYS) or message.get(keys[0]) in ("tool", "function", "ipython"):
        problems.error(
            where,
            "tool calls (tool_calls, role tool/function) are not supported: training without them "
            "would teach answers with the calls cut out; leave these records out",
            "tool_calls",
        )
        return False
    for key in message:
        if key in keys:
            continue
        if key == "weight":
            if message[key] in (0, 0.0, False):
                problems.warn(
                    f"{where}.weight",
                    "weight 0 is not supported: this turn is trained like any other "
                    "(the workbench trains every assistant turn); drop the turn if it must not be learned",
                    "ignored_weight",
                )
            continue
        problems.warn(f"{where}.{key}", f"message key {short(key)} is not used: ignored", "unused_field")
    return True


def check_turns(messages: list[Message], name: str, problems: Problems, need_assistant: bool = True) -> None:
    """Roles must go [system] user assistant user assistant ...: what chat templates and the loss mask expect."""
    start = 1 if messages[0]["role"] == "system" else 0
    for i, message in enumerate(messages):
        expected = "system" if i < start else ("user" if (i - start) % 2 == 0 else "assistant")
        if message["role"] != expected:
            problems.error(
                f"{name}[{i}].role", f"role '{message['role']}' out of order: expected '{expected}'", "role_order"
            )
            return
    if need_assistant:
        if not any(m["role"] == "assistant" for m in messages):
            problems.error(name, "no assistant turn: there is nothing for the model to learn", "no_assistant")
        elif messages[-1]["role"] != "assistant":
            problems.warn(
                f"{name}[{len(messages) - 1}]",
                "the last turn is not the assistant's: it teaches nothing",
                "trailing_turn",
            )


def check_prompt_turns(messages: list[Message], name: str, problems: Problems) -> None:
    """A preference prompt is a conversation waiting for the assistant: it must end on the user's turn."""
    check_turns(messages, name, problems, need_assistant=False)
    if not problems.errors and messages[-1]["role"] != "user":
        problems.error(f"{name}[{len(messages) - 1}].role", "the prompt must end with the user's turn", "role_order")


def _alpaca(record: dict, problems: Problems) -> dict | None:
    instruction = _string(record, "instruction", problems)
    extra = _string(record, "input", problems, required=False)
    output = _string(record, "output", problems)
    system = _string(record, "system", problems, required=False)
    if problems.errors:
        return None
    # Alpaca's convention: the optional input follows the instruction after a blank line.
    user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    messages = [{"role": "system", "content": system}] if system and system.strip() else []
    return {"messages": [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": output}]}


def _chat(name: str, keys: tuple[str, str]) -> Callable[[dict, Problems], dict | None]:
    def normalize(record: dict, problems: Problems) -> dict | None:
        messages = _messages(record.get(name), name, problems, keys)
        if messages is None:
            return None
        check_turns(messages, name, problems)
        return None if problems.errors else {"messages": messages}

    return normalize


def _prompt_completion(record: dict, problems: Problems) -> dict | None:
    prompt, completion = record.get("prompt"), record.get("completion")
    if isinstance(prompt, list) or isinstance(completion, list):
        # TRL's conversational prompt/completion: trained like a chat whose last assistant turn is the completion.
        prompt_messages = _messages(prompt, "prompt", problems)
        completion_messages = _messages(completion, "completion", problems)
        if problems.errors:
            return None
        messages = prompt_messages + completion_messages
        check_turns(messages, "prompt", problems)
        return None if problems.errors else {"messages": messages}
    prompt, completion = _string(record, "prompt", problems), _string(record, "completion", problems)
    return None if problems.errors else {"prompt": prompt, "completion": completion}


def _text(record: dict, problems: Problems) -> dict | None:
    text = _string(record, "text", problems)
    return None if problems.errors else {"text": text}


def _preference_side(value: Any, name: str, problems: Problems, keys=("role", "content")) -> list[Message] | None:
    """``chosen``/``rejected`` in chat form: a string becomes one assistant message."""
    if isinstance(value, str):
        if not value.strip():
            problems.error(name, f"'{name}' is empty", "empty_field")
            return None
        value = [{keys[0]: "assistant", keys[1]: value}]
    messages = _messages(value, name, problems, keys)
    if messages and any(m["role"] != "assistant" for m in messages):
        problems.error(name, f"'{name}' must hold the assistant's answer only", "role_order")
        return None
    return messages


def _preference_result(prompt, chosen, rejected, problems: Problems) -> dict | None:
    if problems.errors:
        return None
    if chosen == rejected:
        problems.error(
            "rejected", "'chosen' and 'rejected' are identical: there is no preference to learn", "same_answer"
        )
        return None
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _preference(record: dict, problems: Problems) -> dict | None:
    values = [record.get(k) for k in ("prompt", "chosen", "rejected")]
    if _whole_conversations(values[1:]):
        # UltraFeedback's layout: a prompt string beside chosen/rejected that repeat it as whole conversations.
        return _preference_implicit(record, problems)
    if not any(isinstance(v, (list, dict)) for v in values):
        prompt, chosen, rejected = (_string(record, k, problems) for k in ("prompt", "chosen", "rejected"))
        return _preference_result(prompt, chosen, rejected, problems)
    # Chat-like: TRL's conversational preference form, prompt = messages, chosen/rejected = [assistant message].
    prompt = record.get("prompt")
    if isinstance(prompt, str):  # a plain prompt is the user's turn
        prompt = [{"role": "user", "content": prompt}] if prompt.strip() else []
    prompt = _messages(prompt, "prompt", problems)
    if prompt:
        check_prompt_turns(prompt, "prompt", problems)
    chosen = _preference_side(values[1], "chosen", problems)
    rejected = _preference_side(values[2], "rejected", problems)
    return _preference_result(prompt, chosen, rejected, problems)


def _whole_conversations(sides: list[Any]) -> bool:
    """Whether chosen/rejected hold whole conversations (a user turn in them) rather than the answers only."""
    return all(isinstance(v, list) and v for v in sides) and any(
        isinstance(m, dict) and m.get("role") in ("user", "system") for v in sides for m in v
    )


def _preference_implicit(record: dict, problems: Problems) -> dict | None:
    """TRL's implicit-prompt preference form: the prompt is the turns chosen and rejected share."""
    chosen = _messages(record.get("chosen"), "chosen", problems)
    rejected = _messages(record.get("rejected"), "rejected", problems)
    if problems.errors:
        return None
    split = extract_prompt({"chosen": chosen, "rejected": rejected})
    prompt = split["prompt"]
    if not prompt:
        problems.error(
            "chosen",
            "chosen and rejected share no opening turns, so there is no prompt: give a "
            "'prompt' field, or start both with the same user turn",
            "no_prompt",
        )
        return None
    check_prompt_turns(prompt, "chosen", problems)
    for side in ("chosen", "rejected"):
        if not problems.errors and (not split[side] or any(m["role"] != "assistant" for m in split[side])):
            problems.error(
                side, f"after the shared prompt, '{side}' must hold the assistant's answer only", "role_order"
            )
    return _preference_result(prompt, split["chosen"], split["rejected"], problems)


def _preference_sharegpt(record: dict, problems: Problems) -> dict | None:
    keys = ("from", "value")
    prompt = _messages(record.get("conversations"), "conversations", problems, keys)
    if prompt:
        check_prompt_turns(prompt, "conversations", problems)
    chosen = _preference_side(record.get("chosen"), "chosen", problems, keys)
    rejected = _preference_side(record.get("rejected"), "rejected", problems, keys)
    return _preference_result(prompt, chosen, rejected, problems)


# KTO's unpaired preference label as the files people have write it: JSON booleans, text from a CSV or a
# spreadsheet ("TRUE", "false"), or 1/0. Python's truth of "false" or "0" as a string is True, so each is parsed.
_LABELS = {"true": True, "1": True, "false": False, "0": False}


def kto_label(value: Any, problems: Problems) -> bool | None:
    """A KTO label as a bool (true: an answer to learn, false: one to avoid); None, with the problem recorded, for
    anything else."""
    if isinstance(value, bool):
        return value
    label = _LABELS.get(str(value).strip().lower()) if type(value) is int or isinstance(value, str) else None
    if label is None:
        problems.error(
            "label",
            f"label {short(value)} is not a KTO label: write true or false (or 1 or 0); a label column that is "
            "not KTO's must be removed or renamed",
            "bad_label",
        )
    return label


def _kto(record: dict, problems: Problems) -> dict | None:
    """TRL's unpaired preference form: a prompt, one answer, and whether the answer is good (strings or messages)."""
    label = kto_label(record.get("label"), problems)
    prompt, completion = record.get("prompt"), record.get("completion")
    if not any(isinstance(v, (list, dict)) for v in (prompt, completion)):
        prompt, completion = _string(record, "prompt", problems), _string(record, "completion", problems)
    else:
        if isinstance(prompt, str):  # a plain prompt is the user's turn
            prompt = [{"role": "user", "content": prompt}] if prompt.strip() else []
        prompt = _messages(prompt, "prompt", problems)
        if prompt:
            check_prompt_turns(prompt, "prompt", problems)
        completion = _preference_side(completion, "completion", problems)
    return None if problems.errors else {"prompt": prompt, "completion": completion, "label": label}


def _kto_chat(name: str, keys: tuple[str, str]) -> Callable[[dict, Problems], dict | None]:
    """A conversation and a label on its last answer (LLaMA-Factory's KTO files): the turns before it are the prompt."""

    def normalize(record: dict, problems: Problems) -> dict | None:
        label = kto_label(record.get("label"), problems)
        messages = _messages(record.get(name), name, problems, keys)
        if messages is None:
            return None
        check_turns(messages, name, problems, need_assistant=False)
        if not problems.errors and (len(messages) < 2 or messages[-1]["role"] != "assistant"):
            problems.error(
                f"{name}[{len(messages) - 1}]",
                "the label judges the last answer: the conversation must end with the assistant's turn",
                "trailing_turn",
            )
        if problems.errors:
            return None
        return {"prompt": messages[:-1], "completion": messages[-1:], "label": label}

    return normalize


@dataclass(frozen=True)
class Format:
    """One source format: the columns that identify it and how a record becomes the trainer's columns."""

    name: str
    columns: tuple[str, ...]
    kind: Kind
    normalize: Callable[[dict, Problems], dict | None]
    description: str
    optional: tuple[str, ...] = ()  # further columns the format reads; any others are reported as unused


# Order matters for detection: a record with conversations + chosen + rejected is ShareGPT preference data,
# not a ShareGPT chat, so the more specific format is tried first.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format(
            "preference_sharegpt",
            ("conversations", "chosen", "rejected"),
            "preference",
            _preference_sharegpt,
            "ShareGPT preference: conversations (from/value) is the prompt, chosen/rejected one message each",
        ),
        Format(
            "preference",
            ("prompt", "chosen", "rejected"),
            "preference",
            _preference,
            "prompt/chosen/rejected as strings or as message lists",
        ),
        Format(
            "preference_implicit",
            ("chosen", "rejected"),
            "preference",
            _preference_implicit,
            "TRL's implicit prompt: chosen/rejected as whole conversations that share the prompt turns",
        ),
        Format(
            "kto_sharegpt",
            ("conversations", "label"),
            "kto",
            _kto_chat("conversations", ("from", "value")),
            "ShareGPT conversations with a KTO label (true/false) on the last answer",
        ),
        Format(
            "kto_messages",
            ("messages", "label"),
            "kto",
            _kto_chat("messages", ("role", "content")),
            "chat messages with a KTO label (true/false) on the last answer (LLaMA-Factory's KTO files)",
        ),
        Format(
            "kto",
            ("prompt", "completion", "label"),
            "kto",
            _kto,
            "KTO: a prompt, one completion and a label (true: a good answer, false: one to avoid)",
        ),
        Format(
            "sharegpt",
            ("conversations",),
            "conversational",
            _chat("conversations", ("from", "value")),
            "ShareGPT: conversations of {from: human/gpt/system, value}",
        ),
        Format(
            "messages",
            ("messages",),
            "conversational",
            _chat("messages", ("role", "content")),
            "chat messages of {role, content}",
        ),
        Format(
            "alpaca",
            ("instruction", "output"),
            "conversational",
            _alpaca,
            "Alpaca: instruction, optional input, output",
            optional=("input", "system"),
        ),
        Format(
            "prompt_completion",
            ("prompt", "completion"),
            "prompt_completion",
            _prompt_completion,
            "prompt and completion strings (or message lists)",
        ),
        Format("text", ("text",), "text", _text, "plain text for language modelling"),
    ]
}


def detect_format(records: list[dict]) -> Format | None:
    """The format whose identifying columns most records have (None if none fits even half of them).

    Counting over all records, not the first, keeps one odd record from deciding for the whole file; on a
    tie the more specific format (earlier in FORMATS) wins.
    """
    dicts = [set(r) for r in records if isinstance(r, dict)]
    fits = {name: sum(set(f.columns) <= keys for keys in dicts) for name, f in FORMATS.items()}
    best = max(FORMATS, key=lambda name: fits[name])  # max keeps the first of equals
    return FORMATS[best] if dicts and fits[best] * 2 >= len(dicts) else None


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise WorkbenchError(f"unknown format {name!r}: use one of {', '.join(FORMATS)}")
    return FORMATS[name]


def apply_column_map(record: dict, column_map: dict[str, str] | None) -> dict:
    """Rename the user's columns to the format's: ``{"question": "prompt", "answer": "completion"}``."""
    if not column_map or not isinstance(record, dict):
        return record
    return {column_map.get(key, key): value for key, value in record.items()}


def record_kind(columns: Iterable[str]) -> Kind:
    """The trainer-side kind of normalized data: a record (its keys) or a dataset's ``column_names``."""
    columns = set(columns)
    if {"chosen", "rejected"} <= columns:
        return "preference"
    if {"prompt", "completion", "label"} <= columns:
        return "kto"
    if "messages" in columns:
        return "conversational"
    if {"prompt", "completion"} <= columns:
        return "prompt_completion"
    if "text" in columns:
        return "text"
    raise WorkbenchError(
        f"cannot tell what kind of data this is (columns: {', '.join(sorted(columns))}): expected messages, "
        "prompt+completion, text, prompt+chosen+rejected, or prompt+completion+label"
    )


def prompt_and_reference(record: dict) -> tuple[list[Message] | str, str]:
    """Split a normalized record into what the model is asked and the answer the data gives.

    Evaluation generates from the first and compares with the second.
    """
    if "messages" in record:
        messages = record["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        return messages[:last], messages[last]["content"]
    if "completion" in record:  # a KTO completion in chat form is the answer's message
        completion = record["completion"]
        return record["prompt"], completion if isinstance(completion, str) else completion[-1]["content"]
    if "chosen" in record:
        chosen = record["chosen"]
        return record["prompt"], chosen if isinstance(chosen, str) else chosen[-1]["content"]
    raise ValueError("plain text records have no prompt to answer")
