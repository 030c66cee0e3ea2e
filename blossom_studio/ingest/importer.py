"""Import files into the store: one transaction per file, bad rows reported, duplicates skipped by content hash."""

from __future__ import annotations

import hashlib
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from blossom_studio.ingest.errors import ImportFileError, RecordError
from blossom_studio.ingest.layouts import BY_NAME, FORMATS, Layout, MappedLayout, detect
from blossom_studio.ingest.readers import open_records
from blossom_studio.ingest.records import Sample
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


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


GENERIC_STEMS = frozenset({"test", "train", "dev", "valid", "validation", "eval", "data", "dataset", "all", "sample"})


def default_source(path: Path) -> str:
    """Name a file's source after its stem, prefixed by its folder when the stem is generic (gsm8k/test)."""
    stem = path.name.split(".", 1)[0] or path.name
    if stem.lower() in GENERIC_STEMS and path.parent.name:
        return f"{path.parent.name}/{stem}"
    return stem


def _content_hash(sample: Sample, messages_json: bytes, metadata_json: bytes, candidate_jsons: list[bytes]) -> str:
    """Hash everything a record carries (not its source name), so only a true re-import counts as duplicate."""
    digest = hashlib.blake2b(messages_json, digest_size=16)
    digest.update(b"\0" + (sample.reference or "").encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + (sample.source_id or "").encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + metadata_json)
    for cand, text in zip(sample.candidates, candidate_jsons, strict=True):
        digest.update(b"\0" + text + _dumps([cand.model, cand.label, cand.extra]))
    return digest.hexdigest()


def _convert(layout: Layout, record: dict[str, Any]) -> Sample:
    """Convert one record; an adapter that trips over a record it does not fit fails that record, not the file."""
    try:
        return layout.convert(record)
    except RecordError:
        raise
    except Exception as exc:  # a forced --format on a record of another layout, or an adapter bug
        keys = ", ".join(list(record)[:20]) or "none"
        if not layout.matches(record):
            raise RecordError(f"the record is not in the {layout.name} layout (it has the keys [{keys}])") from exc
        raise RecordError(f"the {layout.name} layout failed on this record ({type(exc).__name__}: {exc}); "
                          "this is a bug in the importer, please report it") from exc


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
        self._detected: dict[tuple[Any, ...], Layout] = {}

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
        samples: dict[str, list[Any]] = {name: [] for name in SAMPLE_COLUMNS}
        candidates: dict[str, list[Any]] = {name: [] for name in CANDIDATE_COLUMNS}
        new_hashes: set[str] = set()
        try:
            for position, record in records.items:
                report.records += 1
                if isinstance(record, RecordError):
                    self._bad(records.position_kind, position, record)
                    continue
                try:
                    layout = self._layout_for(record)
                    sample = _convert(layout, record)
                except RecordError as exc:
                    self._bad(records.position_kind, position, exc)
                    continue
                messages_json = _dumps(sample.messages)
                metadata_json = _dumps(sample.metadata)
                candidate_jsons = [_dumps(c.message) for c in sample.candidates]
                content_hash = _content_hash(sample, messages_json, metadata_json, candidate_jsons)
                self._layouts_seen[layout.name] = self._layouts_seen.get(layout.name, 0) + 1
                if content_hash in seen_hashes or content_hash in new_hashes:
                    report.duplicates += 1
                    continue
                new_hashes.add(content_hash)
                sample_id = content_hash[:16]
                row = (sample_id, self.source or sample.source or source_name, sample.source_id, "chat",
                       layout.name, messages_json.decode(), metadata_json.decode(), sample.reference,
                       content_hash, import_id, position,
                       sum(1 for m in sample.messages if m["role"] == "user"))
                for name, value in zip(SAMPLE_COLUMNS, row, strict=True):
                    samples[name].append(value)
                for index, (cand, text) in enumerate(zip(sample.candidates, candidate_jsons, strict=True)):
                    cand_row = (f"{sample_id}-{index}", sample_id, cand.model, cand.label, index, text.decode(),
                                "import", _dumps(cand.extra).decode() if cand.extra else None)
                    for name, value in zip(CANDIDATE_COLUMNS, cand_row, strict=True):
                        candidates[name].append(value)
                report.imported += 1
                if len(samples["id"]) >= BATCH_SIZE:
                    self._flush(writer, samples, candidates, records.bytes_read(), records.total_bytes)
            self._flush(writer, samples, candidates, records.total_bytes, records.total_bytes)
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
                 _dumps(report.errors).decode(), started, finished],
            )

        writer.close(commit=report.imported > 0, finish=record_import)
        if report.imported:
            seen_hashes.update(new_hashes)
        return report

    def _layout_for(self, record: dict[str, Any]) -> Layout:
        if self.forced_layout is not None:
            return self.forced_layout
        signature = (tuple(record), type(record.get("output")), type(record.get("chosen")))
        layout = self._detected.get(signature)
        if layout is None:
            layout = self._detected[signature] = detect(record)
        return layout

    def _bad(self, kind: str, position: int, error: RecordError) -> None:
        self.report.bad += 1
        if len(self.report.errors) < MAX_ERRORS_KEPT:
            self.report.errors.append({"line": position, "reason": error.describe(), "where": kind})

    def _flush(self, writer: _BatchWriter, samples: dict[str, list[Any]], candidates: dict[str, list[Any]],
               done_bytes: int, total_bytes: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ImportCancelled(f"{self.path}: import cancelled; nothing from this file was kept")
        if samples["id"]:
            writer.put("samples", pa.table(samples))
        if candidates["id"]:
            self.report.candidates += len(candidates["id"])
            writer.put("candidates", pa.table(candidates))
        for columns in (samples, candidates):
            for values in columns.values():
                values.clear()
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
