"""`import` profiles what it imported (languages, then words); `profile` finishes what an older import left."""

from __future__ import annotations

from pathlib import Path

from blossom_studio.store import open_store
from tests.test_cli import last_json, run


def test_import_profiles_languages_and_words(tmp_path: Path, realdata: Path) -> None:
    db = tmp_path / "studio.duckdb"
    result = run("--db", db, "import", realdata / "qwen2.5-math/cmath/test.jsonl", realdata / "gsm8k/test.jsonl",
                 "--json")
    assert result.returncode == 0, result.stderr
    rows = last_json(run("--db", db, "stats", "--by", "lang", "--json"))
    by_lang = {row["lang"]: row for row in rows}
    assert by_lang["zh"]["samples"] == 600 and by_lang["en"]["samples"] == 1319
    assert "pending" not in by_lang
    assert all(row["words_pending"] == 0 and row["words"] > 0 for row in rows)


def test_profile_finishes_samples_left_unprofiled(tmp_path: Path, realdata: Path) -> None:
    db = tmp_path / "studio.duckdb"
    assert run("--db", db, "import", realdata / "belle/eval_set.json").returncode == 0
    with open_store(db) as store, store.write() as cursor:  # as a database made before profiling existed
        cursor.execute("UPDATE samples SET profile_version = NULL, lang = NULL, message_words = NULL, words = NULL")
    before = last_json(run("--db", db, "stats", "--by", "lang", "--json"))
    assert [row["lang"] for row in before] == ["pending"]
    result = run("--db", db, "profile", "--json")
    assert result.returncode == 0, result.stderr
    assert last_json(result) == {"profiled": 1000, "word_counted": 1000, "cancelled": False}
    assert last_json(run("--db", db, "profile", "--json")) == {"profiled": 0, "word_counted": 0,
                                                                "cancelled": False}
    after = {row["lang"]: row["samples"] for row in last_json(run("--db", db, "stats", "--by", "lang", "--json"))}
    assert after == {"zh": 1000}


def test_import_no_profile_leaves_profiling_for_later(tmp_path: Path, realdata: Path) -> None:
    db = tmp_path / "studio.duckdb"
    assert run("--db", db, "import", realdata / "gsm8k/test.jsonl", "--no-profile").returncode == 0
    rows = last_json(run("--db", db, "stats", "--by", "lang", "--json"))
    assert rows[0]["lang"] == "pending" and rows[0]["samples"] == 1319
