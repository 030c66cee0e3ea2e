"""Reading verdicts back: the rows of `verdicts --json`, optionally for one job."""

from __future__ import annotations

from typing import Any

import orjson

from blossom_studio.store import Store
from blossom_studio.synth.jobs import find_job


def list_verdicts(store: Store, job: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Return verdicts (oldest first) with sample, job name, kind, judge, candidates shown, outcome and parse status."""
    where, params = "", []
    if job is not None:
        where = "WHERE v.job_id = ?"
        params.append(find_job(store, job)["id"])
    sql = (
        "SELECT v.sample_id, j.name, v.kind, v.judge, v.candidates_shown, v.candidate_ids, v.outcome, v.parse_status, "
        "v.rationale, v.details, v.id FROM verdicts v LEFT JOIN jobs j ON j.id = v.job_id "
        f"{where} ORDER BY v.created_at, v.sample_id, v.id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = store.query(sql, params)
    return [
        {
            "sample_id": sample_id,
            "job": job_name,
            "kind": kind,
            "judge": judge,
            "candidates": orjson.loads(shown),
            "candidate_ids": orjson.loads(ids),
            "outcome": orjson.loads(outcome) if outcome else None,
            "parse_status": parse_status,
            "rationale": rationale,
            "details": orjson.loads(details) if details else None,
            "id": verdict_id,
        }
        for sample_id, job_name, kind, judge, shown, ids, outcome, parse_status, rationale, details, verdict_id in rows
    ]


def verdict_counts(store: Store, job: str | None = None) -> list[dict[str, Any]]:
    """Return verdict counts by kind, judge and parse status."""
    where, params = "", []
    if job is not None:
        where = "WHERE job_id = ?"
        params.append(find_job(store, job)["id"])
    rows = store.query(
        f"SELECT kind, judge, parse_status, count(*) FROM verdicts {where} GROUP BY ALL ORDER BY ALL", params
    )
    return [{"kind": k, "judge": j, "parse_status": p, "verdicts": n} for k, j, p, n in rows]
