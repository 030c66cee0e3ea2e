"""Prepared records gathered column by column into Arrow tables, JSON text kept in one growing buffer per column."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from blossom_studio.ingest.errors import RecordError
from blossom_studio.ingest.prepare import Prepared, dumps, plain_content_hash

SAMPLE_FIELDS = ("content_hash", "source", "source_id", "format", "messages", "metadata", "reference",
                 "row_number", "turns")
CANDIDATE_FIELDS = ("sample_row", "model", "label", "position", "message", "extra")
JSON = pa.json_(pa.large_string())


@dataclass
class Chunk:
    """Consecutive records of one file: convertible ones as Arrow tables, the others as (position, reason)."""

    samples: pa.Table
    candidates: pa.Table
    errors: list[tuple[int, RecordError]]
    layouts: Counter[str]
    lines: int
    bytes_done: int

    @property
    def records(self) -> int:
        """Number of records in the chunk, good and bad."""
        return self.samples.num_rows + len(self.errors)


class JsonColumn:
    """UTF-8 JSON values appended to one buffer, so each value's bytes object is freed as soon as it is copied.

    Keeping orjson's result objects costs a fresh memory page per value (orjson allocates generously), and page
    faults, not JSON, were then the biggest cost of an import. The Arrow type is the JSON extension type, which
    DuckDB stores in a JSON column as is, instead of parsing every value again to check it.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends: list[int] = []

    def append(self, value: bytes) -> None:
        """Add one JSON value."""
        self.data += value
        self.ends.append(len(self.data))

    def to_arrow(self) -> pa.ExtensionArray:
        """Return the values as an Arrow JSON array over the buffer (no copy; append no more afterwards)."""
        offsets = np.zeros(len(self.ends) + 1, dtype=np.int64)
        offsets[1:] = self.ends
        text = pa.LargeStringArray.from_buffers(len(self.ends), pa.py_buffer(offsets), pa.py_buffer(self.data))
        return pa.ExtensionArray.from_storage(JSON, text)


def _strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string())


class ChunkBuilder:
    """Collects the rows of one chunk: plain Alpaca rows from the fast path, any other prepared record, errors."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.sources: list[str | None] = []
        self.source_ids: list[str | None] = []
        self.formats: list[str] = []
        self.messages = JsonColumn()
        self.metadata = JsonColumn()
        self.references: list[str | None] = []
        self.positions: list[int] = []
        self.turns: list[int] = []
        self.candidates = _CandidateColumns()
        self.errors: list[tuple[int, RecordError]] = []

    @property
    def size(self) -> int:
        """Number of records added so far, good and bad."""
        return len(self.hashes) + len(self.errors)

    def add_plain(self, position: int, messages: list[dict[str, str]]) -> None:
        """Add a plain Alpaca record from its messages: one user turn, no metadata, reference, source or id."""
        messages_json = dumps(messages)
        self.hashes.append(plain_content_hash(messages_json))
        self.sources.append(None)
        self.source_ids.append(None)
        self.formats.append("alpaca")
        self.messages.append(messages_json)
        self.metadata.append(b"{}")
        self.references.append(None)
        self.positions.append(position)
        self.turns.append(1)

    def add(self, item: Prepared | tuple[int, RecordError]) -> None:
        """Add a record prepared by its layout adapter, or a (position, error) pair."""
        if not isinstance(item, Prepared):
            self.errors.append(item)
            return
        row = len(self.hashes)
        self.hashes.append(item.content_hash)
        self.sources.append(item.source)
        self.source_ids.append(item.source_id)
        self.formats.append(item.layout)
        self.messages.append(item.messages)
        self.metadata.append(item.metadata)
        self.references.append(item.reference)
        self.positions.append(item.position)
        self.turns.append(item.turns)
        for index, (model, label, text, extra) in enumerate(item.candidates):
            self.candidates.add(row, model, label, index, text, extra)

    def build(self, lines: int = 0, bytes_done: int = 0) -> Chunk:
        """Return the chunk as Arrow tables."""
        samples = pa.table([
            _strings(self.hashes), _strings(self.sources), _strings(self.source_ids), _strings(self.formats),
            self.messages.to_arrow(), self.metadata.to_arrow(), _strings(self.references),
            pa.array(self.positions, type=pa.int64()), pa.array(self.turns, type=pa.int32()),
        ], names=list(SAMPLE_FIELDS))
        return Chunk(samples, self.candidates.to_arrow(), self.errors, Counter(self.formats), lines, bytes_done)


class _CandidateColumns:
    """The candidate answers of a chunk's samples, column by column."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.models: list[str | None] = []
        self.labels: list[str | None] = []
        self.positions: list[int] = []
        self.messages = JsonColumn()
        self.extras: list[str | None] = []

    def add(self, row: int, model: str | None, label: str | None, position: int, message: bytes,
            extra: str | None) -> None:
        """Add the candidate at `position` of the chunk's sample `row`."""
        self.rows.append(row)
        self.models.append(model)
        self.labels.append(label)
        self.positions.append(position)
        self.messages.append(message)
        self.extras.append(extra)

    def to_arrow(self) -> pa.Table:
        """Return the candidates as an Arrow table."""
        return pa.table([
            pa.array(self.rows, type=pa.int64()), _strings(self.models), _strings(self.labels),
            pa.array(self.positions, type=pa.int32()), self.messages.to_arrow(), _strings(self.extras),
        ], names=list(CANDIDATE_FIELDS))
