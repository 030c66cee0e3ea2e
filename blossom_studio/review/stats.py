"""Review statistics: agreement with each judge, position bias, decisions per reviewer, conflicts, queue sizes."""

from __future__ import annotations

from dataclasses import dataclass

from blossom_studio.review.effective_verdict import _DECIDING, _EFFECTIVE_SQL
from blossom_studio.store import Store


@dataclass(frozen=True)
class JudgeAgreement:
    """How often people agreed with one judge on the samples they decided one by one."""

    judge: str
    decided: int
    agreed: int

    @property
    def rate(self) -> float | None:
        """Agreed / decided, or None before any decision."""
        return self.agreed / self.decided if self.decided else None


@dataclass(frozen=True)
class PositionBias:
    """Parsed pairwise verdicts of one judge (or "all") and how many had split orders."""

    judge: str
    pairwise: int
    split: int

    @property
    def rate(self) -> float | None:
        """Split / pairwise, or None without pairwise verdicts."""
        return self.split / self.pairwise if self.pairwise else None


@dataclass(frozen=True)
class ReviewerCount:
    """One reviewer's live deciding decisions and other actions."""

    reviewer: str
    decisions: int
    edits: int
    notes: int
    undos: int


@dataclass(frozen=True)
class ReviewStats:
    """Agreement per judge, position bias, decisions per reviewer, conflicts and queue sizes."""

    agreement: list[JudgeAgreement]
    position_bias: list[PositionBias]
    """Per judge model, then one row "all"."""
    reviewers: list[ReviewerCount]
    conflicts: int
    reviewed: int
    pending: int


def review_stats(store: Store) -> ReviewStats:
    """Compute agreement (bulk accepts left out), position bias (split / parsed pairwise), reviewers and conflicts."""
    cursor = store.read()
    rows = cursor.execute(
        f"""
        WITH eff AS ({_EFFECTIVE_SQL}),
        counted AS (
            SELECT e.*, e.source = 'human' AND e.judge_keep IS NOT NULL
                        AND NOT coalesce(TRY_CAST(d.payload->>'bulk' AS BOOLEAN), FALSE) AS measured
            FROM eff e LEFT JOIN decisions d ON d.id = e.decision_id
        )
        SELECT GROUPING(judge) AS total, judge, count(*) FILTER (WHERE measured),
               count(*) FILTER (WHERE measured AND NOT disagrees), count(*) FILTER (WHERE conflict),
               count(*) FILTER (WHERE source = 'human'),
               count(*) FILTER (WHERE source = 'judge' AND verdict_id IS NOT NULL)
        FROM counted GROUP BY GROUPING SETS ((judge), ()) ORDER BY total, judge
        """
    ).fetchall()
    agreement = [(judge, decided, agreed) for total, judge, decided, agreed, *_ in rows if not total and decided]
    conflicts, reviewed, pending = next((row[4:] for row in rows if row[0]), (0, 0, 0))
    bias = cursor.execute(
        """
        SELECT coalesce(judge, 'all'), count(*),
               count(*) FILTER (WHERE coalesce(TRY_CAST(outcome->>'split' AS BOOLEAN), FALSE))
        FROM verdicts WHERE kind = 'pairwise' AND judge <> 'rule' AND parse_status IN ('ok', 'repaired')
        GROUP BY ROLLUP (judge) ORDER BY judge IS NULL, judge
        """
    ).fetchall()
    reviewers = cursor.execute(
        f"""
        WITH undone AS (SELECT DISTINCT payload->>'undoes' AS id FROM decisions WHERE action = 'undo'),
        rows AS (SELECT d.reviewer, d.action, u.id IS NOT NULL AS undone
                 FROM decisions d LEFT JOIN undone u ON u.id = d.id)
        SELECT reviewer, count(*) FILTER (WHERE action IN ({_DECIDING}) AND NOT undone),
               count(*) FILTER (WHERE action = 'edit' AND NOT undone),
               count(*) FILTER (WHERE action = 'note' AND NOT undone), count(*) FILTER (WHERE action = 'undo')
        FROM rows GROUP BY reviewer ORDER BY reviewer
        """
    ).fetchall()
    if not bias:
        bias = [("all", 0, 0)]
    return ReviewStats(
        agreement=[JudgeAgreement(*row) for row in agreement],
        position_bias=[PositionBias(*row) for row in bias],
        reviewers=[ReviewerCount(*row) for row in reviewers],
        conflicts=conflicts,
        reviewed=reviewed,
        pending=pending,
    )
