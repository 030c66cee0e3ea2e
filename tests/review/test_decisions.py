"""Decisions: only ever appended; undo appends a row and history flags what it undid."""

from __future__ import annotations

from typing import Any

from blossom_studio import review
from blossom_studio.store import Store
from tests.review.helpers import add_sample, all_rows, pairwise

# --- append-only -----------------------------------------------------------------------------------------------------


def test_decisions_are_only_ever_appended(store: Store) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    before: list[tuple[Any, ...]] = []
    steps = [
        lambda: review.decide(store, "s1", "choose", reviewer="alice", winner="B", note="B cites its source"),
        lambda: review.add_note(store, "s1", "check the units", reviewer="alice"),
        lambda: review.undo_last(store, reviewer="alice"),
        lambda: review.undo_last(store, reviewer="alice"),
        lambda: review.edit_answer(store, "s1-c0", "a better answer", reviewer="bob"),
        lambda: review.decide(store, "s1", "accept", reviewer="bob"),
        lambda: review.undo_last(store, reviewer="bob"),
        lambda: review.bulk_accept(store, reviewer="carol"),
    ]
    candidates_before = store.query("SELECT * FROM candidates ORDER BY id")
    for step in steps:
        step()
        rows = all_rows(store)
        assert len(rows) == len(before) + 1
        assert rows[: len(before)] == before, "an earlier decision row changed"
        before = rows
    assert [row[5] for row in before] == ["choose", "note", "undo", "undo", "edit", "accept", "undo", "accept"]
    assert [row[0] for row in before] == sorted(row[0] for row in before)
    after = store.query("SELECT * FROM candidates ORDER BY id")
    assert [row for row in after if row[0] in {c[0] for c in candidates_before}] == candidates_before
    assert len(after) == len(candidates_before) + 1


def test_undo_appends_and_history_flags_what_it_undid(store: Store) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    chose = review.decide(store, "s1", "choose", reviewer="alice", winner="B")
    undo = review.undo_last(store, reviewer="alice")
    assert undo is not None and undo.action == "undo" and undo.payload["undoes"] == chose.id
    assert undo.sample_id == "s1" and undo.verdict_id == chose.verdict_id
    trail = review.history(store, "s1")
    assert [(d.action, d.undone) for d in trail] == [("choose", True), ("undo", False)]
    assert review.undo_last(store, reviewer="alice") is None, "an undo is not undone, and nothing else is live"
    assert review.undo_last(store, reviewer="nobody") is None


def test_undo_takes_the_reviewers_own_latest_live_decision(store: Store) -> None:
    for sample in ("s1", "s2"):
        add_sample(store, sample)
        pairwise(store, sample, "A")
    first = review.decide(store, "s1", "tie", reviewer="alice")
    review.decide(store, "s2", "choose", reviewer="bob", winner="B")
    second = review.decide(store, "s2", "reject", reviewer="alice")
    assert review.undo_last(store, reviewer="alice").payload["undoes"] == second.id
    assert review.undo_last(store, reviewer="alice").payload["undoes"] == first.id
    assert review.effective(store, "s2").action == "choose", "bob's decision is untouched"
