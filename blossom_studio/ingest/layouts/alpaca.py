"""Alpaca and COIG records: `{instruction, input, output}` with optional `system` and `history`."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.layouts.base import Layout, finish, prompt_text, system_messages
from blossom_studio.ingest.records import Sample, get_text, message


class AlpacaLayout(Layout):
    """Alpaca/COIG: the instruction (and input, joined by a newline) is the user turn, output the answer."""

    name = "alpaca"

    def matches(self, record: dict[str, Any]) -> bool:
        return "instruction" in record and "output" in record and not isinstance(record["output"], list)

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"output", "history"}
        messages = system_messages(record, used)
        history = record.get("history") or []
        if not isinstance(history, list):
            raise RecordError(f"expected a list of [prompt, answer] pairs, got {type_name(history)}", "history")
        for index, pair in enumerate(history):
            where = f"history[{index}]"
            if not isinstance(pair, list) or len(pair) != 2:
                raise RecordError("expected a [prompt, answer] pair", where)
            messages.append(message("user", pair[0], f"{where}[0]"))
            messages.append(message("assistant", pair[1], f"{where}[1]"))
        prompt = prompt_text(record, used, ("instruction",))
        messages.append(message("user", prompt, "instruction"))
        messages.append(message("assistant", get_text(record, "output"), "output"))
        return finish(record, messages, used)
