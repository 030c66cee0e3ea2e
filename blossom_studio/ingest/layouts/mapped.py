"""A layout described by the user with `--map prompt=FIELD,response=FIELD,reference=FIELD`."""

from __future__ import annotations

from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.layouts.base import Layout, candidate, finish
from blossom_studio.ingest.records import Sample, check_conversation, message

MAP_TARGETS = ("prompt", "response", "reference", "system", "chosen", "rejected", "id", "source")


def parse_mapping(text: str) -> dict[str, str]:
    """Parse `prompt=FIELD,response=FIELD` into a dict, raising ValueError with a fix-it message."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        target, sep, source = item.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not source:
            raise ValueError(f"--map item {item!r} is not KEY=FIELD (for example prompt=question)")
        if target not in MAP_TARGETS:
            raise ValueError(f"--map key {target!r} is unknown; use one of {', '.join(MAP_TARGETS)}")
        mapping[target] = source
    if "prompt" not in mapping:
        raise ValueError("--map needs at least prompt=FIELD (the field that holds the user's request)")
    return mapping


def _lookup(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise RecordError("missing", dotted)
        value = value[part]
    return value


def _without(record: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """Return a copy of `record` without the field at the dotted path `parts`, dropping objects left empty."""
    head, rest = parts[0], parts[1:]
    if head not in record:
        return record
    kept = dict(record)
    if rest and isinstance(kept[head], dict):
        inner = _without(kept[head], rest)
        if inner:
            kept[head] = inner
            return kept
    del kept[head]
    return kept


class MappedLayout(Layout):
    """Reads the prompt, response, reference, system, chosen and rejected from the fields the user named."""

    name = "mapped"

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def matches(self, record: dict[str, Any]) -> bool:
        return self.mapping["prompt"].split(".")[0] in record

    def convert(self, record: dict[str, Any]) -> Sample:
        fields = {target: self._text(record, source) for target, source in self.mapping.items()
                  if target not in ("chosen", "rejected")}
        messages = []
        if fields.get("system"):
            messages.append(message("system", fields["system"], self.mapping["system"]))
        if not fields["prompt"] or not fields["prompt"].strip():
            raise RecordError("the prompt is empty", self.mapping["prompt"])
        messages.append(message("user", fields["prompt"], self.mapping["prompt"]))
        if fields.get("response") is not None:
            messages.append(message("assistant", fields["response"], self.mapping["response"]))
        candidates = [candidate(_lookup(record, self.mapping[label]), self.mapping[label], model=None, label=label)
                      for label in ("chosen", "rejected") if label in self.mapping]
        unmapped = record  # every field the mapping does not name, nested ones too, lands in metadata
        for source in self.mapping.values():
            unmapped = _without(unmapped, source.split("."))
        sample = finish(unmapped, check_conversation(messages, self.mapping["prompt"]), set(),
                        reference=fields.get("reference") or None, candidates=candidates)
        if fields.get("id") is not None:
            sample.source_id = fields["id"]
        if fields.get("source"):
            sample.source = fields["source"]
        return sample

    def _text(self, record: dict[str, Any], dotted: str) -> str | None:
        value = _lookup(record, dotted)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise RecordError(f"expected a string, got {type_name(value)}", dotted)
