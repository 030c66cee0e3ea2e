"""Word counts of profiled samples (per entry and in total) and the most frequent words of each source."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import pyarrow as pa

from blossom_studio.profile.texts import SAMPLE_TEXTS_SQL, sample_texts
from blossom_studio.profile.words import (
    CHUNK_CHARS,
    PARALLEL_MIN_CHARS,
    chunk_bounds,
    open_pool,
    tally_samples,
    token_lang,
)
from blossom_studio.store import Store

log = logging.getLogger(__name__)

PENDING = "profile_version IS NOT NULL AND message_words IS NULL"
# Batches follow (source, id), so a source's samples are counted together (see MIN_NEW_COUNT).
_PENDING_IDS_SQL = f"""
    SELECT source, id, message_roles FROM samples
    WHERE {PENDING} AND (source > ? OR (source = ? AND id > ?))
    ORDER BY source, id LIMIT ?
"""
_TEXTS_SQL = SAMPLE_TEXTS_SQL + " WHERE s.id IN (SELECT unnest(?::VARCHAR[]))"
# word_counts.count is the number of samples of the source whose texts hold the word (document frequency): a
# template field ranks by how many samples carry it (v1_sft_demo: {{name}} 20th, 53rd by occurrences), and one
# long repetitive sample cannot fill the list. A word in a single sample of a batch enters the table only if it
# is already there. On the 13 real sets (10,437 samples) that keeps 42,532 of 95,162 rows, and with batches of
# 5,000 every source's top 50 is identical; a count can miss one sample per batch before the word entered (at
# 1,000 per batch, 44 of 609 top-50 counts were one lower). Kept whole, 3M rows made a 260 MB file (the index).
# A batch this small (a small import, the bundled sample) keeps every word: there, one sample is a big share.
MIN_NEW_COUNT = 2
KEEP_ALL_BELOW_SAMPLES = 1_000
_UPDATE_SQL = """
    UPDATE samples SET message_words = b.message_words, words = b.words
    FROM _word_batch b
    WHERE samples.id = b.id AND samples.message_words IS NULL
      AND samples.message_roles IS NOT DISTINCT FROM b.message_roles
"""
_UPSERT_SQL = f"""
    INSERT INTO word_counts
    SELECT t.source, t.lang, t.word, t.count FROM _word_tally t
    WHERE $1 < {KEEP_ALL_BELOW_SAMPLES} OR t.count >= {MIN_NEW_COUNT} OR EXISTS (
        SELECT 1 FROM word_counts w WHERE w.source = t.source AND w.lang = t.lang AND w.word = t.word)
    ON CONFLICT (source, lang, word) DO UPDATE SET count = count + excluded.count
"""
# A source none of whose samples has counts (all re-profiled, as after a new profile version) is counted afresh.
_FORGET_SQL = """
    DELETE FROM word_counts WHERE source IN (
        SELECT source FROM samples GROUP BY source HAVING bool_and(message_words IS NULL))
"""
_BATCH_SCHEMA = pa.schema([("id", pa.string()), ("message_roles", pa.list_(pa.string())),
                           ("message_words", pa.list_(pa.int32())), ("words", pa.int32())])
_TALLY_SCHEMA = pa.schema([("source", pa.string()), ("lang", pa.string()), ("word", pa.string()),
                           ("count", pa.int64())])


@dataclass
class _Batch:
    """The samples of one batch: ids and roles as read, and their entry texts grouped by source."""

    ids: list[str] = field(default_factory=list)
    roles: list[list[str]] = field(default_factory=list)
    texts: dict[str, list[list[str]]] = field(default_factory=dict)  # source -> entry texts of each sample
    positions: dict[str, list[int]] = field(default_factory=dict)  # source -> the batch position of each sample
    chars: int = 0


def count_pending_words(store: Store, *, progress: Callable[[int, int], None] | None = None,
                        cancel: threading.Event | None = None, workers: int = 2, batch_size: int = 5000) -> int:
    """Count the words of every profiled, uncounted sample, a batch per transaction; return how many were counted."""
    with store.write() as cursor:
        cursor.execute(_FORGET_SQL)
    total = store.query(f"SELECT count(*) FROM samples WHERE {PENDING}")[0][0]
    if progress is not None:
        progress(0, total)
    counted = seen = 0
    last: tuple[str, str] = ("", "")
    pool: ProcessPoolExecutor | None = None
    try:
        while not (cancel is not None and cancel.is_set()):
            pending = store.query(_PENDING_IDS_SQL, [last[0], last[0], last[1], batch_size])
            if not pending:
                break
            last = pending[-1][:2]
            batch = _read_batch(store, pending)
            if pool is None and workers > 1 and batch.chars >= PARALLEL_MIN_CHARS:
                pool = open_pool(workers)  # kept for the later batches of this pass
            try:
                counts = _tally(batch, pool, workers, cancel)
            except BrokenProcessPool:  # a worker died (out of memory, killed): nothing of this batch was written
                log.warning("a word-count worker process died; counting the rest in this process")
                pool.shutdown(wait=False, cancel_futures=True)  # type: ignore[union-attr]
                pool, workers = None, 1
                counts = _tally(batch, None, 1, cancel)
            if counts is None:
                break
            counted += _write(store, batch, *counts)
            seen += len(pending)
            if progress is not None:
                progress(min(seen, total), total)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return counted


def _read_batch(store: Store, pending: list[tuple]) -> _Batch:
    """Read the texts of the pending samples; a sample whose entries no longer match its roles is left out."""
    roles = {sample_id: sample_roles for _, sample_id, sample_roles in pending}
    batch = _Batch()
    for sample_id, source, messages, candidates in store.query(_TEXTS_SQL, [list(roles)]):
        texts = [text for _, text in sample_texts(messages, candidates)]
        sample_roles = roles.get(sample_id)
        if sample_roles is None or len(sample_roles) != len(texts):
            continue  # its texts changed after it was profiled: the profile pass has to see it again first
        batch.positions.setdefault(source, []).append(len(batch.ids))
        batch.texts.setdefault(source, []).append(texts)
        batch.ids.append(sample_id)
        batch.roles.append(sample_roles)
        batch.chars += sum(map(len, texts))
    return batch


def _tally(batch: _Batch, pool: ProcessPoolExecutor | None, workers: int,
           cancel: threading.Event | None) -> tuple[list[list[int]], dict[str, Counter[str]]] | None:
    """Return each sample's entry counts and each source's word tally, or None if cancelled before the end."""
    counts: list[list[int]] = [[] for _ in batch.ids]
    tallies: dict[str, Counter[str]] = {}
    if pool is None:
        for source, samples in batch.texts.items():
            source_counts, tallies[source] = tally_samples(samples)
            for position, entry_counts in zip(batch.positions[source], source_counts, strict=True):
                counts[position] = entry_counts
        return counts, tallies
    target = min(CHUNK_CHARS, batch.chars // (4 * workers) + 1)  # small enough that no worker idles long at the end
    parts: dict[Future, tuple[str, list[int]]] = {}
    for source, samples in batch.texts.items():
        tallies[source] = Counter()
        for start, end in chunk_bounds([sum(map(len, texts)) for texts in samples], target):
            parts[pool.submit(tally_samples, samples[start:end])] = (source, batch.positions[source][start:end])
    waiting = set(parts)
    while waiting:
        if cancel is not None and cancel.is_set():
            for future in waiting:
                future.cancel()
            return None
        finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
        for future in finished:
            source, positions = parts[future]
            part_counts, part_tally = future.result()
            for position, entry_counts in zip(positions, part_counts, strict=True):
                counts[position] = entry_counts
            tallies[source].update(part_tally)
    return counts, tallies


def _write(store: Store, batch: _Batch, counts: list[list[int]], tallies: dict[str, Counter[str]]) -> int:
    """Store the batch's per-entry and total counts and add its words to word_counts, in one transaction."""
    rows = pa.Table.from_pydict({"id": batch.ids, "message_roles": batch.roles, "message_words": counts,
                                 "words": [sum(entry_counts) for entry_counts in counts]}, schema=_BATCH_SCHEMA)
    tally = _tally_table(tallies)
    with store.write() as cursor:  # a failure rolls back the registrations too
        cursor.register("_word_batch", rows)
        cursor.register("_word_tally", tally)
        updated = cursor.execute(_UPDATE_SQL).fetchall()[0][0]
        if tally.num_rows:
            cursor.execute(_UPSERT_SQL, [len(batch.ids)])
        cursor.unregister("_word_batch")
        cursor.unregister("_word_tally")
    return int(updated)


def _tally_table(tallies: dict[str, Counter[str]]) -> pa.Table:
    """Return the words of each source as rows (source, lang, word, count)."""
    columns: dict[str, list] = {"source": [], "lang": [], "word": [], "count": []}
    for source, tally in tallies.items():
        for word, count in tally.items():
            columns["source"].append(source)
            columns["lang"].append(token_lang(word))
            columns["word"].append(word)
            columns["count"].append(count)
    return pa.Table.from_pydict(columns, schema=_TALLY_SCHEMA)
