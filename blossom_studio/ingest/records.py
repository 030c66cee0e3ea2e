"""The canonical sample that every layout adapter produces, and helpers to build it safely."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name

ROLES = frozenset(
    {"system", "user", "assistant", "tool", "function", "function_call", "observation", "developer"}
)
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


@dataclass(slots=True)
class Candidate:
    """An answer to the sample's prompt that arrived with the record (a completion or one side of a pair)."""

    message: dict[str, Any]
    model: str | None = None
    label: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Sample:
    """One conversation or prompt in the Blossom chat shape, before it is stored."""

    messages: list[dict[str, Any]]
    reference: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_id: str | None = None


def get_text(record: dict[str, Any], key: str, *, required: bool = True, path: str | None = None) -> str | None:
    """Return `record[key]` as a string (numbers are converted), or raise a RecordError naming the field."""
    name = path or key
    if key not in record or record[key] is None:
        if required:
            raise RecordError("missing", name)
        return None
    value = record[key]
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"expected a string, got {type_name(value)}", name)


def content_of(value: Any, path: str) -> str | list[Any]:
    """Normalise message content: strings stay, lists of text parts are joined, other part lists are kept."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts: list[str] = []
        for index, part in enumerate(value):
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                raise RecordError(f"expected a content part object, got {type_name(part)}", f"{path}[{index}]")
            if part.get("type", "text") not in TEXT_PART_TYPES:
                return value
            text = part.get("text", part.get("value"))
            if not isinstance(text, str):
                raise RecordError(f"text part without a string 'text' or 'value', got {type_name(text)}",
                                  f"{path}[{index}]")
            texts.append(text)
        return "".join(texts)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"expected a string or a list of content parts, got {type_name(value)}", path)


def message(role: str, content: Any, path: str, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build one canonical message, keeping extra per-message fields (loss_weight, name, tool_calls...)."""
    built: dict[str, Any] = {"role": role, "content": content_of(content, f"{path}.content")}
    if extras:
        built.update(extras)
    return built


def messages_from_list(value: Any, path: str) -> list[dict[str, Any]]:
    """Validate an OpenAI-style list of `{role, content}` objects and return canonical messages."""
    if not isinstance(value, list):
        raise RecordError(f"expected a list of messages, got {type_name(value)}", path)
    if not value:
        raise RecordError("the conversation is empty", path)
    built = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise RecordError(f"expected a message object, got {type_name(item)}", where)
        role = item.get("role")
        if not isinstance(role, str):
            raise RecordError(f"missing or not a string (got {type_name(role)})", f"{where}.role")
        if role not in ROLES:
            raise RecordError(f"unknown role '{role}'; expected one of {', '.join(sorted(ROLES))}", f"{where}.role")
        if "content" not in item:
            if not item.get("tool_calls"):
                raise RecordError("missing", f"{where}.content")
            content: Any = ""
        else:
            content = item["content"]
            if content is None:
                content = ""
        extras = {k: v for k, v in item.items() if k not in ("role", "content")}
        built.append(message(role, content, where, extras))
    return built


def check_conversation(messages: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """Reject a conversation with no message or with no text at all."""
    if not messages:
        raise RecordError("the conversation is empty", path)
    if all(isinstance(m["content"], str) and not m["content"].strip() for m in messages):
        raise RecordError("every message is empty", path)
    return messages


def leftover(record: dict[str, Any], used: frozenset[str] | set[str]) -> dict[str, Any]:
    """Return the record's fields that the layout did not map, to be kept in metadata."""
    return {k: v for k, v in record.items() if k not in used}
