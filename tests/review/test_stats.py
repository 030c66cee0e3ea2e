"""Review statistics: agreement per judge, position bias, reviewers and conflicts."""

from __future__ import annotations

import pytest

from blossom_studio import review
from blossom_studio.store import Store
from tests.review.helpers import add_sample, add_verdict, pairwise

# --- statistics ------------------------------------------------------------------------------------------------------


def test_review_stats_count_agreement_bias_reviewers_and_conflicts(store: Store) -> None:
    for index in range(10):
        add_sample(store, f"s{index}")
    pairwise(store, "s0", "A", judge="j-one")
    pairwise(store, "s1", "B", judge="j-one")
    pairwise(store, "s2", "tie", split=True, judge="j-one")
    pairwise(store, "s3", "tie", split=True, judge="j-two")
    pairwise(store, "s4", "A", judge="j-two")
    pairwise(store, "s5", "A", judge="j-two", parse_status="failed")
    pairwise(store, "s6", "A", judge="j-two", parse_status="repaired")
    add_verdict(store, "s7", "pairwise", {"winner": "tie", "split": False, "method": "identical"}, judge="rule",
                parse_status="rule")
    pairwise(store, "s8", "B", judge="j-one")
    review.decide(store, "s0", "accept", reviewer="alice")  # agrees
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")  # disagrees
    review.decide(store, "s2", "tie", reviewer="bob")  # agrees
    review.decide(store, "s3", "choose", reviewer="bob", winner="B")  # disagrees
    review.decide(store, "s4", "choose", reviewer="alice", winner="A")  # agrees
    review.decide(store, "s4", "reject", reviewer="bob")  # conflict; latest (bob) disagrees
    review.decide(store, "s5", "choose", reviewer="alice", winner="B")  # no parsed judge verdict: not counted
    review.add_note(store, "s6", "looks fine", reviewer="alice")
    review.edit_answer(store, "s6-c0", "better", reviewer="bob")
    review.decide(store, "s9", "reject", reviewer="carol")
    review.decide(store, "s9", "tie", reviewer="carol")
    review.undo_last(store, reviewer="carol")
    review.bulk_accept(store, reviewer="dora", filter="pending", kind="pairwise")  # s6, s7, s8: not agreement
    stats = review.review_stats(store)
    assert [(a.judge, a.decided, a.agreed) for a in stats.agreement] == [("j-one", 3, 2), ("j-two", 2, 0)]
    assert stats.agreement[0].rate == pytest.approx(2 / 3) and stats.agreement[1].rate == 0
    # parsed judge verdicts only: s5 failed and the rule's s7 saw no orders
    assert [(b.judge, b.pairwise, b.split) for b in stats.position_bias] == [
        ("j-one", 4, 1), ("j-two", 3, 1), ("all", 7, 2)]
    assert stats.position_bias[-1].rate == pytest.approx(2 / 7)
    assert [(r.reviewer, r.decisions, r.edits, r.notes, r.undos) for r in stats.reviewers] == [
        ("alice", 4, 0, 1, 0), ("bob", 3, 1, 0, 0), ("carol", 1, 0, 0, 1), ("dora", 3, 0, 0, 0)]
    assert stats.conflicts == 1
    assert (stats.reviewed, stats.pending) == (10, 0)


def test_stats_of_an_empty_store(store: Store) -> None:
    stats = review.review_stats(store)
    assert stats.agreement == [] and stats.reviewers == [] and stats.conflicts == 0
    assert [(b.judge, b.pairwise, b.rate) for b in stats.position_bias] == [("all", 0, None)]
