"""Blossom chat records and OpenAI-style `messages` records."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.layouts.base import Layout, finish, reference_of
from blossom_studio.ingest.records import Sample, check_conversation, messages_from_list


class BlossomLayout(Layout):
    """BlossomData chat: `{id, type: "chat", metadata: {source, ...}, messages: [...]}`."""

    name = "blossom"

    def matches(self, record: dict[str, Any]) -> bool:
        return "messages" in record and (record.get("type") == "chat" or isinstance(record.get("metadata"), dict))

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"messages", "type", "metadata"}
        kind = record.get("type", "chat")
        if kind != "chat":
            raise RecordError(f"only type 'chat' is supported, got {kind!r}", "type")
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise RecordError(f"expected an object, got {type_name(metadata)}", "metadata")
        messages = check_conversation(messages_from_list(record["messages"], "messages"), "messages")
        return finish(record, messages, used, reference=reference_of(record, used), metadata=metadata)


class OpenAILayout(Layout):
    """OpenAI chat messages: `{messages: [{role, content}]}` with string or content-part content."""

    name = "openai"

    def matches(self, record: dict[str, Any]) -> bool:
        return "messages" in record

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"messages"}
        messages = check_conversation(messages_from_list(record["messages"], "messages"), "messages")
        return finish(record, messages, used, reference=reference_of(record, used))
