"""Rebalancing by a language ratio and saved selections, on real public data whose language is set by source."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.selections import (
    RebalancePlan,
    delete_selection,
    get_selection,
    list_selections,
    parse_ratio,
    plan_rebalance,
    save_ids,
    save_selection,
)
from blossom_studio.store import Store
from blossom_studio.synth.selection import Selection, SelectionError, select_sample_ids

FILES = {  # source -> (file under realdata, language)
    "gsm8k": ("gsm8k/test.jsonl", "en"),
    "cmath": ("qwen2.5-math/cmath/test.jsonl", "zh"),
    "belle": ("belle/eval_set.json", "zh"),
    "alpaca_en": ("llama-factory/alpaca_en_demo.json", "en"),
}
AVAILABLE = {"gsm8k": 1319, "cmath": 600, "belle": 1000, "alpaca_en": 985}  # alpaca_en has 14 duplicates
FORMS = "zh:en=1:1 or zh=1,en=1"


def import_profiled(store: Store, realdata: Path) -> None:
    """Import the four files and fill the profile columns the way the profiling pass would, language by source."""
    for source, (path, _) in FILES.items():
        import_files(store, [realdata / path], source=source)
    with store.write() as cursor:
        for source, (_, lang) in FILES.items():
            cursor.execute("UPDATE samples SET lang = ?, profile_version = 1 WHERE source = ?", [lang, source])


@pytest.fixture
def profiled(store: Store, realdata: Path) -> Store:
    import_profiled(store, realdata)
    return store


def lang_and_source(store: Store, ids: list[str]) -> Counter[tuple[str, str]]:
    rows = store.query("SELECT lang, source FROM samples WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    return Counter((lang, source) for lang, source in rows)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zh:en=1:1", {"zh": 1.0, "en": 1.0}),
        ("zh:en=2:1", {"zh": 2.0, "en": 1.0}),
        ("zh=1,en=1", {"zh": 1.0, "en": 1.0}),
        (" ZH : EN = 3 : 1.5 ", {"zh": 3.0, "en": 1.5}),
        ("zh=0.25, en=0.75", {"zh": 0.25, "en": 0.75}),
        ("en=1", {"en": 1.0}),
        ("zh:en:mixed=2:2:1", {"zh": 2.0, "en": 2.0, "mixed": 1.0}),
    ],
)
def test_parse_ratio_reads_both_forms(text: str, expected: dict[str, float]) -> None:
    ratio = parse_ratio(text)
    assert ratio == expected and list(ratio) == list(expected)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "cannot read"),
        ("zh:en", "cannot read"),
        ("zh:en=1", "cannot read"),
        ("zh:en=1:1:1", "cannot read"),
        ("zh=1,en", "cannot read"),
        ("zh:en=1:1,mixed=1", "cannot read"),
        ("fr:en=1:1", "unknown language 'fr'"),
        ("zh:en=0:1", "weight of zh must be a number above 0"),
        ("zh=-1,en=1", "weight of zh must be a number above 0"),
        ("zh:en=nan:1", "weight of zh must be a number above 0"),
        ("zh:en=1:inf", "weight of en must be a number above 0"),
        ("zh:en=a:1", "'a' of zh is not a number"),
        ("zh=1,zh=2", "names zh twice"),
    ],
)
def test_parse_ratio_errors_name_the_problem_and_the_accepted_forms(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_ratio(text)
    message = str(raised.value)
    assert fragment in message and FORMS in message and "zh, en, mixed, other, code, unknown" in message


def test_one_to_one_plan_on_real_data_is_stratified_by_source_in_proportion(profiled: Store) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 1000)
    assert isinstance(plan, RebalancePlan)
    assert len(plan.ids) == len(set(plan.ids)) == 1000
    assert plan.totals() == {"zh": 500, "en": 500} and plan.shortfall == {}
    # zh: belle 1000 and cmath 600 share 500 -> 312.5 / 187.5 (the tie goes to the source named first);
    # en: alpaca_en 985 and gsm8k 1319 share 500 -> 213.8 / 286.2.
    assert plan.counts == [
        {"lang": "zh", "source": "belle", "available": 1000, "selected": 313},
        {"lang": "zh", "source": "cmath", "available": 600, "selected": 187},
        {"lang": "en", "source": "alpaca_en", "available": 985, "selected": 214},
        {"lang": "en", "source": "gsm8k", "available": 1319, "selected": 286},
    ]
    picked = lang_and_source(profiled, plan.ids)
    assert picked == {(row["lang"], row["source"]): row["selected"] for row in plan.counts}
    assert plan.spec == {"kind": "rebalance", "ratio": {"zh": 1.0, "en": 1.0}, "size": 1000, "seed": 0,
                         "sources": None, "fill": False, "targets": {"zh": 500, "en": 500}, "unprofiled": 0}
    data = plan.as_dict()
    assert (data["samples"], data["totals"], data["ids"]) == (1000, {"zh": 500, "en": 500}, plan.ids)
    # the order is shuffled, not grouped by stratum: the first 100 already mix both languages
    assert {lang for lang, _ in lang_and_source(profiled, plan.ids[:100])} == {"zh", "en"}


def test_two_to_one_plan_and_each_source_share_stays_within_one_of_its_proportion(profiled: Store) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=2:1"), 901)
    assert plan.totals() == {"zh": 601, "en": 300}  # 600.67 / 300.33 by largest remainder
    for row in plan.counts:
        lang_total = sum(AVAILABLE[src] for src, (_, lang) in FILES.items() if lang == row["lang"])
        exact = plan.totals()[row["lang"]] * row["available"] / lang_total
        assert abs(row["selected"] - exact) < 1


def test_the_pick_is_deterministic_and_seeded(profiled: Store) -> None:
    ratio = parse_ratio("zh:en=1:1")
    first = plan_rebalance(profiled, ratio, 300, seed=7)
    again = plan_rebalance(profiled, ratio, 300, seed=7)
    other = plan_rebalance(profiled, ratio, 300, seed=8)
    assert first.ids == again.ids
    assert set(first.ids) != set(other.ids) and first.counts == other.counts
    bigger = plan_rebalance(profiled, ratio, 900, seed=7)
    assert set(first.ids) < set(bigger.ids)  # a larger quota takes a superset


def test_a_short_language_gives_all_it_has_and_the_others_scale_down_to_keep_the_ratio(profiled: Store) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 4000)
    assert plan.shortfall == {"zh": 400}  # 1600 zh samples for a target of 2000
    assert plan.totals() == {"zh": 1600, "en": 1600} and len(plan.ids) == 3200
    assert {row["source"]: row["selected"] for row in plan.counts if row["lang"] == "zh"} == {"belle": 1000,
                                                                                           "cmath": 600}
    two_to_one = plan_rebalance(profiled, parse_ratio("zh:en=2:1"), 3000)
    assert two_to_one.shortfall == {"zh": 400} and two_to_one.totals() == {"zh": 1600, "en": 800}

    filled = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 4000, fill=True)
    assert filled.shortfall == {"zh": 400} and filled.totals() == {"zh": 1600, "en": 2304}
    assert filled.spec["fill"] is True

    missing = plan_rebalance(profiled, parse_ratio("zh:mixed=1:1"), 10)
    assert missing.ids == [] and missing.shortfall == {"mixed": 5} and missing.totals() == {"zh": 0, "mixed": 0}
    with pytest.raises(SelectionError, match=re.escape("picks no samples (short: mixed 5); there is nothing to save")):
        save_selection(profiled, "empty", missing)
    topped = plan_rebalance(profiled, parse_ratio("zh:mixed=1:1"), 10, fill=True)
    assert topped.totals() == {"zh": 10, "mixed": 0}


def test_sources_limit_the_plan_and_an_unknown_source_is_named(profiled: Store) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 100, sources=["cmath", "gsm8k"])
    assert lang_and_source(profiled, plan.ids) == {("zh", "cmath"): 50, ("en", "gsm8k"): 50}
    assert plan.spec["sources"] == ["cmath", "gsm8k"]
    single = plan_rebalance(profiled, parse_ratio("en=1"), 10, source="alpaca_en")
    assert lang_and_source(profiled, single.ids) == {("en", "alpaca_en"): 10}
    unknown = "no active samples from source(s) nowhere; sources: alpaca_en, belle"
    with pytest.raises(SelectionError, match=re.escape(unknown)):
        plan_rebalance(profiled, parse_ratio("en=1"), 10, source="nowhere")


def test_only_active_profiled_samples_count(profiled: Store) -> None:
    with profiled.write() as cursor:
        cursor.execute("UPDATE samples SET profile_version = NULL, lang = NULL WHERE source = 'cmath'")
        cursor.execute("UPDATE samples SET status = 'removed' WHERE source = 'belle' AND row_number <= 100")
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 2000)
    assert plan.spec["unprofiled"] == 600
    assert plan.counts[0] == {"lang": "zh", "source": "belle", "available": 900, "selected": 900}
    assert plan.shortfall == {"zh": 100} and plan.totals() == {"zh": 900, "en": 900}
    assert "cmath" not in {source for _, source in lang_and_source(profiled, plan.ids)}


def test_plan_errors_say_what_to_do(store: Store, realdata: Path) -> None:
    with pytest.raises(SelectionError, match="no profiled samples yet: 0 active samples"):
        plan_rebalance(store, {"zh": 1.0}, 10)
    import_files(store, [realdata / "qwen2.5-math/cmath/test.jsonl"], source="cmath")
    with pytest.raises(SelectionError, match="600 active samples wait for the language profile; wait for profiling"):
        plan_rebalance(store, {"zh": 1.0, "en": 1.0}, 10)
    for size in (0, -3):
        with pytest.raises(SelectionError, match="size must be a whole number of at least 1"):
            plan_rebalance(store, {"zh": 1.0}, size)
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        plan_rebalance(store, {"fr": 1.0}, 10)
    with pytest.raises(ValueError, match="the ratio names no language"):
        plan_rebalance(store, {}, 10)


def test_save_get_list_and_delete(profiled: Store) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 40, seed=3)
    assert list_selections(profiled) == [] and get_selection(profiled, "bal") is None
    save_selection(profiled, "bal", plan, created_by="ana")
    saved = get_selection(profiled, "bal")
    assert saved is not None
    assert (saved.name, saved.ids, saved.counts, saved.created_by) == ("bal", plan.ids, plan.counts, "ana")
    assert saved.spec == {**plan.spec, "shortfall": {}} and saved.created_at
    rows = list_selections(profiled)
    assert [(row["name"], row["samples"], row["created_by"]) for row in rows] == [("bal", 40, "ana")]
    assert rows[0]["spec"]["ratio"] == {"zh": 1.0, "en": 1.0} and rows[0]["created_at"] == saved.created_at
    assert delete_selection(profiled, "bal") is True
    assert delete_selection(profiled, "bal") is False
    assert get_selection(profiled, "bal") is None and list_selections(profiled) == []


@pytest.mark.parametrize("name", ["", " ", "two words", "a" * 65, "-flag", ".hidden", "a/b", "x:y", "名字\n"])
def test_bad_selection_names_are_refused(profiled: Store, name: str) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 4)
    with pytest.raises(SelectionError, match="a selection name is 1 to 64 letters"):
        save_selection(profiled, name, plan)
    assert list_selections(profiled) == []


@pytest.mark.parametrize("name", ["zh-en_1.0", "中英平衡", "平衡-v2", "_draft", "a" * 64, "2024.06"])
def test_good_selection_names_are_kept(profiled: Store, name: str) -> None:
    save_selection(profiled, name, plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 4))
    assert get_selection(profiled, name) is not None


def test_an_existing_name_needs_overwrite(profiled: Store) -> None:
    first = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 10, seed=1)
    second = plan_rebalance(profiled, parse_ratio("zh:en=2:1"), 30, seed=2)
    save_selection(profiled, "bal", first)
    with pytest.raises(SelectionError, match="a selection named 'bal' already exists; pick another name or overwrite"):
        save_selection(profiled, "bal", second)
    assert get_selection(profiled, "bal").ids == first.ids  # type: ignore[union-attr]
    save_selection(profiled, "bal", second, overwrite=True)
    saved = get_selection(profiled, "bal")
    assert saved is not None and saved.ids == second.ids and saved.spec["ratio"] == {"zh": 2.0, "en": 1.0}
    assert len(list_selections(profiled)) == 1


def test_save_ids_keeps_the_order_drops_repeats_and_refuses_unknown_ids(profiled: Store) -> None:
    ids = [row[0] for row in profiled.query("SELECT id FROM samples WHERE source = 'gsm8k' ORDER BY id DESC LIMIT 5")]
    ids += [row[0] for row in profiled.query("SELECT id FROM samples WHERE source = 'cmath' ORDER BY id LIMIT 2")]
    save_ids(profiled, "picked", [*ids, ids[0]], {"kind": "filter", "source": "gsm8k"}, created_by="bo")
    saved = get_selection(profiled, "picked")
    assert saved is not None and saved.ids == ids and saved.spec == {"kind": "filter", "source": "gsm8k"}
    assert saved.counts == [{"lang": "en", "source": "gsm8k", "selected": 5},
                            {"lang": "zh", "source": "cmath", "selected": 2}]
    with pytest.raises(SelectionError, match=re.escape("1 id(s) are not samples of this database, e.g. nope")):
        save_ids(profiled, "bad", [ids[0], "nope"], {})
    with pytest.raises(SelectionError, match="at least one sample"):
        save_ids(profiled, "bad", [], {})
    with pytest.raises(SelectionError, match="spec must be JSON data"):
        save_ids(profiled, "bad", ids, {"when": object()})
    assert [row["name"] for row in list_selections(profiled)] == ["picked"]


def test_a_saved_selection_restricts_a_synthesis_selection_in_its_own_order(profiled: Store) -> None:
    plan = plan_rebalance(profiled, parse_ratio("zh:en=1:1"), 20, seed=5)
    save_selection(profiled, "bal", plan)
    assert select_sample_ids(profiled, Selection(saved="bal")) == plan.ids
    assert select_sample_ids(profiled, Selection(saved="bal", limit=3)) == plan.ids[:3]
    zh = select_sample_ids(profiled, Selection(saved="bal", lang="zh"))
    assert zh == [sample_id for sample_id in plan.ids if sample_id in set(zh)] and len(zh) == 10
    sampled = select_sample_ids(profiled, Selection(saved="bal", sample=5, seed=1))
    assert len(sampled) == 5 and sampled == [sample_id for sample_id in plan.ids if sample_id in set(sampled)]
    assert Selection(saved="bal").describe() == {"seed": 0, "saved": "bal"}
    with profiled.write() as cursor:  # a sample taken out later drops out of the saved selection
        cursor.execute("UPDATE samples SET status = 'removed' WHERE id = ?", [plan.ids[0]])
    assert select_sample_ids(profiled, Selection(saved="bal")) == plan.ids[1:]
    with pytest.raises(SelectionError, match="no saved selection named 'nope'; saved selections: bal"):
        select_sample_ids(profiled, Selection(saved="nope"))


def test_unknown_saved_selection_on_an_empty_database_says_how_to_make_one(store: Store) -> None:
    message = "no saved selection named 'x'; none is saved yet (`rebalance --save`"
    with pytest.raises(SelectionError, match=re.escape(message)):
        select_sample_ids(store, Selection(saved="x"))


def test_lang_filter_reads_the_profile_and_falls_back_to_the_han_rule_for_unprofiled(
    store: Store, realdata: Path
) -> None:
    import_files(store, [realdata / "gsm8k/test.jsonl"], source="gsm8k")
    import_files(store, [realdata / "qwen2.5-math/cmath/test.jsonl"], source="cmath")
    with store.write() as cursor:  # profile 10 GSM8K problems as mixed and 5 CMATH problems as en (on purpose)
        cursor.execute("UPDATE samples SET lang = 'mixed', profile_version = 1 WHERE source = 'gsm8k' "
                       "AND row_number <= 10")
        cursor.execute("UPDATE samples SET lang = 'en', profile_version = 1 WHERE source = 'cmath' AND row_number <= 5")

    def count(lang: str) -> Counter[str]:
        ids = select_sample_ids(store, Selection(lang=lang))
        return Counter(row[0] for row in store.query(
            "SELECT source FROM samples WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids]))

    assert count("en") == {"gsm8k": 1309, "cmath": 5}
    assert count("zh") == {"cmath": 595}
    assert count("mixed") == {"gsm8k": 10}
    assert count("code") == {}
    message = "language must be zh or en, got 'fr' (profiled samples can also be mixed, other, code, unknown)"
    with pytest.raises(SelectionError, match=re.escape(message)):
        select_sample_ids(store, Selection(lang="fr"))
