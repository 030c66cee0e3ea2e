"""One review item: a sample with its verdicts, lettered answers, effective verdict and decision history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from blossom_studio.review.base import JUDGE_KINDS
from blossom_studio.review.candidates import Slot, _slots
from blossom_studio.review.decisions import Decision, _history, reviewer_positions
from blossom_studio.review.effective_verdict import Effective, _effective
from blossom_studio.store import Store


@dataclass(frozen=True)
class VerdictView:
    """A stored verdict with its JSON fields decoded."""

    id: str
    kind: str
    judge: str
    job: str | None
    candidate_ids: list[str]
    candidates_shown: list[str]
    outcome: dict[str, Any] | None
    rationale: str | None
    details: dict[str, Any] | None
    parse_status: str


@dataclass(frozen=True)
class ReviewItem:
    """Everything the Review tab shows for one sample."""

    sample_id: str
    source: str
    messages: list[dict[str, Any]]
    reference: str | None
    verdict: VerdictView | None
    """The latest judge verdict (the one the letters refer to)."""
    verdicts: list[VerdictView]
    """Every verdict of the sample, newest first (rule flags included)."""
    slots: list[Slot]
    effective: Effective | None
    history: list[Decision]
    positions: list[Decision] = field(default_factory=list)
    """Each reviewer's latest live deciding decision, oldest first."""


def load_item(store: Store, sample_id: str) -> ReviewItem | None:
    """Return a sample with its verdicts, lettered answers, effective verdict and decision history; None if absent."""
    cursor = store.read()
    rows = cursor.execute("SELECT source, messages, reference FROM samples WHERE id = ?", [sample_id]).fetchall()
    if not rows:
        return None
    source, messages, reference = rows[0]
    verdict_rows = cursor.execute(
        "SELECT v.id, v.kind, v.judge, j.name, v.candidate_ids, v.candidates_shown, v.outcome, v.rationale, "
        "v.details, v.parse_status FROM (SELECT rowid AS rid, * FROM verdicts WHERE sample_id = ?) v "
        "LEFT JOIN jobs j ON j.id = v.job_id ORDER BY v.created_at DESC, v.rid DESC",
        [sample_id],
    ).fetchall()
    verdicts = [
        VerdictView(vid, kind, judge, job, orjson.loads(ids), orjson.loads(shown),
                    orjson.loads(outcome) if outcome else None, rationale,
                    orjson.loads(details) if details else None, status)
        for vid, kind, judge, job, ids, shown, outcome, rationale, details, status in verdict_rows
    ]
    verdict = next((v for v in verdicts if v.kind in JUDGE_KINDS), None)
    decisions = _history(cursor, sample_id)
    slots = _slots(cursor, sample_id, decisions, verdict.id if verdict else None)
    return ReviewItem(sample_id, source, orjson.loads(messages), reference, verdict, verdicts, slots,
                      _effective(cursor, sample_id), decisions, reviewer_positions(decisions))
