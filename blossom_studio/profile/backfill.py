"""Profile the samples that have no current profile, in batches of one transaction each, on all cores for big sets."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple, fields
from typing import Any

import pyarrow as pa

from blossom_studio.ingest.chunks import usable_cores
from blossom_studio.profile.samples import PROFILE_VERSION, SampleProfile, profile_sample
from blossom_studio.profile.texts import SAMPLE_TEXTS_SQL, sample_texts
from blossom_studio.store import Store

Progress = Callable[[int, int], None]
BATCH_SIZE = 20_000
# Below this many samples to profile, starting worker processes costs more than it saves.
POOL_MIN_SAMPLES = 20_000
PENDING = f"(profile_version IS NULL OR profile_version < {PROFILE_VERSION})"
_PENDING_ROWS = f"(s.profile_version IS NULL OR s.profile_version < {PROFILE_VERSION})"

_COLUMNS = [field.name for field in fields(SampleProfile)]
_LIST_COLUMNS = {"message_roles": pa.list_(pa.string()), "message_langs": pa.list_(pa.string()),
                 "message_chars": pa.list_(pa.int32())}
_BOOL_COLUMNS = {"lang_mismatch", "traditional"}
_INT_COLUMNS = {"zh_chars", "en_words", "chars", "prompt_chars", "response_chars"}
_SCHEMA = pa.schema([("id", pa.string())] + [
    (name, _LIST_COLUMNS.get(name) or (pa.bool_() if name in _BOOL_COLUMNS else
                                       pa.int32() if name in _INT_COLUMNS else pa.string()))
    for name in _COLUMNS
])
_UPDATE = (
    "UPDATE samples SET "
    + ", ".join(f"{name} = b.{name}" for name in _COLUMNS)
    + f", message_words = NULL, words = NULL, profile_version = {PROFILE_VERSION} "
    "FROM _profiles b WHERE samples.id = b.id"
)


def pending_count(store: Store) -> int:
    """Return how many samples have no profile of the current version."""
    return store.query(f"SELECT count(*) FROM samples WHERE {PENDING}")[0][0]


def profile_rows(rows: Sequence[tuple[Any, Any]]) -> list[tuple[Any, ...]]:
    """Profile (messages JSON, candidate messages JSON list) rows; return each profile's column values."""
    return [astuple(profile_sample(sample_texts(messages, candidates))) for messages, candidates in rows]


def profile_pending(store: Store, *, progress: Progress | None = None, cancel: threading.Event | None = None,
                    batch_size: int = BATCH_SIZE, workers: int | None = None) -> int:
    """Profile every sample without a current profile and return how many were profiled; a cancel stops between
    batches, keeping the batches already committed."""
    total = pending_count(store)
    if total == 0:
        return 0
    done = 0
    if progress is not None:
        progress(0, total)
    with _executor(total, workers) as executor:
        while done < total:
            if cancel is not None and cancel.is_set():
                break
            batch = store.read().execute(
                f"{SAMPLE_TEXTS_SQL} WHERE {_PENDING_ROWS} "
                "ORDER BY s.rowid LIMIT ?", [batch_size]).fetchall()
            if not batch:
                break
            profiles = _profile_batch(executor, [(row[2], row[3]) for row in batch])
            _write(store, [row[0] for row in batch], profiles)
            done += len(batch)
            if progress is not None:
                progress(min(done, total), total)
    return done


@contextmanager
def _executor(total: int, workers: int | None) -> Iterator[Executor | None]:
    count = workers if workers is not None else min(usable_cores(), 2 if total >= POOL_MIN_SAMPLES else 1)
    if count <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def _profile_batch(executor: Executor | None, rows: list[tuple[Any, Any]]) -> list[tuple[Any, ...]]:
    if executor is None:
        return profile_rows(rows)
    parts = 8
    size = -(-len(rows) // parts)
    slices = [rows[start:start + size] for start in range(0, len(rows), size)]
    return [profile for part in executor.map(profile_rows, slices) for profile in part]


def _write(store: Store, ids: list[str], profiles: list[tuple[Any, ...]]) -> None:
    columns = [ids, *(list(values) for values in zip(*profiles, strict=True))]
    table = pa.Table.from_arrays([pa.array(values, type=field.type) for values, field in zip(columns, _SCHEMA,
                                                                                              strict=True)],
                                 schema=_SCHEMA)
    with store.write() as cursor:
        cursor.register("_profiles", table)  # a failed statement rolls the registration back with the transaction
        cursor.execute(_UPDATE)
        cursor.unregister("_profiles")
