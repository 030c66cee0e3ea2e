"""Alpaca and COIG records: `{instruction, input, output}` with optional `system` and `history`."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.layouts.base import Layout, finish, history_messages, prompt_text, system_messages
from blossom_studio.ingest.records import Sample, get_text, message


class AlpacaLayout(Layout):
    """Alpaca/COIG: the instruction (and input, joined by a newline) is the user turn, output the answer."""

    name = "alpaca"

    def matches(self, record: dict[str, Any]) -> bool:
        return "instruction" in record and "output" in record and not isinstance(record["output"], list)

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"output"}
        messages = system_messages(record, used) + history_messages(record, used)
        prompt = prompt_text(record, used, ("instruction",))
        messages.append(message("user", prompt, "instruction"))
        messages.append(message("assistant", get_text(record, "output"), "output"))
        return finish(record, messages, used)
