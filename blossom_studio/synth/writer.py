"""A writer thread that commits finished calls and items in group transactions, each item whole."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import orjson
import pyarrow as pa

from blossom_studio.llm.cache import CALL_COLUMNS, CallRecord
from blossom_studio.store import Store
from blossom_studio.synth.items import ItemOutcome

MAX_BATCH = 4096


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

    def __init__(self, store: Store, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.stats = WriterStats()
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[CallRecord | ItemOutcome | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name=f"job-writer-{job_id}", daemon=True)
        self._thread.start()

    def put(self, entry: CallRecord | ItemOutcome) -> None:
        """Queue a finished call or item for the next commit."""
        with self._idle:
            self._pending += 1
        self._queue.put(entry)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is committed."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0 or self.error is not None, timeout)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Commit what is queued and stop the thread; raise the writer's error if it had one."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        while True:
            entry = self._queue.get()
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
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()
            if stop:
                return

    def _commit(self, batch: list[CallRecord | ItemOutcome]) -> None:
        calls = {entry.key: entry.row() for entry in batch if isinstance(entry, CallRecord)}
        items = [entry for entry in batch if isinstance(entry, ItemOutcome)]
        with self.store.write() as cursor:
            if calls:
                table = pa.Table.from_pylist(
                    [dict(zip(_CALL_NAMES, row, strict=True)) for row in calls.values()], schema=_CALL_SCHEMA
                )
                cursor.register("call_batch", table)
                cursor.execute(f"INSERT OR REPLACE INTO calls ({CALL_COLUMNS}) SELECT {CALL_COLUMNS} FROM call_batch")
                cursor.unregister("call_batch")
            if items:
                self._write_items(cursor, items)
        self.stats.calls += len(calls)
        self.stats.items += len(items)
        self.stats.transactions += 1

    def _write_items(self, cursor: object, items: list[ItemOutcome]) -> None:
        candidates = [c for item in items for c in item.candidates]
        verdicts = [v for item in items for v in item.verdicts]
        if candidates:
            table = pa.Table.from_pylist(
                [
                    {
                        "id": c.id,
                        "sample_id": c.sample_id,
                        "job_id": c.job_id,
                        "model": c.model,
                        "label": c.label,
                        "position": c.position,
                        "message": _json(c.message),
                        "finish_reason": c.finish_reason,
                        "call_key": c.call_key,
                        "origin": c.origin,
                        "extra": _json(c.extra),
                    }
                    for c in candidates
                ],
                schema=_CANDIDATE_SCHEMA,
            )
            cursor.register("candidate_batch", table)
            cursor.execute(
                f"INSERT INTO candidates ({_CANDIDATE_COLUMNS}) SELECT {_CANDIDATE_COLUMNS} FROM candidate_batch b "
                "WHERE NOT EXISTS (SELECT 1 FROM candidates c WHERE c.id = b.id)"
            )
            cursor.unregister("candidate_batch")
        if verdicts:
            table = pa.Table.from_pylist(
                [
                    {
                        "id": v.id,
                        "sample_id": v.sample_id,
                        "job_id": v.job_id,
                        "kind": v.kind,
                        "judge": v.judge,
                        "candidate_ids": _json(v.candidate_ids),
                        "candidates_shown": _json(v.candidates_shown),
                        "outcome": _json(v.outcome),
                        "rationale": v.rationale,
                        "raw_output": v.raw_output,
                        "parse_status": v.parse_status,
                        "details": _json(v.details),
                        "call_keys": _json(v.call_keys),
                    }
                    for v in verdicts
                ],
                schema=_VERDICT_SCHEMA,
            )
            cursor.register("verdict_batch", table)
            cursor.execute(f"INSERT INTO verdicts ({_VERDICT_COLUMNS}) SELECT {_VERDICT_COLUMNS} FROM verdict_batch")
            cursor.unregister("verdict_batch")
        table = pa.Table.from_pylist(
            [
                {
                    "sample_id": item.sample_id,
                    "state": item.state,
                    "reason": item.reason,
                    "error": item.error,
                    "assignment": _json(item.assignment),
                }
                for item in items
            ],
            schema=_ITEM_SCHEMA,
        )
        cursor.register("item_batch", table)
        cursor.execute(
            "UPDATE job_items SET state = b.state, reason = b.reason, error = b.error, assignment = b.assignment, "
            "updated_at = current_timestamp FROM item_batch b "
            "WHERE job_items.job_id = ? AND job_items.sample_id = b.sample_id",
            [self.job_id],
        )
        cursor.unregister("item_batch")


_CALL_NAMES = [name.strip() for name in CALL_COLUMNS.split(",")]
_CALL_TYPES = {"latency_ms": pa.float64(), "attempts": pa.int32()}
_CALL_SCHEMA = pa.schema([(name, _CALL_TYPES.get(name, pa.string())) for name in _CALL_NAMES])
_CANDIDATE_COLUMNS = "id, sample_id, job_id, model, label, position, message, finish_reason, call_key, origin, extra"
_CANDIDATE_SCHEMA = pa.schema(
    [
        (name.strip(), pa.int32() if name.strip() == "position" else pa.string())
        for name in _CANDIDATE_COLUMNS.split(",")
    ]
)
_VERDICT_COLUMNS = (
    "id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale, raw_output, "
    "parse_status, details, call_keys"
)
_VERDICT_SCHEMA = pa.schema([(name.strip(), pa.string()) for name in _VERDICT_COLUMNS.split(",")])
_ITEM_SCHEMA = pa.schema([(name, pa.string()) for name in ("sample_id", "state", "reason", "error", "assignment")])
