"""The effective verdict: each judge kind, human decisions over the judge, undo, and reviewer conflicts."""

from __future__ import annotations

from typing import Any

from blossom_studio import review
from blossom_studio.store import Store
from tests.review.helpers import add_sample, add_verdict, pairwise, rating

# --- the effective verdict per kind ----------------------------------------------------------------------------------


def judge_view(store: Store, sample_id: str) -> tuple[Any, ...]:
    e = review.effective(store, sample_id)
    assert e is not None
    return e.kind, e.judge_keep, e.judge_winner, e.keep, e.winner, e.chosen, e.rejected, e.source


def test_effective_verdict_of_each_judge_kind(store: Store) -> None:
    for sample in ("pa", "pb", "pt", "ps", "pf", "r1", "r2", "r3", "v1", "v2", "c1", "c2", "i1", "i2", "q1"):
        add_sample(store, sample, answers=4 if sample.startswith("r") else 2)
    pairwise(store, "pa", "A")
    pairwise(store, "pb", "B")
    pairwise(store, "pt", "tie")
    pairwise(store, "ps", "tie", split=True)
    pairwise(store, "pf", "A", parse_status="failed")
    rating(store, "r1", [2, 4.5, 3, None])
    rating(store, "r2", [4, 4, 3.5, None])
    rating(store, "r3", [4, None, None, None])
    add_verdict(store, "v1", "verify", {"correct": True, "method": "gsm8k"}, judge="rule", parse_status="rule",
                candidate_ids=["v1-c1"])
    add_verdict(store, "v2", "verify", {"correct": False}, candidate_ids=["v2-c0"])
    add_verdict(store, "c1", "consistency", {"consistent": True})
    add_verdict(store, "c2", "consistency", {"consistent": False}, parse_status="repaired")
    add_verdict(store, "i1", "instruction", {"good": True, "keep": True}, candidate_ids=["i1-c0"])
    add_verdict(store, "i2", "instruction", {"score": 2, "keep": False}, candidate_ids=["i2-c0"])
    add_verdict(store, "q1", "quality", {"flags": ["refusal"]}, judge="rule", parse_status="rule")

    assert judge_view(store, "pa") == ("pairwise", True, "A", True, "A", "pa-c0", "pa-c1", "judge")
    assert judge_view(store, "pb") == ("pairwise", True, "B", True, "B", "pb-c1", "pb-c0", "judge")
    assert judge_view(store, "pt") == ("pairwise", True, "tie", True, "tie", None, None, "judge")
    assert judge_view(store, "ps") == ("pairwise", True, "tie", True, "tie", None, None, "judge")
    assert judge_view(store, "pf") == ("pairwise", None, None, None, None, None, None, "judge")
    assert judge_view(store, "r1") == ("rating", True, "B", True, "B", "r1-c1", "r1-c0", "judge")
    assert judge_view(store, "r2")[:5] == ("rating", True, "tie", True, "tie"), "no answer far enough below"
    assert judge_view(store, "r3")[:5] == ("rating", True, None, True, None), "fewer than two numbers: no winner"
    assert judge_view(store, "v1") == ("verify", True, None, True, None, "v1-c1", None, "judge")
    assert judge_view(store, "v2") == ("verify", False, None, False, None, None, None, "judge")
    assert judge_view(store, "c1") == ("consistency", True, None, True, None, None, None, "judge")
    assert judge_view(store, "c2") == ("consistency", False, None, False, None, None, None, "judge")
    assert judge_view(store, "i1") == ("instruction", True, None, True, None, "i1-c0", None, "judge")
    assert judge_view(store, "i2") == ("instruction", False, None, False, None, None, None, "judge")
    assert review.effective(store, "q1") is None, "rule flags are not judge verdicts"
    e = review.effective(store, "pf")
    assert e.parse_status == "failed" and e.verdict_id is not None and not e.disagrees and not e.conflict


def test_effective_sql_has_exactly_the_contract_columns_and_composes(store: Store) -> None:
    add_sample(store, "s1")
    add_sample(store, "s2")
    add_sample(store, "s3")
    pairwise(store, "s1", "A")
    pairwise(store, "s2", "B")
    review.decide(store, "s2", "reject", reviewer="alice")
    review.decide(store, "s3", "choose", reviewer="alice", winner="A")
    cursor = store.read().execute(f"SELECT * FROM ({review.effective_sql()}) e ORDER BY sample_id")
    assert tuple(column[0] for column in cursor.description) == review.EFFECTIVE_COLUMNS
    rows = cursor.fetchall()
    assert [row[0] for row in rows] == ["s1", "s2", "s3"]
    assert store.query(f"SELECT sample_id FROM ({review.effective_sql()}) WHERE keep ORDER BY 1") == [("s1",), ("s3",)]
    types = dict(store.query(f"SELECT column_name, column_type FROM (DESCRIBE {review.effective_sql()})"))
    for name in ("judge_keep", "human_keep", "keep", "disagrees", "conflict"):
        assert types[name] == "BOOLEAN", name
    for name in ("judge_winner", "human_winner", "winner", "chosen", "rejected", "source"):
        assert types[name] == "VARCHAR", name
    only_decided = review.effective(store, "s3")
    assert (only_decided.verdict_id, only_decided.kind, only_decided.source, only_decided.chosen) == (
        None, None, "human", "s3-c0")
    assert not only_decided.disagrees, "without a judge verdict nobody disagrees"


def test_the_latest_judge_verdict_counts(store: Store) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    newer = pairwise(store, "s1", "B", judge="judge-2")
    e = review.effective(store, "s1")
    assert (e.verdict_id, e.judge, e.winner, e.chosen) == (newer, "judge-2", "B", "s1-c1")


# --- human over judge ------------------------------------------------------------------------------------------------


def test_human_decisions_beat_the_judge_and_record_agreement(store: Store) -> None:
    for sample in ("a", "b", "c", "d", "e", "f", "g", "h"):
        add_sample(store, sample)
    for sample in ("a", "b", "c", "d"):
        pairwise(store, sample, "A")
    pairwise(store, "e", "tie", split=True)
    pairwise(store, "f", "tie")
    add_verdict(store, "g", "verify", {"correct": False}, candidate_ids=["g-c0"])
    add_verdict(store, "h", "verify", {"correct": True}, candidate_ids=["h-c0"])

    review.decide(store, "a", "accept", reviewer="alice")
    review.decide(store, "b", "choose", reviewer="alice", winner="b")  # lower case is accepted
    review.decide(store, "c", "choose", reviewer="alice", winner="A")
    review.decide(store, "d", "both_bad", reviewer="alice")
    review.decide(store, "e", "tie", reviewer="alice")
    review.decide(store, "f", "choose", reviewer="alice", winner="B")
    review.decide(store, "g", "reject", reviewer="alice")
    review.decide(store, "h", "choose", reviewer="alice", winner="A")

    def view(sample: str) -> tuple[Any, ...]:
        e = review.effective(store, sample)
        return e.action, e.reviewer, e.human_keep, e.human_winner, e.keep, e.winner, e.chosen, e.rejected, \
            e.source, e.disagrees

    assert view("a") == ("accept", "alice", True, "A", True, "A", "a-c0", "a-c1", "human", False)
    assert view("b") == ("choose", "alice", True, "B", True, "B", "b-c1", "b-c0", "human", True)
    assert view("c") == ("choose", "alice", True, "A", True, "A", "c-c0", "c-c1", "human", False)
    assert view("d") == ("both_bad", "alice", False, None, False, None, None, None, "human", True)
    assert view("e") == ("tie", "alice", True, "tie", True, "tie", None, None, "human", False)
    assert view("f") == ("choose", "alice", True, "B", True, "B", "f-c1", "f-c0", "human", True)
    assert view("g") == ("reject", "alice", False, None, False, None, None, None, "human", False)
    assert view("h") == ("choose", "alice", True, "A", True, "A", "h-c0", None, "human", False)
    for sample in "abcdefgh":
        e = review.effective(store, sample)
        assert (e.judge_keep, e.judge_winner) != (None, None) or e.kind == "verify", "the judge's values stay"


def test_undo_restores_the_judge(store: Store) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    judged = review.effective(store, "s1")
    review.decide(store, "s1", "choose", reviewer="alice", winner="B")
    assert review.effective(store, "s1").winner == "B"
    review.undo_last(store, reviewer="alice")
    assert review.effective(store, "s1") == judged
    assert judged.source == "judge" and judged.decision_id is None


def test_the_choice_among_four_answers_takes_the_judges_lowest_as_rejected(store: Store) -> None:
    add_sample(store, "s1", answers=4)
    rating(store, "s1", [2, 4.5, 3, 4])  # the judge: chosen B (c1), rejected A (c0)
    decided = review.decide(store, "s1", "choose", reviewer="alice", winner="D")
    assert decided.payload == {"keep": True, "winner": "D", "chosen": "s1-c3", "rejected": "s1-c0"}
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")
    e = review.effective(store, "s1")
    assert (e.chosen, e.rejected) == ("s1-c0", "s1-c1"), "choosing the judge's loser rejects the judge's winner"
    slots = review.review_slots(store, "s1")
    assert [(s.letter, s.candidate.id) for s in slots] == [(letter, f"s1-c{i}") for i, letter in enumerate("ABCD")]


# --- conflicts -------------------------------------------------------------------------------------------------------


def test_two_reviewers_who_differ_are_a_conflict_and_the_latest_wins(store: Store) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")
    review.decide(store, "s1", "choose", reviewer="alice", winner="B")
    assert not review.effective(store, "s1").conflict, "one reviewer changing her mind is no conflict"
    review.decide(store, "s1", "choose", reviewer="bob", winner="A")
    e = review.effective(store, "s1")
    assert e.conflict and (e.reviewer, e.winner, e.chosen) == ("bob", "A", "s1-c0")
    positions = review.load_item(store, "s1").positions
    assert [(d.reviewer, review.describe(d)) for d in positions] == [("alice", "chose B"), ("bob", "chose A")]
    review.decide(store, "s1", "accept", reviewer="alice")  # accepting the judge's A is the same as choosing A
    assert not review.effective(store, "s1").conflict
    review.decide(store, "s1", "reject", reviewer="carol")
    assert review.effective(store, "s1").conflict
    review.undo_last(store, reviewer="carol")
    assert not review.effective(store, "s1").conflict
