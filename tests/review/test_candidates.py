"""Lettered slots in the verdict's order, and edits as new revisions of an answer."""

from __future__ import annotations

import json

import pytest

from blossom_studio import review
from blossom_studio.review import ReviewError
from blossom_studio.store import Store
from tests.review.helpers import add_sample, add_verdict, pairwise


def test_letters_follow_the_verdicts_order_even_when_an_answer_is_missing(store: Store) -> None:
    add_sample(store, "s1", answers=1)  # no final answer of its own, so "s1/original" cannot be shown
    add_verdict(store, "s1", "pairwise", {"winner": "B", "split": False, "chosen": "s1-c0",
                                          "rejected": "s1/original"}, candidate_ids=["s1/original", "s1-c0"])
    assert [(s.letter, s.candidate.id) for s in review.review_slots(store, "s1")] == [("B", "s1-c0")]
    assert review.decide(store, "s1", "choose", reviewer="a", winner="B").payload["chosen"] == "s1-c0"
    with pytest.raises(ReviewError, match=r"not one of .*\(B\)"):
        review.decide(store, "s1", "choose", reviewer="a", winner="A")


# --- edits -----------------------------------------------------------------------------------------------------------


def test_an_edit_is_a_new_revision_and_the_original_stays(store: Store) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    original = store.query("SELECT * FROM candidates WHERE id = 's1-c0'")
    edit = review.edit_answer(store, "s1-c0", "修订后的答案 with $$x^2$$", reviewer="alice", note="typo")
    revision = edit.payload["candidate_id"]
    assert edit.action == "edit" and edit.payload["revision_of"] == "s1-c0" and edit.note == "typo"
    assert store.query("SELECT * FROM candidates WHERE id = 's1-c0'") == original
    row = store.query("SELECT sample_id, job_id, model, label, position, origin, message, extra FROM candidates "
                      "WHERE id = ?", [revision])[0]
    assert row[:6] == ("s1", None, "model-0", "A", 0, "edit")
    assert json.loads(row[6]) == {"role": "assistant", "content": "修订后的答案 with $$x^2$$"}
    assert json.loads(row[7]) == {"revision_of": "s1-c0", "editor": "alice", "original": "s1-c0"}
    assert [c.id for c in review.current_candidates(store, "s1")] == [revision, "s1-c1"]
    assert [s.candidate.id for s in review.review_slots(store, "s1")] == [revision, "s1-c1"]
    e = review.effective(store, "s1")
    assert (e.source, e.chosen, e.rejected) == ("judge", revision, "s1-c1"), "the judge's pick maps to the revision"

    second = review.edit_answer(store, revision, "third version", reviewer="bob")
    assert second.payload == {"candidate_id": second.payload["candidate_id"], "revision_of": revision,
                              "original": "s1-c0"}
    assert [c.id for c in review.current_candidates(store, "s1")] == [second.payload["candidate_id"], "s1-c1"]
    review.undo_last(store, reviewer="bob")
    assert [c.id for c in review.current_candidates(store, "s1")] == [revision, "s1-c1"]
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")
    assert review.effective(store, "s1").chosen == revision
    review.undo_last(store, reviewer="alice")  # the choice
    review.undo_last(store, reviewer="alice")  # the edit
    assert [c.id for c in review.current_candidates(store, "s1")] == ["s1-c0", "s1-c1"]
    assert review.effective(store, "s1").chosen == "s1-c0"
    assert store.query("SELECT count(*) FROM candidates WHERE sample_id = 's1'")[0][0] == 4


def test_the_samples_own_final_answer_can_be_edited(store: Store) -> None:
    add_sample(store, "s1", answers=0, final="The answer is 41.")
    add_verdict(store, "s1", "verify", {"correct": False}, candidate_ids=["s1/original"])
    assert [(s.letter, s.candidate.text) for s in review.review_slots(store, "s1")] == [("A", "The answer is 41.")]
    edit = review.edit_answer(store, "s1/original", "The answer is 42.", reviewer="alice")
    slots = review.review_slots(store, "s1")
    assert [(s.candidate.id, s.candidate.text) for s in slots] == [(edit.payload["candidate_id"], "The answer is 42.")]
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")
    e = review.effective(store, "s1")
    assert (e.keep, e.chosen, e.disagrees) == (True, edit.payload["candidate_id"], True)
