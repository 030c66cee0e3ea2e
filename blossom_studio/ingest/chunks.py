"""Prepared records gathered into columnar chunks, made in this process or in worker processes for big JSONL."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blossom_studio.ingest.errors import RecordError
from blossom_studio.ingest.layouts import Layout
from blossom_studio.ingest.prepare import LayoutChooser, Prepared, prepare
from blossom_studio.ingest.readers import BOM, RecordSource, parse_jsonl_line

CHUNK_RECORDS = 16_384
PARALLEL_MIN_BYTES = 32 << 20
CHUNK_BYTES = 16 << 20
WORKERS_ENV = "BLOSSOM_STUDIO_IMPORT_WORKERS"

SAMPLE_FIELDS = ("content_hash", "source", "source_id", "format", "messages", "metadata", "reference",
                 "row_number", "turns")
CANDIDATE_FIELDS = ("sample_row", "model", "label", "position", "message", "extra")


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


def _column(values: tuple[Any, ...]) -> pa.Array:
    if values and isinstance(values[0], bytes):  # UTF-8 JSON from orjson: no re-encoding needed
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)), out=offsets[1:])
        return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(b"".join(values)))
    return pa.array(values, type=pa.string()) if not values or values[0] is None else pa.array(values)


def _table(names: tuple[str, ...], rows: list[tuple[Any, ...]], types: dict[str, pa.DataType]) -> pa.Table:
    if not rows:
        return pa.table({name: pa.array([], type=types.get(name, pa.string())) for name in names})
    columns = [_column(values) for values in zip(*rows, strict=True)]
    return pa.table([c.cast(types[n]) if n in types else c for n, c in zip(names, columns, strict=True)],
                    names=list(names))


_SAMPLE_TYPES = {"row_number": pa.int64(), "turns": pa.int32(), "messages": pa.large_string(),
                 "metadata": pa.large_string()}
_CANDIDATE_TYPES = {"sample_row": pa.int64(), "position": pa.int32(), "message": pa.large_string()}


def build_chunk(items: list[Prepared | tuple[int, RecordError]], lines: int = 0, bytes_done: int = 0) -> Chunk:
    """Gather prepared records into a Chunk."""
    samples: list[tuple[Any, ...]] = []
    candidates: list[tuple[Any, ...]] = []
    errors: list[tuple[int, RecordError]] = []
    layouts: Counter[str] = Counter()
    for item in items:
        if not isinstance(item, Prepared):
            errors.append(item)
            continue
        row = len(samples)
        layouts[item.layout] += 1
        samples.append((item.content_hash, item.source, item.source_id, item.layout, item.messages, item.metadata,
                        item.reference, item.position, item.turns))
        candidates.extend((row, model, label, index, text, extra)
                          for index, (model, label, text, extra) in enumerate(item.candidates))
    return Chunk(_table(SAMPLE_FIELDS, samples, _SAMPLE_TYPES), _table(CANDIDATE_FIELDS, candidates, _CANDIDATE_TYPES),
                 errors, layouts, lines, bytes_done)


def sequential_chunks(records: RecordSource, chooser: LayoutChooser) -> Iterator[Chunk]:
    """Prepare records one by one in this process, in chunks of CHUNK_RECORDS."""
    items: list[Prepared | tuple[int, RecordError]] = []
    for position, record in records.items:
        items.append(prepare(position, record, chooser))
        if len(items) >= CHUNK_RECORDS:
            yield build_chunk(items, bytes_done=records.bytes_read())
            items = []
    yield build_chunk(items, bytes_done=records.total_bytes)


def worker_count() -> int:
    """Worker processes for big files: $BLOSSOM_STUDIO_IMPORT_WORKERS, else the cores this process may use."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured.isdigit():
        return max(1, int(configured))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worth_parallel(file_type: str, total_bytes: int) -> bool:
    """Say whether a file is prepared by worker processes (plain JSONL, large, more than one core)."""
    return file_type == "jsonl" and total_bytes >= PARALLEL_MIN_BYTES and worker_count() > 1


def chunk_bounds(path: Path, total: int, size: int) -> list[tuple[int, int]]:
    """Split a file into byte ranges of about `size` that end just after a newline."""
    bounds, start = [], 0
    with path.open("rb") as file:
        while start < total:
            end = min(start + size, total)
            if end < total:
                file.seek(end)
                file.readline()
                end = file.tell()
            bounds.append((start, end))
            start = end
    return bounds


def prepare_range(path: str, start: int, end: int, forced: Layout | None) -> Chunk:
    """Parse and convert the JSONL lines in [start, end); positions count lines from 1 within the range."""
    with open(path, "rb") as file:
        file.seek(start)
        data = file.read(end - start)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    if start == 0 and lines and lines[0].startswith(BOM):
        lines[0] = lines[0][len(BOM):]
    chooser = LayoutChooser(forced)
    items = [prepare(number, parse_jsonl_line(line), chooser) for number, line in enumerate(lines, 1) if line.strip()]
    return build_chunk(items, lines=len(lines), bytes_done=end)


def parallel_chunks(path: Path, total: int, forced: Layout | None) -> Iterator[Chunk]:
    """Prepare a big JSONL file in worker processes; chunks come back in file order with absolute positions."""
    bounds = chunk_bounds(path, total, CHUNK_BYTES)
    workers = worker_count()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = [pool.submit(prepare_range, str(path), start, end, forced) for start, end in bounds[:2 * workers]]
        submitted, lines_before = len(pending), 0
        try:
            while pending:
                chunk = pending.pop(0).result()
                if submitted < len(bounds):
                    start, end = bounds[submitted]
                    pending.append(pool.submit(prepare_range, str(path), start, end, forced))
                    submitted += 1
                if lines_before:
                    chunk.samples = chunk.samples.set_column(
                        SAMPLE_FIELDS.index("row_number"), "row_number",
                        pc.add(chunk.samples.column("row_number"), lines_before))
                    chunk.errors = [(position + lines_before, error) for position, error in chunk.errors]
                lines_before += chunk.lines
                yield chunk
        finally:
            for future in pending:
                future.cancel()
