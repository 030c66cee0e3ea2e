"""Human review: append-only decisions, answer revisions, the effective verdict, review queues and agreement.

Decisions are rows of the `decisions` table that are never updated or deleted. Actions:

- deciding: ``accept`` (agree with the judge), ``choose`` (a winner letter), ``tie``, ``both_bad``, ``reject`` (the
  whole sample). Their payload is a snapshot ``{"keep", "winner", "chosen", "rejected"}``: ``choose`` adds the
  letter and the candidate ids, ``accept`` copies the judge's values at the time (``"bulk": true`` for bulk accepts).
- ``edit``: payload ``{"candidate_id": new revision, "revision_of": edited id, "original": first id of the chain}``;
  the revision is a new `candidates` row with origin ``edit`` (the edited row stays).
- ``note``: the text is in ``note``.
- ``undo``: payload ``{"undoes": decision id, "action": its action}``; an undone decision no longer counts. Undo
  rows are not undone themselves.

Letters: a sample's answers under review ("slots") are the candidates of its latest judge verdict in the order the
verdict lists them (else its current candidates by position), at most four, lettered A-D; pairwise winners "A"/"B"
and the letters of rating pairs and of human choices all refer to these slots. A candidate's current revision is the
latest live edit of its chain, and effective chosen/rejected ids are always mapped to current revisions.

`effective_sql()` is the contract other modules compose (Library filters, export); its columns are documented in
`blossom_studio.review.effective_verdict`. The modules: `base` (kinds, actions, letters, filters, ReviewError),
`effective_verdict`, `decisions` (the append-only table and a sample's history), `candidates` (revisions and
lettered slots), `actions` (writing decisions), `queue` (review queues and bulk accept), `item` (what the Review tab
shows for one sample) and `stats` (agreement and position bias). Import public names from `blossom_studio.review`.
"""

from blossom_studio.review.actions import add_note, decide, edit_answer, undo_last
from blossom_studio.review.base import ACTIONS, DECIDING, FILTERS, JUDGE_KINDS, LETTERS, LOW_MARGIN, Cursor, ReviewError
from blossom_studio.review.candidates import Candidate, Slot, current_candidates, review_slots
from blossom_studio.review.decisions import Decision, describe, history, reviewer_positions
from blossom_studio.review.effective_verdict import (
    EFFECTIVE_COLUMNS,
    Effective,
    effective,
    effective_relation_sql,
    effective_sql,
    revision_map_sql,
)
from blossom_studio.review.item import ReviewItem, VerdictView, load_item
from blossom_studio.review.queue import (
    FILTER_HELP,
    FilterChoices,
    QueuePage,
    QueueSlot,
    bulk_accept,
    count_queue,
    filter_choices,
    queue_locate,
    queue_neighbour,
    queue_page,
)
from blossom_studio.review.stats import JudgeAgreement, PositionBias, ReviewerCount, ReviewStats, review_stats

__all__ = [
    "ACTIONS",
    "DECIDING",
    "EFFECTIVE_COLUMNS",
    "FILTERS",
    "FILTER_HELP",
    "JUDGE_KINDS",
    "LETTERS",
    "LOW_MARGIN",
    "Candidate",
    "Cursor",
    "Decision",
    "Effective",
    "FilterChoices",
    "JudgeAgreement",
    "PositionBias",
    "QueuePage",
    "QueueSlot",
    "ReviewError",
    "ReviewItem",
    "ReviewStats",
    "ReviewerCount",
    "Slot",
    "VerdictView",
    "add_note",
    "bulk_accept",
    "count_queue",
    "current_candidates",
    "decide",
    "describe",
    "edit_answer",
    "effective",
    "effective_relation_sql",
    "effective_sql",
    "filter_choices",
    "history",
    "load_item",
    "queue_locate",
    "queue_neighbour",
    "queue_page",
    "review_slots",
    "review_stats",
    "reviewer_positions",
    "revision_map_sql",
    "undo_last",
]
