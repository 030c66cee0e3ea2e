"""A writer thread that commits finished calls and items in group transactions, each item whole."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import duckdb
import orjson
import pyarrow as pa

from blossom_studio.llm.cache import CALL_COLUMNS, CallRecord
from blossom_studio.store import Store
from blossom_studio.synth.items import ItemOutcome

MAX_BATCH = 4096
COMMIT_INTERVAL = 0.05
"""Seconds between commits at most while commits are quick: a crash loses at most this much finished work (plus the
calls in flight)."""
MAX_COMMIT_SHARE = 0.25
"""The share of the writer's time that commits may take: when one takes longer than this share of the interval (a
busy machine, a large database), the next waits longer and gathers more, so that commits do not starve the calls.
The wait never exceeds MAX_COMMIT_WAIT seconds, which bounds what a crash can lose."""
MAX_COMMIT_WAIT = 1.0


def commit_wait(commit_interval: float, last_commit_seconds: float) -> float:
    """Return the seconds to gather entries before the next commit, given how long the last commit took."""
    return max(commit_interval, min(MAX_COMMIT_WAIT, last_commit_seconds / MAX_COMMIT_SHARE))


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass
class WriterStats:
    """What the writer has committed so far."""

    calls: int = 0
    items: int = 0
    transactions: int = 0


class ResultWriter:
    """Takes call records and item outcomes from any thread and commits everything queued in one transaction."""

    def __init__(self, store: Store, job_id: str, commit_interval: float = COMMIT_INTERVAL) -> None:
        self.store = store
        self.job_id = job_id
        self.stats = WriterStats()
        self.known_candidates: set[str] = set()
        """Ids of candidates already stored (from an earlier attempt at a retried item); they are not written twice."""
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[CallRecord | ItemOutcome | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._hurry = threading.Event()
        self.commit_interval = commit_interval
        self._thread = threading.Thread(target=self._loop, name=f"job-writer-{job_id}", daemon=True)
        self._thread.start()

    def put(self, entry: CallRecord | ItemOutcome) -> None:
        """Queue a finished call or item for the next commit."""
        with self._idle:
            self._pending += 1
        self._queue.put(entry)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is committed."""
        self._hurry.set()
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0 or self.error is not None, timeout)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Commit what is queued and stop the thread; raise the writer's error if it had one."""
        self._hurry.set()
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        last_commit = 0.0
        commit_seconds = 0.0
        while True:
            entry = self._queue.get()
            # A transaction has a fixed cost of a few milliseconds: gather what arrives within the commit interval.
            wait = commit_wait(self.commit_interval, commit_seconds) - (time.monotonic() - last_commit)
            if wait > 0 and entry is not None:
                self._hurry.wait(wait)
            self._hurry.clear()
            last_commit = time.monotonic()
            batch = [] if entry is None else [entry]
            stop = entry is None
            while not stop and len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            if batch and self.error is None:
                try:
                    self._commit(batch)
                except BaseException as exc:
                    self.error = exc
                commit_seconds = time.monotonic() - last_commit
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()
            if stop:
                return

    def _commit(self, batch: list[CallRecord | ItemOutcome]) -> None:
        calls = [entry.row() for entry in batch if isinstance(entry, CallRecord)]
        items = [entry for entry in batch if isinstance(entry, ItemOutcome)]
        with self.store.write() as cursor:
            if calls:
                _insert(cursor, "calls", _CALL_SCHEMA, list(zip(*calls, strict=True)))
            if items:
                self._write_items(cursor, items)
        self.stats.calls += len(calls)
        self.stats.items += len(items)
        self.stats.transactions += 1

    def _write_items(self, cursor: duckdb.DuckDBPyConnection, items: list[ItemOutcome]) -> None:
        candidates = [c for item in items for c in item.candidates if c.id not in self.known_candidates]
        if candidates:
            columns = [
                [c.id for c in candidates], [c.sample_id for c in candidates], [c.job_id for c in candidates],
                [c.model for c in candidates], [c.label for c in candidates], [c.position for c in candidates],
                [_json(c.message) for c in candidates], [c.finish_reason for c in candidates],
                [c.call_key for c in candidates], [c.origin for c in candidates], [_json(c.extra) for c in candidates],
            ]
            _insert(cursor, "candidates", _CANDIDATE_SCHEMA, columns)
        verdicts = [v for item in items for v in item.verdicts]
        if verdicts:
            columns = [
                [v.id for v in verdicts], [v.sample_id for v in verdicts], [v.job_id for v in verdicts],
                [v.kind for v in verdicts], [v.judge for v in verdicts], [_json(v.candidate_ids) for v in verdicts],
                [_json(v.candidates_shown) for v in verdicts], [_json(v.outcome) for v in verdicts],
                [v.rationale for v in verdicts], [v.raw_output for v in verdicts], [v.parse_status for v in verdicts],
                [_json(v.details) for v in verdicts], [_json(v.call_keys) for v in verdicts],
            ]
            _insert(cursor, "verdicts", _VERDICT_SCHEMA, columns)
        positions = [item.position for item in items]
        table = pa.Table.from_arrays(
            [
                pa.array(positions, pa.int64()), pa.array([i.state for i in items], pa.string()),
                pa.array([i.reason for i in items], pa.string()), pa.array([i.error for i in items], pa.string()),
                pa.array([_json(i.assignment) for i in items], pa.string()),
            ],
            schema=_ITEM_SCHEMA,
        )
        cursor.register("item_batch", table)
        # Items finish roughly in order, so the position range lets DuckDB skip most row groups of a large job.
        cursor.execute(
            "UPDATE job_items SET state = b.state, reason = b.reason, error = b.error, assignment = b.assignment, "
            "updated_at = current_timestamp FROM item_batch b WHERE job_items.job_id = ? "
            "AND job_items.position BETWEEN ? AND ? AND job_items.position = b.position",
            [self.job_id, min(positions), max(positions)],
        )
        cursor.unregister("item_batch")


def _insert(cursor: duckdb.DuckDBPyConnection, table_name: str, schema: pa.Schema, columns: list) -> None:
    """Append columns (in `schema` order) to a table through a registered Arrow table."""
    table = pa.Table.from_arrays([pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)],
                                 schema=schema)
    view = f"{table_name}_batch"
    cursor.register(view, table)
    names = ", ".join(schema.names)
    cursor.execute(f"INSERT INTO {table_name} ({names}) SELECT {names} FROM {view}")
    cursor.unregister(view)


def _schema(columns: str, types: dict[str, pa.DataType]) -> pa.Schema:
    return pa.schema([(name.strip(), types.get(name.strip(), pa.string())) for name in columns.split(",")])


_CALL_SCHEMA = _schema(CALL_COLUMNS, {"latency_ms": pa.float64(), "attempts": pa.int32()})
_CANDIDATE_SCHEMA = _schema(
    "id, sample_id, job_id, model, label, position, message, finish_reason, call_key, origin, extra",
    {"position": pa.int32()},
)
_VERDICT_SCHEMA = _schema(
    "id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale, raw_output, "
    "parse_status, details, call_keys",
    {},
)
_ITEM_SCHEMA = pa.schema(
    [("position", pa.int64()), ("state", pa.string()), ("reason", pa.string()), ("error", pa.string()),
     ("assignment", pa.string())]
)
