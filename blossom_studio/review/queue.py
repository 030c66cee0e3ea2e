"""Review queues over the effective verdict: filters, pages, positions, neighbours, bulk accept and choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blossom_studio.review.actions import _clean
from blossom_studio.review.base import FILTERS, JUDGE_KINDS, LOW_MARGIN, Cursor, ReviewError
from blossom_studio.review.decisions import _check_reviewer
from blossom_studio.review.effective_verdict import _EFFECTIVE_WIDE_SQL, _KINDS, _register_judged
from blossom_studio.store import Store


@dataclass(frozen=True)
class QueuePage:
    """One page of a review queue: sample ids in queue order and the number of samples in the queue."""

    sample_ids: list[str]
    total: int


@dataclass(frozen=True)
class QueueSlot:
    """Where a sample stands in a queue: its 0-based index (items before it), the total, and whether it is in it."""

    sample_id: str
    index: int
    total: int
    in_queue: bool = True


_FILTER_WHERE = {
    "all": "TRUE",
    "pending": "e.verdict_id IS NOT NULL AND e.source = 'judge'",
    "ties": "e.judge_winner = 'tie'",
    "split": "e.kind = 'pairwise' AND e.split",
    "parse_failures": "e.parse_status = 'failed'",
    "low_margin": f"(e.judge_winner = 'tie' OR (e.kind = 'rating' AND e.margin <= {LOW_MARGIN}))",
    "disagreement": "e.disagrees",
    "conflicts": "e.conflict",
    "audit": "e.source = 'judge' AND e.judge_keep IS NOT NULL",
}
FILTER_HELP = {
    "pending": "judged by a model or rule, not yet decided by a person",
    "all": "every judged or decided sample",
    "ties": "the judge called a tie (pairwise, or a rating with no answer far enough below the best)",
    "split": "pairwise verdicts whose two orders disagreed (position bias)",
    "parse_failures": "the judge's output could not be parsed",
    "low_margin": f"judge ties and rating pairs whose means differ by at most {LOW_MARGIN:g}",
    "disagreement": "a person decided differently from the judge",
    "conflicts": "two reviewers' latest decisions differ (the latest wins)",
    "audit": "decided by the judge alone, in a seeded random order: the first n are a uniform random sample",
}
_ACCEPTABLE = "e.source = 'judge' AND e.judge_keep IS NOT NULL"


def _queue_sql(cursor: Cursor, filter: str, source: str | None, kind: str | None, job: str | None,
               seed: int, acceptable_only: bool = False, store: Store | None = None) -> tuple[str, list[Any]]:
    """Return `WITH ... , q AS (SELECT sample_id, k ...)` for a queue and its parameters; with `store` (reads), over
    the cached judge values, else all computed in the statement (bulk_accept, inside its transaction)."""
    if filter not in _FILTER_WHERE:
        raise ReviewError(f"unknown review filter {filter!r}; filters are {', '.join(FILTERS)}")
    if kind and kind not in JUDGE_KINDS:
        raise ReviewError(f"unknown verdict kind {kind!r}; kinds are {', '.join(JUDGE_KINDS)}")
    clauses, params = [_FILTER_WHERE[filter]], []
    if job:
        found = cursor.execute("SELECT id FROM jobs WHERE name = ? OR id = ?", [job, job]).fetchall()
        if not found:
            raise ReviewError(f"no job named {job!r}")
        clauses.append("e.job_id = ?")
        params.append(found[0][0])
    if source:
        clauses.append("e.sample_id IN (SELECT id FROM samples WHERE source = ?)")
        params.append(source)
    if kind:
        clauses.append("e.kind = ?")
        params.append(kind)
    if acceptable_only:
        clauses.append(_ACCEPTABLE)
    key = "hash(e.sample_id, ?::BIGINT)" if filter == "audit" else "e.sample_id"
    key_params = [seed] if filter == "audit" else []
    effective = _register_judged(store, cursor) if store is not None else _EFFECTIVE_WIDE_SQL
    sql = (f"WITH eff AS ({effective}), q AS (SELECT e.*, {key} AS k FROM eff e "
           f"WHERE {' AND '.join(f'({c})' for c in clauses)})")
    return sql, key_params + params


def queue_page(store: Store, *, filter: str = "pending", source: str | None = None, kind: str | None = None,
               job: str | None = None, offset: int = 0, limit: int = 50, seed: int = 0) -> QueuePage:
    """Return one page of a review queue (ordered by sample id, or by a seeded hash for audit) and its size."""
    cursor = store.read()
    sql, params = _queue_sql(cursor, filter, source, kind, job, seed, store=store)
    rows = cursor.execute(
        f"{sql} SELECT sample_id, count(*) OVER () FROM q ORDER BY k, sample_id LIMIT ? OFFSET ?",
        [*params, max(0, int(limit)), max(0, int(offset))],
    ).fetchall()
    if rows:
        return QueuePage([row[0] for row in rows], rows[0][1])
    return QueuePage([], cursor.execute(f"{sql} SELECT count(*) FROM q", params).fetchall()[0][0])


def count_queue(store: Store, *, filter: str = "pending", source: str | None = None, kind: str | None = None,
                job: str | None = None, seed: int = 0, acceptable_only: bool = False) -> int:
    """Count a queue's samples; with `acceptable_only`, only those bulk_accept would accept (judge-decided, parsed)."""
    cursor = store.read()
    sql, params = _queue_sql(cursor, filter, source, kind, job, seed, acceptable_only, store)
    return cursor.execute(f"{sql} SELECT count(*) FROM q", params).fetchall()[0][0]


@dataclass(frozen=True)
class _Place:
    total: int
    before: int
    inside: bool
    following: str | None
    preceding: str | None


def _locate(store: Store, sample_id: str, filter: str, source: str | None, kind: str | None, job: str | None,
            seed: int) -> _Place:
    cursor = store.read()
    sql, params = _queue_sql(cursor, filter, source, kind, job, seed, store=store)
    key, key_params = ("hash(?, ?::BIGINT)", [sample_id, seed]) if filter == "audit" else ("?", [sample_id])
    after = "q.k > h.k OR (q.k = h.k AND q.sample_id > h.sample_id)"
    before = "q.k < h.k OR (q.k = h.k AND q.sample_id < h.sample_id)"
    rows = cursor.execute(
        f"""{sql}, here AS (SELECT {key} AS k, ? AS sample_id)
        SELECT (SELECT count(*) FROM q),
               (SELECT count(*) FROM q, here h WHERE {before}),
               EXISTS (SELECT 1 FROM q, here h WHERE q.sample_id = h.sample_id),
               (SELECT q.sample_id FROM q, here h WHERE {after} ORDER BY q.k, q.sample_id LIMIT 1),
               (SELECT q.sample_id FROM q, here h WHERE {before} ORDER BY q.k DESC, q.sample_id DESC LIMIT 1)
        """,
        [*params, *key_params, sample_id],
    ).fetchall()
    total, count_before, inside, following, preceding = rows[0]
    return _Place(total, count_before, bool(inside), following, preceding)


def queue_locate(store: Store, sample_id: str, *, filter: str = "pending", source: str | None = None,
                 kind: str | None = None, job: str | None = None, seed: int = 0) -> QueueSlot:
    """Return where a sample stands in a queue (its index is the number of queue items ordered before it)."""
    place = _locate(store, sample_id, filter, source, kind, job, seed)
    return QueueSlot(sample_id, place.before, place.total, place.inside)


def queue_neighbour(store: Store, sample_id: str, *, direction: str = "next", filter: str = "pending",
                    source: str | None = None, kind: str | None = None, job: str | None = None,
                    seed: int = 0) -> QueueSlot | None:
    """Return the queue item after (or before) a sample, which need not be in the queue any more; None at the end."""
    if direction not in ("next", "previous"):
        raise ReviewError(f"direction must be next or previous, not {direction!r}")
    place = _locate(store, sample_id, filter, source, kind, job, seed)
    if direction == "next":
        if place.following is None:
            return None
        return QueueSlot(place.following, place.before + (1 if place.inside else 0), place.total)
    if place.preceding is None:
        return None
    return QueueSlot(place.preceding, place.before - 1, place.total)


def bulk_accept(store: Store, *, reviewer: str, filter: str = "pending", source: str | None = None,
                kind: str | None = None, job: str | None = None, seed: int = 0, note: str | None = None) -> int:
    """Accept the judge's verdict on every judge-decided, parsed sample of a queue: one row each, one transaction."""
    reviewer = _check_reviewer(reviewer)
    with store.write() as cursor:
        sql, params = _queue_sql(cursor, filter, source, kind, job, seed, acceptable_only=True)
        rows = cursor.execute(
            f"""
            INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note)
            {sql}
            SELECT gen_random_uuid()::VARCHAR, sample_id, verdict_id, ?, 'accept',
                   json_object('keep', judge_keep, 'winner', judge_winner, 'chosen', chosen, 'rejected', rejected,
                               'bulk', TRUE),
                   ?
            FROM q ORDER BY k, sample_id
            """,
            [*params, reviewer, _clean(note)],
        ).fetchall()
    return int(rows[0][0]) if rows else 0


@dataclass(frozen=True)
class FilterChoices:
    """Values for the queue's dropdowns: sample sources, verdict kinds and job names that have judge verdicts."""

    sources: list[str]
    kinds: list[str]
    jobs: list[str]


def filter_choices(store: Store) -> FilterChoices:
    """Return the sources of all samples and the kinds and jobs of the stored judge verdicts."""
    sources = [row[0] for row in store.query("SELECT DISTINCT source FROM samples ORDER BY source")]
    kinds = [row[0] for row in store.query(f"SELECT DISTINCT kind FROM verdicts WHERE kind IN ({_KINDS}) ORDER BY 1")]
    jobs = [row[0] for row in store.query(
        f"SELECT name FROM jobs WHERE id IN (SELECT job_id FROM verdicts WHERE kind IN ({_KINDS})) "
        "ORDER BY created_at DESC, name")]
    return FilterChoices(sources, kinds, jobs)
