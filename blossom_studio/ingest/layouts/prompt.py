"""Prompt records (`question`, `prompt`, `problem`, `text`, `instruction`), with an answer or a reference."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.layouts.base import (
    PROMPT_KEYS,
    RESPONSE_KEYS,
    Layout,
    finish,
    first_key,
    history_messages,
    prompt_text,
    reference_of,
    system_messages,
)
from blossom_studio.ingest.records import Sample, get_text, message


class PromptLayout(Layout):
    """A prompt with an optional reference answer (`answer`, `solution`...) and optional response."""

    name = "prompt"

    def matches(self, record: dict[str, Any]) -> bool:
        return first_key(record, PROMPT_KEYS) is not None

    def convert(self, record: dict[str, Any]) -> Sample:
        used: set[str] = set()
        messages = system_messages(record, used) + history_messages(record, used)
        messages.append(message("user", prompt_text(record, used), "prompt"))
        response_key = first_key(record, RESPONSE_KEYS)
        if response_key is not None and response_key not in used:
            used.add(response_key)
            messages.append(message("assistant", get_text(record, response_key), response_key))
        return finish(record, messages, used, reference=reference_of(record, used))
