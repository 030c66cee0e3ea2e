"""Schema migrations: small named functions applied in order, each in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from blossom_studio.store.db import Store

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_initial(cursor: duckdb.DuckDBPyConnection) -> None:
    """Create the imports, samples and candidates tables (conversation text compressed with zstd)."""
    cursor.execute(
        """
        CREATE TABLE imports (
            id VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            file_type VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            source VARCHAR,
            records BIGINT NOT NULL,
            imported BIGINT NOT NULL,
            duplicates BIGINT NOT NULL,
            bad BIGINT NOT NULL,
            errors JSON NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP NOT NULL
        )
        """
    )
    cursor.execute(
        """
        CREATE TABLE samples (
            id VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            source_id VARCHAR,
            type VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            messages JSON USING COMPRESSION zstd NOT NULL,
            metadata JSON USING COMPRESSION zstd NOT NULL,
            reference VARCHAR,
            content_hash VARCHAR NOT NULL,
            import_id VARCHAR,
            row_number BIGINT,
            turns INTEGER NOT NULL,
            status VARCHAR NOT NULL DEFAULT 'active',
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    cursor.execute(
        """
        CREATE TABLE candidates (
            id VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            job_id VARCHAR,
            model VARCHAR,
            label VARCHAR,
            position INTEGER NOT NULL,
            message JSON USING COMPRESSION zstd NOT NULL,
            finish_reason VARCHAR,
            call_key VARCHAR,
            origin VARCHAR NOT NULL,
            extra JSON,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )


def m002_synthesis(cursor: duckdb.DuckDBPyConnection) -> None:
    """Create the calls cache, jobs, job items and verdicts tables of synthesis runs."""
    cursor.execute(
        """
        CREATE TABLE calls (
            key VARCHAR NOT NULL,
            endpoint VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            roster_name VARCHAR NOT NULL,
            params JSON NOT NULL,
            messages JSON USING COMPRESSION zstd NOT NULL,
            status VARCHAR NOT NULL,
            response VARCHAR USING COMPRESSION zstd,
            reasoning VARCHAR USING COMPRESSION zstd,
            finish_reason VARCHAR,
            usage JSON,
            latency_ms DOUBLE,
            attempts INTEGER NOT NULL,
            error_kind VARCHAR,
            error VARCHAR,
            job_id VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    cursor.execute("CREATE INDEX calls_by_key ON calls (key)")
    cursor.execute(
        """
        CREATE TABLE jobs (
            id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            strategy VARCHAR NOT NULL,
            roles JSON NOT NULL,
            roster JSON NOT NULL,
            params JSON NOT NULL,
            selection JSON NOT NULL,
            seed BIGINT NOT NULL,
            status VARCHAR NOT NULL,
            items BIGINT NOT NULL,
            error VARCHAR,
            created_by VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            started_at TIMESTAMP,
            finished_at TIMESTAMP
        )
        """
    )
    cursor.execute(
        """
        CREATE TABLE job_items (
            job_id VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            position BIGINT NOT NULL,
            state VARCHAR NOT NULL,
            reason VARCHAR,
            error VARCHAR,
            assignment JSON,
            updated_at TIMESTAMP
        )
        """
    )
    cursor.execute(
        """
        CREATE TABLE verdicts (
            id VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            job_id VARCHAR,
            kind VARCHAR NOT NULL,
            judge VARCHAR NOT NULL,
            candidate_ids JSON NOT NULL,
            candidates_shown JSON NOT NULL,
            outcome JSON,
            rationale VARCHAR USING COMPRESSION zstd,
            raw_output VARCHAR USING COMPRESSION zstd,
            parse_status VARCHAR NOT NULL,
            details JSON,
            call_keys JSON NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )


PROFILE_COLUMNS: list[tuple[str, str]] = [
    ("lang", "VARCHAR"),  # zh, en, mixed, other, code, unknown; NULL until profiled
    ("lang_code", "VARCHAR"),  # zh-Hans, zh-Hant, en, or the code of an other language (fr, ja)
    ("prompt_lang", "VARCHAR"),
    ("response_lang", "VARCHAR"),
    ("lang_mismatch", "BOOLEAN"),  # the answer's language differs from the prompt's, which asks for no translation
    ("traditional", "BOOLEAN"),  # the Chinese text is written in Traditional characters
    ("message_roles", "VARCHAR[]"),  # roles of the messages, then 'candidate' per imported candidate
    ("message_langs", "VARCHAR[]"),  # language of each entry of message_roles
    ("message_chars", "INTEGER[]"),  # characters of each entry of message_roles
    ("message_words", "INTEGER[]"),  # words (jieba for Chinese) of each entry; NULL until words are counted
    ("zh_chars", "INTEGER"),  # Han characters outside code, URLs and LaTeX
    ("en_words", "INTEGER"),  # Latin-script words outside code, URLs and LaTeX
    ("chars", "INTEGER"),
    ("prompt_chars", "INTEGER"),
    ("response_chars", "INTEGER"),
    ("words", "INTEGER"),  # NULL until words are counted
    ("profile_version", "SMALLINT"),  # NULL until profiled; older versions are profiled again
]


def m003_profile(cursor: duckdb.DuckDBPyConnection) -> None:
    """Add the language profile columns to samples, and the word_counts and selections tables."""
    for name, column_type in PROFILE_COLUMNS:
        cursor.execute(f"ALTER TABLE samples ADD COLUMN {name} {column_type}")
    cursor.execute(
        """
        CREATE TABLE word_counts (
            source VARCHAR NOT NULL,
            lang VARCHAR NOT NULL,
            word VARCHAR NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (source, lang, word)
        )
        """
    )
    cursor.execute(
        """
        CREATE TABLE selections (
            name VARCHAR PRIMARY KEY,
            spec JSON NOT NULL,
            sample_ids VARCHAR[] NOT NULL,
            counts JSON NOT NULL,
            created_by VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )


def m004_review(cursor: duckdb.DuckDBPyConnection) -> None:
    """Create the append-only decisions table of human review."""
    cursor.execute("CREATE SEQUENCE decisions_seq START 1")
    cursor.execute(
        """
        CREATE TABLE decisions (
            seq BIGINT NOT NULL DEFAULT nextval('decisions_seq'),
            id VARCHAR NOT NULL,
            sample_id VARCHAR NOT NULL,
            verdict_id VARCHAR,
            reviewer VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            payload JSON,
            note VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )
    cursor.execute("CREATE INDEX decisions_by_sample ON decisions (sample_id)")


def m005_exports(cursor: duckdb.DuckDBPyConnection) -> None:
    """Create the exports table: one row per curated set written (where, what, how many, and each file's sha256)."""
    cursor.execute(
        """
        CREATE TABLE exports (
            id VARCHAR PRIMARY KEY,
            path VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            file_type VARCHAR NOT NULL,
            request JSON NOT NULL,
            counts JSON NOT NULL,
            files JSON NOT NULL,
            rows BIGINT NOT NULL,
            hub_repo VARCHAR,
            created_by VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        )
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", m001_initial),
    ("002_synthesis", m002_synthesis),
    ("003_profile", m003_profile),
    ("004_review", m004_review),
    ("005_exports", m005_exports),
]


def apply_migrations(store: Store) -> list[str]:
    """Apply every migration not yet recorded in `_migrations`; return the names applied now."""
    with store.write() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    done = {row[0] for row in store.query("SELECT name FROM _migrations")}
    applied: list[str] = []
    for name, migration in MIGRATIONS:
        if name in done:
            continue
        with store.write() as cursor:
            migration(cursor)
            cursor.execute("INSERT INTO _migrations VALUES (?, current_timestamp)", [name])
        applied.append(name)
    return applied
