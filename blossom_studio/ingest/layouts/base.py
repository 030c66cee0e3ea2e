"""The adapter interface every layout implements, and the shared field names layouts look for."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.records import Candidate, Sample, get_text, leftover, message

PROMPT_KEYS = ("prompt", "question", "problem", "instruction", "query", "text")
RESPONSE_KEYS = ("response", "output", "completion")
REFERENCE_KEYS = ("reference", "ground_truth", "answer", "std_answer", "solution")


class Layout(ABC):
    """Turns one record of a known layout into a canonical Sample."""

    name: ClassVar[str]

    @abstractmethod
    def matches(self, record: dict[str, Any]) -> bool:
        """Say whether the record looks like this layout."""

    @abstractmethod
    def convert(self, record: dict[str, Any]) -> Sample:
        """Convert the record, raising RecordError that names the field when it is malformed."""


def first_key(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """Return the first of `keys` present in the record with a non-null value."""
    for key in keys:
        if record.get(key) is not None:
            return key
    return None


def reference_of(record: dict[str, Any], used: set[str]) -> str | None:
    """Return the record's reference answer (the first reference field present), marking it used."""
    key = first_key(record, REFERENCE_KEYS)
    if key is None:
        return None
    used.add(key)
    text = get_text(record, key)
    return text if text and text.strip() else None


def system_messages(record: dict[str, Any], used: set[str]) -> list[dict[str, Any]]:
    """Return a system message from a top-level `system` field, if the record has a non-empty one."""
    if "system" not in record:
        return []
    used.add("system")
    text = get_text(record, "system", required=False)
    return [message("system", text, "system")] if text and text.strip() else []


def history_messages(record: dict[str, Any], used: set[str]) -> list[dict[str, Any]]:
    """Return the earlier turns of an Alpaca/ChatGLM `history` list of [prompt, answer] pairs, marking it used."""
    if "history" not in record:
        return []
    used.add("history")
    history = record["history"] or []
    if not isinstance(history, list):
        raise RecordError(f"expected a list of [prompt, answer] pairs, got {type_name(history)}", "history")
    messages = []
    for index, pair in enumerate(history):
        where = f"history[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise RecordError("expected a [prompt, answer] pair", where)
        messages.append(message("user", pair[0], f"{where}[0]"))
        messages.append(message("assistant", pair[1], f"{where}[1]"))
    return messages


def prompt_text(record: dict[str, Any], used: set[str], keys: tuple[str, ...] = PROMPT_KEYS) -> str:
    """Return the prompt from the first prompt field, with an Alpaca `input` appended on a new line."""
    key = first_key(record, keys)
    if key is None:
        raise RecordError(f"missing; looked for {', '.join(keys)} (or name yours with --map prompt=FIELD)",
                          keys[0] if len(keys) == 1 else "prompt")
    used.add(key)
    text = get_text(record, key)
    if key == "instruction" and "input" in record:
        used.add("input")
        extra = get_text(record, "input", required=False)
        if extra and extra.strip():
            text = f"{text}\n{extra}"
    if not text or not text.strip():
        raise RecordError("the prompt is empty", key)
    return text


def candidate(value: Any, path: str, *, model: str | None, label: str, extra: dict[str, Any] | None = None
              ) -> Candidate:
    """Build a candidate answer from a string, or an object with `value`/`content`/`text`."""
    if isinstance(value, dict):
        for text_key in ("content", "value", "text", "completion", "response"):
            if text_key in value:
                role = value.get("role") or "assistant"
                kept = {k: v for k, v in value.items() if k not in (text_key, "role", "from")}
                if kept:
                    extra = {**(extra or {}), **kept}
                built = message("assistant" if role in ("gpt", "assistant", "model") else role,
                                value[text_key], path)
                return Candidate(built, model=model, label=label, extra=extra)
        raise RecordError("expected an answer object with 'content' or 'value'", path)
    if not isinstance(value, str):
        raise RecordError(f"expected a string or an answer object, got {type_name(value)}", path)
    return Candidate(message("assistant", value, path), model=model, label=label, extra=extra)


def finish(record: dict[str, Any], messages: list[dict[str, Any]], used: set[str], *,
           reference: str | None = None, candidates: list[Candidate] | None = None,
           metadata: dict[str, Any] | None = None) -> Sample:
    """Assemble a Sample, moving `id` and `source` to their own fields and unmapped fields to metadata."""
    meta = dict(metadata or {})
    meta.update(leftover(record, used | {"id", "source"}))
    source = record.get("source")
    if not isinstance(source, str):
        source = meta.get("source") if isinstance(meta.get("source"), str) else None
        if isinstance(record.get("source"), (dict, list, int, float)):
            meta["source"] = record["source"]
    raw_id = record.get("id")
    source_id = None if raw_id is None or isinstance(raw_id, (dict, list)) else str(raw_id)
    return Sample(messages=messages, reference=reference, candidates=candidates or [], metadata=meta,
                  source=source, source_id=source_id)
