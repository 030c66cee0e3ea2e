"""Prepared records gathered into columnar chunks; big JSONL files are cut into slices, prepared here or in workers."""

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
CHUNK_BYTES = 4 << 20
HEAD_BYTES = 1 << 20  # the start of a file that tells whether it holds plain Alpaca records
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


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count() -> int:
    """Worker processes for big JSONL: $BLOSSOM_STUDIO_IMPORT_WORKERS, else the cores this process may use."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured.isdigit():
        return max(1, int(configured))
    return usable_cores()


def prepare_here(path: Path, forced: Layout | None) -> bool:
    """Say whether the importing thread should prepare the slices itself instead of a pool of workers.

    It should on two cores or fewer when the file starts with plain Alpaca records (unless the worker count is
    configured): the fast path makes preparing cheaper than DuckDB's writing, so worker processes only add work.
    Measured on 2 cores: 500,000 Alpaca records took 3.7 s (5.5 s of CPU) here against 4.6 s (7.9 s of CPU) with
    two workers; 200,000 ShareGPT and preference records (455 MB) took 6.3 to 7.3 s here against 5.3 to 5.7 s.
    """
    if os.environ.get(WORKERS_ENV, "").strip().isdigit() or usable_cores() > 2:
        return False
    with path.open("rb") as file:
        head = [line for line in file.readlines(HEAD_BYTES) if line.strip()]
    if head and head[0].startswith(BOM):
        head[0] = head[0][len(BOM):]
    chooser = LayoutChooser(forced)
    plain = 0
    for line in head:
        record = parse_jsonl_line(line)
        plain += int(not isinstance(record, RecordError) and chooser.plain_alpaca(record) is not None)
    return bool(head) and plain >= 0.9 * len(head)


def worth_slicing(file_type: str, total_bytes: int) -> bool:
    """Say whether a file is read in byte slices (plain, uncompressed JSONL of PARALLEL_MIN_BYTES or more)."""
    return file_type == "jsonl" and total_bytes >= PARALLEL_MIN_BYTES


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


def sliced_chunks(path: Path, total: int, forced: Layout | None, *, pooled: bool = True) -> Iterator[Chunk]:
    """Prepare a big JSONL file slice by slice: in worker processes if `pooled` and worker_count() > 1, else here.

    Chunks come in file order, with positions counted from the start of the file.
    """
    bounds = chunk_bounds(path, total, CHUNK_BYTES)
    workers = worker_count() if pooled and not prepare_here(path, forced) else 1
    if workers > 1:
        chunks = _pooled(str(path), bounds, forced, workers)
    else:
        chunks = (prepare_range(str(path), start, end, forced) for start, end in bounds)
    lines_before = 0
    for chunk in chunks:
        if lines_before:
            chunk.samples = chunk.samples.set_column(
                SAMPLE_FIELDS.index("row_number"), "row_number",
                pc.add(chunk.samples.column("row_number"), lines_before))
            chunk.errors = [(position + lines_before, error) for position, error in chunk.errors]
        lines_before += chunk.lines
        yield chunk


def _pooled(path: str, bounds: list[tuple[int, int]], forced: Layout | None, workers: int) -> Iterator[Chunk]:
    """Prepare the slices in `workers` spawned processes, two slices ahead per worker, yielding them in order."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = [pool.submit(prepare_range, path, start, end, forced) for start, end in bounds[:2 * workers]]
        submitted = len(pending)
        try:
            while pending:
                chunk = pending.pop(0).result()
                if submitted < len(bounds):
                    start, end = bounds[submitted]
                    pending.append(pool.submit(prepare_range, path, start, end, forced))
                    submitted += 1
                yield chunk
        finally:
            for future in pending:
                future.cancel()
