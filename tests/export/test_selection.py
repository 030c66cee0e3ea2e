"""What goes out: the effective verdict (human over judge), left-out reasons, balance, limit, dedupe and the split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blossom_studio import review
from blossom_studio.export import ExportError, ExportRequest, prepare_export
from blossom_studio.store import Store
from tests.review.helpers import add_sample, add_verdict, pairwise, rating


def plan_of(store: Store, **fields: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with prepare_export(store, ExportRequest(**fields)) as plan:
        return plan.counts, plan.preview(1000)


def pairs(store: Store, **fields: Any) -> dict[str, tuple[str, str]]:
    _, records = plan_of(store, format="preference", **fields)
    return {r["id"]: (r["chosen"][-1]["content"], r["rejected"][-1]["content"]) for r in records}


def answers(store: Store, **fields: Any) -> dict[str, str]:
    _, records = plan_of(store, format="blossom", **fields)
    return {r["id"]: r["messages"][-1]["content"] for r in records}


def test_human_overrides_change_what_is_exported(store: Store) -> None:
    for sample_id in ("s1", "s2", "s3"):
        add_sample(store, sample_id)
        pairwise(store, sample_id, "A")
    assert pairs(store) == {s: (f"answer 0 to {s}", f"answer 1 to {s}") for s in ("s1", "s2", "s3")}

    review.decide(store, "s1", "choose", reviewer="alice", winner="B")
    review.decide(store, "s2", "reject", reviewer="alice")
    review.decide(store, "s3", "tie", reviewer="bob")
    counts, _ = plan_of(store, format="preference")
    assert pairs(store) == {"s1": ("answer 1 to s1", "answer 0 to s1")}
    assert counts["left_out"] == {"rejected": 1, "tie": 1}
    assert (counts["human_decisions"], counts["overrides"]) == (1, 1)
    assert answers(store) == {"s1": "answer 1 to s1", "s3": "answer 0 to s3"}

    review.undo_last(store, reviewer="alice")  # alice's reject of s2 no longer counts: the judge's pair is back
    assert set(pairs(store)) == {"s1", "s2"}
    review.edit_answer(store, "s1-c1", "a better answer", reviewer="carol")
    assert pairs(store)["s1"] == ("a better answer", "answer 0 to s1")


def test_ties_splits_parse_failures_and_flags_are_left_out_unless_asked(store: Store) -> None:
    add_sample(store, "tie")
    pairwise(store, "tie", "tie", split=True)
    add_sample(store, "failed")
    pairwise(store, "failed", "A", parse_status="failed")
    add_sample(store, "flagged")
    pairwise(store, "flagged", "A")
    add_verdict(store, "flagged", "quality", {"flags": ["repetition"]}, judge="rule", candidate_ids=["flagged-c0"],
                parse_status="rule")
    add_sample(store, "clean")
    pairwise(store, "clean", "B")
    add_verdict(store, "clean", "quality", {"flags": []}, judge="rule", candidate_ids=[], parse_status="rule")

    counts, records = plan_of(store, format="preference")
    assert [r["id"] for r in records] == ["clean"]
    assert counts["left_out"] == {"unparsed": 1, "tie": 1, "flagged": 1}
    assert "tie" not in pairs(store, include=("flagged", "unparsed"))
    assert set(pairs(store, include=("flagged",))) == {"clean", "flagged"}
    sft_counts, _ = plan_of(store, format="blossom", include=("unparsed",))
    assert sft_counts["left_out"] == {"flagged": 1}  # a tie keeps the sample for SFT: either answer will do

    review.decide(store, "flagged", "accept", reviewer="alice")  # a person's decision beats the rule's flag
    assert set(pairs(store)) == {"clean", "flagged"}


def test_rating_pairs_carry_ratings_margin_and_models(store: Store) -> None:
    add_sample(store, "r1", answers=3)
    rating(store, "r1", [4.0, 2.0, 3.5])
    add_sample(store, "r2", answers=2)
    rating(store, "r2", [3.0, 3.0])  # no answer rated 1 below the best: a tie, never a pair
    counts, records = plan_of(store, format="preference")
    assert counts["left_out"] == {"tie": 1}
    (record,) = records
    assert record["chosen_rating"] == 4.0 and record["rejected_rating"] == 2.0 and record["margin"] == 2.0
    assert (record["chosen_model"], record["rejected_model"], record["judge"], record["decided_by"]) == (
        "model-0", "model-1", "judge-1", "judge")
    assert record["prompt"] == "问题 r1: explain"
    assert record["chosen"][0] == {"role": "user", "content": "问题 r1: explain"}


def test_unjudged_samples_go_out_unless_judged_only(store: Store) -> None:
    add_sample(store, "plain", answers=0, final="its own answer")
    add_sample(store, "prompt-only", answers=0)
    add_sample(store, "judged")
    pairwise(store, "judged", "B")
    counts, records = plan_of(store)
    assert {r["id"]: r["messages"][-1]["content"] for r in records} == {
        "plain": "its own answer", "judged": "answer 1 to judged"}
    assert counts["left_out"] == {"no_answer": 1}
    assert set(answers(store, judged_only=True)) == {"judged"}


def insert_samples(store: Store, rows: list[tuple[str, str, str]]) -> None:
    """Insert (id, lang, answer) samples as profiled conversations."""
    with store.write() as cursor:
        for sample_id, lang, answer in rows:
            messages = [{"role": "user", "content": f"q {sample_id}"}, {"role": "assistant", "content": answer}]
            cursor.execute(
                "INSERT INTO samples (id, source, type, format, messages, metadata, content_hash, turns, lang, "
                "profile_version) VALUES (?, 'mix', 'chat', 'blossom', ?, '{}', ?, 1, ?, 1)",
                [sample_id, json.dumps(messages), sample_id, lang])


def test_balance_limit_split_and_seed(store: Store) -> None:
    insert_samples(store, [(f"zh{i}", "zh", f"答 {i}") for i in range(30)]
                   + [(f"en{i}", "en", f"a {i}") for i in range(10)] + [("fr0", "other", "r")])
    counts, _ = plan_of(store, balance={"zh": 1, "en": 1})
    assert counts["by_lang"] == {"en": 10, "zh": 10} and counts["left_out"] == {"language": 1, "over_quota": 20}
    counts, _ = plan_of(store, balance={"zh": 2, "en": 1}, limit=9)
    assert counts["by_lang"] == {"en": 3, "zh": 6}
    counts, _ = plan_of(store, limit=7, test_size=0.3)
    assert counts["rows"] == 7 and counts["splits"] == {"train": 5, "test": 2}

    def test_ids(seed: int) -> list[str]:
        with prepare_export(store, ExportRequest(test_size=5, seed=seed)) as plan:
            return [r[0] for r in plan.cursor.execute(
                f"SELECT id FROM ({plan.final_sql('test')}) ORDER BY id").fetchall()]

    assert test_ids(1) == test_ids(1) and len(test_ids(1)) == 5
    assert test_ids(1) != test_ids(2)
    with pytest.raises(ExportError, match="no exportable en"):
        plan_of(store, balance={"zh": 1, "en": 1}, lang="zh")


def test_duplicates_are_dropped_after_edits_make_them_equal(store: Store) -> None:
    insert_samples(store, [("d1", "en", "same"), ("d2", "en", "same")])
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET messages = (SELECT messages FROM samples WHERE id = 'd1') WHERE id = 'd2'")
    counts, records = plan_of(store)
    assert len(records) == 1 and counts["left_out"] == {"duplicate": 1}
    assert plan_of(store, dedupe=False)[0]["rows"] == 2


def test_every_assistant_turn_and_polish_and_backtranslation_shape_the_conversation(store: Store) -> None:
    with store.write() as cursor:
        conversation = [{"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
                        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"},
                        {"role": "assistant", "content": "a2"}]
        cursor.execute(
            "INSERT INTO samples (id, source, type, format, messages, metadata, content_hash, turns) VALUES "
            "('m', 't', 'chat', 'blossom', ?, '{}', 'm', 2), ('k', 't', 'chat', 'prompt', ?, '{}', 'k', 1)",
            [json.dumps(conversation), json.dumps([{"role": "user", "content": "raw text to label"}])])
        cursor.execute(
            "INSERT INTO candidates (id, sample_id, model, label, position, message, origin) VALUES "
            "('m-p', 'm', 'x', 'A', 0, '{\"role\": \"assistant\", \"content\": \"polished a2\"}', 'polish'), "
            "('k-i', 'k', 'x', 'instruction', 0, '{\"role\": \"user\", \"content\": \"the instruction\"}', "
            "'backtranslate')")
    add_verdict(store, "k", "instruction", {"good": True, "keep": True}, candidate_ids=["k-i"])
    _, records = plan_of(store)
    by_id = {r["id"]: r["messages"] for r in records}
    assert by_id["m"] == [*conversation[:4], {"role": "assistant", "content": "polished a2"}]
    assert by_id["k"] == [{"role": "user", "content": "the instruction"},
                          {"role": "assistant", "content": "raw text to label"}]


@pytest.mark.parametrize("fields, message", [
    ({"format": "yaml"}, "unknown format 'yaml'"),
    ({"file_type": "xlsx"}, "unknown file type"),
    ({"include": ("ties",)}, "cannot include 'ties'"),
    ({"limit": 0}, "at least 1"),
    ({"test_size": 1.5}, "test size"),
    ({"bom": True}, "only applies to CSV"),
    ({"license": "Not A License"}, "license"),
    ({"selection": "missing"}, "no saved selection named 'missing'"),
    ({"seed": 2**64}, "the seed must be a whole number"),
    ({"lang": "fr"}, "unknown language 'fr'"),
])
def test_bad_requests_are_refused_with_the_reason(store: Store, fields: dict[str, Any], message: str) -> None:
    add_sample(store, "s", final="x")
    with pytest.raises(ExportError, match=message):
        plan_of(store, **fields)


def test_an_empty_selection_says_so(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="the selection is empty"):
        plan_of(store)
    add_sample(store, "only-a-prompt", answers=0)
    with pytest.raises(ExportError, match=r"all 1 selected samples are left out \(no_answer 1\)"):
        plan_of(store)
    assert store.query("SELECT count(*) FROM duckdb_tables() WHERE temporary")[0][0] == 0
