"""Human review: append-only decisions, answer revisions, the effective verdict, review queues and agreement.

Decisions are rows of the `decisions` table that are never updated or deleted. Actions:

- deciding: ``accept`` (agree with the judge), ``choose`` (a winner letter), ``tie``, ``both_bad``, ``reject`` (the
  whole sample). Their payload is a snapshot ``{"keep", "winner", "chosen", "rejected"}``: ``choose`` adds the
  letter and the candidate ids, ``accept`` copies the judge's values at the time (``"bulk": true`` for bulk accepts).
- ``edit``: payload ``{"candidate_id": new revision, "revision_of": edited id, "original": first id of the chain}``;
  the revision is a new `candidates` row with origin ``edit`` (the edited row stays).
- ``note``: the text is in ``note``.
- ``undo``: payload ``{"undoes": decision id, "action": its action}``; an undone decision no longer counts. Undo
  rows are not undone themselves.

Letters: a sample's answers under review ("slots") are the candidates of its latest judge verdict in the order the
verdict lists them (else its current candidates by position), at most four, lettered A-D; pairwise winners "A"/"B"
and the letters of rating pairs and of human choices all refer to these slots. A candidate's current revision is the
latest live edit of its chain, and effective chosen/rejected ids are always mapped to current revisions.

`effective_sql()` is the contract other modules compose (Library filters, export). It is one SELECT with one row
per sample that has a judge verdict (kinds pairwise, rating, verify, consistency, instruction: the sample's latest
such verdict) or a live deciding decision, with exactly these columns:

====================  ================================================================================
sample_id             the sample
verdict_id, kind,     the latest judge verdict (NULL when the sample only has decisions)
judge, parse_status
judge_keep BOOLEAN    NULL when the parse failed; pairwise/rating TRUE; verify `correct`, consistency `consistent`,
                      instruction `keep`
judge_winner VARCHAR  pairwise "A"/"B"/"tie"; rating: letter of the chosen answer, "tie" when no answer is rated
                      far enough below the best, NULL with fewer than two numeric ratings; NULL for other kinds
decision_id, action,  the latest live deciding decision (NULL when none)
reviewer
human_keep BOOLEAN    accept: the judge's keep; choose/tie: TRUE; both_bad/reject: FALSE
human_winner VARCHAR  accept: the judge's winner; choose: the letter; tie: "tie"; both_bad/reject: NULL
keep, winner          human values when a human decided, else the judge's
chosen, rejected      effective candidate ids (current revisions): choose/accept from the payload, judge: pairwise
                      and rating pairs, verify/instruction's answer when kept; ties, consistency (either answer
                      will do), both_bad and reject have none
source                'human' or 'judge'
disagrees BOOLEAN     a human decided and differs from a parsed judge verdict: accept agrees; choose agrees iff
                      the same winner (verify/consistency/instruction: iff the judge kept the sample); tie agrees iff
                      the judge said tie; both_bad/reject agree iff judge_keep is false
conflict BOOLEAN      the latest live deciding decisions of two reviewers differ in (keep, winner); latest wins
====================  ================================================================================
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb
import orjson

from blossom_studio.store import Store

JUDGE_KINDS = ("pairwise", "rating", "verify", "consistency", "instruction")
DECIDING = ("accept", "choose", "tie", "both_bad", "reject")
ACTIONS = (*DECIDING, "edit", "note", "undo")
LETTERS = ("A", "B", "C", "D")
FILTERS = ("pending", "all", "ties", "split", "parse_failures", "low_margin", "disagreement", "conflicts", "audit")
LOW_MARGIN = 1.0
"""A rating pair whose chosen and rejected means differ by at most this much (the default minimum) is low-margin."""

Cursor = duckdb.DuckDBPyConnection


class ReviewError(ValueError):
    """A review request that cannot be carried out; the message says why and what to do instead."""


# --- the effective verdict -------------------------------------------------------------------------------------------

_KINDS = ", ".join(f"'{kind}'" for kind in JUDGE_KINDS)
_DECIDING = ", ".join(f"'{action}'" for action in DECIDING)
_PATHS = ("winner", "chosen", "rejected", "correct", "consistent", "keep", "pair.chosen", "pair.rejected", "split",
          "pair.margin")
_O = {path: f"o[{index}]" for index, path in enumerate(_PATHS, start=1)}


def _verdict_values(where: str) -> str:
    """Return a SELECT of judge verdicts with their judge values, parsing each outcome once."""
    keep = {"verify": "correct", "consistency": "consistent", "instruction": "keep"}
    keep_cases = " ".join(f"WHEN kind = '{kind}' THEN TRY_CAST({_O[path]} AS BOOLEAN)" for kind, path in keep.items())
    paths = ", ".join(f"'$.{path}'" for path in _PATHS)
    return f"""
    SELECT rid, id, sample_id, job_id, kind, judge, parse_status, created_at,
        CASE WHEN o IS NULL THEN NULL {keep_cases} ELSE TRUE END AS judge_keep,
        CASE WHEN o IS NULL THEN NULL
             WHEN kind = 'pairwise' THEN {_O["winner"]}
             WHEN kind = 'rating' AND {_O["pair.chosen"]} IS NOT NULL
                 THEN chr(64 + list_position(json_extract_string(candidate_ids, '$[*]'), {_O["pair.chosen"]})::INTEGER)
             WHEN kind = 'rating'
                  AND len(list_filter(json_extract(outcome, '$.mean.*'), lambda x: json_type(x) <> 'NULL')) >= 2
                 THEN 'tie'
             END AS judge_winner,
        CASE WHEN o IS NULL THEN NULL
             WHEN kind = 'pairwise' THEN {_O["chosen"]}
             WHEN kind = 'rating' THEN {_O["pair.chosen"]}
             WHEN kind = 'verify' AND TRY_CAST({_O["correct"]} AS BOOLEAN) THEN candidate_ids->>'$[0]'
             WHEN kind = 'instruction' AND TRY_CAST({_O["keep"]} AS BOOLEAN) THEN candidate_ids->>'$[0]'
             END AS judge_chosen,
        CASE WHEN o IS NULL THEN NULL
             WHEN kind = 'pairwise' THEN {_O["rejected"]}
             WHEN kind = 'rating' THEN {_O["pair.rejected"]}
             END AS judge_rejected,
        coalesce(TRY_CAST({_O["split"]} AS BOOLEAN), FALSE) AS split,
        TRY_CAST({_O["pair.margin"]} AS DOUBLE) AS margin
    FROM (
        SELECT rowid AS rid, id, sample_id, job_id, kind, judge, parse_status, created_at, candidate_ids, outcome,
               CASE WHEN parse_status <> 'failed' AND outcome IS NOT NULL
                    THEN json_extract_string(outcome, [{paths}]) END AS o
        FROM verdicts WHERE kind IN ({_KINDS}) {where}
    )"""


def _build_effective(one_sample: bool, wide: bool = False) -> str:
    sample = "AND sample_id = ?" if one_sample else ""
    d_sample = sample.replace("sample_id", "d.sample_id")
    extra = ", r.job_id, r.split, r.margin" if wide else ""
    return f"""
WITH judged AS (
    SELECT * FROM ({_verdict_values(sample)})
    QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY created_at DESC, rid DESC) = 1
),
undone AS (
    SELECT DISTINCT payload->>'undoes' AS id FROM decisions WHERE action = 'undo' {sample}
),
live AS (
    SELECT d.seq, d.id, d.sample_id, d.reviewer, d.action,
           json_extract_string(d.payload, ['$.keep', '$.winner', '$.chosen', '$.rejected']) AS p
    FROM decisions d
    WHERE d.action IN ({_DECIDING}) {d_sample} AND NOT EXISTS (SELECT 1 FROM undone u WHERE u.id = d.id)
),
positions AS (
    SELECT sample_id, reviewer, max_by(concat_ws('|', coalesce(p[1], '-'), coalesce(p[2], '-')), seq) AS position
    FROM live GROUP BY sample_id, reviewer
),
conflicts AS (
    SELECT sample_id FROM positions GROUP BY sample_id HAVING count(DISTINCT position) > 1
),
human AS (
    SELECT sample_id, max_by(id, seq) AS decision_id, max_by(action, seq) AS action,
           max_by(reviewer, seq) AS reviewer, TRY_CAST(max_by(p[1], seq) AS BOOLEAN) AS human_keep,
           max_by(p[2], seq) AS human_winner, max_by(p[3], seq) AS human_chosen, max_by(p[4], seq) AS human_rejected
    FROM live GROUP BY sample_id
),
edits AS (
    SELECT d.seq, d.payload->>'candidate_id' AS rev, d.payload->>'original' AS root,
           NOT EXISTS (SELECT 1 FROM undone u WHERE u.id = d.id) AS live
    FROM decisions d WHERE d.action = 'edit' {d_sample}
),
current_rev AS (
    SELECT root, coalesce(max_by(rev, seq) FILTER (WHERE live), root) AS cur FROM edits GROUP BY root
),
revmap AS (
    SELECT root AS cid, cur FROM current_rev
    UNION ALL SELECT e.rev AS cid, c.cur FROM edits e JOIN current_rev c ON c.root = e.root
),
merged AS (
    SELECT coalesce(j.sample_id, h.sample_id) AS sample_id, j.id AS verdict_id, j.kind, j.judge, j.parse_status,
           j.judge_keep, j.judge_winner, h.decision_id, h.action, h.reviewer, h.human_keep, h.human_winner,
           h.sample_id IS NOT NULL AS decided, j.judge_chosen, j.judge_rejected, h.human_chosen, h.human_rejected,
           c.sample_id IS NOT NULL AS conflict, j.job_id, j.split, j.margin
    FROM judged j
    FULL OUTER JOIN human h ON h.sample_id = j.sample_id
    LEFT JOIN conflicts c ON c.sample_id = h.sample_id
),
resolved AS (
    SELECT *,
           CASE WHEN decided THEN human_keep ELSE judge_keep END AS keep,
           CASE WHEN decided THEN human_winner ELSE judge_winner END AS winner,
           CASE WHEN decided THEN human_chosen ELSE judge_chosen END AS chosen_id,
           CASE WHEN decided THEN human_rejected ELSE judge_rejected END AS rejected_id,
           CASE WHEN NOT decided OR judge_keep IS NULL OR action = 'accept' THEN FALSE
                WHEN action = 'choose' THEN NOT coalesce(judge_winner = human_winner
                    OR (kind NOT IN ('pairwise', 'rating') AND judge_keep), FALSE)
                WHEN action = 'tie' THEN NOT coalesce(judge_winner = 'tie', FALSE)
                ELSE judge_keep END AS disagrees
    FROM merged
)
SELECT r.sample_id, r.verdict_id, r.kind, r.judge, r.parse_status, r.judge_keep, r.judge_winner,
       r.decision_id, r.action, r.reviewer, r.human_keep, r.human_winner, r.keep, r.winner,
       coalesce(mc.cur, r.chosen_id) AS chosen, coalesce(mr.cur, r.rejected_id) AS rejected,
       CASE WHEN r.decided THEN 'human' ELSE 'judge' END AS source, r.disagrees, r.conflict{extra}
FROM resolved r
LEFT JOIN revmap mc ON mc.cid = r.chosen_id
LEFT JOIN revmap mr ON mr.cid = r.rejected_id
"""


_EFFECTIVE_SQL = _build_effective(one_sample=False)
_EFFECTIVE_WIDE_SQL = _build_effective(one_sample=False, wide=True)
_EFFECTIVE_ONE_SQL = _build_effective(one_sample=True)
_EFFECTIVE_ONE_PARAMS = _EFFECTIVE_ONE_SQL.count("?")
EFFECTIVE_COLUMNS = (
    "sample_id", "verdict_id", "kind", "judge", "parse_status", "judge_keep", "judge_winner", "decision_id",
    "action", "reviewer", "human_keep", "human_winner", "keep", "winner", "chosen", "rejected", "source",
    "disagrees", "conflict",
)


def effective_sql() -> str:
    """Return the SELECT of effective verdicts (one row per judged or decided sample; columns in the docstring)."""
    return _EFFECTIVE_SQL


@dataclass(frozen=True)
class Effective:
    """One row of `effective_sql()`: the judge's verdict, the latest human decision, and what counts."""

    sample_id: str
    verdict_id: str | None
    kind: str | None
    judge: str | None
    parse_status: str | None
    judge_keep: bool | None
    judge_winner: str | None
    decision_id: str | None
    action: str | None
    reviewer: str | None
    human_keep: bool | None
    human_winner: str | None
    keep: bool | None
    winner: str | None
    chosen: str | None
    rejected: str | None
    source: str
    disagrees: bool
    conflict: bool


def _effective(cursor: Cursor, sample_id: str) -> Effective | None:
    rows = cursor.execute(_EFFECTIVE_ONE_SQL, [sample_id] * _EFFECTIVE_ONE_PARAMS).fetchall()
    return Effective(*rows[0]) if rows else None


def effective(store: Store, sample_id: str) -> Effective | None:
    """Return the effective verdict of one sample, or None when it has neither a judge verdict nor a decision."""
    return _effective(store.read(), sample_id)


# --- decisions -------------------------------------------------------------------------------------------------------

_DECISION_COLUMNS = "seq, id, sample_id, verdict_id, reviewer, action, payload, note, created_at"


@dataclass(frozen=True)
class Decision:
    """One row of the append-only decisions table; `undone` tells whether a later undo row cancels it."""

    seq: int
    id: str
    sample_id: str
    verdict_id: str | None
    reviewer: str
    action: str
    payload: dict[str, Any] | None
    note: str | None
    created_at: datetime
    undone: bool = False

    @property
    def deciding(self) -> bool:
        """True for accept, choose, tie, both_bad and reject."""
        return self.action in DECIDING


def _decision(row: tuple[Any, ...], undone: bool = False) -> Decision:
    seq, decision_id, sample_id, verdict_id, reviewer, action, payload, note, created_at = row
    loaded = orjson.loads(payload) if payload else None
    return Decision(seq, decision_id, sample_id, verdict_id, reviewer, action, loaded, note, created_at, undone)


def describe(decision: Decision) -> str:
    """Return a short English phrase for a decision, such as "chose A" or "rejected the sample"."""
    payload = decision.payload or {}
    winner = payload.get("winner")
    phrases = {
        "accept": f"accepted the judge ({winner})" if winner else "accepted the judge",
        "choose": f"chose {payload.get('winner')}",
        "tie": "called a tie",
        "both_bad": "marked both answers bad",
        "reject": "rejected the sample",
        "edit": f"edited {payload.get('revision_of')}",
        "note": "added a note",
        "undo": f"undid a decision ({str(payload.get('action', '?')).replace('_', ' ')})",
    }
    return phrases.get(decision.action, decision.action)


def _history(cursor: Cursor, sample_id: str) -> list[Decision]:
    rows = cursor.execute(
        f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE sample_id = ? ORDER BY seq", [sample_id]
    ).fetchall()
    decisions = [_decision(row) for row in rows]
    undone = {d.payload.get("undoes") for d in decisions if d.action == "undo" and d.payload}
    return [replace(d, undone=True) if d.id in undone else d for d in decisions]


def history(store: Store, sample_id: str) -> list[Decision]:
    """Return every decision on a sample, oldest first, each flagged when a later undo cancels it."""
    return _history(store.read(), sample_id)


def reviewer_positions(decisions: list[Decision]) -> list[Decision]:
    """Return each reviewer's latest live deciding decision from a sample's history, oldest first."""
    latest: dict[str, Decision] = {}
    for decision in decisions:
        if decision.deciding and not decision.undone:
            latest[decision.reviewer] = decision
    return sorted(latest.values(), key=lambda d: d.seq)


def _insert_decision(cursor: Cursor, sample_id: str, verdict_id: str | None, reviewer: str, action: str,
                     payload: dict[str, Any] | None, note: str | None) -> Decision:
    decision_id = str(uuid.uuid4())
    rows = cursor.execute(
        "INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_DECISION_COLUMNS}",
        [decision_id, sample_id, verdict_id, reviewer, action,
         orjson.dumps(payload).decode() if payload is not None else None, note],
    ).fetchall()
    return _decision(rows[0])


def _check_reviewer(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ReviewError("a decision needs a reviewer name")
    return reviewer.strip()


def _check_sample(cursor: Cursor, sample_id: str) -> None:
    if not cursor.execute("SELECT 1 FROM samples WHERE id = ? LIMIT 1", [sample_id]).fetchall():
        raise ReviewError(f"no sample with id {sample_id!r}")


# --- candidates, revisions and slots ---------------------------------------------------------------------------------


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


# --- writing decisions -----------------------------------------------------------------------------------------------


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


# --- review queues ---------------------------------------------------------------------------------------------------


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
               seed: int, acceptable_only: bool = False) -> tuple[str, list[Any]]:
    """Return `WITH ... , q AS (SELECT sample_id, k ...)` for a queue and its parameters."""
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
    sql = (f"WITH eff AS ({_EFFECTIVE_WIDE_SQL}), q AS (SELECT e.*, {key} AS k FROM eff e "
           f"WHERE {' AND '.join(f'({c})' for c in clauses)})")
    return sql, key_params + params


def queue_page(store: Store, *, filter: str = "pending", source: str | None = None, kind: str | None = None,
               job: str | None = None, offset: int = 0, limit: int = 50, seed: int = 0) -> QueuePage:
    """Return one page of a review queue (ordered by sample id, or by a seeded hash for audit) and its size."""
    cursor = store.read()
    sql, params = _queue_sql(cursor, filter, source, kind, job, seed)
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
    sql, params = _queue_sql(cursor, filter, source, kind, job, seed, acceptable_only)
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
    sql, params = _queue_sql(cursor, filter, source, kind, job, seed)
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


# --- one item --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictView:
    """A stored verdict with its JSON fields decoded."""

    id: str
    kind: str
    judge: str
    job: str | None
    candidate_ids: list[str]
    candidates_shown: list[str]
    outcome: dict[str, Any] | None
    rationale: str | None
    details: dict[str, Any] | None
    parse_status: str


@dataclass(frozen=True)
class ReviewItem:
    """Everything the Review tab shows for one sample."""

    sample_id: str
    source: str
    messages: list[dict[str, Any]]
    reference: str | None
    verdict: VerdictView | None
    """The latest judge verdict (the one the letters refer to)."""
    verdicts: list[VerdictView]
    """Every verdict of the sample, newest first (rule flags included)."""
    slots: list[Slot]
    effective: Effective | None
    history: list[Decision]
    positions: list[Decision] = field(default_factory=list)
    """Each reviewer's latest live deciding decision, oldest first."""


def load_item(store: Store, sample_id: str) -> ReviewItem | None:
    """Return a sample with its verdicts, lettered answers, effective verdict and decision history; None if absent."""
    cursor = store.read()
    rows = cursor.execute("SELECT source, messages, reference FROM samples WHERE id = ?", [sample_id]).fetchall()
    if not rows:
        return None
    source, messages, reference = rows[0]
    verdict_rows = cursor.execute(
        "SELECT v.id, v.kind, v.judge, j.name, v.candidate_ids, v.candidates_shown, v.outcome, v.rationale, "
        "v.details, v.parse_status FROM (SELECT rowid AS rid, * FROM verdicts WHERE sample_id = ?) v "
        "LEFT JOIN jobs j ON j.id = v.job_id ORDER BY v.created_at DESC, v.rid DESC",
        [sample_id],
    ).fetchall()
    verdicts = [
        VerdictView(vid, kind, judge, job, orjson.loads(ids), orjson.loads(shown),
                    orjson.loads(outcome) if outcome else None, rationale,
                    orjson.loads(details) if details else None, status)
        for vid, kind, judge, job, ids, shown, outcome, rationale, details, status in verdict_rows
    ]
    verdict = next((v for v in verdicts if v.kind in JUDGE_KINDS), None)
    decisions = _history(cursor, sample_id)
    slots = _slots(cursor, sample_id, decisions, verdict.id if verdict else None)
    return ReviewItem(sample_id, source, orjson.loads(messages), reference, verdict, verdicts, slots,
                      _effective(cursor, sample_id), decisions, reviewer_positions(decisions))


# --- statistics ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeAgreement:
    """How often people agreed with one judge on the samples they decided one by one."""

    judge: str
    decided: int
    agreed: int

    @property
    def rate(self) -> float | None:
        """Agreed / decided, or None before any decision."""
        return self.agreed / self.decided if self.decided else None


@dataclass(frozen=True)
class PositionBias:
    """Parsed pairwise verdicts of one judge (or "all") and how many had split orders."""

    judge: str
    pairwise: int
    split: int

    @property
    def rate(self) -> float | None:
        """Split / pairwise, or None without pairwise verdicts."""
        return self.split / self.pairwise if self.pairwise else None


@dataclass(frozen=True)
class ReviewerCount:
    """One reviewer's live deciding decisions and other actions."""

    reviewer: str
    decisions: int
    edits: int
    notes: int
    undos: int


@dataclass(frozen=True)
class ReviewStats:
    """Agreement per judge, position bias, decisions per reviewer, conflicts and queue sizes."""

    agreement: list[JudgeAgreement]
    position_bias: list[PositionBias]
    """Per judge model, then one row "all"."""
    reviewers: list[ReviewerCount]
    conflicts: int
    reviewed: int
    pending: int


def review_stats(store: Store) -> ReviewStats:
    """Compute agreement (bulk accepts left out), position bias (split / parsed pairwise), reviewers and conflicts."""
    cursor = store.read()
    rows = cursor.execute(
        f"""
        WITH eff AS ({_EFFECTIVE_SQL}),
        counted AS (
            SELECT e.*, e.source = 'human' AND e.judge_keep IS NOT NULL
                        AND NOT coalesce(TRY_CAST(d.payload->>'bulk' AS BOOLEAN), FALSE) AS measured
            FROM eff e LEFT JOIN decisions d ON d.id = e.decision_id
        )
        SELECT GROUPING(judge) AS total, judge, count(*) FILTER (WHERE measured),
               count(*) FILTER (WHERE measured AND NOT disagrees), count(*) FILTER (WHERE conflict),
               count(*) FILTER (WHERE source = 'human'),
               count(*) FILTER (WHERE source = 'judge' AND verdict_id IS NOT NULL)
        FROM counted GROUP BY GROUPING SETS ((judge), ()) ORDER BY total, judge
        """
    ).fetchall()
    agreement = [(judge, decided, agreed) for total, judge, decided, agreed, *_ in rows if not total and decided]
    conflicts, reviewed, pending = next((row[4:] for row in rows if row[0]), (0, 0, 0))
    bias = cursor.execute(
        """
        SELECT coalesce(judge, 'all'), count(*),
               count(*) FILTER (WHERE coalesce(TRY_CAST(outcome->>'split' AS BOOLEAN), FALSE))
        FROM verdicts WHERE kind = 'pairwise' AND judge <> 'rule' AND parse_status IN ('ok', 'repaired')
        GROUP BY ROLLUP (judge) ORDER BY judge IS NULL, judge
        """
    ).fetchall()
    reviewers = cursor.execute(
        f"""
        WITH undone AS (SELECT DISTINCT payload->>'undoes' AS id FROM decisions WHERE action = 'undo'),
        rows AS (SELECT d.reviewer, d.action, u.id IS NOT NULL AS undone
                 FROM decisions d LEFT JOIN undone u ON u.id = d.id)
        SELECT reviewer, count(*) FILTER (WHERE action IN ({_DECIDING}) AND NOT undone),
               count(*) FILTER (WHERE action = 'edit' AND NOT undone),
               count(*) FILTER (WHERE action = 'note' AND NOT undone), count(*) FILTER (WHERE action = 'undo')
        FROM rows GROUP BY reviewer ORDER BY reviewer
        """
    ).fetchall()
    if not bias:
        bias = [("all", 0, 0)]
    return ReviewStats(
        agreement=[JudgeAgreement(*row) for row in agreement],
        position_bias=[PositionBias(*row) for row in bias],
        reviewers=[ReviewerCount(*row) for row in reviewers],
        conflicts=conflicts,
        reviewed=reviewed,
        pending=pending,
    )
