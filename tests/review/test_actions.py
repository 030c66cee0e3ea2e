"""Writing decisions: bad requests are refused with a reason and write nothing."""

from __future__ import annotations

import pytest

from blossom_studio import review
from blossom_studio.review import ReviewError
from blossom_studio.store import Store
from tests.review.helpers import add_sample, all_rows, pairwise

# --- bad input -------------------------------------------------------------------------------------------------------


def test_bad_requests_are_refused_with_a_reason_and_write_nothing(store: Store) -> None:
    add_sample(store, "s1")
    add_sample(store, "s2")
    pairwise(store, "s1", "A")
    pairwise(store, "s2", "A", parse_status="failed")
    cases = [
        (lambda: review.decide(store, "s1", "approve", reviewer="a"), "unknown action 'approve'"),
        (lambda: review.decide(store, "s1", "edit", reviewer="a"), "use edit_answer"),
        (lambda: review.decide(store, "nope", "accept", reviewer="a"), "no sample with id 'nope'"),
        (lambda: review.decide(store, "s1", "choose", reviewer="a", winner="C"), r"not one of .*\(A, B\)"),
        (lambda: review.decide(store, "s1", "choose", reviewer="a"), "needs a winner"),
        (lambda: review.decide(store, "s1", "tie", reviewer="a", winner="A"), "winner goes with choose"),
        (lambda: review.decide(store, "s1", "accept", reviewer=" "), "reviewer"),
        (lambda: review.decide(store, "s2", "accept", reviewer="a"), "parse status is failed"),
        (lambda: review.decide(store, "s1", "accept", reviewer="a", verdict_id="other"), "has no verdict"),
        (lambda: review.add_note(store, "s1", "  ", reviewer="a"), "empty"),
        (lambda: review.edit_answer(store, "s1-c0", "", reviewer="a"), "empty"),
        (lambda: review.edit_answer(store, "s1-c0", "answer 0 to s1", reviewer="a"), "unchanged"),
        (lambda: review.edit_answer(store, "missing", "text", reviewer="a"), "no answer with id"),
        (lambda: review.queue_page(store, filter="everything"), "unknown review filter"),
        (lambda: review.queue_page(store, kind="quality"), "unknown verdict kind"),
        (lambda: review.queue_page(store, job="no-such-job"), "no job named"),
        (lambda: review.bulk_accept(store, reviewer="a", filter="bogus"), "unknown review filter"),
    ]
    for call, message in cases:
        with pytest.raises(ReviewError, match=message):
            call()
    assert all_rows(store) == []
    with pytest.raises(ReviewError, match="no sample"):
        review.decide(store, "s9", "accept", reviewer="a")
    add_sample(store, "one", answers=1)
    with pytest.raises(ReviewError, match="two answers"):
        review.decide(store, "one", "tie", reviewer="a")
    # a choice on a failed verdict is a person's verdict
    chose = review.decide(store, "s2", "choose", reviewer="a", winner="B")
    assert chose.payload == {"keep": True, "winner": "B", "chosen": "s2-c1", "rejected": "s2-c0"}
