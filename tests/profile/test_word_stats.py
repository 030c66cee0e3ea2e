"""The word-count pass over a real database: per-entry counts, totals, top words per source, cancel, idempotence."""

from __future__ import annotations

import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pyarrow as pa
import pytest

from blossom_studio.ingest import import_files
from blossom_studio.profile import word_stats
from blossom_studio.profile.texts import SAMPLE_TEXTS_SQL, sample_texts
from blossom_studio.profile.word_stats import count_pending_words
from blossom_studio.store import Store, open_store


def mark_profiled(store: Store) -> int:
    """Stand in for the language profile pass: set message_roles (from sample_texts) and profile_version."""
    rows = store.query(SAMPLE_TEXTS_SQL)
    roles = [[role for role, _ in sample_texts(messages, candidates)] for _, _, messages, candidates in rows]
    table = pa.table({"id": [row[0] for row in rows], "roles": pa.array(roles, pa.list_(pa.string()))})
    with store.write() as cursor:
        cursor.register("_profiled", table)
        cursor.execute("UPDATE samples SET message_roles = p.roles, profile_version = 1 "
                       "FROM _profiled p WHERE samples.id = p.id")
        cursor.unregister("_profiled")
    return len(rows)


def load(store: Store, realdata: Path, *names: str) -> int:
    """Import real files and mark their samples profiled; return the number of samples."""
    import_files(store, [realdata / name for name in names])
    return mark_profiled(store)


SFT_AND_BELLE = ("llama-factory/v1_sft_demo.jsonl", "belle/eval_set.json")


def top_words(store: Store, source: str, limit: int) -> list[tuple[str, str, int]]:
    return store.query("SELECT lang, word, count FROM word_counts WHERE source = ? "
                       "ORDER BY count DESC, word LIMIT ?", [source, limit])


def all_counts(store: Store) -> tuple[list[tuple], list[tuple]]:
    samples = store.query("SELECT id, message_words, words FROM samples ORDER BY id")
    tally = store.query("SELECT source, lang, word, count FROM word_counts ORDER BY ALL")
    return samples, tally


def test_counts_every_profiled_sample(store: Store, realdata: Path) -> None:
    total = load(store, realdata, *SFT_AND_BELLE)
    assert count_pending_words(store, workers=1) == total == 1499
    assert store.query("""
        SELECT count(*) FILTER (WHERE words IS NULL OR message_words IS NULL),
               count(*) FILTER (WHERE len(message_words) <> len(message_roles)),
               count(*) FILTER (WHERE list_sum(message_words) <> words),
               count(*) FILTER (WHERE words = 0)
        FROM samples""") == [(0, 0, 0, 0)]


def test_template_fields_are_among_the_top_words(store: Store, realdata: Path) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    count_pending_words(store, workers=1)
    holding = store.query("SELECT count(*) FROM samples WHERE source = 'v1_sft_demo' "
                          "AND messages::VARCHAR LIKE '%{{name}}%'")[0][0]
    assert holding == 46
    top = top_words(store, "v1_sft_demo", 30)
    assert ("en", "{{name}}", 46) in top  # counted once per sample that holds it
    assert any(word == "{{author}}" for _, word, _ in top)
    belle = top_words(store, "eval_set", 20)
    assert belle[0][:2] == ("zh", "以下")
    assert all(word not in {"的", "了", "是", "the", "a"} for _, word, _ in belle + top)


def test_word_languages_follow_the_script(store: Store, realdata: Path) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    count_pending_words(store, workers=1)
    assert store.query(r"""
        SELECT count(*) FILTER (WHERE lang = 'zh' AND NOT regexp_matches(word, '[\x{4e00}-\x{9fff}]')),
               count(*) FILTER (WHERE lang = 'en' AND regexp_matches(word, '[\x{4e00}-\x{9fff}]')),
               count(*) FILTER (WHERE lang = 'zh'), count(*) FILTER (WHERE lang = 'en')
        FROM word_counts""")[0][:2] == (0, 0)
    assert {lang for lang, in store.query("SELECT DISTINCT lang FROM word_counts")} == {"zh", "en"}


def test_imported_candidates_get_their_own_entry(store: Store, realdata: Path) -> None:
    load(store, realdata, "open-instruct/eval_instances_tulu_1.jsonl")
    count_pending_words(store, workers=1)
    rows = store.query("SELECT message_roles, message_words, words FROM samples WHERE list_contains(message_roles, "
                       "'candidate') LIMIT 5")
    assert len(rows) == 5
    for roles, entry_words, total in rows:
        assert len(entry_words) == len(roles) and sum(entry_words) == total
        assert roles.count("candidate") == 2


def test_a_second_run_counts_nothing(store: Store, realdata: Path) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    assert count_pending_words(store, workers=1) == 1499
    before = all_counts(store)
    assert count_pending_words(store, workers=1) == 0
    assert all_counts(store) == before


def test_a_source_profiled_again_is_counted_afresh(store: Store, realdata: Path) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    count_pending_words(store, workers=1)
    before = all_counts(store)
    with store.write() as cursor:  # what the profile pass does to every sample after a new profile version
        cursor.execute("UPDATE samples SET message_words = NULL, words = NULL")
    assert count_pending_words(store, workers=1) == 1499
    assert all_counts(store) == before


def test_unprofiled_and_stale_samples_are_left_alone(store: Store, realdata: Path) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    unprofiled, stale = [row[0] for row in store.query("SELECT id FROM samples ORDER BY id LIMIT 2")]
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET profile_version = NULL WHERE id = ?", [unprofiled])
        cursor.execute("UPDATE samples SET message_roles = list_append(message_roles, 'candidate') WHERE id = ?",
                       [stale])
    assert count_pending_words(store, workers=1, batch_size=200) == 1497
    assert store.query("SELECT id FROM samples WHERE message_words IS NULL ORDER BY id") == sorted(
        [(unprofiled,), (stale,)])


def test_progress_and_cancel_between_batches(store: Store, realdata: Path, tmp_path: Path) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 400:
            cancel.set()

    assert count_pending_words(store, workers=1, batch_size=200, progress=progress, cancel=cancel) == 400
    assert seen == [(0, 1499), (200, 1499), (400, 1499)]
    assert store.query("SELECT count(*) FROM samples WHERE words IS NOT NULL") == [(400,)]
    assert count_pending_words(store, workers=1, batch_size=200) == 1099

    with open_store(tmp_path / "uninterrupted.duckdb") as other:  # resuming gives what one run gives
        load(other, realdata, *SFT_AND_BELLE)
        assert count_pending_words(other, workers=1, batch_size=200) == 1499
        assert all_counts(other) == all_counts(store)


def test_a_failed_batch_writes_nothing(store: Store, realdata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    monkeypatch.setattr(word_stats, "_UPSERT_SQL", "INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(Exception, match="no_such_table"):
        count_pending_words(store, workers=1)
    assert store.query("SELECT count(*) FROM samples WHERE message_words IS NOT NULL OR words IS NOT NULL") == [(0,)]
    assert store.query("SELECT count(*) FROM word_counts") == [(0,)]


def test_worker_processes_give_the_same_result(store: Store, realdata: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    assert count_pending_words(store, workers=1, batch_size=800) == 1499
    monkeypatch.setattr(word_stats, "PARALLEL_MIN_CHARS", 0)
    with open_store(tmp_path / "pooled.duckdb") as pooled:
        load(pooled, realdata, *SFT_AND_BELLE)
        assert count_pending_words(pooled, workers=2, batch_size=800) == 1499
        assert all_counts(pooled) == all_counts(store)


class _DeadPool:
    """A process pool whose workers have died."""

    def submit(self, *args: object) -> None:
        raise BrokenProcessPool("a worker died")

    def shutdown(self, **kwargs: object) -> None:
        pass


def test_a_dead_worker_pool_falls_back_to_this_process(store: Store, realdata: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    load(store, realdata, *SFT_AND_BELLE)
    monkeypatch.setattr(word_stats, "PARALLEL_MIN_CHARS", 0)
    monkeypatch.setattr(word_stats, "open_pool", lambda workers: _DeadPool())
    assert count_pending_words(store, workers=2) == 1499
    assert store.query("SELECT count(*) FROM samples WHERE words IS NULL") == [(0,)]
