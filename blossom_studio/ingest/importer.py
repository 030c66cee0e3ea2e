"""Import files into the store: one transaction per file, bad rows reported, duplicates skipped by content hash."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from blossom_studio.ingest.errors import ImportFileError, RecordError
from blossom_studio.ingest.layouts import BY_NAME, FORMATS, Layout, MappedLayout
from blossom_studio.ingest.prepare import LayoutChooser, Prepared, dumps, prepare
from blossom_studio.ingest.readers import RecordSource, open_records
from blossom_studio.store import Store

BATCH_SIZE = 20_000
MAX_ERRORS_KEPT = 100
Progress = Callable[[int, int], None]

SAMPLE_COLUMNS = ("id", "source", "source_id", "type", "format", "messages", "metadata", "reference",
                  "content_hash", "import_id", "row_number", "turns")
CANDIDATE_COLUMNS = ("id", "sample_id", "model", "label", "position", "message", "origin", "extra")


_NO_RECORDS = {
    "csv": "the CSV file has a header but no rows (no records)",
    "tsv": "the TSV file has a header but no rows (no records)",
    "json": "the JSON document holds no records (an empty list)",
    "parquet": "the Parquet file has no rows (no records)",
}


def _arrow_table(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Transpose rows into an Arrow table; columns of UTF-8 JSON bytes become strings without re-encoding."""
    columns = []
    for values in zip(*rows, strict=True):
        if isinstance(values[0], bytes):
            offsets = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)), out=offsets[1:])
            columns.append(pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets),
                                                            pa.py_buffer(b"".join(values))))
        else:
            columns.append(pa.array(values))
    return pa.table(columns, names=list(names))


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


def default_source(path: Path) -> str:
    """Name a file's source after its stem, prefixed by its folder when the stem is generic (gsm8k/test)."""
    stem = path.name.split(".", 1)[0] or path.name
    if stem.lower() in GENERIC_STEMS and path.parent.name:
        return f"{path.parent.name}/{stem}"
    return stem


class _BatchWriter:
    """Inserts Arrow batches on a background thread inside one transaction, so parsing and writing overlap."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[str, pa.Table] | None] = queue.Queue(maxsize=3)
        self._error: BaseException | None = None
        self._finish: Callable[[Any], None] | None = None
        self._commit = False
        self._thread = threading.Thread(target=self._run, name="blossom-import-writer", daemon=True)
        self._thread.start()

    def put(self, table_name: str, table: pa.Table) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put((table_name, table), timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self, *, commit: bool, finish: Callable[[Any], None] | None = None) -> None:
        self._commit, self._finish = commit, finish
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            with self._store.write() as cursor:
                while (item := self._queue.get()) is not None:
                    name, batch = item
                    columns = ", ".join(batch.column_names)
                    cursor.register("_batch", batch)
                    cursor.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM _batch")
                    cursor.unregister("_batch")
                if not self._commit:
                    raise ImportCancelled
                if self._finish is not None:
                    self._finish(cursor)
        except ImportCancelled:
            pass
        except BaseException as exc:  # handed to the importing thread
            self._error = exc
            while self._queue.get() is not None:
                pass


class FileImport:
    """Imports one file: sniffs it, converts each record with its layout, and writes new samples."""

    def __init__(self, store: Store, path: Path, *, source: str | None, layout: Layout | None,
                 progress: Progress | None, cancel: threading.Event | None) -> None:
        self.store = store
        self.path = path
        self.source = source
        self.forced_layout = layout
        self.progress = progress
        self.cancel = cancel
        self.report = ImportReport(file=str(path))
        self._layouts_seen: dict[str, int] = {}

    def run(self, seen_hashes: set[str]) -> ImportReport:
        report = self.report
        started = datetime.now(timezone.utc).replace(tzinfo=None)
        try:
            records = open_records(self.path)
        except ImportFileError as exc:
            report.error = str(exc)
            return report
        report.file_type = records.file_type
        import_id = uuid.uuid4().hex[:12]
        source_name = self.source or default_source(self.path)
        writer = _BatchWriter(self.store)
        self._samples: list[tuple[Any, ...]] = []
        self._candidates: list[tuple[Any, ...]] = []
        self._new_hashes: set[str] = set()
        self._seen_hashes = seen_hashes
        self._row_prefix = (import_id, source_name)
        chunks = _sequential(records, LayoutChooser(self.forced_layout))
        try:
            for done_bytes, items in chunks:
                for item in items:
                    self._take(item, records.position_kind)
                    if len(self._samples) >= BATCH_SIZE:
                        self._flush(writer, done_bytes, records.total_bytes)
            self._flush(writer, records.total_bytes, records.total_bytes)
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
        finished = datetime.now(timezone.utc).replace(tzinfo=None)

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

    def _take(self, item: Prepared | tuple[int, RecordError], position_kind: str) -> None:
        """Count one prepared record and queue it unless it is bad or a duplicate."""
        report = self.report
        report.records += 1
        if not isinstance(item, Prepared):
            self._bad(position_kind, item[0], item[1])
            return
        self._layouts_seen[item.layout] = self._layouts_seen.get(item.layout, 0) + 1
        if item.content_hash in self._seen_hashes or item.content_hash in self._new_hashes:
            report.duplicates += 1
            return
        self._new_hashes.add(item.content_hash)
        sample_id = item.content_hash[:16]
        import_id, source_name = self._row_prefix
        self._samples.append((sample_id, self.source or item.source or source_name, item.source_id, "chat",
                              item.layout, item.messages, item.metadata, item.reference, item.content_hash,
                              import_id, item.position, item.turns))
        for index, (model, label, text, extra) in enumerate(item.candidates):
            self._candidates.append((f"{sample_id}-{index}", sample_id, model, label, index, text, "import", extra))
        report.imported += 1

    def _bad(self, kind: str, position: int, error: RecordError) -> None:
        self.report.bad += 1
        if len(self.report.errors) < MAX_ERRORS_KEPT:
            self.report.errors.append({"line": position, "reason": error.describe(), "where": kind})

    def _flush(self, writer: _BatchWriter, done_bytes: int, total_bytes: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ImportCancelled(f"{self.path}: import cancelled; nothing from this file was kept")
        if self._samples:
            writer.put("samples", _arrow_table(SAMPLE_COLUMNS, self._samples))
        if self._candidates:
            self.report.candidates += len(self._candidates)
            writer.put("candidates", _arrow_table(CANDIDATE_COLUMNS, self._candidates))
        self._samples = []
        self._candidates = []
        if self.progress is not None:
            self.progress(done_bytes, total_bytes)

    def _format_name(self) -> str:
        if not self._layouts_seen:
            return self.forced_layout.name if self.forced_layout else "unknown"
        if len(self._layouts_seen) == 1:
            return next(iter(self._layouts_seen))
        ranked = sorted(self._layouts_seen, key=self._layouts_seen.__getitem__, reverse=True)
        return "mixed: " + ", ".join(ranked)


def _sequential(records: RecordSource, chooser: LayoutChooser, group: int = 2048) -> Iterator[tuple[int, list[Any]]]:
    """Prepare records one by one in this process, yielding them in groups with the bytes read so far."""
    items: list[Any] = []
    for position, record in records.items:
        items.append(prepare(position, record, chooser))
        if len(items) >= group:
            yield records.bytes_read(), items
            items = []
    yield records.total_bytes, items


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
    """Import each file in its own transaction and return one report per file; bad rows never stop good ones."""
    layout = resolve_layout(format_name, mapping)
    seen = existing_hashes(store)
    reports = []
    for path in paths:
        job = FileImport(store, Path(path), source=source, layout=layout, progress=progress, cancel=cancel)
        reports.append(job.run(seen))
    if any(report.imported for report in reports):
        store.checkpoint()
    return reports
