"""Prepared records gathered into columnar chunks, made in this process or in worker processes for big JSONL."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from blossom_studio.ingest.columns import SAMPLE_FIELDS, Chunk, ChunkBuilder
from blossom_studio.ingest.errors import RecordError
from blossom_studio.ingest.layouts import Layout
from blossom_studio.ingest.prepare import LayoutChooser, prepare
from blossom_studio.ingest.readers import BOM, RecordSource, parse_jsonl_line

CHUNK_RECORDS = 16_384
PARALLEL_MIN_BYTES = 32 << 20
CHUNK_BYTES = 16 << 20
WORKERS_ENV = "BLOSSOM_STUDIO_IMPORT_WORKERS"


def add_record(builder: ChunkBuilder, position: int, record: dict[str, Any] | RecordError,
               chooser: LayoutChooser) -> None:
    """Prepare one record into `builder`: plain Alpaca records by the fast path, any other by its adapter."""
    if not isinstance(record, RecordError):
        messages = chooser.plain_alpaca(record)
        if messages is not None:
            builder.add_plain(position, messages)
            return
    builder.add(prepare(position, record, chooser))


def sequential_chunks(records: RecordSource, chooser: LayoutChooser) -> Iterator[Chunk]:
    """Prepare records one by one in this process, in chunks of CHUNK_RECORDS."""
    builder = ChunkBuilder()
    for position, record in records.items:
        add_record(builder, position, record, chooser)
        if builder.size >= CHUNK_RECORDS:
            yield builder.build(bytes_done=records.bytes_read())
            builder = ChunkBuilder()
    yield builder.build(bytes_done=records.total_bytes)


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
    builder = ChunkBuilder()
    for number, line in enumerate(lines, 1):
        if line.strip():
            add_record(builder, number, parse_jsonl_line(line), chooser)
    return builder.build(lines=len(lines), bytes_done=end)


def parallel_chunks(path: Path, total: int, forced: Layout | None) -> Iterator[Chunk]:
    """Prepare a big JSONL file in worker processes; chunks come back in file order with absolute positions."""
    bounds = chunk_bounds(path, total, CHUNK_BYTES)
    workers = worker_count()
    if os.environ.get("BSX_INPROC"):
        lines_before = 0
        for start, end in bounds:
            chunk = prepare_range(str(path), start, end, forced)
            if lines_before:
                chunk.samples = chunk.samples.set_column(
                    SAMPLE_FIELDS.index("row_number"), "row_number",
                    pc.add(chunk.samples.column("row_number"), lines_before))
                chunk.errors = [(position + lines_before, error) for position, error in chunk.errors]
            lines_before += chunk.lines
            yield chunk
        return
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
