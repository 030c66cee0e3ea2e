"""Browsing the library: pages, search in Chinese and English, one sample with its candidates."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from blossom_studio import library
from blossom_studio.ingest import import_files
from blossom_studio.store import Store


def _write(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_first_start_imports_the_bundled_sample_once(store: Store) -> None:
    reports = library.ensure_sample_data(store)
    assert sum(r.imported for r in reports) == 100
    assert all(r.bad == 0 for r in reports)
    assert library.ensure_sample_data(store) == []


def test_pages_are_bounded_and_clamped(store: Store, tmp_path: Path) -> None:
    records = [{"question": f"问题 {i}", "answer": str(i)} for i in range(60)]
    import_files(store, [_write(tmp_path / "q.jsonl", records)])
    first = library.page_samples(store, page=1, page_size=25)
    assert (first.total, first.pages, len(first.rows)) == (60, 3, 25)
    last = library.page_samples(store, page=99, page_size=25)
    assert last.page == 3 and len(last.rows) == 10
    assert last.rows[-1][4] == "问题 59"


def test_search_matches_chinese_english_and_literal_wildcards(store: Store, tmp_path: Path) -> None:
    records = [{"prompt": "请用Python写一个quick sort函数", "response": "def qs(a): ..."},
               {"prompt": "What is 100% of 5?", "response": "5"},
               {"prompt": "What is 1005?", "response": "a number"}]
    import_files(store, [_write(tmp_path / "s.jsonl", records)])
    assert library.page_samples(store, search="函数").total == 1
    assert library.page_samples(store, search="QUICK SORT").total == 1
    assert library.page_samples(store, search="100%").total == 1
    assert library.page_samples(store, search="nothing like this").total == 0


def test_get_sample_returns_messages_and_labelled_candidates(store: Store, tmp_path: Path) -> None:
    record = {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No.", "chosen_model": "m1", "topic": "greeting"}
    import_files(store, [_write(tmp_path / "p.jsonl", [record])])
    sample_id = library.page_samples(store).rows[0][0]
    sample = library.get_sample(store, sample_id)
    assert sample["messages"] == [{"role": "user", "content": "Say hi"}]
    assert sample["metadata"] == {"topic": "greeting"}
    assert [(c["label"], c["model"], c["message"]["content"]) for c in sample["candidates"]] == [
        ("chosen", "m1", "Hi!"), ("rejected", None, "No.")]
    assert library.get_sample(store, "missing") is None


# --- filters, search and one sample's verdicts and decisions ---------------------------------------------------------

_numbers = iter(range(1_000_000))


def _sample(store: Store, sample_id: str, text: str, *, source: str = "s", lang: str | None = "en",
            mismatch: bool = False, traditional: bool = False, status: str = "active",
            reference: str | None = None) -> str:
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO samples (id, source, type, format, messages, metadata, content_hash, turns, status, lang, "
            "lang_mismatch, traditional, reference) VALUES (?, ?, 'chat', 'blossom', ?, '{}', ?, 1, ?, ?, ?, ?, ?)",
            [sample_id, source, orjson.dumps([{"role": "user", "content": text}]).decode(), sample_id, status, lang,
             mismatch, traditional, reference])
    return sample_id


def _verdict(store: Store, sample_id: str, kind: str, outcome: dict | None, *, parse_status: str = "ok",
             judge: str = "judge-m", rationale: str | None = None) -> str:
    verdict_id = f"v{next(_numbers)}"
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO verdicts (id, sample_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale, "
            "parse_status, call_keys) VALUES (?, ?, ?, ?, '[]', '[\"A\", \"B\"]', ?, ?, ?, '[]')",
            [verdict_id, sample_id, kind, judge, orjson.dumps(outcome).decode() if outcome is not None else None,
             rationale, parse_status])
    return verdict_id


def _ids(page: library.SamplePage) -> list[str]:
    return [row[0] for row in page.rows]


@pytest.fixture
def judged(store: Store) -> Store:
    """Eight samples with profile columns and verdicts of every kind the filters know."""
    _sample(store, "zh1", "为什么天空是蓝色的？", lang="zh", traditional=True)
    _sample(store, "zh2", "翻译：good morning", lang="zh", mismatch=True, source="other")
    _sample(store, "en1", 'Say "hi" to <b>Ana</b>', reference="The École answer")
    _sample(store, "en2", "What is 100% of 5?")
    _sample(store, "new", "not profiled yet", lang=None)
    _sample(store, "old", "an excluded sample", status="excluded")
    _sample(store, "mix", "请用Python写一个quick sort函数", lang="mixed")
    _sample(store, "code", "def f(): pass", lang="code")
    _verdict(store, "zh1", "quality", {"flags": ["repetition", "too_long"]})
    _verdict(store, "zh2", "quality", {"flags": []})
    _verdict(store, "en1", "quality", {"flags": ["too_short"]})
    _verdict(store, "zh1", "pairwise", {"winner": "A", "split": False}, rationale="A is <i>better</i>")
    _verdict(store, "zh2", "pairwise", {"winner": "tie", "split": True})
    _verdict(store, "en1", "pairwise", None, parse_status="failed")
    _verdict(store, "en2", "verify", {"correct": False, "method": "number"}, judge="rule", parse_status="rule")
    _verdict(store, "mix", "verify", {"correct": True, "method": "number"}, judge="rule", parse_status="rule")
    _verdict(store, "code", "consistency", {"consistent": False}, parse_status="repaired")
    _verdict(store, "mix", "rating", {"pair": {"chosen": "x", "rejected": "y", "margin": 2}})
    _verdict(store, "en2", "rating", {"pair": None, "reason": "ties"})
    _verdict(store, "code", "instruction", {"good": True, "keep": True})
    return store


def test_filters_narrow_by_language_flag_status_and_verdict(judged: Store) -> None:
    def ids(**filters: object) -> list[str]:
        return _ids(library.page_samples(judged, **filters))

    assert ids() == ["zh1", "zh2", "en1", "en2", "new", "mix", "code"]  # active samples, in import order
    assert ids(status=None) == ["zh1", "zh2", "en1", "en2", "new", "old", "mix", "code"]
    assert ids(status="excluded") == ["old"] and library.statuses(judged) == ["active", "excluded"]
    assert ids(lang="zh") == ["zh1", "zh2"] and ids(lang="pending") == ["new"] and ids(lang="code") == ["code"]
    assert ids(lang="zh", source="other") == ["zh2"]
    assert ids(flag="repetition") == ["zh1"] and ids(flag="too_short") == ["en1"] and ids(flag="refusal") == []
    assert ids(flag="lang_mismatch") == ["zh2"] and ids(flag="traditional") == ["zh1"]
    expected = {
        "pairwise": ["zh1", "zh2", "en1"], "pairwise:A": ["zh1"], "pairwise:B": [], "pairwise:tie": ["zh2"],
        "verify": ["en2", "mix"], "verify:correct": ["mix"], "verify:incorrect": ["en2"],
        "consistency": ["code"], "consistency:yes": [], "consistency:no": ["code"],
        "rating": ["en2", "mix"], "rating:pair": ["mix"], "rating:no_pair": ["en2"],
        "instruction:keep": ["code"], "instruction:drop": [],
        "quality:flagged": ["zh1", "en1"], "quality:clean": ["zh2"],
        "parse:failed": ["en1"], "parse:repaired": ["code"],
    }
    assert set(expected) == set(library.VERDICT_FILTERS)
    for key, wanted in expected.items():
        assert ids(verdict=key) == wanted, key
    assert ids(lang="zh", verdict="pairwise", flag="traditional") == ["zh1"]
    assert set(library.quality_flags()) >= {"repetition", "refusal", "truncated", "lang_mismatch", "traditional"}
    with pytest.raises(library.LibraryError, match="unknown verdict filter"):
        ids(verdict="pairwise:C")


def test_page_rows_carry_language_and_counts(judged: Store) -> None:
    rows = {row[0]: dict(zip(library.PAGE_COLUMNS, row, strict=True)) for row in library.page_samples(judged).rows}
    assert rows["zh1"]["lang"] == "zh" and rows["new"]["lang"] == "pending"
    assert (rows["zh1"]["verdicts"], rows["mix"]["verdicts"], rows["new"]["verdicts"]) == (2, 2, 0)
    assert rows["en1"]["prompt"] == 'Say "hi" to <b>Ana</b>' and rows["en1"]["reference"] == "The École answer"


def test_search_is_literal_case_insensitive_and_reads_the_stored_json(judged: Store) -> None:
    def found(text: str) -> list[str]:
        return _ids(library.page_samples(judged, search=text))

    assert found('"hi" to') == ["en1"]  # quotes are escaped inside the stored JSON
    assert found("<B>ANA</b>") == ["en1"]
    assert found("école") == ["en1"]  # the reference answer, folded beyond ASCII
    assert found("天空") == ["zh1"] and found("QUICK SORT函数") == ["mix"] and found("quick sort 函数") == []
    assert found("100%") == ["en2"] and found("1_0") == [] and found("(): ") == ["code"]
    assert found("excluded") == [] and _ids(library.page_samples(judged, search="excluded", status=None)) == ["old"]
    assert library.page_samples(judged, search="nothing like it", page=3).total == 0


def test_a_sample_opens_with_its_profile_verdicts_and_decisions(judged: Store) -> None:
    sample = library.get_sample(judged, "zh2")
    assert (sample["lang"], sample["lang_mismatch"], sample["status"]) == ("zh", True, "active")
    verdicts = library.sample_verdicts(judged, "zh1")
    assert [(v["kind"], v["judge"], v["parse_status"]) for v in verdicts] == [
        ("quality", "judge-m", "ok"), ("pairwise", "judge-m", "ok")]
    assert verdicts[1]["outcome"] == {"winner": "A", "split": False}
    assert verdicts[1]["rationale"] == "A is <i>better</i>"
    assert verdicts[1]["candidates"] == ["A", "B"]
    assert library.sample_decisions(judged, "zh1") == []


def test_review_filters_and_the_effective_verdict_follow_new_decisions(judged: Store) -> None:
    review = pytest.importorskip("blossom_studio.review")
    assert library.review_available()

    def ids(key: str) -> list[str]:
        return _ids(library.page_samples(judged, review=key))

    assert ids("disagrees") == [] and ids("human") == []
    assert ids("judge") == ["zh1", "zh2", "en1", "en2", "mix", "code"]
    effective = library.effective_verdict(judged, "zh1")
    assert effective is not None and set(effective) >= set(review.EFFECTIVE_COLUMNS)
    assert (effective["source"], effective["kind"], effective["winner"], effective["keep"]) == (
        "judge", "pairwise", "A", True)
    assert library.effective_verdict(judged, "new") is None

    review.decide(judged, "zh1", "reject", reviewer="ana", note="off topic")
    review.decide(judged, "mix", "accept", reviewer="ben")
    assert ids("disagrees") == ["zh1"]  # recomputed: the decisions changed since the last filter
    assert ids("human") == ["zh1", "mix"] and ids("conflict") == []
    review.decide(judged, "mix", "reject", reviewer="ana")
    assert ids("conflict") == ["mix"]
    effective = library.effective_verdict(judged, "zh1")
    assert (effective["source"], effective["reviewer"], effective["keep"], effective["disagrees"]) == (
        "human", "ana", False, True)
    decisions = library.sample_decisions(judged, "mix")
    assert [(d["reviewer"], d["action"], d["undone"]) for d in decisions] == [
        ("ben", "accept", False), ("ana", "reject", False)]  # oldest first
    assert library.sample_decisions(judged, "zh1")[0]["note"] == "off topic"
    with pytest.raises(library.LibraryError, match="unknown review filter"):
        ids("nobody")


def test_a_page_with_review_filters_stays_fast_on_a_cached_state(judged: Store) -> None:
    pytest.importorskip("blossom_studio.review")
    import time

    library.page_samples(judged, review="judge")
    start = time.perf_counter()
    for _ in range(20):
        library.page_samples(judged, review="judge", page=1)
    assert (time.perf_counter() - start) / 20 < 0.3
