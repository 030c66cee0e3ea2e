"""Several completions per prompt: `{prompt, completions: [{model, completion}]}` (open-instruct, UltraFeedback)."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.layouts.base import Layout, candidate, finish, prompt_text, reference_of, system_messages
from blossom_studio.ingest.records import Sample, check_conversation, message, messages_from_list

TEXT_KEYS = ("completion", "response", "text", "content", "output")


class CompletionsLayout(Layout):
    """A prompt with a list of model completions; each completion becomes a candidate with its model."""

    name = "completions"

    def matches(self, record: dict[str, Any]) -> bool:
        return isinstance(record.get("completions"), list)

    def convert(self, record: dict[str, Any]) -> Sample:
        used = {"completions"}
        if isinstance(record.get("messages"), list):
            used.add("messages")
            prompt = messages_from_list(record["messages"], "messages")
        else:
            prompt = [*system_messages(record, used), message("user", prompt_text(record, used), "prompt")]
        completions = record["completions"]
        if not completions:
            raise RecordError("the list of completions is empty", "completions")
        candidates = []
        for index, item in enumerate(completions):
            where = f"completions[{index}]"
            label = f"completion-{index + 1}"
            if isinstance(item, str):
                candidates.append(candidate(item, where, model=None, label=label))
                continue
            if not isinstance(item, dict):
                raise RecordError(f"expected a completion object, got {type_name(item)}", where)
            text_key = next((k for k in TEXT_KEYS if k in item), None)
            if text_key is None:
                raise RecordError(f"no answer text (looked for {', '.join(TEXT_KEYS)})", where)
            model = item.get("model")
            extra = {k: v for k, v in item.items() if k not in (text_key, "model")} or None
            candidates.append(candidate(item[text_key], f"{where}.{text_key}",
                                        model=str(model) if model is not None else None, label=label, extra=extra))
        return finish(record, check_conversation(prompt, "prompt"), used, candidates=candidates,
                      reference=reference_of(record, used))
