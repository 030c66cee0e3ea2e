"""`stats --by lang,source,role --json`: the Balance tab's numbers on the command line, from the profile columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blossom_studio.store import open_store
from tests.test_balance import expected_rows, fake_profile, import_real
from tests.test_cli import last_json, one_line_error, run


@pytest.fixture
def profiled_db(tmp_path: Path, realdata: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A database file with real files imported and a test-written profile, closed so the CLI can open it."""
    db = tmp_path / "studio.duckdb"
    with open_store(db) as store:
        import_real(store, realdata)
        samples = fake_profile(store)
    return db, samples


def test_stats_by_lang_source_role_is_the_balance(profiled_db: tuple[Path, list[dict[str, Any]]]) -> None:
    db, samples = profiled_db
    result = run("--db", db, "stats", "--by", "lang,source,role", "--json")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1, "human text goes to stderr with --json"
    rows = last_json(result)
    assert rows == expected_rows(samples, ["lang", "source", "role"])
    assert all({"lang", "source", "role", "samples", "messages", "chars", "words", "words_pending"} <= set(row)
               for row in rows)
    pending = sum(row["samples"] for row in rows if row["lang"] == "pending")
    assert pending == sum(1 for s in samples if s["active"] and s["profile"] is None) > 0
    assert f"{pending:,} samples are not profiled yet" in result.stderr


@pytest.mark.parametrize("by", ["lang", "lang,source", "source,lang", "role,lang", "lang,format"])
def test_stats_by_language_in_any_order(profiled_db: tuple[Path, list[dict[str, Any]]], by: str) -> None:
    db, samples = profiled_db
    rows = last_json(run("--db", db, "stats", "--by", by, "--json"))
    keys = by.split(",")
    assert rows == expected_rows(samples, keys)
    assert list(rows[0])[:len(keys)] == keys


def test_stats_by_lang_prints_a_table(profiled_db: tuple[Path, list[dict[str, Any]]]) -> None:
    db, _ = profiled_db
    result = run("--db", db, "stats", "--by", "lang")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["lang", "samples", "chars"]
    assert any(line.startswith("pending ") for line in lines)
    assert "not profiled yet" in lines[-1]


def test_stats_by_lang_on_an_empty_database(tmp_path: Path) -> None:
    result = run("--db", tmp_path / "s.duckdb", "stats", "--by", "lang,source,role", "--json")
    assert result.returncode == 0
    assert last_json(result) == []


def test_an_unknown_key_lists_lang(tmp_path: Path) -> None:
    one_line_error(run("--db", tmp_path / "s.duckdb", "stats", "--by", "lang,colour"),
                   "unknown --by key(s) colour", "role, lang")
