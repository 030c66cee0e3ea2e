"""Import files into the store: one transaction per file, bad rows reported, duplicates skipped by content hash."""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from blossom_studio.ingest.chunks import sequential_chunks, sliced_chunks, worth_slicing
from blossom_studio.ingest.columns import Chunk
from blossom_studio.ingest.errors import ImportFileError, RecordError
from blossom_studio.ingest.layouts import BY_NAME, FORMATS, Layout, MappedLayout
from blossom_studio.ingest.paths import expand_paths
from blossom_studio.ingest.prepare import LayoutChooser, dumps
from blossom_studio.ingest.readers import open_records
from blossom_studio.ingest.writer import ROW_GROUP, FileWriter
from blossom_studio.store import Store

# Samples between two progress reports (and checks for a cancel request): one DuckDB row group.
BATCH_SIZE = ROW_GROUP
MAX_ERRORS_KEPT = 100
Progress = Callable[[int, int], None]

_INSERT_SAMPLES = """
    INSERT INTO samples (id, source, source_id, type, format, messages, metadata, reference, content_hash,
                         import_id, row_number, turns)
    SELECT left(content_hash, 16), coalesce($1, source, $2), source_id, 'chat', format, messages, metadata,
           reference, content_hash, $3, row_number, turns
    FROM _batch
"""
_INSERT_CANDIDATES = """
    INSERT INTO candidates (id, sample_id, model, label, position, message, origin, extra)
    SELECT left(sample_hash, 16) || '-' || position, left(sample_hash, 16), model, label, position, message,
           'import', extra
    FROM _batch
"""

_NO_RECORDS = {
    "csv": "the CSV file has a header but no rows (no records)",
    "tsv": "the TSV file has a header but no rows (no records)",
    "json": "the JSON document holds no records (an empty list)",
    "parquet": "the Parquet file has no rows (no records)",
}


class ImportCancelled(Exception):
    """The import was cancelled; the file's transaction was rolled back."""


@dataclass
class ImportReport:
    """What happened to one file: counts, the detected layout, and the first errors with their positions."""

    file: str
    format: str = "unknown"
    file_type: str | None = None
    records: int = 0
    imported: int = 0
    duplicates: int = 0
    bad: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    import_id: str | None = None
    candidates: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as the JSON object the CLI prints."""
        return asdict(self)


GENERIC_STEMS = frozenset({"test", "train", "dev", "valid", "validation", "eval", "data", "dataset", "all", "sample"})
SHARD = re.compile(r"-\d{5}-of-\d{5}$")


def default_source(path: Path) -> str:
    """Name a file's source after its stem (without a Hub shard's -00000-of-00002), prefixed by its folder when the
    stem is generic (gsm8k/test), or by the folder above when that folder is generic too (dataset/data/train...)."""
    stem = SHARD.sub("", path.name.split(".", 1)[0]) or path.name
    if stem.lower() not in GENERIC_STEMS:
        return stem
    folder = path.parent
    if folder.name.lower() in GENERIC_STEMS and folder.parent.name:
        folder = folder.parent
    return f"{folder.name}/{stem}" if folder.name else stem


class FileImport:
    """Imports one file: sniffs it, converts each record with its layout, and writes new samples."""

    def __init__(self, store: Store, path: Path, *, source: str | None, layout: Layout | None,
                 progress: Progress | None, cancel: threading.Event | None, pooled: bool = True) -> None:
        self.store = store
        self.path = path
        self.source = source
        self.forced_layout = layout
        self.progress = progress
        self.cancel = cancel
        self.pooled = pooled
        self.report = ImportReport(file=str(path))
        self._layouts_seen: Counter[str] = Counter()

    def run(self, seen_hashes: set[str]) -> ImportReport:
        """Import the file in one transaction, skipping hashes in `seen_hashes`, and return its report."""
        report = self.report
        started = datetime.now(UTC).replace(tzinfo=None)
        try:
            records = open_records(self.path)
        except ImportFileError as exc:
            report.error = str(exc)
            return report
        report.file_type = records.file_type
        import_id = uuid.uuid4().hex[:12]
        source_name = self.source or default_source(self.path)
        writer = FileWriter(self.store, _INSERT_SAMPLES, [self.source, source_name, import_id], _INSERT_CANDIDATES)
        self._unreported = 0
        self._new_hashes: set[str] = set()
        self._seen_hashes = seen_hashes
        try:
            if worth_slicing(records.file_type, records.total_bytes):
                records.items.close()
                chunks = sliced_chunks(self.path, records.total_bytes, self.forced_layout, pooled=self.pooled)
            else:
                chunks = sequential_chunks(records, LayoutChooser(self.forced_layout))
            for chunk in chunks:
                self._take(chunk, records.position_kind, writer)
                if self._unreported >= BATCH_SIZE:
                    self._report_progress(chunk.bytes_done, records.total_bytes)
            self._report_progress(records.total_bytes, records.total_bytes)
        except ImportFileError as exc:  # found while reading (a bad CSV header, a lone JSON scalar...)
            writer.close(commit=False)
            report.error, report.imported, report.candidates = str(exc), 0, 0
            return report
        except BaseException:
            writer.close(commit=False)
            raise
        if report.records == 0:
            writer.close(commit=False)
            report.error = f"{self.path}: {_NO_RECORDS.get(records.file_type.split('+')[0], 'no records')}"
            return report
        report.format = self._format_name()
        report.import_id = import_id if report.imported else None
        finished = datetime.now(UTC).replace(tzinfo=None)

        def record_import(cursor: Any) -> None:
            cursor.execute(
                "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [import_id, str(self.path.resolve()), report.file_type, report.format, source_name,
                 report.records, report.imported, report.duplicates, report.bad,
                 dumps(report.errors).decode(), started, finished],
            )

        writer.close(commit=report.imported > 0, finish=record_import)
        if report.imported:
            seen_hashes.update(self._new_hashes)
        return report

    def _take(self, chunk: Chunk, position_kind: str, writer: FileWriter) -> None:
        """Count a chunk, report its bad records, and hand its samples that are not duplicates to the writer."""
        report = self.report
        report.records += chunk.records
        for position, error in chunk.errors:
            self._bad(position_kind, position, error)
        self._layouts_seen.update(chunk.layouts)
        seen, new = self._seen_hashes, self._new_hashes
        hashes = chunk.samples.column("content_hash").to_pylist()
        distinct = set(hashes)
        if len(distinct) == len(hashes) and distinct.isdisjoint(seen) and distinct.isdisjoint(new):
            new |= distinct  # the usual case, checked with set operations instead of row by row
            keep = [True] * len(hashes)
        else:
            keep = []
            for content_hash in hashes:
                fresh = content_hash not in seen and content_hash not in new
                if fresh:
                    new.add(content_hash)
                keep.append(fresh)
        kept = sum(keep)
        report.duplicates += len(keep) - kept
        report.imported += kept
        if not kept:
            return
        mask = pa.array(keep, type=pa.bool_())
        samples = chunk.samples if kept == len(keep) else chunk.samples.filter(mask)
        candidates = chunk.candidates
        if candidates.num_rows and kept != len(keep):
            candidates = candidates.filter(pc.take(mask, candidates.column("sample_row")))
        if candidates.num_rows:
            sample_hashes = pc.take(chunk.samples.column("content_hash"), candidates.column("sample_row"))
            candidates = candidates.append_column("sample_hash", sample_hashes)
            self.report.candidates += candidates.num_rows
        writer.put(samples, candidates)
        self._unreported += samples.num_rows

    def _bad(self, kind: str, position: int, error: RecordError) -> None:
        self.report.bad += 1
        if len(self.report.errors) < MAX_ERRORS_KEPT:
            self.report.errors.append({"line": position, "reason": error.describe(), "where": kind})

    def _report_progress(self, done_bytes: int, total_bytes: int) -> None:
        """Stop if the import was cancelled, else report how far the file has been read."""
        if self.cancel is not None and self.cancel.is_set():
            raise ImportCancelled(f"{self.path}: import cancelled; nothing from this file was kept")
        self._unreported = 0
        if self.progress is not None:
            self.progress(done_bytes, total_bytes)

    def _format_name(self) -> str:
        if not self._layouts_seen:
            return self.forced_layout.name if self.forced_layout else "unknown"
        if len(self._layouts_seen) == 1:
            return next(iter(self._layouts_seen))
        ranked = sorted(self._layouts_seen, key=self._layouts_seen.__getitem__, reverse=True)
        return "mixed: " + ", ".join(ranked)


def resolve_layout(format_name: str = "auto", mapping: dict[str, str] | None = None) -> Layout | None:
    """Return the layout to force for every record, or None for auto-detection; raise ValueError if unknown."""
    if mapping:
        return MappedLayout(mapping)
    if format_name not in FORMATS:
        raise ValueError(f"unknown format {format_name!r}; use one of {', '.join(FORMATS)}")
    return None if format_name == "auto" else BY_NAME[format_name]


def existing_hashes(store: Store) -> set[str]:
    """Return the content hashes of every stored sample (used to skip duplicates)."""
    table = store.read().sql("SELECT content_hash FROM samples").to_arrow_table()
    return set(table.column(0).to_pylist())


def import_files(store: Store, paths: Iterable[str | Path], *, source: str | None = None,
                 format_name: str = "auto", mapping: dict[str, str] | None = None,
                 progress: Progress | None = None, cancel: threading.Event | None = None) -> list[ImportReport]:
    """Import each file (a folder stands for the data files below it) in its own transaction and return one report
    per file; bad rows never stop good ones."""
    layout = resolve_layout(format_name, mapping)
    seen = existing_hashes(store)
    reports = []
    for path in expand_paths(paths):
        job = FileImport(store, path, source=source, layout=layout, progress=progress, cancel=cancel)
        try:
            reports.append(job.run(seen))
        except BrokenProcessPool:  # a worker died: the file was rolled back, so read it again in this process
            job = FileImport(store, path, source=source, layout=layout, progress=progress, cancel=cancel,
                             pooled=False)
            reports.append(job.run(seen))
    if any(report.imported for report in reports):
        store.checkpoint()
    return reports
