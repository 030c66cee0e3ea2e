"""Review: append-only decisions, revisions, the effective verdict, queues, bulk accept and agreement statistics."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from blossom_studio import review
from blossom_studio.llm.roster import Roster, parse_roster
from blossom_studio.review import ReviewError
from blossom_studio.store import Store
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

# --- building samples and verdicts directly --------------------------------------------------------------------------


def add_sample(store: Store, sample_id: str, *, answers: int = 2, source: str = "test", final: str | None = None,
               job_id: str | None = None) -> list[str]:
    """Insert a sample with `answers` candidates labelled A, B, ...; return the candidate ids."""
    messages = [{"role": "user", "content": f"问题 {sample_id}: explain"}]
    if final is not None:
        messages.append({"role": "assistant", "content": final})
    ids = [f"{sample_id}-c{index}" for index in range(answers)]
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO samples (id, source, type, format, messages, metadata, content_hash, turns) "
            "VALUES (?, ?, 'chat', 'blossom', ?, '{}', ?, 1)",
            [sample_id, source, json.dumps(messages, ensure_ascii=False), sample_id],
        )
        for index, cid in enumerate(ids):
            cursor.execute(
                "INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'generate')",
                [cid, sample_id, job_id, f"model-{index}", "ABCD"[index], index,
                 json.dumps({"role": "assistant", "content": f"answer {index} to {sample_id}"})],
            )
    return ids


_verdict_number = iter(range(1_000_000))


def add_verdict(store: Store, sample_id: str, kind: str, outcome: dict[str, Any] | None, *, judge: str = "judge-1",
                candidate_ids: list[str] | None = None, parse_status: str = "ok", job_id: str | None = None,
                details: dict[str, Any] | None = None) -> str:
    """Insert a verdict (in its own transaction, so later verdicts are newer) and return its id."""
    verdict_id = f"v{next(_verdict_number)}"
    ids = candidate_ids if candidate_ids is not None else [f"{sample_id}-c0", f"{sample_id}-c1"]
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO verdicts (id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, "
            "rationale, parse_status, details, call_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'because', ?, ?, '[]')",
            [verdict_id, sample_id, job_id, kind, judge, json.dumps(ids), json.dumps(ids),
             json.dumps(outcome) if outcome is not None else None, parse_status,
             json.dumps(details) if details is not None else None],
        )
    return verdict_id


def pairwise(store: Store, sample_id: str, winner: str, *, split: bool = False, judge: str = "judge-1",
             parse_status: str = "ok", job_id: str | None = None) -> str:
    """A pairwise verdict as the strategy writes it (winner of both orders, or a tie)."""
    a, b = f"{sample_id}-c0", f"{sample_id}-c1"
    if parse_status == "failed":
        return add_verdict(store, sample_id, "pairwise", None, judge=judge, parse_status="failed", job_id=job_id)
    outcome: dict[str, Any] = {"winner": winner, "split": split}
    if winner != "tie":
        outcome |= {"chosen": a, "rejected": b} if winner == "A" else {"chosen": b, "rejected": a}
    orders = [{"shown": ["model-0", "model-1"], "verdict": "A" if winner != "B" else "B", "parse_status": "ok"},
              {"shown": ["model-1", "model-0"], "verdict": "A" if split or winner == "B" else "B",
               "parse_status": "ok"}]
    return add_verdict(store, sample_id, "pairwise", outcome, judge=judge, job_id=job_id,
                       parse_status=parse_status, details={"orders": orders})


def rating(store: Store, sample_id: str, means: list[float | None], *, margin: float = 1.0) -> str:
    """A rating verdict with binarize's pair over `means` (one per candidate)."""
    ids = [f"{sample_id}-c{index}" for index in range(len(means))]
    rated = {cid: m for cid, m in zip(ids, means, strict=True) if m is not None}
    outcome: dict[str, Any] = {"aspects": ["overall"], "ratings": {cid: {"overall": m} for cid, m in zip(ids, means,
                                                                                                       strict=True)},
                               "mean": dict(zip(ids, means, strict=True)), "rule": "r"}
    best = max(rated.values()) if rated else None
    lower = [cid for cid, m in rated.items() if best is not None and m <= best - margin]
    if len(rated) < 2:
        outcome |= {"pair": None, "reason": "fewer than two answers have numeric ratings"}
    elif not lower:
        outcome |= {"pair": None, "reason": "no answer is rated at least 1 below the best"}
    else:
        chosen = next(cid for cid, m in rated.items() if m == best)
        outcome["pair"] = {"chosen": chosen, "rejected": lower[0], "margin": best - rated[lower[0]]}
    return add_verdict(store, sample_id, "rating", outcome, candidate_ids=ids)


def all_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.query("SELECT * FROM decisions ORDER BY seq")


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


def test_load_item_gathers_what_the_tab_shows(store: Store) -> None:
    add_sample(store, "s1", final="原来的回答")
    add_verdict(store, "s1", "quality", {"flags": ["too_short"]}, judge="rule", parse_status="rule")
    verdict = pairwise(store, "s1", "B")
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")
    item = review.load_item(store, "s1")
    assert item is not None and item.source == "test" and item.messages[0]["content"].startswith("问题")
    assert item.verdict.id == verdict and item.verdict.details["orders"][0]["verdict"] == "B"
    assert [v.kind for v in item.verdicts] == ["pairwise", "quality"]
    assert [s.letter for s in item.slots] == ["A", "B"] and item.effective.winner == "A"
    assert [d.action for d in item.history] == ["choose"]
    assert review.load_item(store, "missing") is None


# --- a real pairwise job over HTTP, then review ----------------------------------------------------------------------

MODELS = ("fake-a", "fake-b", "fake-c")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(seed=11)) as running:
        yield running


@pytest.fixture
def roster(server: FakeOpenAIServer) -> Roster:
    table = {"base_url": server.base_url, "max_concurrency": 8, "timeout": 5.0, "max_retries": 2}
    return parse_roster({"models": {name: {**table, "model": name} for name in MODELS}})


def test_review_a_real_pairwise_job(store: Store, roster: Roster, realdata: Path, tmp_path: Path) -> None:
    from blossom_studio.ingest import import_files
    from blossom_studio.synth.jobs import create_job
    from blossom_studio.synth.runner import run_job
    from blossom_studio.synth.selection import Selection
    from blossom_studio.synth.verdicts import list_verdicts

    rows = [json.loads(line) for line in
            (realdata / "open-instruct" / "eval_instances_tulu_1.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    rows = [row for row in rows if len({c["completion"].strip() for c in row["completions"]}) == 2][:24]
    path = tmp_path / "tulu.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert import_files(store, [path], source="tulu")[0].imported == 24
    create_job(store, roster, strategy="pairwise", roles=dict(zip("ABC", MODELS, strict=True)),
               params={"answers": "existing"}, selection=Selection(source="tulu"), seed=3, name="pw")
    progress = run_job(store, roster, "pw")
    assert progress.done == 24, progress
    verdicts = {v["sample_id"]: v for v in list_verdicts(store, "pw")}

    pending = review.queue_page(store, filter="pending", job="pw", limit=100)
    assert sorted(pending.sample_ids) == sorted(verdicts) and pending.total == 24
    splits = sorted(sid for sid, v in verdicts.items() if v["outcome"]["split"])
    assert review.queue_page(store, filter="split", limit=100).sample_ids == splits and splits
    for sample_id, verdict in verdicts.items():
        e = review.effective(store, sample_id)
        assert (e.kind, e.judge, e.judge_winner, e.source) == ("pairwise", verdict["judge"],
                                                                verdict["outcome"]["winner"], "judge")
        assert e.chosen == verdict["outcome"].get("chosen")
        item = review.load_item(store, sample_id)
        assert [s.candidate.id for s in item.slots] == verdict["candidate_ids"]

    rng = random.Random(5)
    decided: dict[str, str] = {}
    for sample_id in pending.sample_ids[:12]:
        winner = rng.choice(["A", "B", "tie"])
        if winner == "tie":
            review.decide(store, sample_id, "tie", reviewer="alice")
        else:
            review.decide(store, sample_id, "choose", reviewer="alice", winner=winner)
        decided[sample_id] = winner
    stats = review.review_stats(store)
    by_judge: dict[str, list[bool]] = {}
    for sample_id, winner in decided.items():
        by_judge.setdefault(verdicts[sample_id]["judge"], []).append(winner == verdicts[sample_id]["outcome"]["winner"])
    assert {a.judge: (a.decided, a.agreed) for a in stats.agreement} == {
        judge: (len(agree), sum(agree)) for judge, agree in by_judge.items()}
    judged = [v for v in verdicts.values() if v["judge"] != "rule"]
    assert stats.position_bias[-1] == review.PositionBias("all", len(judged),
                                                          sum(v["outcome"]["split"] for v in judged))
    disagreeing = sorted(sid for sid, w in decided.items() if w != verdicts[sid]["outcome"]["winner"])
    assert review.queue_page(store, filter="disagreement", limit=100).sample_ids == disagreeing
    assert review.bulk_accept(store, reviewer="bob", filter="pending", job="pw") == 12
    assert review.count_queue(store, filter="pending") == 0
    assert store.query("SELECT count(*) FROM decisions")[0][0] == 24
    payloads = [orjson.loads(p) for (p,) in store.query("SELECT payload FROM decisions WHERE reviewer = 'bob'")]
    assert all(p["bulk"] is True for p in payloads)


def test_letters_follow_the_verdicts_order_even_when_an_answer_is_missing(store: Store) -> None:
    add_sample(store, "s1", answers=1)  # no final answer of its own, so "s1/original" cannot be shown
    add_verdict(store, "s1", "pairwise", {"winner": "B", "split": False, "chosen": "s1-c0",
                                          "rejected": "s1/original"}, candidate_ids=["s1/original", "s1-c0"])
    assert [(s.letter, s.candidate.id) for s in review.review_slots(store, "s1")] == [("B", "s1-c0")]
    assert review.decide(store, "s1", "choose", reviewer="a", winner="B").payload["chosen"] == "s1-c0"
    with pytest.raises(ReviewError, match=r"not one of .*\(B\)"):
        review.decide(store, "s1", "choose", reviewer="a", winner="A")
