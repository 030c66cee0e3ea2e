"""Review queues: each filter, dropdown filters, the audit order, walking, bulk accept."""

from __future__ import annotations

import json

import pytest

from blossom_studio import review
from blossom_studio.review import ReviewError
from blossom_studio.store import Store
from tests.review.helpers import add_sample, add_verdict, all_rows, pairwise, rating

# --- queues ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def queued(store: Store) -> Store:
    """Twelve samples: a mix of verdicts and decisions, with every filter matching something."""
    with store.write() as cursor:
        cursor.execute("INSERT INTO jobs (id, name, strategy, roles, roster, params, selection, seed, status, items) "
                       "VALUES ('j1', 'first', 'pairwise', '{}', '{}', '{}', '{}', 0, 'done', 0), "
                       "('j2', 'second', 'rate', '{}', '{}', '{}', '{}', 0, 'done', 0)")
    for index in range(12):
        add_sample(store, f"q{index:02d}", answers=3 if index in (6, 7) else 2, source="zh" if index % 2 else "en")
    pairwise(store, "q00", "A", job_id="j1")
    pairwise(store, "q01", "B", job_id="j1")
    pairwise(store, "q02", "tie", split=True, job_id="j1")
    pairwise(store, "q03", "tie", job_id="j1")
    pairwise(store, "q04", "A", parse_status="failed", job_id="j1")
    pairwise(store, "q05", "A", job_id="j1")
    rating(store, "q06", [4, 2, 3])  # margin 2
    rating(store, "q07", [4, 3, 3.5])  # margin 1: low
    add_verdict(store, "q08", "verify", {"correct": True}, candidate_ids=["q08-c0"])
    add_verdict(store, "q09", "consistency", {"consistent": False})
    pairwise(store, "q10", "B", job_id="j1")
    review.decide(store, "q05", "accept", reviewer="alice")
    review.decide(store, "q10", "choose", reviewer="alice", winner="A")  # disagrees
    review.decide(store, "q10", "choose", reviewer="bob", winner="B")  # conflict; agrees again
    review.decide(store, "q01", "choose", reviewer="bob", winner="A")  # disagrees
    review.decide(store, "q11", "reject", reviewer="bob")  # no verdict
    with store.write() as cursor:
        cursor.execute("UPDATE verdicts SET job_id = 'j2' WHERE kind = 'rating'")
    return store


EXPECTED = {
    "all": [f"q{i:02d}" for i in range(12)],
    "pending": ["q00", "q02", "q03", "q04", "q06", "q07", "q08", "q09"],
    "ties": ["q02", "q03"],
    "split": ["q02"],
    "parse_failures": ["q04"],
    "low_margin": ["q02", "q03", "q07"],
    "disagreement": ["q01"],
    "conflicts": ["q10"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_queue_filter_returns_its_samples(queued: Store, name: str) -> None:
    page = review.queue_page(queued, filter=name)
    assert page.sample_ids == EXPECTED[name] and page.total == len(EXPECTED[name])
    assert review.count_queue(queued, filter=name) == len(EXPECTED[name])


def test_queue_dropdown_filters_combine(queued: Store) -> None:
    assert review.queue_page(queued, filter="pending", kind="rating").sample_ids == ["q06", "q07"]
    assert review.queue_page(queued, filter="pending", job="first").sample_ids == ["q00", "q02", "q03", "q04"]
    assert review.queue_page(queued, filter="pending", job="j2").sample_ids == ["q06", "q07"]
    assert review.queue_page(queued, filter="all", source="zh").sample_ids == [f"q{i:02d}" for i in range(1, 12, 2)]
    assert review.queue_page(queued, filter="pending", source="en", kind="pairwise").sample_ids == [
        "q00", "q02", "q04"]
    page = review.queue_page(queued, filter="all", offset=10, limit=5)
    assert page.sample_ids == ["q10", "q11"] and page.total == 12
    assert review.queue_page(queued, filter="all", offset=50) == review.QueuePage([], 12)
    choices = review.filter_choices(queued)
    assert choices.sources == ["en", "zh"]
    assert choices.kinds == ["consistency", "pairwise", "rating", "verify"] and set(choices.jobs) == {"first", "second"}


def test_audit_is_a_seeded_random_order_of_judge_decided_items(queued: Store) -> None:
    judged = sorted({"q00", "q02", "q03", "q06", "q07", "q08", "q09"})
    first = review.queue_page(queued, filter="audit", seed=1)
    assert sorted(first.sample_ids) == judged and first.total == len(judged)
    assert review.queue_page(queued, filter="audit", seed=1) == first
    orders = {tuple(review.queue_page(queued, filter="audit", seed=seed).sample_ids) for seed in range(6)}
    assert len(orders) > 1, "the seed changes the order"


def test_next_and_previous_walk_the_queue_even_after_the_item_leaves_it(queued: Store) -> None:
    pending = EXPECTED["pending"]
    here = review.queue_page(queued, filter="pending", limit=1).sample_ids[0]
    walked = [here]
    while (step := review.queue_neighbour(queued, walked[-1], filter="pending")) is not None:
        assert step.index == len(walked) and step.total == len(pending)
        walked.append(step.sample_id)
    assert walked == pending
    back = review.queue_neighbour(queued, "q08", direction="previous", filter="pending")
    assert (back.sample_id, back.index) == ("q07", 5)
    assert review.queue_neighbour(queued, "q00", direction="previous", filter="pending") is None
    review.decide(queued, "q03", "tie", reviewer="alice")  # q03 leaves the pending queue
    slot = review.queue_locate(queued, "q03", filter="pending")
    assert (slot.in_queue, slot.index, slot.total) == (False, 2, len(pending) - 1)
    following = review.queue_neighbour(queued, "q03", filter="pending")
    assert (following.sample_id, following.index) == ("q04", 2)
    assert review.queue_neighbour(queued, "q03", direction="previous", filter="pending").sample_id == "q02"
    audit = review.queue_page(queued, filter="audit", seed=3).sample_ids
    assert review.queue_neighbour(queued, audit[0], filter="audit", seed=3).sample_id == audit[1]
    assert review.queue_locate(queued, audit[-1], filter="audit", seed=3).index == len(audit) - 1
    with pytest.raises(ReviewError, match="direction"):
        review.queue_neighbour(queued, "q00", direction="sideways")


# --- bulk accept -----------------------------------------------------------------------------------------------------


def test_bulk_accept_writes_one_row_per_judge_decided_sample(queued: Store) -> None:
    acceptable = review.count_queue(queued, filter="all", acceptable_only=True)
    assert acceptable == 7, "parse failures and samples a person decided are left out"
    assert review.count_queue(queued, filter="pending", kind="pairwise", acceptable_only=True) == 3
    rows_before = all_rows(queued)
    assert review.bulk_accept(queued, reviewer="carol", filter="pending", kind="pairwise", note="batch 1") == 3
    new = all_rows(queued)[len(rows_before):]
    assert sorted(row[2] for row in new) == ["q00", "q02", "q03"]
    assert {row[4:6] for row in new} == {("carol", "accept")} and {row[7] for row in new} == {"batch 1"}
    payloads = {row[2]: json.loads(row[6]) for row in new}
    assert payloads["q00"] == {"keep": True, "winner": "A", "chosen": "q00-c0", "rejected": "q00-c1", "bulk": True}
    assert payloads["q02"] == {"keep": True, "winner": "tie", "chosen": None, "rejected": None, "bulk": True}
    verdicts = dict(queued.query("SELECT sample_id, id FROM verdicts"))
    assert all(row[3] == verdicts[row[2]] for row in new)
    assert len({row[1] for row in new}) == 3
    assert review.bulk_accept(queued, reviewer="carol", filter="pending", kind="pairwise") == 0
    assert review.bulk_accept(queued, reviewer="carol", filter="all") == 4
    assert review.count_queue(queued, filter="pending") == 1  # the parse failure stays for a person
    e = review.effective(queued, "q07")
    assert (e.source, e.action, e.disagrees) == ("human", "accept", False)


def test_a_verdict_written_after_a_queue_read_joins_the_queue(store: Store) -> None:
    """The judge values are kept in memory between reads; a new verdict (verdicts are append-only) renews them."""
    add_sample(store, "late-1")
    pairwise(store, "late-1", "A")
    assert review.queue_page(store, filter="pending").sample_ids == ["late-1"]
    add_sample(store, "late-2")
    pairwise(store, "late-2", "tie")
    assert review.queue_page(store, filter="pending").sample_ids == ["late-1", "late-2"]
    assert review.queue_page(store, filter="ties").sample_ids == ["late-2"]
