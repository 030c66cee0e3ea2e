"""Prepare a large plain JSONL file on every core: byte ranges split at newlines, converted in worker processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from blossom_studio.ingest.layouts import Layout
from blossom_studio.ingest.prepare import LayoutChooser, Prepared, prepare
from blossom_studio.ingest.readers import BOM, parse_jsonl_line

PARALLEL_MIN_BYTES = 48 << 20
CHUNK_BYTES = 8 << 20
Chunk = tuple[list["Prepared | tuple[int, object]"], int]

_executor: ProcessPoolExecutor | None = None


def worker_count() -> int:
    """Number of worker processes to use: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worth_parallel(file_type: str, total_bytes: int) -> bool:
    """Say whether a file should be prepared in parallel (plain JSONL, large enough, more than one core)."""
    return file_type == "jsonl" and total_bytes >= PARALLEL_MIN_BYTES and worker_count() > 1


def _chunk_bounds(path: Path, total: int) -> list[tuple[int, int]]:
    bounds, start = [], 0
    with path.open("rb") as file:
        while start < total:
            file.seek(min(start + CHUNK_BYTES, total))
            end = min(start + CHUNK_BYTES, total)
            if end < total:
                file.readline()
                end = file.tell()
            bounds.append((start, end))
            start = end
    return bounds


def prepare_chunk(path: str, start: int, end: int, forced: Layout | None) -> Chunk:
    """Parse and convert the lines in [start, end); positions are relative line numbers from 1."""
    with open(path, "rb") as file:
        file.seek(start)
        data = file.read(end - start)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    if start == 0 and lines and lines[0].startswith(BOM):
        lines[0] = lines[0][len(BOM):]
    chooser = LayoutChooser(forced)
    items = [prepare(number, parse_jsonl_line(line), chooser)
             for number, line in enumerate(lines, 1) if line.strip()]
    return items, len(lines)


def _pool() -> ProcessPoolExecutor:
    global _executor
    if _executor is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["blossom_studio.ingest.parallel"])
        _executor = ProcessPoolExecutor(max_workers=worker_count(), mp_context=context)
    return _executor


def prepared_items(path: Path, total: int, forced: Layout | None) -> Iterator[tuple[int, list]]:
    """Yield (bytes done, items with absolute line numbers) chunk by chunk, in file order."""
    bounds = _chunk_bounds(path, total)
    pool = _pool()
    ahead = worker_count() * 2
    futures = [pool.submit(prepare_chunk, str(path), start, end, forced) for start, end in bounds[:ahead]]
    next_index, lines_before = len(futures), 0
    try:
        for index in range(len(bounds)):
            items, line_count = futures[index].result()
            futures[index] = None  # type: ignore[call-overload]
            if next_index < len(bounds):
                start, end = bounds[next_index]
                futures.append(pool.submit(prepare_chunk, str(path), start, end, forced))
                next_index += 1
            shifted = [item._replace(position=item.position + lines_before) if isinstance(item, Prepared)
                       else (item[0] + lines_before, item[1]) for item in items]
            lines_before += line_count
            yield bounds[index][1], shifted
    finally:
        for future in futures:
            if future is not None:
                future.cancel()
