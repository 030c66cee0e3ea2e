"""The effective verdict: each sample's latest judge verdict, overridden by its latest live human decision.

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

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from blossom_studio.review.base import DECIDING, JUDGE_KINDS, Cursor
from blossom_studio.store import Store

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


def _latest_judged(where: str = "") -> str:
    """Return a SELECT of each sample's latest judge verdict with its judge values."""
    return f"""SELECT * FROM ({_verdict_values(where)})
    QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY created_at DESC, rid DESC) = 1"""


def _revision_ctes(d_sample: str = "") -> str:
    """Return the CTEs `edits`, `current_rev` and `revmap` (they need a CTE `undone` of undone decision ids)."""
    return f"""edits AS (
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
)"""


def revision_map_sql() -> str:
    """Return a SELECT of (cid, cur): every id of an edited answer chain (its root and revisions) and the chain's
    current revision (the latest live edit, else the root); ids never edited are not listed."""
    return f"""WITH undone AS (SELECT DISTINCT payload->>'undoes' AS id FROM decisions WHERE action = 'undo'),
{_revision_ctes()}
SELECT cid, cur FROM revmap"""


def _build_effective(one_sample: bool, wide: bool = False, judged: str | None = None) -> str:
    """`judged` replaces the latest-judge-verdict SELECT (a cached relation of `_latest_judged()`'s rows)."""
    sample = "AND sample_id = ?" if one_sample else ""
    d_sample = sample.replace("sample_id", "d.sample_id")
    extra = ", r.job_id, r.split, r.margin" if wide else ""
    return f"""
WITH judged AS (
    {judged or _latest_judged(sample)}
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
{_revision_ctes(d_sample)},
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
JUDGED_RELATION = "review_latest_judge_verdicts"
_EFFECTIVE_WIDE_CACHED_SQL = _build_effective(one_sample=False, wide=True, judged=f"SELECT * FROM {JUDGED_RELATION}")
_judged_cache: weakref.WeakKeyDictionary[Store, tuple[int, Any]] = weakref.WeakKeyDictionary()
_judged_lock = threading.Lock()


def _register_judged(store: Store, cursor: Cursor) -> str:
    """Register on this thread's cursor each sample's latest judge verdict with its judge values, and return the
    effective SELECT (wide columns) that reads it.

    Parsing every verdict's outcome JSON is most of the effective verdict's cost (40-70 ms at 100,000 verdicts).
    Verdicts are append-only and decisions do not change them, so the parsed rows are kept in memory (Arrow) until
    the number of verdicts changes; decisions, undos and edits are still read from the table on every call.
    """
    count = cursor.execute("SELECT count(*) FROM verdicts").fetchall()[0][0]
    with _judged_lock:
        cached = _judged_cache.get(store)
        if cached is None or cached[0] != count:
            cached = (count, cursor.sql(_latest_judged()).to_arrow_table())
            _judged_cache[store] = cached
    cursor.register(JUDGED_RELATION, cached[1])
    return _EFFECTIVE_WIDE_CACHED_SQL


EFFECTIVE_COLUMNS = (
    "sample_id", "verdict_id", "kind", "judge", "parse_status", "judge_keep", "judge_winner", "decision_id",
    "action", "reviewer", "human_keep", "human_winner", "keep", "winner", "chosen", "rejected", "source",
    "disagrees", "conflict",
)


def effective_relation_sql(store: Store, cursor: Cursor) -> str:
    """Return the effective SELECT for `cursor` (this thread's read cursor), with the columns of `effective_sql()`
    plus job_id, split and margin of the judge verdict, reading the judge values kept in memory."""
    return _register_judged(store, cursor)


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
