"""Browse the stored samples: filtered pages, search, one sample with its candidates, verdicts and decisions."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import orjson

from blossom_studio import settings
from blossom_studio.store import Store

PAGE_COLUMNS = ("id", "source", "format", "turns", "prompt", "reference", "candidates", "lang", "verdicts")
LANGS = ("zh", "en", "mixed", "other", "code", "unknown", "pending")  # pending: not profiled yet (lang is NULL)
PROFILE_FLAGS = ("lang_mismatch", "traditional")  # flags from the language profile, not from a rules job

# Verdict filters: key -> (label, condition on one verdict row). A sample matches when one of its verdicts does.
VERDICT_FILTERS: dict[str, tuple[str, str]] = {
    "pairwise": ("pairwise: any", "kind = 'pairwise'"),
    "pairwise:A": ("pairwise: A wins", "kind = 'pairwise' AND outcome->>'winner' = 'A'"),
    "pairwise:B": ("pairwise: B wins", "kind = 'pairwise' AND outcome->>'winner' = 'B'"),
    "pairwise:tie": ("pairwise: tie", "kind = 'pairwise' AND outcome->>'winner' = 'tie'"),
    "verify": ("verify: any", "kind = 'verify'"),
    "verify:correct": ("verify: correct", "kind = 'verify' AND outcome->>'correct' = 'true'"),
    "verify:incorrect": ("verify: incorrect", "kind = 'verify' AND outcome->>'correct' = 'false'"),
    "consistency": ("consistency: any", "kind = 'consistency'"),
    "consistency:yes": ("consistency: consistent", "kind = 'consistency' AND outcome->>'consistent' = 'true'"),
    "consistency:no": ("consistency: inconsistent", "kind = 'consistency' AND outcome->>'consistent' = 'false'"),
    "rating": ("rating: any", "kind = 'rating'"),
    "rating:pair": ("rating: preference pair", "kind = 'rating' AND json_type(outcome, '$.pair') = 'OBJECT'"),
    "rating:no_pair": ("rating: no pair", "kind = 'rating' AND coalesce(json_type(outcome, '$.pair'), 'NULL') "
                                          "<> 'OBJECT'"),
    "instruction:keep": ("instruction: keep", "kind = 'instruction' AND outcome->>'keep' = 'true'"),
    "instruction:drop": ("instruction: drop", "kind = 'instruction' AND outcome->>'keep' = 'false'"),
    "quality:flagged": ("quality: flagged", "kind = 'quality' AND json_array_length(outcome, '$.flags') > 0"),
    "quality:clean": ("quality: no flags", "kind = 'quality' AND json_array_length(outcome, '$.flags') = 0"),
    "parse:failed": ("any kind: parse failure", "parse_status = 'failed'"),
    "parse:repaired": ("any kind: repaired parse", "parse_status = 'repaired'"),
}

# Review filters over the effective verdict (blossom_studio.review.effective_sql): key -> (label, condition).
REVIEW_FILTERS: dict[str, tuple[str, str]] = {
    "disagrees": ("reviewer overrode the judge", "e.disagrees"),
    "conflict": ("reviewers disagree with each other", "e.conflict"),
    "human": ("decided by a reviewer", "e.source = 'human'"),
    "judge": ("judge only, not reviewed", "e.source = 'judge'"),
}


class LibraryError(ValueError):
    """A filter the library cannot apply, explained in one line."""


@dataclass
class SamplePage:
    """One page of samples (rows as tuples in PAGE_COLUMNS order) and the number of samples that match."""

    rows: list[tuple[Any, ...]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages that the matching samples fill (at least 1)."""
        return max(1, -(-self.total // self.page_size))


def quality_flags() -> tuple[str, ...]:
    """Return the flag names the Library filters on: the rule filters', `truncated`, and the profile's two."""
    from blossom_studio.synth.filters import FLAG_NAMES

    return (*FLAG_NAMES, "truncated", *PROFILE_FLAGS)


def review_available() -> bool:
    """Return whether the review module (decisions and the effective verdict) is installed."""
    return importlib.util.find_spec("blossom_studio.review") is not None


def _effective_sql() -> str:
    try:
        from blossom_studio.review import effective_sql
    except ImportError as exc:  # the review module is not in this build yet
        raise LibraryError("review filters need blossom_studio.review, which is not installed") from exc
    return effective_sql()


REVIEW_RELATION = "library_review_states"
_review_states: weakref.WeakKeyDictionary[Store, tuple[tuple[int, ...], Any]] = weakref.WeakKeyDictionary()
_review_lock = threading.Lock()


def _review_states_relation(store: Store) -> str:
    """Register on this thread's cursor the review columns of the effective verdicts, and return their name.

    The effective verdict is computed over every verdict and decision (hundreds of milliseconds at a million
    samples), so its few columns are kept in memory and computed again only after verdicts or decisions change.
    """
    cursor = store.read()
    key = cursor.execute("SELECT (SELECT count(*) FROM verdicts), (SELECT count(*) FROM decisions), "
                         "(SELECT coalesce(max(seq), 0) FROM decisions)").fetchall()[0]
    with _review_lock:
        cached = _review_states.get(store)
        if cached is None or cached[0] != key:
            relation = cursor.sql(f"SELECT sample_id, disagrees, conflict, source FROM ({_effective_sql()})")
            cached = (key, relation.to_arrow_table())
            _review_states[store] = cached
    cursor.register(REVIEW_RELATION, cached[1])
    return REVIEW_RELATION


def _folding_pattern(text: str) -> str:
    """An RE2 pattern for the text in any case: [aA] for ASCII letters (RE2's (?i) is several times slower over a
    whole column, as s and k also match ſ and the Kelvin sign), (?i:x) for other cased letters, escaped punctuation."""
    parts = []
    for char in text:
        if char.isascii() and char.isalpha():
            parts.append(f"[{char.lower()}{char.upper()}]")
        elif char.lower() != char.upper():
            parts.append(f"(?i:{char})")
        elif char.isascii() and not char.isalnum() and char != " ":
            parts.append(f"\\{char}")
        else:
            parts.append(char)
    return "".join(parts)


_CASELESS_RUN = re.compile(r"[^\s]{2,}")


def _search(text: str) -> tuple[str, list[Any]]:
    """Literal, case-insensitive search in the messages (as stored: JSON) and the reference answer."""
    in_json = orjson.dumps(text).decode()[1:-1]  # quotes, backslashes and newlines as they are stored in the JSON
    if text.lower() == text.upper():  # nothing to fold (Chinese, digits, punctuation): a plain substring test
        return "(contains(messages, ?) OR contains(coalesce(reference, ''), ?))", [in_json, text]
    clause = "(regexp_matches(messages, ?) OR regexp_matches(coalesce(reference, ''), ?))"
    params: list[Any] = [_folding_pattern(in_json), _folding_pattern(text)]
    caseless = _CASELESS_RUN.findall("".join(c if c.lower() == c.upper() else " " for c in text))
    if caseless:  # a part without letters (Chinese, digits) must occur as it is: test it first, it is much cheaper
        longest = max(caseless, key=len)
        clause = f"((contains(messages, ?) OR contains(coalesce(reference, ''), ?)) AND {clause})"
        params = [orjson.dumps(longest).decode()[1:-1], longest, *params]
    return clause, params


def _where(store: Store, search: str | None, source: str | None, lang: str | None, flag: str | None,
           status: str | None, verdict: str | None, review: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if source:
        clauses.append("source = ?")
        params.append(source)
    if lang == "pending":
        clauses.append("lang IS NULL")
    elif lang:
        clauses.append("lang = ?")
        params.append(lang)
    if flag in PROFILE_FLAGS:
        clauses.append(f"{flag} IS TRUE")
    elif flag:
        clauses.append("id IN (SELECT sample_id FROM verdicts WHERE kind = 'quality' AND contains(outcome, ?))")
        params.append(orjson.dumps(flag).decode())  # the flag as a JSON string: "repetition" with its quotes
    if verdict:
        if verdict not in VERDICT_FILTERS:
            raise LibraryError(f"unknown verdict filter {verdict!r}; use one of {', '.join(VERDICT_FILTERS)}")
        clauses.append(f"id IN (SELECT sample_id FROM verdicts WHERE {VERDICT_FILTERS[verdict][1]})")
    if review:
        if review not in REVIEW_FILTERS:
            raise LibraryError(f"unknown review filter {review!r}; use one of {', '.join(REVIEW_FILTERS)}")
        relation = _review_states_relation(store)
        clauses.append(f"id IN (SELECT e.sample_id FROM {relation} AS e WHERE {REVIEW_FILTERS[review][1]})")
    if search and search.strip():
        clause, values = _search(search.strip())
        clauses.append(clause)
        params += values
    return " AND ".join(clauses) or "true", params


def page_samples(store: Store, *, page: int = 1, page_size: int = 50, search: str | None = None,
                 source: str | None = None, lang: str | None = None, flag: str | None = None,
                 status: str | None = "active", verdict: str | None = None,
                 review: str | None = None) -> SamplePage:
    """Return one page of the samples that match the search text (Chinese or English, any case) and every filter.

    `lang` is a profile language or "pending"; `flag` a rule-filter flag or lang_mismatch/traditional; `status` None
    for any; `verdict` a key of VERDICT_FILTERS and `review` one of REVIEW_FILTERS. Pages past the last show the last.
    """
    where, params = _where(store, search, source, lang, flag, status, verdict, review)
    page = max(1, page)
    rowids, total = _page_rowids(store, where, params, page, page_size)
    if total is None:  # the page is past the last one: count, then show the last page
        total = store.read().execute(f"SELECT count(*) FROM samples WHERE {where}", params).fetchall()[0][0]
        page = max(1, -(-total // page_size))
        rowids, _ = _page_rowids(store, where, params, page, page_size)
    return SamplePage(rows=_page_rows(store, rowids), total=total, page=page, page_size=page_size)


def _page_rowids(store: Store, where: str, params: list[Any], page: int,
                 page_size: int) -> tuple[list[int], int | None]:
    """One evaluation of the filters (their verdict semi-joins and text scans run once) gives the page's row ids and
    the number of matches; None for the number when the page is empty but not the first."""
    found = store.read().execute(
        f"WITH matched AS MATERIALIZED (SELECT rowid AS rid FROM samples WHERE {where}) "
        "SELECT rid, (SELECT count(*) FROM matched) FROM matched ORDER BY rid LIMIT ? OFFSET ?",
        [*params, page_size, (page - 1) * page_size]).fetchall()
    if not found:
        return [], (0 if page == 1 else None)
    return [row[0] for row in found], found[0][1]


def _page_rows(store: Store, rowids: list[int]) -> list[tuple[Any, ...]]:
    """The page's columns, read for its rows alone (the row range lets DuckDB skip the other row groups)."""
    if not rowids:
        return []
    cursor = store.read()
    rows = cursor.execute(
        """
        SELECT id, source, format, turns,
               left((SELECT m->>'content' FROM unnest(CAST(messages AS JSON[])) AS t(m)
                     WHERE m->>'role' = 'user' LIMIT 1), 160) AS prompt,
               left(reference, 80) AS reference, coalesce(lang, 'pending') AS lang
        FROM samples WHERE rowid BETWEEN ? AND ? AND rowid = ANY(?::BIGINT[]) ORDER BY rowid
        """, [min(rowids), max(rowids), rowids]).fetchall()
    ids = [row[0] for row in rows]
    counts = "SELECT sample_id, count(*) FROM {} WHERE sample_id = ANY(?::VARCHAR[]) GROUP BY ALL"
    candidates = dict(cursor.execute(counts.format("candidates"), [ids]).fetchall())
    verdicts = dict(cursor.execute(counts.format("verdicts"), [ids]).fetchall())
    return [(*row[:6], candidates.get(row[0], 0), row[6], verdicts.get(row[0], 0)) for row in rows]


def get_sample(store: Store, sample_id: str) -> dict[str, Any] | None:
    """Return a sample with its messages, metadata, reference, profile summary and candidates, or None."""
    cursor = store.read()
    names = ("id", "source", "source_id", "format", "messages", "metadata", "reference", "import_id", "row_number",
             "status", "lang", "prompt_lang", "response_lang", "lang_mismatch", "traditional")
    rows = cursor.execute(f"SELECT {', '.join(names)} FROM samples WHERE id = ?", [sample_id]).fetchall()
    if not rows:
        return None
    sample = dict(zip(names, rows[0], strict=True))
    sample["messages"] = orjson.loads(sample["messages"])
    sample["metadata"] = orjson.loads(sample["metadata"])
    candidates = cursor.execute(
        "SELECT id, model, label, message, extra, origin FROM candidates WHERE sample_id = ? ORDER BY position",
        [sample_id]).fetchall()
    sample["candidates"] = [
        {"id": c[0], "model": c[1], "label": c[2], "message": orjson.loads(c[3]),
         "extra": orjson.loads(c[4]) if c[4] else None, "origin": c[5]}
        for c in candidates
    ]
    return sample


def sample_verdicts(store: Store, sample_id: str) -> list[dict[str, Any]]:
    """Return a sample's verdicts, oldest first: kind, judge, job, candidates shown, outcome, parse status, reason."""
    rows = store.query(
        "SELECT v.id, v.kind, v.judge, j.name, v.candidates_shown, v.outcome, v.parse_status, v.rationale, "
        "v.created_at FROM verdicts v LEFT JOIN jobs j ON j.id = v.job_id WHERE v.sample_id = ? "
        "ORDER BY v.created_at, v.id", [sample_id])
    return [{"id": row[0], "kind": row[1], "judge": row[2], "job": row[3], "candidates": orjson.loads(row[4]),
             "outcome": orjson.loads(row[5]) if row[5] else None, "parse_status": row[6], "rationale": row[7],
             "created_at": row[8]} for row in rows]


def sample_decisions(store: Store, sample_id: str) -> list[dict[str, Any]]:
    """Return a sample's review decisions in the order they were made: reviewer, action, what it did, payload, note,
    time, and whether a later undo cancels it (read from the decisions table while the review module is missing)."""
    if review_available():
        from blossom_studio import review

        return [{"id": d.id, "verdict_id": d.verdict_id, "reviewer": d.reviewer, "action": d.action,
                 "description": review.describe(d), "payload": d.payload, "note": d.note, "created_at": d.created_at,
                 "undone": d.undone} for d in review.history(store, sample_id)]
    rows = store.query(
        "SELECT id, verdict_id, reviewer, action, payload, note, created_at FROM decisions WHERE sample_id = ? "
        "ORDER BY seq", [sample_id])
    return [{"id": row[0], "verdict_id": row[1], "reviewer": row[2], "action": row[3], "description": row[3],
             "payload": orjson.loads(row[4]) if row[4] else None, "note": row[5], "created_at": row[6],
             "undone": False} for row in rows]


def effective_verdict(store: Store, sample_id: str) -> dict[str, Any] | None:
    """Return the sample's effective verdict as a dict of review.effective_sql()'s columns (its latest decision, else
    its judge verdict), or None without either or while the review module is missing."""
    if not review_available():
        return None
    from blossom_studio import review

    found = review.effective(store, sample_id)
    return dataclasses.asdict(found) if found is not None else None


def sources(store: Store) -> list[str]:
    """Return the distinct source names, sorted."""
    return [row[0] for row in store.query("SELECT DISTINCT source FROM samples ORDER BY source")]


def statuses(store: Store) -> list[str]:
    """Return the distinct sample statuses, sorted ('active' unless something set another)."""
    return [row[0] for row in store.query("SELECT DISTINCT status FROM samples ORDER BY status")]


def ensure_sample_data(store: Store) -> list[Any]:
    """Import the bundled sample in data/sample when the database has never imported anything."""
    from blossom_studio.ingest import import_files

    if store.query("SELECT count(*) FROM imports")[0][0] or store.query("SELECT count(*) FROM samples")[0][0]:
        return []
    files = sorted(settings.SAMPLE_DIR.glob("*.jsonl"))
    return import_files(store, files) if files else []
