"""Jobs as rows: create one from a strategy, roles and a selection; read its progress; cancel it; list jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from blossom_studio.llm.roster import Roster, RosterError
from blossom_studio.store import Store
from blossom_studio.synth.items import short_id
from blossom_studio.synth.selection import Selection, select_sample_ids

ACTIVE: dict[str, threading.Event] = {}
"""Cancel events of the jobs running in this process, by job id (only one process can hold the database)."""


class JobError(ValueError):
    """A job that cannot be created, found or run, explained in one line."""


@dataclass
class JobProgress:
    """A job's state as read from the database."""

    id: str
    name: str
    strategy: str
    status: str
    items: int
    done: int = 0
    failed: int = 0
    pending: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    finished_at: str | None = None

    @property
    def finished(self) -> int:
        """Items that are done or failed."""
        return self.done + self.failed

    def as_dict(self) -> dict[str, Any]:
        """Return the progress as JSON-ready data (the `jobs --json` row)."""
        return {
            "name": self.name,
            "id": self.id,
            "strategy": self.strategy,
            "status": self.status,
            "items": self.items,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "failure_reasons": self.reasons,
            "roles": self.roles,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


def create_job(
    store: Store,
    roster: Roster,
    *,
    strategy: str,
    roles: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    selection: Selection | None = None,
    seed: int = 0,
    name: str | None = None,
    created_by: str | None = None,
) -> JobProgress:
    """Validate the strategy, roles and selection, then write the job and its pending items in one transaction."""
    from blossom_studio.synth.strategies import strategy_for_roles

    built, specs = strategy_for_roles(strategy, params, roles, roster)
    for spec in specs.values():
        spec.api_key()
    selection = selection or Selection()
    ids = select_sample_ids(store, selection)
    if not ids:
        raise JobError(f"the selection {orjson.dumps(selection.describe()).decode()} matches no samples")
    name = name or f"{strategy}-{time.strftime('%Y%m%d-%H%M%S')}"
    if store.query("SELECT 1 FROM jobs WHERE name = ?", [name]):
        raise JobError(f"a job named {name!r} already exists; pick another --job name or --resume it")
    job_id = short_id("job", name, time.time_ns())
    roster_public = {spec.name: spec.public() for spec in specs.values()}
    items = pa.table({"sample_id": pa.array(ids, pa.string()), "position": pa.array(range(len(ids)), pa.int64())})
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO jobs (id, name, strategy, roles, roster, params, selection, seed, status, items, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            [
                job_id,
                name,
                strategy,
                orjson.dumps(dict(roles)).decode(),
                orjson.dumps(roster_public).decode(),
                orjson.dumps(built.params).decode(),
                orjson.dumps(selection.describe()).decode(),
                seed,
                len(ids),
                created_by,
            ],
        )
        cursor.register("new_items", items)
        cursor.execute(
            "INSERT INTO job_items (job_id, sample_id, position, state) SELECT ?, sample_id, position, 'pending' "
            "FROM new_items",
            [job_id],
        )
        cursor.unregister("new_items")
    return job_progress(store, name)


def find_job(store: Store, name_or_id: str) -> dict[str, Any]:
    """Return a job's row as a dict, found by name or id."""
    cursor = store.read().execute(
        "SELECT id, name, strategy, roles, roster, params, selection, seed, status, items, created_at, finished_at "
        "FROM jobs WHERE name = ? OR id = ?",
        [name_or_id, name_or_id],
    )
    rows = cursor.fetchall()
    if not rows:
        raise JobError(f"no job named {name_or_id!r}; `jobs` lists them")
    columns = [column[0] for column in cursor.description]
    job = dict(zip(columns, rows[0], strict=True))
    for key in ("roles", "roster", "params", "selection"):
        job[key] = orjson.loads(job[key])
    return job


def effective_status(job_id: str, stored: str) -> str:
    """Return the status to show: a job marked running that no thread of this process runs was interrupted."""
    if stored in ("running", "cancelling") and job_id not in ACTIVE:
        return "interrupted"
    return stored


def job_progress(store: Store, name_or_id: str) -> JobProgress:
    """Return the counts of a job's items by state and its failures by reason."""
    job = find_job(store, name_or_id)
    counts = dict(store.query("SELECT state, count(*) FROM job_items WHERE job_id = ? GROUP BY state", [job["id"]]))
    reasons = dict(
        store.query(
            "SELECT reason, count(*) FROM job_items WHERE job_id = ? AND state = 'failed' "
            "GROUP BY reason ORDER BY 2 DESC",
            [job["id"]],
        )
    )
    return JobProgress(
        id=job["id"],
        name=job["name"],
        strategy=job["strategy"],
        status=effective_status(job["id"], job["status"]),
        items=job["items"],
        done=counts.get("done", 0),
        failed=counts.get("failed", 0),
        pending=counts.get("pending", 0),
        reasons=reasons,
        roles=job["roles"],
        created_at=str(job["created_at"]) if job["created_at"] else None,
        finished_at=str(job["finished_at"]) if job["finished_at"] else None,
    )


def list_jobs(store: Store) -> list[JobProgress]:
    """Return every job's progress, newest first."""
    names = [row[0] for row in store.query("SELECT name FROM jobs ORDER BY created_at DESC, name")]
    return [job_progress(store, name) for name in names]


def cancel_job(store: Store, name_or_id: str) -> JobProgress:
    """Ask a running job to stop taking new items; a job not running here is marked cancelled at once."""
    job = find_job(store, name_or_id)
    event = ACTIVE.get(job["id"])
    if event is not None:
        event.set()
        set_status(store, job["id"], "cancelling")
    elif job["status"] not in ("done",):
        set_status(store, job["id"], "cancelled", finished=True)
    return job_progress(store, job["id"])


def set_status(store: Store, job_id: str, status: str, *, started: bool = False, finished: bool = False) -> None:
    """Write a job's status (and its start or finish time)."""
    stamps = (", started_at = current_timestamp" if started else "") + (
        ", finished_at = current_timestamp" if finished else ""
    )
    with store.write() as cursor:
        cursor.execute(f"UPDATE jobs SET status = ?{stamps} WHERE id = ?", [status, job_id])


def roster_for_job(roster: Roster, job: Mapping[str, Any]) -> dict[str, Any]:
    """Return the roster specs of a job's roles, or explain which model the roster no longer has."""
    try:
        return {role: roster.get(model) for role, model in job["roles"].items()}
    except RosterError as exc:
        raise JobError(f"job {job['name']!r} uses a model the roster does not have: {exc}") from None


def recent_jobs(store: Store, limit: int = 20) -> list[JobProgress]:
    """Return the progress of the `limit` newest jobs, newest first, read in two queries whatever their number."""
    cursor = store.read().execute(
        "SELECT id, name, strategy, status, items, roles, created_at, finished_at FROM jobs "
        "ORDER BY created_at DESC, name LIMIT ?",
        [limit],
    )
    jobs = cursor.fetchall()
    counts: dict[str, dict[str, int]] = {}
    reasons: dict[str, dict[str, int]] = {}
    if jobs:
        for job_id, state, reason, count in store.query(
            "SELECT job_id, state, CASE WHEN state = 'failed' THEN reason END, count(*) FROM job_items "
            "WHERE job_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL ORDER BY 4 DESC",
            [[row[0] for row in jobs]],
        ):
            by_state = counts.setdefault(job_id, {})
            by_state[state] = by_state.get(state, 0) + count
            if state == "failed":
                reasons.setdefault(job_id, {})[reason] = count
    return [
        JobProgress(
            id=job_id,
            name=name,
            strategy=strategy,
            status=effective_status(job_id, status),
            items=items,
            done=counts.get(job_id, {}).get("done", 0),
            failed=counts.get(job_id, {}).get("failed", 0),
            pending=counts.get(job_id, {}).get("pending", 0),
            reasons=reasons.get(job_id, {}),
            roles=orjson.loads(roles),
            created_at=str(created_at) if created_at else None,
            finished_at=str(finished_at) if finished_at else None,
        )
        for job_id, name, strategy, status, items, roles, created_at, finished_at in jobs
    ]
