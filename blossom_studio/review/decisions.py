"""The append-only decisions table: its rows, a sample's history with undone rows flagged, and the insert."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from blossom_studio.review.base import DECIDING, Cursor, ReviewError
from blossom_studio.store import Store

_DECISION_COLUMNS = "seq, id, sample_id, verdict_id, reviewer, action, payload, note, created_at"


@dataclass(frozen=True)
class Decision:
    """One row of the append-only decisions table; `undone` tells whether a later undo row cancels it."""

    seq: int
    id: str
    sample_id: str
    verdict_id: str | None
    reviewer: str
    action: str
    payload: dict[str, Any] | None
    note: str | None
    created_at: datetime
    undone: bool = False

    @property
    def deciding(self) -> bool:
        """True for accept, choose, tie, both_bad and reject."""
        return self.action in DECIDING


def _decision(row: tuple[Any, ...], undone: bool = False) -> Decision:
    seq, decision_id, sample_id, verdict_id, reviewer, action, payload, note, created_at = row
    loaded = orjson.loads(payload) if payload else None
    return Decision(seq, decision_id, sample_id, verdict_id, reviewer, action, loaded, note, created_at, undone)


def describe(decision: Decision) -> str:
    """Return a short English phrase for a decision, such as "chose A" or "rejected the sample"."""
    payload = decision.payload or {}
    winner = payload.get("winner")
    phrases = {
        "accept": f"accepted the judge ({winner})" if winner else "accepted the judge",
        "choose": f"chose {payload.get('winner')}",
        "tie": "called a tie",
        "both_bad": "marked both answers bad",
        "reject": "rejected the sample",
        "edit": f"edited {payload.get('revision_of')}",
        "note": "added a note",
        "undo": f"undid a decision ({str(payload.get('action', '?')).replace('_', ' ')})",
    }
    return phrases.get(decision.action, decision.action)


def _history(cursor: Cursor, sample_id: str) -> list[Decision]:
    rows = cursor.execute(
        f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE sample_id = ? ORDER BY seq", [sample_id]
    ).fetchall()
    decisions = [_decision(row) for row in rows]
    undone = {d.payload.get("undoes") for d in decisions if d.action == "undo" and d.payload}
    return [replace(d, undone=True) if d.id in undone else d for d in decisions]


def history(store: Store, sample_id: str) -> list[Decision]:
    """Return every decision on a sample, oldest first, each flagged when a later undo cancels it."""
    return _history(store.read(), sample_id)


def reviewer_positions(decisions: list[Decision]) -> list[Decision]:
    """Return each reviewer's latest live deciding decision from a sample's history, oldest first."""
    latest: dict[str, Decision] = {}
    for decision in decisions:
        if decision.deciding and not decision.undone:
            latest[decision.reviewer] = decision
    return sorted(latest.values(), key=lambda d: d.seq)


def _insert_decision(cursor: Cursor, sample_id: str, verdict_id: str | None, reviewer: str, action: str,
                     payload: dict[str, Any] | None, note: str | None) -> Decision:
    decision_id = str(uuid.uuid4())
    rows = cursor.execute(
        "INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_DECISION_COLUMNS}",
        [decision_id, sample_id, verdict_id, reviewer, action,
         orjson.dumps(payload).decode() if payload is not None else None, note],
    ).fetchall()
    return _decision(rows[0])


def _check_reviewer(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ReviewError("a decision needs a reviewer name")
    return reviewer.strip()


def _check_sample(cursor: Cursor, sample_id: str) -> None:
    if not cursor.execute("SELECT 1 FROM samples WHERE id = ? LIMIT 1", [sample_id]).fetchall():
        raise ReviewError(f"no sample with id {sample_id!r}")
