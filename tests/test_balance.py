"""The Balance numbers: every function checked against Python computed from the profile the test wrote itself."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import combinations, permutations
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from blossom_studio import balance, stats
from blossom_studio.ingest import import_files
from blossom_studio.profile.texts import sample_texts
from blossom_studio.store import Store
from blossom_studio.store.migrations import PROFILE_COLUMNS
from blossom_studio.synth.templates import content_text

FILES = ("blossomdata/chat.jsonl", "llama-factory/v1_sft_demo.jsonl", "open-instruct/eval_instances_tulu_1.jsonl",
         "llama-factory/dpo_zh_demo.json", "llama-factory/glaive_toolcall_zh_demo.json")
HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
EN_WORD = re.compile(r"[A-Za-z]+")
TOKEN = re.compile(r"\{\{\w+\}\}|[A-Za-z]+|[\u4e00-\u9fff]")
PROFILE_SCHEMA = pa.schema([
    ("id", pa.string()), ("lang", pa.string()), ("lang_code", pa.string()), ("prompt_lang", pa.string()),
    ("response_lang", pa.string()), ("lang_mismatch", pa.bool_()), ("traditional", pa.bool_()),
    ("message_roles", pa.list_(pa.string())), ("message_langs", pa.list_(pa.string())),
    ("message_chars", pa.list_(pa.int32())), ("message_words", pa.list_(pa.int32())), ("zh_chars", pa.int32()),
    ("en_words", pa.int32()), ("chars", pa.int32()), ("prompt_chars", pa.int32()), ("response_chars", pa.int32()),
    ("words", pa.int32()), ("profile_version", pa.int16()),
])


def text_lang(text: str) -> str:
    """A toy language rule for the test profile (the real profiler is someone else's module)."""
    han, letters = len(HAN.findall(text)), len(LATIN.findall(text))
    if han and han * 4 >= letters:
        return "zh"
    return "en" if letters else "unknown"


def _sample_profile(index: int, entries: list[tuple[str, str]]) -> dict[str, Any]:
    roles = [role for role, _ in entries]
    langs = [text_lang(text) for _, text in entries]
    chars = [len(text) for _, text in entries]
    counted = index % 5 != 0
    words = [len(HAN.findall(text)) // 2 + len(EN_WORD.findall(text)) for _, text in entries] if counted else None
    known = set(langs) - {"unknown"}
    lang = "mixed" if len(known) > 1 else (known.pop() if known else "unknown")
    prompt = next((lang for role, lang in zip(roles, langs, strict=True) if role == "user"), None)
    response = next((lang for role, lang in zip(roles, langs, strict=True) if role in ("assistant", "candidate")),
                    None)
    text = "\n".join(text for _, text in entries)
    return {
        "lang": lang, "lang_code": {"zh": "zh-Hans", "en": "en"}.get(lang), "prompt_lang": prompt,
        "response_lang": response, "lang_mismatch": bool(prompt and response and prompt != response),
        "traditional": lang == "zh" and index % 3 == 0, "message_roles": roles, "message_langs": langs,
        "message_chars": chars, "message_words": words, "zh_chars": len(HAN.findall(text)),
        "en_words": len(EN_WORD.findall(text)), "chars": sum(chars),
        "prompt_chars": sum(c for role, c in zip(roles, chars, strict=True) if role == "user"),
        "response_chars": sum(c for role, c in zip(roles, chars, strict=True) if role in ("assistant", "candidate")),
        "words": sum(words) if words is not None else None, "profile_version": 1,
    }


def fake_profile(store: Store, *, unprofiled_every: int = 7, excluded_every: int = 11) -> list[dict[str, Any]]:
    """Write a deterministic profile into the samples' profile columns with SQL (every `unprofiled_every`-th sample
    stays unprofiled, every `excluded_every`-th is not active) and return what was written, one dict per sample."""
    rows = store.query("""
        SELECT s.id, s.source, s.format, s.turns, s.messages,
               (SELECT list(c.message ORDER BY c.position) FROM candidates c
                WHERE c.sample_id = s.id AND c.origin = 'import') FROM samples s ORDER BY s.rowid""")
    samples, written = [], []
    for index, (sample_id, source, layout, turns, messages, candidates) in enumerate(rows):
        profile = None if index % unprofiled_every == 3 else _sample_profile(index, sample_texts(messages, candidates))
        active = index % excluded_every != 5
        samples.append({"id": sample_id, "source": source, "format": layout, "turns": turns, "messages": messages,
                        "active": active, "profile": profile})
        if profile is not None:
            written.append({"id": sample_id, **profile})
    columns = [name for name in PROFILE_SCHEMA.names if name != "id"]
    table = pa.Table.from_pylist(written, schema=PROFILE_SCHEMA)
    with store.write() as cursor:
        cursor.register("profile_rows", table)
        cursor.execute(f"UPDATE samples SET {', '.join(f'{name} = p.{name}' for name in columns)} "
                       "FROM profile_rows p WHERE samples.id = p.id")
        cursor.unregister("profile_rows")
        cursor.execute("UPDATE samples SET status = 'excluded' WHERE list_contains(?, id)",
                       [[sample["id"] for sample in samples if not sample["active"]]])
    return samples


def fake_word_counts(store: Store, samples: list[dict[str, Any]], *, top: int = 200) -> dict[tuple[str, str], Counter]:
    """Fill word_counts with each source's `top` tokens per language ({{name}} kept whole) and return the counters."""
    counters: dict[tuple[str, str], Counter] = {}
    for sample in samples:
        for _, text in sample_texts(sample["messages"]):
            for token in TOKEN.findall(text):
                key = (sample["source"], "zh" if HAN.fullmatch(token) else "en")
                counters.setdefault(key, Counter())[token] += 1
    rows = [{"source": source, "lang": lang, "word": word, "count": count}
            for (source, lang), counter in counters.items() for word, count in counter.most_common(top)]
    table = pa.Table.from_pylist(rows, schema=pa.schema([("source", pa.string()), ("lang", pa.string()),
                                                         ("word", pa.string()), ("count", pa.int64())]))
    with store.write() as cursor:
        cursor.register("word_rows", table)
        cursor.execute("INSERT INTO word_counts SELECT * FROM word_rows")
        cursor.unregister("word_rows")
    return {key: Counter(dict(counter.most_common(top))) for key, counter in counters.items()}


def import_real(store: Store, realdata: Path) -> None:
    """Import the real files the Balance tests use."""
    reports = import_files(store, [realdata / name for name in FILES])
    assert all(report.imported and not report.bad for report in reports)


@pytest.fixture
def profiled(store: Store, realdata: Path) -> tuple[Store, list[dict[str, Any]]]:
    """A store with real files imported and a test-written profile (some samples unprofiled, some excluded)."""
    import_real(store, realdata)
    return store, fake_profile(store)


def expected_rows(samples: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """balance_rows computed in Python from the profile dicts."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}

    def group(key: tuple[Any, ...]) -> dict[str, Any]:
        return groups.setdefault(key, {"ids": set(), "pending": set(), "messages": 0, "chars": 0, "words": 0,
                                       "zh_chars": 0, "en_words": 0})

    for sample in (s for s in samples if s["active"]):
        profile = sample["profile"]
        if "role" not in keys:
            values = {**sample, "lang": profile["lang"] if profile else "pending"}
            entry = group(tuple(values[key] for key in keys))
            entry["ids"].add(sample["id"])
            for name in ("chars", "words", "zh_chars", "en_words"):
                entry[name] += (profile or {}).get(name) or 0
            if profile is None or profile["words"] is None:
                entry["pending"].add(sample["id"])
        elif profile is None:
            entry = group(tuple("pending" if key in ("lang", "role") else sample[key] for key in keys))
            entry["ids"].add(sample["id"])
            entry["pending"].add(sample["id"])
        else:
            words = profile["message_words"] or [None] * len(profile["message_roles"])
            for role, lang, chars, count in zip(profile["message_roles"], profile["message_langs"],
                                                profile["message_chars"], words, strict=True):
                values = {**sample, "lang": lang, "role": role}
                entry = group(tuple(values[key] for key in keys))
                entry["ids"].add(sample["id"])
                entry["messages"] += 1
                entry["chars"] += chars
                entry["words"] += count or 0
                if count is None:
                    entry["pending"].add(sample["id"])
    rows = []
    for key in sorted(groups):
        entry = groups[key]
        row: dict[str, Any] = {**dict(zip(keys, key, strict=True)), "samples": len(entry["ids"])}
        if "role" in keys:
            row |= {"messages": entry["messages"], "chars": entry["chars"], "words": entry["words"],
                    "words_pending": len(entry["pending"])}
        else:
            row |= {"chars": entry["chars"], "words": entry["words"], "words_pending": len(entry["pending"]),
                    "zh_chars": entry["zh_chars"], "en_words": entry["en_words"]}
        rows.append(row)
    return rows


PROFILE_NAMES = [name for name, _ in PROFILE_COLUMNS]


def profile_snapshot(store: Store) -> list[tuple[Any, ...]]:
    """Every sample's profile columns and status, to show that reading the balance changes nothing."""
    return store.query(f"SELECT id, status, {', '.join(PROFILE_NAMES)} FROM samples ORDER BY id")


def call_everything(store: Store) -> None:
    for keys in (["lang", "source"], ["lang", "source", "role"], ["role"]):
        balance.balance_rows(store, keys)
    for measure in balance.MEASURES:
        balance.length_histogram(store, measure=measure)
    balance.traditional_share(store)
    balance.mismatches(store)
    balance.top_words(store)
    balance.profile_progress(store)


def test_an_empty_database_gives_empty_answers(store: Store) -> None:
    assert balance.balance_rows(store, ["lang", "source"]) == []
    assert balance.balance_rows(store, ["lang", "source", "role"]) == []
    assert balance.length_histogram(store) == []
    assert balance.traditional_share(store) == []
    assert balance.mismatches(store) == ([], 0)
    assert balance.top_words(store) == []
    assert balance.profile_progress(store) == {"samples": 0, "profiled": 0, "words_counted": 0}


def test_unprofiled_samples_are_pending_and_nothing_is_computed(store: Store, realdata: Path) -> None:
    import_real(store, realdata)
    per_source = dict(store.query("SELECT source, count(*) FROM samples GROUP BY source"))
    before = profile_snapshot(store)
    rows = balance.balance_rows(store, ["lang", "source"])
    assert {row["source"]: row["samples"] for row in rows} == per_source
    assert all(row["lang"] == "pending" and row["words_pending"] == row["samples"] and row["chars"] == 0
               for row in rows)
    by_role = balance.balance_rows(store, ["source", "role", "lang"])
    assert [(row["source"], row["role"], row["lang"], row["samples"], row["messages"]) for row in by_role] == [
        (source, "pending", "pending", count, 0) for source, count in sorted(per_source.items())]
    assert balance.length_histogram(store) == []
    assert {row["source"]: (row["zh_samples"], row["share"]) for row in balance.traditional_share(store)} == {
        source: (0, None) for source in per_source}
    assert balance.mismatches(store) == ([], 0)
    assert balance.profile_progress(store) == {"samples": sum(per_source.values()), "profiled": 0,
                                               "words_counted": 0}
    call_everything(store)
    assert profile_snapshot(store) == before, "reading the balance must never write or compute a profile"


@pytest.mark.parametrize("keys", [["lang", "source"], ["source", "lang"], ["lang"], ["source"], ["lang", "format"],
                                  ["lang", "source", "turns"]])
def test_rows_by_sample_language_match_python(profiled: tuple[Store, list[dict[str, Any]]], keys: list[str]) -> None:
    store, samples = profiled
    rows = balance.balance_rows(store, keys)
    assert rows == expected_rows(samples, keys)
    assert list(rows[0])[:len(keys)] == keys, "the grouping keys come first, in the order asked"
    assert sum(row["samples"] for row in rows) == sum(sample["active"] for sample in samples)
    assert any(row["lang"] == "pending" for row in rows) if "lang" in keys else True


def test_rows_by_role_use_each_messages_language(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    for keys in (["lang", "source", "role"], ["role"], ["role", "lang"], ["source", "role"], ["role", "format"]):
        assert balance.balance_rows(store, keys) == expected_rows(samples, keys), keys
    rows = balance.balance_rows(store, ["lang", "source", "role"])
    assert {"user", "assistant", "candidate", "system", "function_call", "observation", "pending"} <= {
        row["role"] for row in rows}
    # a sample whose prompt is Chinese and answer English counts once under each language
    assert {row["lang"] for row in rows if row["source"] == "dpo_zh_demo"} >= {"zh", "en"}
    words_known = sum(sum(s["profile"]["message_words"]) for s in samples
                      if s["active"] and s["profile"] and s["profile"]["message_words"])
    assert sum(row["words"] for row in rows) == words_known


def test_every_combination_of_keys_is_accepted(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    for size in (1, 2, 3):
        for chosen in combinations(("lang", "source", "role"), size):
            for keys in permutations(chosen):
                assert balance.balance_rows(store, list(keys)) == expected_rows(samples, list(keys)), keys
    with pytest.raises(ValueError, match="group by one or more of"):
        balance.balance_rows(store, ["colour"])
    with pytest.raises(ValueError):
        balance.balance_rows(store, [])


def test_stats_delegates_language_grouping(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    assert stats.parse_group_keys("lang,source,role") == ["lang", "source", "role"]
    assert stats.sample_stats(store, ["lang", "source", "role"]) == expected_rows(samples, ["lang", "source", "role"])
    assert stats.sample_stats(store, ["lang"]) == expected_rows(samples, ["lang"])
    plain = stats.sample_stats(store, ["source", "role"])
    assert "lang" not in plain[0] and "user" in {row["role"] for row in plain}, "role alone keeps the JSON counts"


@pytest.mark.parametrize("measure", ["chars", "words", "prompt_chars", "response_chars"])
def test_length_histogram_matches_python(profiled: tuple[Store, list[dict[str, Any]]], measure: str) -> None:
    store, samples = profiled
    edges = balance.DEFAULT_EDGES
    counts: Counter = Counter()
    for sample in samples:
        value = (sample["profile"] or {}).get(measure)
        if sample["active"] and value is not None:
            index = max(i for i, edge in enumerate(edges) if value >= edge)
            counts[(sample["profile"]["lang"], index)] += 1
    labels = balance.bin_labels()
    expected = [{"lang": lang, "bin": labels[i], "lower": edges[i], "upper": edges[i + 1] if i + 1 < len(edges)
                 else None, "samples": n} for (lang, i), n in sorted(counts.items())]
    assert balance.length_histogram(store, measure=measure) == expected


def test_histogram_bins_are_yours_to_choose(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    rows = balance.length_histogram(store, bins=[100, 1000])
    assert [row["bin"] for row in rows if row["lang"] == "en"] == ["0–100", "100–1k", "≥1k"]
    big = sum(1 for s in samples if s["active"] and s["profile"] and s["profile"]["lang"] == "en"
              and s["profile"]["chars"] >= 1000)
    assert next(row["samples"] for row in rows if row["lang"] == "en" and row["bin"] == "≥1k") == big
    assert balance.bin_labels([0, 500, 1_000_000]) == ["0–500", "500–1M", "≥1M"]
    with pytest.raises(ValueError, match="measure must be one of"):
        balance.length_histogram(store, measure="lang; DROP TABLE samples")
    with pytest.raises(ValueError, match="0 or more"):
        balance.length_histogram(store, bins=[-5, 10])


def test_traditional_share_per_source(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    expected: dict[str, list[int]] = {}
    for sample in (s for s in samples if s["active"]):
        counts = expected.setdefault(sample["source"], [0, 0])
        if sample["profile"] and sample["profile"]["lang"] == "zh":
            counts[0] += 1
            counts[1] += sample["profile"]["traditional"]
    rows = balance.traditional_share(store)
    assert [(row["source"], row["zh_samples"], row["traditional"]) for row in rows] == [
        (source, zh, trad) for source, (zh, trad) in sorted(expected.items())]
    for row in rows:
        assert row["share"] == (pytest.approx(row["traditional"] / row["zh_samples"]) if row["zh_samples"] else None)
    assert any(row["traditional"] for row in rows)


def test_mismatches_page_by_source_with_a_text_preview(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    hits = [s for s in samples if s["active"] and s["profile"] and s["profile"]["lang_mismatch"]]
    assert len(hits) > 10
    rows, total = balance.mismatches(store, limit=5, offset=3)
    assert total == len(hits)
    assert [row["id"] for row in rows] == [s["id"] for s in hits[3:8]]
    first = rows[0]
    sample = hits[3]
    assert (first["source"], first["prompt_lang"], first["response_lang"]) == (
        sample["source"], sample["profile"]["prompt_lang"], sample["profile"]["response_lang"])
    all_rows, _ = balance.mismatches(store, limit=1000)
    for row, hit in zip(all_rows, hits, strict=True):
        user = next(m for m in orjson.loads(hit["messages"]) if m["role"] == "user")
        text = " ".join(content_text(user["content"]).split())
        assert row["prompt"] == (text if len(text) <= 160 else text[:159] + "…")
        assert not row["prompt"].startswith("[{"), "content parts show as text, not JSON"
    source = hits[0]["source"]
    only, count = balance.mismatches(store, source=source)
    assert count == sum(s["source"] == source for s in hits) and {row["source"] for row in only} == {source}
    assert balance.mismatches(store, source="no-such-source") == ([], 0)
    assert balance.mismatches(store, offset=10_000) == ([], total)


def test_top_words_per_source_and_overall(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    counters = fake_word_counts(store, samples)
    source = "v1_sft_demo"
    rows = balance.top_words(store, source=source, limit=30)
    merged = [(word, lang, n) for (src, lang), counter in counters.items() if src == source
              for word, n in counter.items()]
    expected = sorted(merged, key=lambda item: (-item[2], item[0], item[1]))[:30]
    assert [(row["word"], row["lang"], row["count"]) for row in rows] == expected
    assert all(row["source"] == source for row in rows)
    ranked = [row["word"] for row in balance.top_words(store, source=source, lang="en", limit=200)]
    assert ranked.index("{{name}}") < ranked.index("{{author}}") < 200, "templated data shows up among the top words"
    zh = balance.top_words(store, source="dpo_zh_demo", lang="zh", limit=5)
    assert [row["word"] for row in zh] == [w for w, _ in sorted(counters[("dpo_zh_demo", "zh")].items(),
                                                                  key=lambda item: (-item[1], item[0]))[:5]]
    overall: Counter = Counter()
    for (_, lang), counter in counters.items():
        for word, n in counter.items():
            overall[(word, lang)] += n
    everything = balance.top_words(store, limit=10)
    assert [(row["word"], row["lang"], row["count"]) for row in everything] == [
        (word, lang, n) for (word, lang), n in sorted(overall.items(), key=lambda item: (-item[1], item[0]))[:10]]
    assert all(row["source"] is None for row in everything)
    assert balance.top_words(store, source="no-such-source") == []


def test_profile_progress_counts(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    active = [s for s in samples if s["active"]]
    assert balance.profile_progress(store) == {
        "samples": len(active), "profiled": sum(s["profile"] is not None for s in active),
        "words_counted": sum(bool(s["profile"] and s["profile"]["words"] is not None) for s in active)}


def test_reading_the_balance_changes_nothing(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = profiled
    before = profile_snapshot(store)
    call_everything(store)
    assert profile_snapshot(store) == before


def test_with_the_real_profiler(store: Store, realdata: Path) -> None:
    run = pytest.importorskip("blossom_studio.profile.run")
    if not hasattr(run, "profile_everything"):
        pytest.skip("the profiling pass has no profile_everything yet")
    import_files(store, [realdata / "llama-factory/v1_sft_demo.jsonl", realdata / "llama-factory/dpo_zh_demo.json"])
    run.profile_everything(store)
    (samples, entries, mismatched), = store.query(
        "SELECT count(*), sum(len(message_roles)), count(*) FILTER (WHERE lang_mismatch) FROM samples")
    assert balance.profile_progress(store) == {"samples": samples, "profiled": samples, "words_counted": samples}
    by_lang = balance.balance_rows(store, ["lang", "source"])
    assert by_lang == [
        {"lang": lang, "source": source, "samples": n, "chars": chars, "words": words, "words_pending": 0,
         "zh_chars": zh, "en_words": en}
        for lang, source, n, chars, words, zh, en in store.query(
            "SELECT lang, source, count(*), sum(chars), sum(words), sum(zh_chars), sum(en_words) FROM samples "
            "GROUP BY ALL ORDER BY ALL")]
    by_role = balance.balance_rows(store, ["lang", "source", "role"])
    assert sum(row["messages"] for row in by_role) == entries
    assert {(row["lang"], row["role"]) for row in by_role} >= {("zh", "user"), ("zh", "candidate"), ("en", "user")}
    assert balance.mismatches(store)[1] == mismatched
    ranked = [row["word"] for row in balance.top_words(store, source="v1_sft_demo", lang="en", limit=200)]
    assert "{{name}}" in ranked, "templated data shows up among the real word pass's top words"
