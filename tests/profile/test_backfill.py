"""The profiling pass: fills the profile columns of every unprofiled sample, in committed batches, once."""

from __future__ import annotations

import threading
from pathlib import Path

from blossom_studio.ingest import import_files
from blossom_studio.profile import backfill
from blossom_studio.profile.backfill import pending_count, profile_pending
from blossom_studio.profile.samples import PROFILE_VERSION, profile_sample
from blossom_studio.profile.texts import SAMPLE_TEXTS_SQL, sample_texts
from blossom_studio.store import Store

FILES = ["qwen2.5-math/cmath/test.jsonl", "gsm8k/test.jsonl", "llama-factory/alpaca_zh_demo.json",
         "open-instruct/eval_instances_tulu_1.jsonl", "llama-factory/dpo_zh_demo.json"]


def _import(store: Store, realdata: Path) -> int:
    reports = import_files(store, [realdata / name for name in FILES])
    return sum(report.imported for report in reports)


def test_every_sample_gets_the_profile_it_would_get_alone(store: Store, realdata: Path) -> None:
    imported = _import(store, realdata)
    seen: list[tuple[int, int]] = []
    assert profile_pending(store, progress=lambda done, total: seen.append((done, total)), batch_size=700) == imported
    assert seen[0] == (0, imported) and seen[-1] == (imported, imported)
    assert pending_count(store) == 0
    rows = store.query(f"{SAMPLE_TEXTS_SQL} ORDER BY s.id LIMIT 300")
    stored = {row[0]: row for row in store.query(
        "SELECT id, lang, lang_code, prompt_lang, response_lang, lang_mismatch, traditional, message_roles, "
        "message_langs, message_chars, zh_chars, en_words, chars, prompt_chars, response_chars, profile_version "
        "FROM samples")}
    for sample_id, _source, messages, candidates in rows:
        expected = profile_sample(sample_texts(messages, candidates))
        got = stored[sample_id]
        assert got[1:15] == (expected.lang, expected.lang_code, expected.prompt_lang, expected.response_lang,
                             expected.lang_mismatch, expected.traditional, expected.message_roles,
                             expected.message_langs, expected.message_chars, expected.zh_chars, expected.en_words,
                             expected.chars, expected.prompt_chars, expected.response_chars)
        assert got[15] == PROFILE_VERSION


def test_languages_per_source_match_the_files(store: Store, realdata: Path) -> None:
    _import(store, realdata)
    profile_pending(store)
    rows = dict(store.query(
        "SELECT source || ':' || lang, count(*) FROM samples GROUP BY ALL"))
    assert rows["cmath/test:zh"] == 600
    assert rows["gsm8k/test:en"] == 1319
    assert rows.get("alpaca_zh_demo:zh", 0) >= 970
    # imported completions answer the open-instruct prompts: their candidates are profiled as the response
    assert store.query("SELECT count(*) FROM samples WHERE source = 'eval_instances_tulu_1' "
                       "AND response_lang IS NULL")[0][0] == 0
    # alpaca_zh_demo holds Chinese prompts answered in English: they are flagged
    assert store.query("SELECT count(*) FROM samples WHERE source = 'alpaca_zh_demo' AND lang_mismatch")[0][0] >= 10


def test_a_second_run_profiles_nothing_and_a_new_version_profiles_again(store: Store, realdata: Path,
                                                                        monkeypatch) -> None:
    imported = _import(store, realdata)
    assert profile_pending(store) == imported
    assert profile_pending(store) == 0
    monkeypatch.setattr(backfill, "PENDING", f"(profile_version IS NULL OR profile_version < {PROFILE_VERSION + 1})")
    monkeypatch.setattr(backfill, "_PENDING_ROWS",
                        f"(s.profile_version IS NULL OR s.profile_version < {PROFILE_VERSION + 1})")
    assert pending_count(store) == imported


def test_a_cancel_keeps_the_committed_batches(store: Store, realdata: Path) -> None:
    imported = _import(store, realdata)
    cancel = threading.Event()

    def stop_after_first(done: int, total: int) -> None:
        if done:
            cancel.set()

    done = profile_pending(store, progress=stop_after_first, cancel=cancel, batch_size=500)
    assert done == 500
    assert pending_count(store) == imported - 500
    assert profile_pending(store) == imported - 500


def test_worker_processes_give_the_same_profiles(store: Store, realdata: Path, tmp_path: Path) -> None:
    _import(store, realdata)
    profile_pending(store, workers=2, batch_size=3000)
    pooled = store.query("SELECT id, lang, message_langs, zh_chars FROM samples ORDER BY id")
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET profile_version = NULL")
    profile_pending(store, workers=1)
    assert store.query("SELECT id, lang, message_langs, zh_chars FROM samples ORDER BY id") == pooled
