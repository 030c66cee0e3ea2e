"""Writing decisions: decide, add a note, edit an answer as a new revision, and undo; each appends one row."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from blossom_studio.review.base import DECIDING, JUDGE_KINDS, Cursor, ReviewError
from blossom_studio.review.candidates import (
    _CANDIDATE_COLUMNS,
    Slot,
    _candidate,
    _latest_verdict,
    _original_answer,
    _slots,
)
from blossom_studio.review.decisions import (
    _DECISION_COLUMNS,
    Decision,
    _check_reviewer,
    _check_sample,
    _decision,
    _history,
    _insert_decision,
)
from blossom_studio.review.effective_verdict import _verdict_values
from blossom_studio.store import Store


def _judge_snapshot(cursor: Cursor, verdict_id: str) -> dict[str, Any]:
    rows = cursor.execute(
        "SELECT kind, parse_status, judge_keep, judge_winner, judge_chosen, judge_rejected "
        f"FROM ({_verdict_values('AND id = ?')})", [verdict_id]
    ).fetchall()
    if not rows:
        raise ReviewError(f"verdict {verdict_id!r} is not a judge verdict ({', '.join(JUDGE_KINDS)})")
    kind, status, keep, winner, chosen, rejected = rows[0]
    if keep is None:
        raise ReviewError(
            f"there is no judge verdict to accept: the {kind} verdict's parse status is {status}; "
            "choose, tie, both bad or reject instead"
        )
    return {"keep": keep, "winner": winner, "chosen": chosen, "rejected": rejected}


def _choice(slots: list[Slot], winner: str, judge: dict[str, Any] | None) -> dict[str, Any]:
    letters = [slot.letter for slot in slots]
    label = str(winner).strip().upper()
    if label not in letters:
        shown = ", ".join(letters) or "none"
        raise ReviewError(f"winner {winner!r} is not one of this sample's answers ({shown})")
    chosen = slots[letters.index(label)].candidate.id
    others = [slot.candidate.id for slot in slots if slot.letter != label]
    rejected = others[0] if len(others) == 1 else None
    if rejected is None and others and judge:
        # With three or four answers, the judge's lowest pick among the others makes the pair.
        for candidate in (judge.get("rejected"), judge.get("chosen")):
            if candidate in others:
                rejected = candidate
                break
    return {"keep": True, "winner": label, "chosen": chosen, "rejected": rejected}


def decide(store: Store, sample_id: str, action: str, *, reviewer: str, verdict_id: str | None = None,
           winner: str | None = None, note: str | None = None) -> Decision:
    """Record a deciding action (accept, choose, tie, both_bad, reject) on a sample and return the new row."""
    reviewer = _check_reviewer(reviewer)
    if action not in DECIDING:
        hint = {"edit": "edit_answer()", "note": "add_note()", "undo": "undo_last()"}.get(action)
        if hint:
            raise ReviewError(f"{action} is not a deciding action; use {hint}")
        raise ReviewError(f"unknown action {action!r}; actions are {', '.join(DECIDING)}")
    if winner is not None and action != "choose":
        raise ReviewError(f"a winner goes with choose, not with {action}")
    if action == "choose" and not winner:
        raise ReviewError("choose needs a winner letter such as A or B")
    with store.write() as cursor:
        _check_sample(cursor, sample_id)
        decisions = _history(cursor, sample_id)
        if verdict_id is None:
            latest = _latest_verdict(cursor, sample_id)
            verdict_id = latest[0] if latest else None
        slots = _slots(cursor, sample_id, decisions, verdict_id)
        judge = None
        if verdict_id is not None and action in ("accept", "choose"):
            try:
                judge = _judge_snapshot(cursor, verdict_id)
            except ReviewError:
                if action == "accept":
                    raise
        if action == "accept":
            if judge is None:
                raise ReviewError(f"sample {sample_id!r} has no judge verdict to accept; choose, tie or reject it")
            payload: dict[str, Any] = judge
        elif action == "choose":
            payload = _choice(slots, str(winner), judge)
        elif action == "tie":
            if len(slots) < 2:
                raise ReviewError("a tie needs at least two answers; accept, choose or reject instead")
            payload = {"keep": True, "winner": "tie", "chosen": None, "rejected": None}
        else:
            payload = {"keep": False, "winner": None, "chosen": None, "rejected": None}
        return _insert_decision(cursor, sample_id, verdict_id, reviewer, action, payload, _clean(note))


def _clean(note: str | None) -> str | None:
    return note.strip() if note and note.strip() else None


def add_note(store: Store, sample_id: str, note: str, *, reviewer: str) -> Decision:
    """Append a note on a sample to its audit trail."""
    reviewer = _check_reviewer(reviewer)
    text = _clean(note)
    if text is None:
        raise ReviewError("the note is empty")
    with store.write() as cursor:
        _check_sample(cursor, sample_id)
        latest = _latest_verdict(cursor, sample_id)
        return _insert_decision(cursor, sample_id, latest[0] if latest else None, reviewer, "note", None, text)


def edit_answer(store: Store, candidate_id: str, text: str, *, reviewer: str, note: str | None = None) -> Decision:
    """Save a new revision of an answer (a candidates row with origin 'edit'; the edited row stays) and log it."""
    reviewer = _check_reviewer(reviewer)
    if not isinstance(text, str) or not text.strip():
        raise ReviewError("the edited answer is empty; reject the sample instead")
    with store.write() as cursor:
        rows = cursor.execute(
            f"SELECT {_CANDIDATE_COLUMNS}, finish_reason, call_key FROM candidates WHERE id = ?", [candidate_id]
        ).fetchall()
        found = _candidate(rows[0][:-2]) if rows else None
        finish_reason, call_key = rows[0][-2:] if rows else (None, None)
        if found is None and candidate_id.endswith("/original"):
            found = _original_answer(cursor, candidate_id.removesuffix("/original"))
        if found is None:
            raise ReviewError(f"no answer with id {candidate_id!r}")
        old = found
        if text == old.text:
            raise ReviewError("the answer is unchanged; nothing to save")
        new_id = f"{old.original}~{uuid.uuid4().hex[:12]}"
        message = {**old.message, "content": text}
        extra = {"revision_of": old.id, "editor": reviewer, "original": old.original}
        cursor.execute(
            "INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, finish_reason, "
            "call_key, origin, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'edit', ?)",
            [new_id, old.sample_id, old.job_id, old.model, old.label, old.position, orjson.dumps(message).decode(),
             finish_reason, call_key, orjson.dumps(extra).decode()],
        )
        latest = _latest_verdict(cursor, old.sample_id)
        payload = {"candidate_id": new_id, "revision_of": old.id, "original": old.original}
        return _insert_decision(cursor, old.sample_id, latest[0] if latest else None, reviewer, "edit", payload,
                                _clean(note))


def undo_last(store: Store, *, reviewer: str) -> Decision | None:
    """Undo the reviewer's latest live decision (of any action but undo) by appending an undo row; None if none."""
    reviewer = _check_reviewer(reviewer)
    with store.write() as cursor:
        rows = cursor.execute(
            f"""
            SELECT {_DECISION_COLUMNS} FROM decisions d
            WHERE d.reviewer = ? AND d.action <> 'undo' AND NOT EXISTS (
                SELECT 1 FROM decisions u WHERE u.action = 'undo' AND u.payload->>'undoes' = d.id)
            ORDER BY d.seq DESC LIMIT 1
            """,
            [reviewer],
        ).fetchall()
        if not rows:
            return None
        target = _decision(rows[0])
        return _insert_decision(cursor, target.sample_id, target.verdict_id, reviewer, "undo",
                                {"undoes": target.id, "action": target.action}, None)
