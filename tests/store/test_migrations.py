"""Migrating an empty database gives exactly the schema below; re-opening applies nothing; a failure rolls back."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from blossom_studio.store import Store, open_store
from blossom_studio.store import migrations as migrations_module
from blossom_studio.store.migrations import MIGRATIONS, apply_migrations

# (column, type, nullable) in table order. A new migration must update this on purpose.
EXPECTED_SCHEMA: dict[str, list[tuple[str, str, bool]]] = {
    "_migrations": [
        ("name", "VARCHAR", False),
        ("applied_at", "TIMESTAMP", False),
    ],
    "imports": [
        ("id", "VARCHAR", False),
        ("path", "VARCHAR", False),
        ("file_type", "VARCHAR", False),
        ("format", "VARCHAR", False),
        ("source", "VARCHAR", True),
        ("records", "BIGINT", False),
        ("imported", "BIGINT", False),
        ("duplicates", "BIGINT", False),
        ("bad", "BIGINT", False),
        ("errors", "JSON", False),
        ("started_at", "TIMESTAMP", False),
        ("finished_at", "TIMESTAMP", False),
    ],
    "samples": [
        ("id", "VARCHAR", False),
        ("source", "VARCHAR", False),
        ("source_id", "VARCHAR", True),
        ("type", "VARCHAR", False),
        ("format", "VARCHAR", False),
        ("messages", "JSON", False),
        ("metadata", "JSON", False),
        ("reference", "VARCHAR", True),
        ("content_hash", "VARCHAR", False),
        ("import_id", "VARCHAR", True),
        ("row_number", "BIGINT", True),
        ("turns", "INTEGER", False),
        ("status", "VARCHAR", False),
        ("created_at", "TIMESTAMP", False),
        ("lang", "VARCHAR", True),
        ("lang_code", "VARCHAR", True),
        ("prompt_lang", "VARCHAR", True),
        ("response_lang", "VARCHAR", True),
        ("lang_mismatch", "BOOLEAN", True),
        ("traditional", "BOOLEAN", True),
        ("message_roles", "VARCHAR[]", True),
        ("message_langs", "VARCHAR[]", True),
        ("message_chars", "INTEGER[]", True),
        ("message_words", "INTEGER[]", True),
        ("zh_chars", "INTEGER", True),
        ("en_words", "INTEGER", True),
        ("chars", "INTEGER", True),
        ("prompt_chars", "INTEGER", True),
        ("response_chars", "INTEGER", True),
        ("words", "INTEGER", True),
        ("profile_version", "SMALLINT", True),
    ],
    "candidates": [
        ("id", "VARCHAR", False),
        ("sample_id", "VARCHAR", False),
        ("job_id", "VARCHAR", True),
        ("model", "VARCHAR", True),
        ("label", "VARCHAR", True),
        ("position", "INTEGER", False),
        ("message", "JSON", False),
        ("finish_reason", "VARCHAR", True),
        ("call_key", "VARCHAR", True),
        ("origin", "VARCHAR", False),
        ("extra", "JSON", True),
        ("created_at", "TIMESTAMP", False),
    ],
    "calls": [
        ("key", "VARCHAR", False),
        ("endpoint", "VARCHAR", False),
        ("model", "VARCHAR", False),
        ("roster_name", "VARCHAR", False),
        ("params", "JSON", False),
        ("messages", "JSON", False),
        ("status", "VARCHAR", False),
        ("response", "VARCHAR", True),
        ("reasoning", "VARCHAR", True),
        ("finish_reason", "VARCHAR", True),
        ("usage", "JSON", True),
        ("latency_ms", "DOUBLE", True),
        ("attempts", "INTEGER", False),
        ("error_kind", "VARCHAR", True),
        ("error", "VARCHAR", True),
        ("job_id", "VARCHAR", True),
        ("created_at", "TIMESTAMP", False),
    ],
    "jobs": [
        ("id", "VARCHAR", False),
        ("name", "VARCHAR", False),
        ("strategy", "VARCHAR", False),
        ("roles", "JSON", False),
        ("roster", "JSON", False),
        ("params", "JSON", False),
        ("selection", "JSON", False),
        ("seed", "BIGINT", False),
        ("status", "VARCHAR", False),
        ("items", "BIGINT", False),
        ("error", "VARCHAR", True),
        ("created_by", "VARCHAR", True),
        ("created_at", "TIMESTAMP", False),
        ("started_at", "TIMESTAMP", True),
        ("finished_at", "TIMESTAMP", True),
    ],
    "job_items": [
        ("job_id", "VARCHAR", False),
        ("sample_id", "VARCHAR", False),
        ("position", "BIGINT", False),
        ("state", "VARCHAR", False),
        ("reason", "VARCHAR", True),
        ("error", "VARCHAR", True),
        ("assignment", "JSON", True),
        ("updated_at", "TIMESTAMP", True),
    ],
    "verdicts": [
        ("id", "VARCHAR", False),
        ("sample_id", "VARCHAR", False),
        ("job_id", "VARCHAR", True),
        ("kind", "VARCHAR", False),
        ("judge", "VARCHAR", False),
        ("candidate_ids", "JSON", False),
        ("candidates_shown", "JSON", False),
        ("outcome", "JSON", True),
        ("rationale", "VARCHAR", True),
        ("raw_output", "VARCHAR", True),
        ("parse_status", "VARCHAR", False),
        ("details", "JSON", True),
        ("call_keys", "JSON", False),
        ("created_at", "TIMESTAMP", False),
    ],
    "word_counts": [
        ("source", "VARCHAR", False),
        ("lang", "VARCHAR", False),
        ("word", "VARCHAR", False),
        ("count", "BIGINT", False),
    ],
    "selections": [
        ("name", "VARCHAR", False),
        ("spec", "JSON", False),
        ("sample_ids", "VARCHAR[]", False),
        ("counts", "JSON", False),
        ("created_by", "VARCHAR", True),
        ("created_at", "TIMESTAMP", False),
    ],
    "decisions": [
        ("seq", "BIGINT", False),
        ("id", "VARCHAR", False),
        ("sample_id", "VARCHAR", False),
        ("verdict_id", "VARCHAR", True),
        ("reviewer", "VARCHAR", False),
        ("action", "VARCHAR", False),
        ("payload", "JSON", True),
        ("note", "VARCHAR", True),
        ("created_at", "TIMESTAMP", False),
    ],
    "exports": [
        ("id", "VARCHAR", False),
        ("path", "VARCHAR", False),
        ("format", "VARCHAR", False),
        ("file_type", "VARCHAR", False),
        ("request", "JSON", False),
        ("counts", "JSON", False),
        ("files", "JSON", False),
        ("rows", "BIGINT", False),
        ("hub_repo", "VARCHAR", True),
        ("created_by", "VARCHAR", True),
        ("created_at", "TIMESTAMP", False),
    ],
}
EXPECTED_MIGRATIONS = ["001_initial", "002_synthesis", "003_profile", "004_review", "005_exports"]


def schema(store: Store) -> dict[str, list[tuple[str, str, bool]]]:
    rows = store.query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position")
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, data_type, nullable in rows:
        tables.setdefault(table, []).append((column, data_type, nullable == "YES"))
    return tables


def applied(store: Store) -> list[str]:
    return [row[0] for row in store.query("SELECT name FROM _migrations ORDER BY applied_at, rowid")]


def test_empty_database_gets_the_exact_schema(store: Store) -> None:
    assert schema(store) == EXPECTED_SCHEMA


def test_column_defaults(store: Store) -> None:
    rows = store.query(
        "SELECT table_name, column_name, column_default FROM information_schema.columns "
        "WHERE table_schema = 'main' AND column_default IS NOT NULL ORDER BY table_name, column_name")
    assert rows == [
        ("calls", "created_at", "current_timestamp"),
        ("candidates", "created_at", "current_timestamp"),
        ("decisions", "created_at", "current_timestamp"),
        ("decisions", "seq", "nextval('decisions_seq')"),
        ("exports", "created_at", "current_timestamp"),
        ("jobs", "created_at", "current_timestamp"),
        ("samples", "created_at", "current_timestamp"),
        ("samples", "status", "'active'"),
        ("selections", "created_at", "current_timestamp"),
        ("verdicts", "created_at", "current_timestamp"),
    ]


def test_migrations_table_lists_every_applied_migration_in_order(store: Store) -> None:
    assert applied(store) == EXPECTED_MIGRATIONS
    assert [name for name, _ in MIGRATIONS] == EXPECTED_MIGRATIONS
    assert store.query("SELECT count(*) FROM _migrations WHERE applied_at IS NULL")[0][0] == 0


def test_reopening_applies_nothing_new(tmp_path: Path) -> None:
    path = tmp_path / "studio.duckdb"
    with open_store(path) as first:
        before = first.query("SELECT name, applied_at FROM _migrations ORDER BY name")
        first_schema = schema(first)
    with open_store(path) as again:
        assert apply_migrations(again) == []
        assert again.query("SELECT name, applied_at FROM _migrations ORDER BY name") == before
        assert schema(again) == first_schema


def test_a_new_migration_is_applied_once_on_an_existing_database(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "studio.duckdb"
    open_store(path).close()

    def m002_notes(cursor: duckdb.DuckDBPyConnection) -> None:
        cursor.execute("CREATE TABLE notes (text VARCHAR)")

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*MIGRATIONS, ("002_notes", m002_notes)])
    with open_store(path) as store:
        assert applied(store) == [*EXPECTED_MIGRATIONS, "002_notes"]
        assert apply_migrations(store) == []
        assert "notes" in schema(store)


def test_a_failing_migration_is_rolled_back_and_earlier_ones_stay(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def m002_broken(cursor: duckdb.DuckDBPyConnection) -> None:
        cursor.execute("CREATE TABLE half_done (x INTEGER)")
        cursor.execute("INSERT INTO half_done VALUES (1)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*MIGRATIONS, ("002_broken", m002_broken)])
    path = tmp_path / "studio.duckdb"
    with pytest.raises(RuntimeError, match="migration bug"):
        open_store(path)
    monkeypatch.setattr(migrations_module, "MIGRATIONS", MIGRATIONS)
    with open_store(path) as store:
        assert applied(store) == EXPECTED_MIGRATIONS
        assert "half_done" not in schema(store)
        assert schema(store) == EXPECTED_SCHEMA
