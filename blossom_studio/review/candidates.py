"""Answers under review: candidates and a sample's own final reply, current revisions and the lettered slots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from blossom_studio.review.base import LETTERS, Cursor, ReviewError
from blossom_studio.review.decisions import Decision, _history
from blossom_studio.review.effective_verdict import _KINDS
from blossom_studio.store import Store


@dataclass(frozen=True)
class Candidate:
    """An answer as review shows it: a candidates row, or a sample's own final reply (id `SAMPLE/original`)."""

    id: str
    sample_id: str
    model: str | None
    label: str | None
    position: int
    message: dict[str, Any]
    origin: str
    original: str
    """The first id of the revision chain (the candidate's own id when it is not a revision)."""
    revision_of: str | None = None
    editor: str | None = None
    job_id: str | None = None

    @property
    def text(self) -> str:
        """The answer's text (content parts joined)."""
        content = self.message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(str(part.get("text") or part.get("value") or "") if isinstance(part, dict) else str(part)
                           for part in content)
        return "" if content is None else str(content)


@dataclass(frozen=True)
class Slot:
    """A lettered answer under review: A-D in the order of the judge verdict's candidates."""

    letter: str
    candidate: Candidate


_CANDIDATE_COLUMNS = "id, sample_id, model, label, position, message, origin, extra, job_id"


def _candidate(row: tuple[Any, ...]) -> Candidate:
    cid, sample_id, model, label, position, message, origin, extra, job_id = row
    extra = orjson.loads(extra) if extra else {}
    extra = extra if isinstance(extra, dict) else {}
    return Candidate(cid, sample_id, model, label, position, orjson.loads(message), origin,
                     extra.get("original") or cid, extra.get("revision_of"), extra.get("editor"), job_id)


def _sample_rows(cursor: Cursor, sample_id: str) -> list[Candidate]:
    rows = cursor.execute(
        f"SELECT {_CANDIDATE_COLUMNS} FROM candidates WHERE sample_id = ? ORDER BY position, created_at", [sample_id]
    ).fetchall()
    return [_candidate(row) for row in rows]


def _current_map(decisions: list[Decision]) -> dict[str, str]:
    """Map every id of an edited chain (its root and revisions) to the chain's current revision."""
    chains: dict[str, list[str]] = {}
    current: dict[str, str] = {}
    for decision in decisions:
        if decision.action != "edit" or not decision.payload:
            continue
        root, rev = decision.payload["original"], decision.payload["candidate_id"]
        chains.setdefault(root, []).append(rev)
        current.setdefault(root, root)
        if not decision.undone:
            current[root] = rev
    mapping = dict(current)
    for root, revs in chains.items():
        mapping.update(dict.fromkeys(revs, current[root]))
    return mapping


def _original_answer(cursor: Cursor, sample_id: str) -> Candidate | None:
    rows = cursor.execute("SELECT messages FROM samples WHERE id = ?", [sample_id]).fetchall()
    if not rows:
        return None
    messages = orjson.loads(rows[0][0])
    if messages and messages[-1].get("role") == "assistant":
        cid = f"{sample_id}/original"
        return Candidate(cid, sample_id, None, "original", -1, messages[-1], "sample", cid)
    return None


def _current(cursor: Cursor, sample_id: str, decisions: list[Decision]) -> list[Candidate]:
    mapping = _current_map(decisions)
    return [c for c in _sample_rows(cursor, sample_id) if mapping.get(c.original, c.original) == c.id]


def current_candidates(store: Store, sample_id: str) -> list[Candidate]:
    """Return the sample's candidates that no live edit supersedes (each chain's latest live revision), by position."""
    cursor = store.read()
    return _current(cursor, sample_id, _history(cursor, sample_id))


def _latest_verdict(cursor: Cursor, sample_id: str) -> tuple[str, list[str]] | None:
    rows = cursor.execute(
        f"SELECT id, candidate_ids FROM (SELECT rowid AS rid, id, candidate_ids, created_at FROM verdicts "
        f"WHERE sample_id = ? AND kind IN ({_KINDS})) ORDER BY created_at DESC, rid DESC LIMIT 1",
        [sample_id],
    ).fetchall()
    return (rows[0][0], orjson.loads(rows[0][1])) if rows else None


def _slots(cursor: Cursor, sample_id: str, decisions: list[Decision], verdict_id: str | None = None) -> list[Slot]:
    if verdict_id is not None:
        rows = cursor.execute(
            "SELECT id, candidate_ids FROM verdicts WHERE id = ? AND sample_id = ?", [verdict_id, sample_id]
        ).fetchall()
        if not rows:
            raise ReviewError(f"sample {sample_id!r} has no verdict {verdict_id!r}")
        verdict: tuple[str, list[str]] | None = (rows[0][0], orjson.loads(rows[0][1]))
    else:
        verdict = _latest_verdict(cursor, sample_id)
    mapping = _current_map(decisions)
    by_id = {c.id: c for c in _sample_rows(cursor, sample_id)}
    if verdict is None:
        current = [c for c in by_id.values() if mapping.get(c.original, c.original) == c.id]
        return [Slot(letter, candidate) for letter, candidate in zip(LETTERS, current, strict=False)]
    slots = []
    for letter, cid in zip(LETTERS, verdict[1], strict=False):  # letters stay those of the verdict's order
        latest = mapping.get(cid, cid)
        found = by_id.get(latest)
        if found is None and latest.endswith("/original"):
            found = _original_answer(cursor, sample_id)
        if found is not None:
            slots.append(Slot(letter, found))
    return slots


def review_slots(store: Store, sample_id: str, verdict_id: str | None = None) -> list[Slot]:
    """Return the lettered answers under review (current revisions of the verdict's candidates, at most four)."""
    cursor = store.read()
    return _slots(cursor, sample_id, _history(cursor, sample_id), verdict_id)
