"""Turn one parsed record into a storable row (layout, JSON bytes, content hash) without touching the database."""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import orjson

from blossom_studio.ingest.errors import RecordError
from blossom_studio.ingest.layouts import Layout, detect
from blossom_studio.ingest.layouts.alpaca import AlpacaLayout
from blossom_studio.ingest.records import Sample


class Prepared(NamedTuple):
    """A converted record, ready to be deduplicated and written (positions are relative in slices of a file)."""

    position: int
    layout: str
    content_hash: str
    source: str | None
    source_id: str | None
    messages: bytes
    metadata: bytes
    reference: str | None
    turns: int
    candidates: list[tuple[str | None, str | None, bytes, str | None]]


def dumps(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON; values JSON has no type for (dates, bytes) become strings."""
    return orjson.dumps(value, default=str)


def content_hash(sample: Sample, messages_json: bytes, metadata_json: bytes, candidate_jsons: list[bytes]) -> str:
    """Hash everything a record carries (not its source name), so only a true re-import counts as duplicate."""
    digest = hashlib.blake2b(messages_json, digest_size=16)
    digest.update(b"\0" + (sample.reference or "").encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + (sample.source_id or "").encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + metadata_json)
    for cand, text in zip(sample.candidates, candidate_jsons, strict=True):
        digest.update(b"\0" + text + dumps([cand.model, cand.label, cand.extra]))
    return digest.hexdigest()


def plain_content_hash(messages_json: bytes) -> str:
    """Return content_hash() of a sample without reference, source id, metadata or candidates."""
    digest = hashlib.blake2b(messages_json, digest_size=16)
    digest.update(b"\0\0\0{}")  # the empty reference, the empty source id and the metadata {}
    return digest.hexdigest()


class LayoutChooser:
    """Picks each record's layout: the forced one, or auto-detection cached by the record's shape."""

    def __init__(self, forced: Layout | None) -> None:
        self.forced = forced
        self._detected: dict[tuple[Any, ...], Layout] = {}
        self._plain_is_alpaca: dict[int, bool] = {}

    def layout_for(self, record: dict[str, Any]) -> Layout:
        """Return the layout for this record, raising RecordError when none fits."""
        if self.forced is not None:
            return self.forced
        signature = (tuple(record), type(record.get("output")), type(record.get("chosen")),
                     type(record.get("metadata")), record.get("type") == "chat", type(record.get("completions")))
        layout = self._detected.get(signature)
        if layout is None:
            layout = self._detected[signature] = detect(record)
        return layout

    def plain_alpaca(self, record: dict[str, Any]) -> list[dict[str, str]] | None:
        """Return the messages AlpacaLayout.convert() would build, or None when the adapter must convert the record.

        Only records whose layout is Alpaca, with nothing but string `instruction`, `output` and optional `input`
        fields and a prompt that is not blank, get messages here; they need no Sample, metadata or generic hash.
        """
        size = len(record)
        instruction, output = record.get("instruction"), record.get("output")
        if size > 3 or type(instruction) is not str or type(output) is not str:
            return None
        if size == 3:
            extra = record.get("input")
            if type(extra) is not str:
                return None
            prompt = f"{instruction}\n{extra}" if extra.strip() else instruction
        else:
            prompt = instruction
        if not prompt.strip():  # the adapter reports the empty prompt
            return None
        is_alpaca = self._plain_is_alpaca.get(size)
        if is_alpaca is None:  # the keys are fixed by the size, so one detection per size is enough
            is_alpaca = self._plain_is_alpaca[size] = type(self.layout_for(record)) is AlpacaLayout
        if not is_alpaca:
            return None
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]

    def convert(self, record: dict[str, Any]) -> tuple[Layout, Sample]:
        """Convert one record; an adapter that trips over a record it does not fit fails that record only."""
        layout = self.layout_for(record)
        try:
            return layout, layout.convert(record)
        except RecordError:
            raise
        except Exception as exc:  # a forced --format on a record of another layout, or an adapter bug
            keys = ", ".join(list(record)[:20]) or "none"
            if not layout.matches(record):
                raise RecordError(f"the record is not in the {layout.name} layout (it has the keys [{keys}])") from exc
            raise RecordError(f"the {layout.name} layout failed on this record ({type(exc).__name__}: {exc}); "
                              "this is a bug in the importer, please report it") from exc


def prepare(position: int, record: dict[str, Any] | RecordError, chooser: LayoutChooser
            ) -> Prepared | tuple[int, RecordError]:
    """Convert and hash one record, or return (position, error) for a record that cannot be imported."""
    if isinstance(record, RecordError):
        return position, record
    try:
        layout, sample = chooser.convert(record)
    except RecordError as exc:
        return position, exc
    messages_json = dumps(sample.messages)
    metadata_json = dumps(sample.metadata)
    candidate_jsons = [dumps(c.message) for c in sample.candidates]
    return Prepared(
        position, layout.name, content_hash(sample, messages_json, metadata_json, candidate_jsons),
        sample.source, sample.source_id, messages_json, metadata_json, sample.reference,
        sum(1 for m in sample.messages if m["role"] == "user"),
        [(c.model, c.label, text, dumps(c.extra).decode() if c.extra else None)
         for c, text in zip(sample.candidates, candidate_jsons, strict=True)],
    )
