"""UI latency at scale: 1,000,000 samples and 100,000 verdicts; p95 of a page, a filter change and the next review item.

Each interaction is timed twice in one run: through the handler functions behind the app's named endpoints (called
directly: the library and review queries plus the handler's own Python), and through `gradio_client` against the studio
served in this process on a local port (the whole HTTP, queue, pre- and postprocessing round trip). The interactions:
a Library page (shallow to the last, some under a filter), a Library filter change (every filter value: language,
source, flag, status, verdict kind/outcome, judge versus reviewer, and combinations), a Review queue change (the
Review tab's filters) and the next review item (walks of four steps from random places in fifteen queues; the handler
locates the neighbour and loads the item it shows). The budget is 300 ms at the 95th percentile; `ratio` is the worst
p95 over that budget (at most 1 meets it). Baselines in the same run: a bare DuckDB `LIMIT 25 OFFSET k`, and a no-op
endpoint through gradio_client and over Gradio's plain REST API (the fixed HTTP and queue cost).

The data is generated in SQL (tens of seconds): the profiled samples of bench/balance_queries.py, and on every
`samples // verdicts`-th sample candidates, one verdict and, on a tenth of them, decisions shaped as the strategies and
review.decide write them (see the comments by the SQL). Human-readable figures go to stderr; the last stdout line is one
JSON object.

    python bench/ui_latency.py [--samples 1000000] [--verdicts 100000] [--runs 40] [--skip-client] [--db PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BUDGET_SECONDS = 0.3

MODELS = "['qwen-plus', 'deepseek-chat', 'glm-4-plus']"
FLAGS = "['repetition', 'refusal', 'too_short', 'placeholder', 'truncated', 'self_identity']"

# One verdict per judged sample (every `stride`-th sample): 5% sample-level rule verdicts (kind quality, as a rules job
# writes them, 40% of them with a flag), 47% pairwise (two answers, both orders judged: 9% split ties), 28% rating
# (two or three answers rated 1-5 overall, the pair and margin as binarize makes them; a tie when all are equal),
# 20% verify (one answer; 60% decided by the rule, 70% correct). Model verdicts: 3% failed to parse (no outcome), 3%
# repaired. Each kind comes from its own job.
BASE = """
base AS (
    SELECT *, CASE kind WHEN 'pairwise' THEN 2 WHEN 'rating' THEN 2 + CAST(r % 2 AS INTEGER) WHEN 'verify' THEN 1
                        ELSE 0 END AS answers,
           'job-' || CASE kind WHEN 'quality' THEN 'rules' WHEN 'rating' THEN 'rate' ELSE kind END AS job_id
    FROM (SELECT i, printf('s%09d', i * {stride}) AS sample_id, hash(i * 7 + 1) % 100 AS p,
                 CAST(hash(i * 13 + 5) % 1000003 AS BIGINT) AS r,
                 CASE WHEN hash(i) % 100 < 5 THEN 'quality' WHEN hash(i) % 100 < 52 THEN 'pairwise'
                      WHEN hash(i) % 100 < 80 THEN 'rating' ELSE 'verify' END AS kind
          FROM range({n}) AS t(i))
)"""

CANDIDATES = f"""
INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, finish_reason, call_key, origin, extra,
                        created_at)
WITH {BASE}
SELECT printf('c%09d-%d', i, k), sample_id, job_id, {MODELS}[(i + k) % 3 + 1], chr(65 + CAST(k AS INTEGER)), k,
       to_json({{{{'role': 'assistant',
                   'content': CASE WHEN i % 2 = 0 THEN '这是第' || i || '个问题的回答（' || chr(65 + CAST(k AS INTEGER))
                                                       || '）：'
                                   ELSE 'Answer ' || chr(65 + CAST(k AS INTEGER)) || ' to question ' || i || ': ' END
                              || repeat(' ' || md5(CAST(i * 3 + k AS VARCHAR)),
                                        5 + CAST(hash(i * 3 + k) % 60 AS INTEGER))
                 }}}}),
       CASE WHEN hash(i * 3 + k) % 100 = 0 THEN 'length' ELSE 'stop' END, md5(CAST(i * 3 + k AS VARCHAR)), 'generate',
       CASE WHEN hash(i * 3 + k) % 100 = 0 THEN '{{{{"truncated": true}}}}' END,
       TIMESTAMP '2025-06-01 08:00:00' + to_seconds(i * 2)
FROM base, range(3) AS u(k) WHERE k < answers
"""

VERDICTS = f"""
INSERT INTO verdicts (id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale,
                      raw_output, parse_status, details, call_keys, created_at)
WITH {BASE},
shaped AS (
    SELECT *,
           list_transform(range(answers), lambda k: printf('c%09d-%d', i, k)) AS ids,
           list_transform(range(answers), lambda k: {MODELS}[(i + k) % 3 + 1]) AS models,
           list_transform(range(answers), lambda k: 1 + CAST(hash(i * 8 + k) % 5 AS INTEGER)) AS scores,
           CASE WHEN kind = 'quality' OR (kind = 'verify' AND p < 60) THEN 'rule'
                WHEN kind = 'pairwise' THEN {MODELS}[(i + 2) % 3 + 1] ELSE 'deepseek-r1' END AS judge,
           CASE WHEN kind = 'quality' OR (kind = 'verify' AND p < 60) THEN 'rule'
                WHEN p >= 97 THEN 'failed' WHEN p >= 94 THEN 'repaired' ELSE 'ok' END AS status,
           r % 10 < 7 AS correct,
           CASE WHEN p < 9 THEN 'tie' WHEN r % 2 = 0 THEN 'A' ELSE 'B' END AS winner
    FROM base
), rated AS (
    SELECT *, list_max(scores) AS best, list_min(scores) AS worst, list_position(scores, list_max(scores)) AS top,
           list_position(scores, list_min(scores)) AS bottom
    FROM shaped
)
SELECT printf('v%09d', i), sample_id, job_id, kind, judge, to_json(ids), to_json(models),
       CASE WHEN status = 'failed' THEN NULL
            WHEN kind = 'quality' THEN to_json({{{{'flags': CASE WHEN p < 60 THEN []::VARCHAR[]
                                                              ELSE [{FLAGS}[r % 6 + 1]] END}}}})
            WHEN kind = 'pairwise' AND winner = 'tie' THEN to_json({{{{'winner': 'tie', 'split': true}}}})
            WHEN kind = 'pairwise' THEN to_json({{{{
                'winner': winner, 'split': false, 'chosen': ids[CASE winner WHEN 'A' THEN 1 ELSE 2 END],
                'rejected': ids[CASE winner WHEN 'A' THEN 2 ELSE 1 END]}}}})
            WHEN kind = 'rating' AND worst < best THEN to_json({{{{
                'aspects': ['overall'], 'ratings': MAP(ids, list_transform(scores, lambda s: {{{{'overall': s}}}})),
                'mean': MAP(ids, list_transform(scores, lambda s: CAST(s AS DOUBLE))),
                'pair': {{{{'chosen': ids[top], 'rejected': ids[bottom], 'margin': CAST(best - worst AS DOUBLE)}}}},
                'rule': 'chosen = best mean rating; rejected = random answer rated at least 1 lower; ties dropped'}}}})
            WHEN kind = 'rating' THEN to_json({{{{
                'aspects': ['overall'], 'ratings': MAP(ids, list_transform(scores, lambda s: {{{{'overall': s}}}})),
                'mean': MAP(ids, list_transform(scores, lambda s: CAST(s AS DOUBLE))), 'pair': NULL,
                'rule': 'chosen = best mean rating; rejected = random answer rated at least 1 lower; ties dropped',
                'reason': 'no answer is rated at least 1 below the best'}}}})
            WHEN judge = 'rule' THEN to_json({{{{'correct': correct, 'expected': '42',
                                                 'found': CASE WHEN correct THEN '42' ELSE '41' END,
                                                 'method': 'number'}}}})
            ELSE to_json({{{{'correct': correct}}}}) END,
       CASE WHEN kind = 'quality' AND p >= 60 THEN 'flagged by rule: ' || {FLAGS}[r % 6 + 1]
            WHEN kind = 'quality' OR status = 'failed' THEN NULL
            WHEN judge = 'rule' THEN 'number: expected 42, found ' || CASE WHEN correct THEN '42' ELSE '41' END
            ELSE 'The first answer is more complete and follows the instruction; the other misses a step. '
                 || repeat('理由 ', 20) END,
       CASE WHEN judge = 'rule' THEN NULL
            WHEN kind = 'pairwise' THEN '[[' || CASE WHEN winner = 'B' THEN 'B' ELSE 'A' END || ']] '
                 || repeat('reasoning ', 30) || E'\\n\\n--- swapped order ---\\n\\n[['
                 || CASE WHEN winner = 'A' THEN 'B' ELSE 'A' END || ']] ' || repeat('reasoning ', 30)
            ELSE 'Rating: ' || array_to_string(scores, ', ') || ' ' || repeat('reasoning ', 40) END,
       status,
       CASE WHEN kind = 'pairwise' THEN to_json({{{{'orders': [
                {{{{'shown': models, 'verdict': CASE WHEN status = 'failed' THEN NULL WHEN winner = 'B' THEN 'B'
                                                   ELSE 'A' END, 'parse_status': status}}}},
                {{{{'shown': list_reverse(models), 'verdict': CASE WHEN status = 'failed' THEN NULL
                                                                 WHEN winner = 'A' THEN 'B' ELSE 'A' END,
                   'parse_status': status}}}}]}}}})
            WHEN kind = 'rating' THEN to_json({{{{'orders': {{{{'overall': list_reverse(ids)}}}},
                                                'rationales': MAP(ids, list_transform(ids, lambda x: {{{{
                                                    'overall': 'clear and correct'}}}}))}}}})
            WHEN kind = 'verify' AND judge <> 'rule' THEN '{{{{"rule": "none"}}}}' END,
       CASE WHEN judge = 'rule' THEN '[]'
            ELSE to_json([md5('call' || i), md5('call' || i || 'b')]) END,
       TIMESTAMP '2025-06-01 08:00:01' + to_seconds(i * 2)
FROM rated
"""

JOBS = """
INSERT INTO jobs (id, name, strategy, roles, roster, params, selection, seed, status, items, created_by, created_at,
                  started_at, finished_at)
SELECT job_id, 'bench-' || strategy, strategy, roles, '["qwen-plus", "deepseek-chat", "glm-4-plus", "deepseek-r1"]',
       '{}', '{"source": null}', 7, 'done', items, 'bench', first, first, last
FROM (VALUES ('job-rules', 'rules', '{}'), ('job-pairwise', 'pairwise', '{"A": "qwen-plus", "B": "deepseek-chat", '
              '"C": "glm-4-plus"}'), ('job-rate', 'rate', '{"A": "qwen-plus", "B": "deepseek-r1", "C": "glm-4-plus"}'),
             ('job-verify', 'verify', '{"A": "qwen-plus", "B": "deepseek-r1"}')) AS j(job_id, strategy, roles)
JOIN (SELECT job_id, count(DISTINCT sample_id) AS items, min(created_at) AS first, max(created_at) AS last
      FROM verdicts GROUP BY job_id) USING (job_id)
"""

# Verify prompts come with a reference answer.
REFERENCES = ("UPDATE samples SET reference = '#### 42' "
              "WHERE id IN (SELECT sample_id FROM verdicts WHERE kind = 'verify')")

# A tenth of the judged samples decided one by one, by four reviewers, with the payloads review.decide writes:
# accept 60% (the judge's values), choose 18% (A or B, often against the judge), tie 7%, both_bad 8%, reject 7%.
DECIDE = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
WITH e AS (
    SELECT e.*, v.candidate_ids, json_array_length(v.candidate_ids) AS n, hash(e.sample_id || ':a') % 1000 AS r,
           row_number() OVER (ORDER BY e.sample_id) AS nr
    FROM ({effective}) e JOIN verdicts v ON v.id = e.verdict_id
    WHERE hash(e.sample_id || ':d') % 100 < {share}
), acted AS (
    SELECT *, CASE WHEN r < 600 AND judge_keep IS NOT NULL THEN 'accept' WHEN r < 780 THEN 'choose'
                   WHEN r < 850 AND n >= 2 THEN 'tie' WHEN r < 930 AND n >= 2 THEN 'both_bad' ELSE 'reject' END AS act,
              CASE WHEN n >= 2 AND r % 2 = 1 THEN 1 ELSE 0 END AS pick
    FROM e
)
SELECT CAST(md5(sample_id || ':1') AS UUID)::VARCHAR, sample_id, verdict_id,
       ['alice', 'bob', 'carol', 'dan'][CAST(r % 4 AS INTEGER) + 1], act,
       CASE act WHEN 'accept' THEN json_object('keep', judge_keep, 'winner', judge_winner, 'chosen', chosen,
                                               'rejected', rejected)
                WHEN 'choose' THEN json_object(
                    'keep', TRUE, 'winner', chr(65 + CAST(pick AS INTEGER)),
                    'chosen', candidate_ids->>('$[' || pick || ']'),
                    'rejected', CASE WHEN n = 2 THEN candidate_ids->>('$[' || (1 - pick) || ']')
                                     WHEN n > 2 AND rejected <> candidate_ids->>('$[' || pick || ']') THEN rejected
                                     WHEN n > 2 AND chosen <> candidate_ids->>('$[' || pick || ']') THEN chosen END)
                WHEN 'tie' THEN json_object('keep', TRUE, 'winner', 'tie', 'chosen', NULL, 'rejected', NULL)
                ELSE json_object('keep', FALSE, 'winner', NULL, 'chosen', NULL, 'rejected', NULL) END,
       CASE WHEN r % 9 = 0 THEN 'checked against the reference' END,
       TIMESTAMP '2025-07-01 09:00:00' + to_seconds(nr * 30)
FROM acted ORDER BY nr
"""

# 1% of those get an edited answer first (a new candidates row with origin 'edit' and its edit decision).
EDIT_CANDIDATES = """
INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, finish_reason, call_key, origin, extra,
                        created_at)
SELECT c.id || '~' || left(md5(c.id), 12), c.sample_id, c.job_id, c.model, c.label, c.position,
       to_json({'role': 'assistant', 'content': 'Edited: ' || (c.message->>'content')}), c.finish_reason, c.call_key,
       'edit', json_object('revision_of', c.id, 'editor', d.reviewer, 'original', c.id),
       d.created_at - INTERVAL 1 MINUTE
FROM decisions d JOIN candidates c ON c.sample_id = d.sample_id AND c.position = 0 AND c.origin = 'generate'
WHERE hash(d.id || ':e') % 100 < 1
"""
EDIT_DECISIONS = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
SELECT CAST(md5(c.id) AS UUID)::VARCHAR, c.sample_id, d.verdict_id, c.extra->>'editor', 'edit',
       json_object('candidate_id', c.id, 'revision_of', c.extra->>'revision_of', 'original', c.extra->>'original'),
       'fixed a wrong step', c.created_at
FROM candidates c JOIN decisions d ON d.sample_id = c.sample_id AND d.action <> 'edit'
WHERE c.origin = 'edit'
"""

# Then 8% get a second reviewer who sees it differently (a conflict; the latest wins), 3% of the first decisions are
# undone, and 4% get a note.
SECOND_OPINIONS = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
SELECT CAST(md5(d.id || ':2') AS UUID)::VARCHAR, d.sample_id, d.verdict_id,
       CASE d.reviewer WHEN 'alice' THEN 'bob' ELSE 'alice' END,
       CASE WHEN d.payload->>'keep' = 'true' THEN 'reject' ELSE 'choose' END,
       CASE WHEN d.payload->>'keep' = 'true'
            THEN json_object('keep', FALSE, 'winner', NULL, 'chosen', NULL, 'rejected', NULL)
            ELSE json_object('keep', TRUE, 'winner', 'A', 'chosen', v.candidate_ids->>'$[0]',
                             'rejected', v.candidate_ids->>'$[1]') END,
       'I read it differently', d.created_at + INTERVAL 3 DAY
FROM decisions d JOIN verdicts v ON v.id = d.verdict_id
WHERE d.action IN ('accept', 'choose', 'tie', 'both_bad', 'reject') AND hash(d.id || ':2') % 100 < 8
ORDER BY d.created_at
"""
UNDOS = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
SELECT CAST(md5(d.id || ':u') AS UUID)::VARCHAR, d.sample_id, d.verdict_id, d.reviewer, 'undo',
       json_object('undoes', d.id, 'action', d.action), NULL, d.created_at + INTERVAL 1 MINUTE
FROM decisions d
WHERE d.action IN ('accept', 'choose', 'tie', 'both_bad', 'reject') AND d.note IS DISTINCT FROM 'I read it differently'
  AND hash(d.id || ':u') % 100 < 3
ORDER BY d.created_at
"""
NOTES = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
SELECT CAST(md5(d.id || ':n') AS UUID)::VARCHAR, d.sample_id, d.verdict_id, d.reviewer, 'note', NULL,
       'needs a second look: the answer skips a step', d.created_at + INTERVAL 2 MINUTE
FROM decisions d WHERE d.action IN ('accept', 'choose', 'tie', 'both_bad', 'reject') AND hash(d.id || ':n') % 100 < 4
ORDER BY d.created_at
"""


def build(path: Path, samples: int, verdicts: int) -> dict[str, Any]:
    """Fill a studio database with profiled samples (as bench/balance_queries.py does), candidates, verdicts and
    decisions, all in SQL, and return its row counts."""
    import balance_queries

    from blossom_studio.review import effective_sql
    from blossom_studio.store import open_store

    shape = balance_queries.build(path, samples, 2_000)
    stride = max(1, samples // verdicts)
    n = min(verdicts, samples)
    with open_store(path) as store:
        with store.write() as cursor:
            cursor.execute(CANDIDATES.format(n=n, stride=stride))
            cursor.execute(VERDICTS.format(n=n, stride=stride))
            cursor.execute(JOBS)
            cursor.execute(REFERENCES)
        with store.write() as cursor:
            cursor.execute(DECIDE.format(effective=effective_sql(), share=10))
            cursor.execute(EDIT_CANDIDATES)
            cursor.execute(EDIT_DECISIONS)
            cursor.execute(SECOND_OPINIONS)
            cursor.execute(UNDOS)
            cursor.execute(NOTES)
        store.checkpoint()
    return {"messages": shape["entries"]}


def describe(store: Any) -> dict[str, Any]:
    """Row counts, verdicts by kind and parse status, decisions by action, and the size of each review queue."""
    from blossom_studio import review

    counts = {table: store.query(f"SELECT count(*) FROM {table}")[0][0]
              for table in ("samples", "candidates", "verdicts", "decisions", "jobs")}
    kinds = {f"{kind}/{status}": count for kind, status, count in store.query(
        "SELECT kind, parse_status, count(*) FROM verdicts GROUP BY ALL ORDER BY ALL")}
    actions = dict(store.query("SELECT action, count(*) FROM decisions GROUP BY ALL ORDER BY ALL"))
    queues = {name: review.count_queue(store, filter=name) for name in review.FILTERS}
    return {**counts, "megabytes": round(store.path.stat().st_size / 1e6, 1), "verdicts_by_kind": kinds,
            "decisions_by_action": actions, "review_queues": queues}


def percentile(times: list[float], share: float) -> float:
    """Return the `share` percentile of the times (nearest rank)."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def time_calls(calls: list[Callable[[], Any]]) -> list[float]:
    """Return the wall time of each call."""
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """Return the p50, p95 and max of times in milliseconds."""
    return {"p50_ms": round(statistics.median(times) * 1000, 1), "p95_ms": round(percentile(times, 0.95) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1)}


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- what is timed ----------------------------------------------------------------------------------------------------

ALL_SOURCES, ANY, ALL = "(all sources)", "(any)", "(all)"  # the Library's and the Review tab's "no restriction"
LIBRARY_INPUTS = ("search", "source", "lang", "flag", "status", "verdict", "review")  # after the page, in this order
# Review queues (filter, source, kind, job, seed), as the Review tab's dropdowns give them.
QUEUES = [
    ("pending", ALL, ALL, ALL, 0), ("all", ALL, ALL, ALL, 0), ("pending", ALL, "pairwise", ALL, 0),
    ("pending", ALL, "rating", ALL, 0), ("pending", ALL, "verify", ALL, 0), ("ties", ALL, ALL, ALL, 0),
    ("split", ALL, ALL, ALL, 0), ("low_margin", ALL, ALL, ALL, 0), ("disagreement", ALL, ALL, ALL, 0),
    ("conflicts", ALL, ALL, ALL, 0), ("parse_failures", ALL, ALL, ALL, 0), ("audit", ALL, ALL, ALL, 7),
    ("pending", "src_2", ALL, ALL, 0), ("all", ALL, ALL, "bench-rate", 0), ("pending", "src_0", "pairwise", ALL, 0),
]
SEARCHES = ["sky", "Question 4321", "天空", "第12345个", "Blue"]


def library_args(page: int, **filters: Any) -> list[Any]:
    """The page_samples endpoint's inputs: page, search, source, lang, flag, status, verdict, review."""
    defaults = {"search": "", "source": ALL_SOURCES, "lang": ANY, "flag": ANY, "status": "active", "verdict": ANY,
                "review": ANY}
    return [page, *({**defaults, **filters}[name] for name in LIBRARY_INPUTS)]


def queue_args(queue: tuple[Any, ...]) -> dict[str, Any]:
    """The review queue functions' keyword arguments for a queue given as the Review tab's dropdown values."""
    filter, source, kind, job, seed = queue
    return {"filter": filter, "source": None if source == ALL else source, "kind": None if kind == ALL else kind,
            "job": None if job == ALL else job, "seed": seed}


def filter_changes() -> list[dict[str, Any]]:
    """Every single Library filter value (languages, sources, flags, status, verdict kinds and outcomes, judge versus
    reviewer) and a few combinations."""
    from blossom_studio import library

    changes: list[dict[str, Any]] = [{"lang": lang} for lang in library.LANGS]
    changes += [{"source": f"src_{k}"} for k in range(8)]
    changes += [{"flag": flag} for flag in ("lang_mismatch", "traditional", "repetition", "refusal", "truncated")]
    changes += [{"status": ANY}]
    changes += [{"verdict": key} for key in library.VERDICT_FILTERS]
    changes += [{"review": key} for key in library.REVIEW_FILTERS]
    changes += [{"lang": "zh", "verdict": "pairwise:A"}, {"source": "src_1", "review": "human"},
                {"lang": "en", "flag": "lang_mismatch"}, {"source": "src_0", "lang": "zh", "verdict": "rating:pair"},
                {"verdict": "parse:failed", "review": "judge"}, {"lang": "zh", "review": "disagrees"}]
    return changes


def log_page(rng: random.Random, last: int) -> int:
    """A page number spread evenly over the orders of magnitude from 1 to `last`."""
    return max(1, min(last, round(last ** rng.random())))


def plans(store: Any, runs: int, seed: int) -> dict[str, Any]:
    """The calls of each interaction (the same ones for the functions and for gradio_client), drawn with a seed."""
    from blossom_studio import library, review
    from blossom_studio.ui.library_tab import PAGE_SIZE

    rng = random.Random(seed)
    last = library.page_samples(store, page=1, page_size=PAGE_SIZE).pages
    narrowed = [{"lang": "zh"}, {"source": "src_3"}, {"lang": "en", "source": "src_0"}, {"verdict": "pairwise"}]
    narrowed_last = [library.page_samples(store, page=1, page_size=PAGE_SIZE, **f).pages for f in narrowed]
    pages = [library_args(1), library_args(2), library_args(last), library_args(last + 1)]  # past the last: the last
    while len(pages) < runs:
        if rng.random() < 0.7:
            pages.append(library_args(log_page(rng, last)))
        else:
            k = rng.randrange(len(narrowed))
            pages.append(library_args(log_page(rng, narrowed_last[k]), **narrowed[k]))
    changes = filter_changes()
    rng.shuffle(changes)
    filters = [library_args(1, **changes[i % len(changes)]) for i in range(runs)]
    queues = [QUEUES[i % len(QUEUES)] for i in range(runs)]
    rng.shuffle(queues)
    steps_per_start = 4
    starts: list[tuple[str, tuple[Any, ...], int]] = []
    remaining, order = runs, list(QUEUES)
    rng.shuffle(order)
    while remaining > 0 and order:
        queue = order[len(starts) % len(order)]
        args = queue_args(queue)
        total = review.count_queue(store, **args)
        if total == 0:
            order.remove(queue)
            continue
        offset = 0 if not starts else rng.randrange(total)  # the first walk starts at the head of its queue
        sample_id = review.queue_page(store, offset=offset, limit=1, **args).sample_ids[0]
        steps = min(steps_per_start, remaining)
        starts.append((sample_id, queue, steps))
        remaining -= steps
    offsets = [(args[0] - 1) * PAGE_SIZE for args in pages]
    return {"pages": pages, "filters": filters, "queues": queues, "starts": starts, "offsets": offsets,
            "last_page": last, "searches": [library_args(1, search=SEARCHES[i % len(SEARCHES)])
                                            for i in range(max(5, runs // 4))]}


def handlers(demo: Any) -> dict[str, Any]:
    """The functions behind the app's named endpoints, by api_name: exactly what Gradio runs for each request."""
    return {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}


def label(args: list[Any] | tuple[Any, ...]) -> str:
    """A short name for a call: "page 7 lang=zh" for the Library, "pending/src_2" for a review queue."""
    if len(args) == len(LIBRARY_INPUTS) + 1:
        chosen = [f"{name}={value}" for name, value in zip(LIBRARY_INPUTS, args[1:], strict=True)
                  if value not in ("", ALL_SOURCES, ANY, "active")]
        return " ".join([f"page {args[0]}", *chosen])
    return "/".join(str(part) for part in args if part not in (ALL, 0))


def report(name: str, times: list[float], where: str, labels: list[str] | None = None) -> dict[str, float]:
    """Print one interaction's figures (and its three slowest calls) to stderr and return them."""
    figures = summary(times)
    print(f"  {where:13s} {name:24s} n={len(times):3d}  p50 {figures['p50_ms']:7.1f} ms  "
          f"p95 {figures['p95_ms']:7.1f} ms  max {figures['max_ms']:7.1f} ms", file=sys.stderr)
    if labels:
        slowest = sorted(zip(times, labels, strict=True), reverse=True)[:3]
        print("      slowest: " + "; ".join(f"{text} {seconds * 1000:.0f} ms" for seconds, text in slowest),
              file=sys.stderr)
    return figures


def time_functions(store: Any, demo: Any, plan: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Call the endpoint handlers in this thread (no HTTP, no queue, no postprocessing) and the review pieces they
    call; return the interactions' figures and the pieces' figures."""
    from blossom_studio import review

    fns = handlers(demo)
    page_fn, queue_fn, next_fn = fns["page_samples"].fn, fns["review_queue"].fn, fns["review_next"].fn
    current = fns["review_next"].outputs[0]  # the gr.State holding the open sample (the first item output)
    figures: dict[str, Any] = {}
    baseline = time_calls([lambda k=k: store.query("SELECT id FROM samples LIMIT 25 OFFSET ?", [k])
                           for k in plan["offsets"]])
    pieces = {"duckdb_limit_offset": report("bare LIMIT 25 OFFSET k", baseline, "baseline")}
    figures["page"] = report("page", time_calls([lambda a=a: page_fn(*a) for a in plan["pages"]]), "functions",
                             [label(a) for a in plan["pages"]])
    figures["filter_change"] = report("library filter change", time_calls(
        [lambda a=a: page_fn(*a) for a in plan["filters"]]), "functions", [label(a) for a in plan["filters"]])
    figures["review_filter_change"] = report("review queue change", time_calls(
        [lambda q=q: queue_fn(*q, True) for q in plan["queues"]]), "functions", [label(q) for q in plan["queues"]])
    times, walked = [], []
    for sample_id, queue, steps in plan["starts"]:
        shown = sample_id
        for _ in range(steps):
            start = time.perf_counter()
            out = next_fn(shown, *queue, True)
            times.append(time.perf_counter() - start)
            walked.append((shown, queue))
            shown = out[current] or shown
    figures["next_item"] = report("next review item", times, "functions",
                                  [f"{label(queue)} after {shown}" for shown, queue in walked])
    # Where the next item's time goes: the queue step (the effective verdict over every verdict and decision), then
    # loading the item it lands on.
    neighbours, loads = [], []
    for shown, queue in walked:
        start = time.perf_counter()
        step = review.queue_neighbour(store, shown, **queue_args(queue))
        neighbours.append(time.perf_counter() - start)
        start = time.perf_counter()
        review.load_item(store, step.sample_id if step else shown)
        loads.append(time.perf_counter() - start)
    pieces["queue_neighbour"] = report("  queue_neighbour", neighbours, "piece")
    pieces["load_item"] = report("  load_item", loads, "piece")
    pieces["search"] = report("search (1st page)", time_calls([lambda a=a: page_fn(*a) for a in plan["searches"]]),
                              "functions")
    return figures, pieces


def time_client(store: Any, plan: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Serve the studio on a local port and time the same interactions through gradio_client."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client

    from blossom_studio.ui.app import build_app

    demo = build_app(store)
    port = free_port()
    demo.queue(default_concurrency_limit=8).launch(server_name="127.0.0.1", server_port=port,
                                                   prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    figures: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    try:
        fresh = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        # A fresh session has no open sample, so review_pick_edit returns at once: the fixed HTTP and queue cost.
        extra["trivial_endpoint"] = report("review_pick_edit (no-op)", time_calls(
            [lambda: fresh.predict("A", api_name="/review_pick_edit") for _ in plan["pages"]]), "baseline")
        fresh.close()
        extra["trivial_endpoint_raw_http"] = report("same over raw HTTP", raw_http(url, len(plan["pages"])), "baseline")
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        _table, status, shown = client.predict(*plan["pages"][0], api_name="/page_samples")
        print(f"  first page over HTTP: {status} (page {shown})", file=sys.stderr)
        figures["page"] = report("page", time_calls(
            [lambda a=a: client.predict(*a, api_name="/page_samples") for a in plan["pages"]]), "gradio_client",
            [label(a) for a in plan["pages"]])
        figures["filter_change"] = report("library filter change", time_calls(
            [lambda a=a: client.predict(*a, api_name="/page_samples") for a in plan["filters"]]), "gradio_client",
            [label(a) for a in plan["filters"]])
        start = time.perf_counter()
        client.predict(*QUEUES[0], True, api_name="/review_load")
        extra["review_load_once_ms"] = round((time.perf_counter() - start) * 1000, 1)
        figures["review_filter_change"] = report("review queue change", time_calls(
            [lambda q=q: client.predict(*q, True, api_name="/review_queue") for q in plan["queues"]]),
            "gradio_client", [label(q) for q in plan["queues"]])
        times, labels, moved = [], [], 0
        for sample_id, queue, steps in plan["starts"]:
            shown = client.predict(sample_id, *queue, True, api_name="/review_open")[0]  # the start, not timed
            for _ in range(steps):
                start = time.perf_counter()
                out = client.predict(*queue, True, api_name="/review_next")
                times.append(time.perf_counter() - start)
                labels.append(f"{label(queue)} after {shown}")
                moved += out[0] != shown
                shown = out[0]
        figures["next_item"] = report("next review item", times, "gradio_client", labels)
        print(f"      {moved} of {len(times)} steps moved to another sample (the rest were at a queue's end)",
              file=sys.stderr)
        client.close()
    finally:
        with contextlib.redirect_stdout(sys.stderr):  # Gradio says "Closing server running on port" on stdout
            demo.close()
    return figures, extra


def raw_http(url: str, runs: int) -> list[float]:
    """Time the no-op endpoint over Gradio's plain REST API (POST the call, read its event stream): the server's
    share of the fixed cost, without gradio_client's own."""
    import httpx

    times = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(runs):
            start = time.perf_counter()
            event = http.post("gradio_api/call/review_pick_edit", json={"data": ["A"]}).json()["event_id"]
            answer = http.get(f"gradio_api/call/review_pick_edit/{event}").text
            times.append(time.perf_counter() - start)
            if "event: complete" not in answer:
                raise RuntimeError(f"the no-op endpoint failed over HTTP: {answer[:200]}")
    return times


def after_a_decision(store: Any, runs: int) -> dict[str, float]:
    """The Library's judge-versus-reviewer filter right after a decision, when its cached effective verdicts are
    computed again (every earlier review filter call found them cached)."""
    from blossom_studio import review
    from blossom_studio.ui.library_tab import page_table

    sample_ids = [row[0] for row in store.query("SELECT sample_id FROM verdicts WHERE kind = 'pairwise' LIMIT ?",
                                                [runs])]
    times = []
    for sample_id in sample_ids:
        review.add_note(store, sample_id, "benchmark note", reviewer="bench")
        start = time.perf_counter()
        page_table(store, *library_args(1, review="human"))
        times.append(time.perf_counter() - start)
    return report("review filter, cold", times, "functions")


def main() -> None:
    """Build (or reuse) the database, time each interaction through the handlers and through gradio_client, and
    print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--verdicts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40, help="calls per interaction")
    parser.add_argument("--skip-client", action="store_true", help="time the handler functions only")
    parser.add_argument("--db", type=Path, help="build the database here and keep it; reuse it when it exists")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.verdicts < 100 or args.samples < args.verdicts or args.runs < 1:
        parser.error("need --verdicts of at least 100, --samples at least --verdicts, and --runs of at least 1")
    import duckdb
    import gradio as gr

    from blossom_studio.store import open_store
    from blossom_studio.ui.app import build_app

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="blossom-bench-") as tmp:
        path = args.db or Path(tmp) / "ui.duckdb"
        built = None
        if not path.exists():
            start = time.perf_counter()
            build(path, args.samples, args.verdicts)
            built = round(time.perf_counter() - start, 1)
            print(f"built {path} in {built} s", file=sys.stderr)
        else:
            print(f"reusing {path}", file=sys.stderr)
        with open_store(path) as store:  # reopened: the first queries read the file again
            shape = describe(store)
            print(f"data: {json.dumps(shape)}", file=sys.stderr)
            threads = store.query("SELECT current_setting('threads')")[0][0]
            plan = plans(store, args.runs, args.seed)
            demo = build_app(store)  # the app whose handlers are timed (the served one is built the same way)
            print("handler functions (called directly, as Gradio's worker thread would):", file=sys.stderr)
            functions, pieces = time_functions(store, demo, plan)
            client: dict[str, Any] = {}
            client_extra: dict[str, Any] = {}
            if not args.skip_client:
                print("gradio_client against the studio served on 127.0.0.1:", file=sys.stderr)
                client, client_extra = time_client(store, plan)
            pieces["library_review_filter_after_a_decision"] = after_a_decision(store, min(5, args.runs))
    p95s = {f"{where}.{name}": figures["p95_ms"] for where, results in (("functions", functions),
                                                                         ("gradio_client", client))
            for name, figures in results.items()}
    worst = max(p95s, key=p95s.__getitem__)
    budget_ms = BUDGET_SECONDS * 1000
    result = {
        **shape, "build_seconds": built, "duckdb": duckdb.__version__, "gradio": gr.__version__, "threads": threads,
        "runs": args.runs, "last_page": plan["last_page"],
        "functions": functions, "gradio_client": client or None,
        "baselines": {"duckdb_limit_offset": pieces.pop("duckdb_limit_offset"),
                      "gradio_client_trivial_endpoint": client_extra.get("trivial_endpoint"),
                      "raw_http_trivial_endpoint": client_extra.get("trivial_endpoint_raw_http")},
        "breakdown": {"next_item_queue_neighbour": pieces["queue_neighbour"],
                      "next_item_load_item": pieces["load_item"],
                      "search_first_page": pieces["search"],
                      "library_review_filter_after_a_decision": pieces["library_review_filter_after_a_decision"],
                      "review_load_once_ms": client_extra.get("review_load_once_ms")},
        "budget_ms": round(budget_ms), "worst": worst, "worst_p95_ms": p95s[worst],
        "ratio": round(p95s[worst] / budget_ms, 3), "ratio_baseline": "the 300 ms p95 budget",
        "targets_met": {**{f"{key}_p95_under_300ms": value <= budget_ms for key, value in p95s.items()},
                        "all": all(value <= budget_ms for value in p95s.values()),
                        "client_measured": bool(client)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
