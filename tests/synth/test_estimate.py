"""The estimate before a start: calls per strategy and tokens from stored text, the same before and after profiling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.llm.roster import Roster, RosterError, parse_roster
from blossom_studio.profile.backfill import profile_pending
from blossom_studio.store import Store
from blossom_studio.synth.estimate import (
    DEFAULT_OUTPUT_TOKENS,
    apportion,
    estimate_job,
    template_tokens,
    text_tokens,
    tokens_of,
)
from blossom_studio.synth.selection import Selection, SelectionError
from blossom_studio.synth.strategies import StrategyError

ZH_PROMPT, ZH_ANSWER = "请介绍长城", "长城很长"  # 5 and 4 Han characters: 5 and 4 tokens
EN_PROMPT, EN_ANSWER = "Tell me a joke about cats", "Why did the cat sit on the computer?"  # 25 and 36 chars: 7, 9
ZH_REFERENCE = "答案是四十二"  # 6 Han characters: 6 tokens
ROWS = [
    {"id": "zh-1", "messages": [{"role": "user", "content": ZH_PROMPT}, {"role": "assistant", "content": ZH_ANSWER}],
     "reference": ZH_REFERENCE},
    {"id": "en-1", "messages": [{"role": "user", "content": EN_PROMPT}, {"role": "assistant", "content": EN_ANSWER}]},
]


def roster(max_tokens: int | None = 100) -> Roster:
    params = {"max_tokens": max_tokens} if max_tokens else {}
    table = {"base_url": "http://127.0.0.1:9/v1", "params": params}
    return parse_roster({"models": {name: {**table, "model": name} for name in ("m-a", "m-b", "m-c")}})


@pytest.fixture
def known(store: Store, tmp_path: Path) -> Store:
    path = tmp_path / "known.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS), encoding="utf-8")
    assert import_files(store, [path], source="known")[0].imported == 2
    return store


def estimate(store: Store, strategy: str, roles: dict[str, str], **params: Any) -> Any:
    return estimate_job(store, roster(), strategy=strategy, roles=roles, params=params, selection=Selection())


def test_tokens_count_han_characters_one_each_and_other_characters_four_to_a_token() -> None:
    assert text_tokens(0) == 0
    assert text_tokens(8, 4) == 5
    assert tokens_of(ZH_PROMPT) == 5 and tokens_of(EN_PROMPT) == 7 and tokens_of(EN_ANSWER) == 9
    assert tokens_of("长城 is long") == 2 + 2  # " is long": 8 characters


def test_generate_sends_each_prompt_once_per_role_and_counts_max_tokens_as_output(known: Store) -> None:
    result = estimate(known, "generate", {"A": "m-a", "B": "m-b"})
    assert result.samples == 2 and result.unprofiled == 2
    assert result.calls == 4 and result.calls_by_model == {"m-a": 2, "m-b": 2}
    assert result.input_tokens == 2 * (5 + 7)
    assert result.output_tokens == 4 * 100
    assert "4 calls" in result.summary()


def test_pairwise_makes_two_answers_and_two_judge_calls_per_item(known: Store) -> None:
    result = estimate(known, "pairwise", {"A": "m-a", "B": "m-b", "C": "m-c"})
    assert result.calls == 8 and sum(result.calls_by_model.values()) == 8
    assert sorted(result.calls_by_model.values()) == [2, 3, 3]
    # Answers still to be written count at the sample's own answer's length inside the judge's prompt.
    judge = {lang: template_tokens("pairwise", lang, 2) for lang in ("zh", "en")}
    expected = 2 * 5 + 2 * (judge["zh"] + 5 + 2 * 4) + 2 * 7 + 2 * (judge["en"] + 7 + 2 * 9)
    assert result.input_tokens == expected
    assert result.output_tokens == 8 * 100


def test_verify_skips_samples_without_a_reference_and_says_calls_are_an_upper_bound(known: Store) -> None:
    result = estimate(known, "verify", {"A": "m-a", "B": "m-b"})
    assert result.skipped == {"no_reference": 1}
    assert result.calls == 2 and result.calls_by_model == {"m-a": 1, "m-b": 1}
    assert result.input_tokens == 5 + template_tokens("verify", "zh") + 5 + 6 + 4
    assert any("upper bound" in note for note in result.notes)


def test_existing_answers_and_rating_aspects_change_the_calls(known: Store) -> None:
    existing = estimate(known, "pairwise", {"A": "m-a", "B": "m-b"}, answers="existing")
    assert existing.calls == 0 and existing.skipped == {"not_enough_answers": 2}
    rated = estimate(known, "rate", {"A": "m-a", "B": "m-b"}, aspects="all")
    assert rated.calls == 2 * (1 + 4) and rated.calls_by_model == {"m-a": 2, "m-b": 8}
    polished = estimate(known, "polish", {"A": "m-a"})
    assert polished.calls == 2
    assert polished.input_tokens == template_tokens("polish", "zh") + 5 + 4 + template_tokens("polish", "en") + 7 + 9
    assert estimate(known, "rules", {}).calls == 0


def test_profiled_samples_give_the_same_numbers_as_measured_ones(known: Store) -> None:
    cases = [("generate", {"A": "m-a"}, {"turn": "every"}), ("pairwise", {"A": "m-a", "B": "m-b", "C": "m-c"}, {}),
             ("backtranslate", {"A": "m-a", "B": "m-b"}, {"score": "score"})]
    before = [estimate(known, strategy, roles, **params).as_dict() for strategy, roles, params in cases]
    profile_pending(known)
    after = [estimate(known, strategy, roles, **params).as_dict() for strategy, roles, params in cases]
    assert [row.pop("unprofiled") for row in before] == [2, 2, 2]
    assert [row.pop("unprofiled") for row in after] == [0, 0, 0]
    for row in before:
        row["notes"] = [note for note in row["notes"] if "not profiled" not in note]
    assert after == before


def test_a_model_without_max_tokens_is_counted_at_the_default_and_named(known: Store) -> None:
    result = estimate_job(known, roster(None), strategy="generate", roles={"A": "m-a"})
    assert result.output_tokens == 2 * DEFAULT_OUTPUT_TOKENS
    assert any("m-a" in note and str(DEFAULT_OUTPUT_TOKENS) in note for note in result.notes)


def test_selection_filters_apply_and_bad_input_is_refused_like_a_start(known: Store) -> None:
    only_en = estimate_job(known, roster(), strategy="generate", roles={"A": "m-a"}, selection=Selection(lang="en"))
    assert only_en.samples == 1 and only_en.input_tokens == 7
    with pytest.raises(StrategyError, match="needs role"):
        estimate_job(known, roster(), strategy="pairwise", roles={"A": "m-a"})
    with pytest.raises(RosterError, match="no model named"):
        estimate_job(known, roster(), strategy="generate", roles={"A": "nope"})
    with pytest.raises(SelectionError, match="no saved selection"):
        estimate_job(known, roster(), strategy="generate", roles={"A": "m-a"}, selection=Selection(saved="nope"))


def test_apportion_keeps_the_total() -> None:
    assert apportion({"a": 8 / 3, "b": 8 / 3, "c": 8 / 3}) == {"a": 3, "b": 3, "c": 2}
    assert apportion({"a": 0.2}) == {}
