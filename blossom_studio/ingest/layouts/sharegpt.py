"""ShareGPT `conversations` lists and Firefly-style `conversation` turn lists."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.layouts.base import Layout, finish, reference_of, system_messages
from blossom_studio.ingest.records import ROLES, Sample, check_conversation, message

SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant",
    "system": "system",
    "function_call": "function_call", "observation": "observation",
    "tool": "tool", "function": "function",
}


def sharegpt_messages(value: Any, path: str) -> list[dict[str, Any]]:
    """Convert a ShareGPT turn list (`from`/`value`, or `role`/`content`) into canonical messages."""
    if not isinstance(value, list):
        raise RecordError(f"expected a list of turns, got {type_name(value)}", path)
    if not value:
        raise RecordError("the conversation is empty", path)
    built = []
    for index, turn in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(f"expected a turn object, got {type_name(turn)}", where)
        speaker_key, text_key = ("from", "value") if "from" in turn else ("role", "content")
        speaker = turn.get(speaker_key)
        if not isinstance(speaker, str):
            raise RecordError(f"missing or not a string (got {type_name(speaker)})", f"{where}.{speaker_key}")
        role = SHAREGPT_ROLES.get(speaker.lower(), speaker if speaker in ROLES else None)
        if role is None:
            known = ", ".join(sorted(SHAREGPT_ROLES))
            raise RecordError(f"unknown speaker '{speaker}'; expected one of {known}", f"{where}.{speaker_key}")
        if text_key not in turn:
            raise RecordError("missing", f"{where}.{text_key}")
        extras = {k: v for k, v in turn.items() if k not in (speaker_key, text_key)}
        content = turn[text_key] if turn[text_key] is not None else ""
        built.append(message(role, content, where, extras))
    return built


class ShareGPTLayout(Layout):
    """ShareGPT: `{conversations: [{from: human|gpt|system|function_call|observation, value}]}`."""

    name = "sharegpt"

    def matches(self, record: dict[str, Any]) -> bool:
        return "conversations" in record

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"conversations"}
        turns = sharegpt_messages(record["conversations"], "conversations")
        messages = check_conversation(system_messages(record, used) + turns, "conversations")
        return finish(record, messages, used, reference=reference_of(record, used))


class FireflyLayout(Layout):
    """Firefly-style turn lists: `{conversation: [{human, assistant}, ...]}`."""

    name = "firefly"

    def matches(self, record: dict[str, Any]) -> bool:
        return isinstance(record.get("conversation"), list)

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"conversation"}
        turns = record["conversation"]
        messages = system_messages(record, used)
        for index, turn in enumerate(turns):
            where = f"conversation[{index}]"
            if not isinstance(turn, dict):
                raise RecordError(f"expected a turn object, got {type_name(turn)}", where)
            if "human" not in turn:
                raise RecordError("missing", f"{where}.human")
            messages.append(message("user", turn["human"], f"{where}.human"))
            if turn.get("assistant") is not None:
                messages.append(message("assistant", turn["assistant"], f"{where}.assistant"))
        return finish(record, check_conversation(messages, "conversation"), used,
                      reference=reference_of(record, used))
