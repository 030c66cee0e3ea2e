"""The SQL that resolves each selected sample to what it would export: its answer or pair, and why it is left out.

One row per selected sample, with these columns (the export's working table):

===================  =================================================================================
id, source, lang     the sample; `lang` is the profiled language, else guessed from the Han share
ord, stored_at, pick the import order (files keep it), the sample's place in storage (its rowid) and a seeded
                     random rank (balance, limit, split)
messages_out JSON    SFT: the conversation ending with the exported answer; NULL when that is the sample's own
                     conversation as stored (the records are read from samples then, which is most rows)
prompt_out JSON      preference: the conversation before the answers; prompt_text its last user turn
chosen_out,          preference: prompt + chosen answer, prompt + rejected answer (message lists)
rejected_out JSON
chosen_rating,       the judge's mean rating of each answer (rating verdicts) or the imported rating
rejected_rating
chosen_model,        the models that wrote the answers
rejected_model
judge, decided_by    the judge model of the effective verdict; 'human', 'judge' or 'import'
margin               the rating margin the judge's pair rule recorded (NULL where a person chose)
kind, job_id,        the effective verdict's kind and job, and whether a person overrode the judge
overridden
reason               NULL when the sample goes out, else the first reason it is left out
dup_key              a hash of what deduplication compares (the exported messages; `duplicates_sql` confirms)
===================  =================================================================================

Answers, in order: the effective verdict's chosen answer (a human decision beats the judge), else the latest
polished answer (COIG-Kun's polish replaces the output), else an imported pair's chosen answer, else the
conversation's own final reply, else the first generated or imported answer. Every candidate is read at its current
revision (review edits). A backtranslated instruction becomes the user turn, the output it was written for the
assistant turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blossom_studio.profile.texts import CANDIDATE_ROLE
from blossom_studio.synth.selection import LANG_SQL

REASONS = ("rejected", "unparsed", "tie", "no_pair", "no_answer", "not_single_thread", "flagged", "unjudged",
           "language", "duplicate", "over_quota")
REASON_HELP = {
    "rejected": "the effective verdict drops it (a reviewer rejected it, or the judge found it wrong or inconsistent)",
    "unparsed": "the judge's output could not be parsed and no one has decided",
    "tie": "the effective verdict is a tie (no tie is ever exported as a pair)",
    "no_pair": "no chosen and rejected answers",
    "no_answer": "no answer to export (a prompt without candidates)",
    "not_single_thread": "Alpaca needs alternating user and assistant turns",
    "flagged": "a rule flagged the conversation or the answer (repetition, refusal, truncation...)",
    "unjudged": "no judge verdict or decision (only judged samples were asked for)",
    "language": "its language is not in the balance",
    "duplicate": "the same exported messages as an earlier sample",
    "over_quota": "beyond the limit or its language's share of the balance",
}



ACTIVE = "status = 'active'"


def _last_index(roles: str, role: str) -> str:
    return f"(len({roles}) - list_position(list_reverse({roles}), '{role}') + 1)"


def _cut(alias: str) -> str:
    """The number of leading sample messages that form the prompt of candidate `alias` (a row of `current`)."""
    return f"""CASE WHEN {alias}.root = p.id || '/original' THEN len(p.roles) - 1
        WHEN {alias}.turn IS NOT NULL THEN coalesce(
            list_filter(range(1, len(p.roles) + 1), lambda i: p.roles[i] = 'assistant')[{alias}.turn + 1] - 1,
            len(p.roles))
        WHEN {alias}.job_turn = 'first' THEN list_position(p.roles, 'user')
        ELSE {_last_index('p.roles', 'user')} END"""


def _message(alias: str, cid: str) -> str:
    """The message of answer `cid`: the candidate row `alias`, or the sample's own last message."""
    return f"CASE WHEN {cid} = p.id || '/original' THEN p.msgs[len(p.msgs)] ELSE {alias}.message END"


def _with_answer(alias: str, cid: str) -> str:
    """The prompt (cut for candidate `alias`) followed by answer `cid`, as a JSON message list."""
    return f"""CASE WHEN {cid} = p.id || '/original' THEN p.messages
        ELSE to_json(list_append(p.msgs[1:{_cut(alias)}], {alias}.message)) END"""


def _rating(alias: str) -> str:
    return f"""coalesce(TRY_CAST(json_extract(v.outcome, '$.mean') ->> {alias}.root AS DOUBLE),
        TRY_CAST({alias}.rating AS DOUBLE))"""


def _answer_columns() -> str:
    """The SFT columns of `built`: the answer's message and the conversation that ends with it."""
    return f"""{_message('a', 'p.answer_id')} AS answer_message,
           CASE WHEN a.role = 'user' THEN to_json([a.message, json_object('role', 'assistant', 'content',
                    CASE WHEN p.roles[len(p.roles)] = 'assistant' THEN p.msgs[len(p.msgs)]->'content'
                         ELSE p.msgs[list_position(p.roles, 'user')]->'content' END)])
                ELSE {_with_answer('a', 'p.answer_id')} END AS messages_out,
           NULL::JSON AS prompt_out, NULL::JSON AS chosen_out, NULL::JSON AS rejected_out,
           NULL::DOUBLE AS chosen_rating, NULL::DOUBLE AS rejected_rating, NULL::VARCHAR AS chosen_model,
           NULL::VARCHAR AS rejected_model, p.judge_margin"""


def _pair_columns() -> str:
    """The preference columns of `built`: the prompt, both answers after it, their ratings and models."""
    return f"""NULL::JSON AS answer_message, NULL::JSON AS messages_out,
           CASE WHEN p.chosen_id = p.id || '/original' THEN to_json(p.msgs[1:len(p.msgs) - 1])
                ELSE to_json(p.msgs[1:{_cut('c')}]) END AS prompt_out,
           {_with_answer('c', 'p.chosen_id')} AS chosen_out,
           {_with_answer('r', 'p.rejected_id')} AS rejected_out,
           {_rating('c')} AS chosen_rating, {_rating('r')} AS rejected_rating,
           c.model AS chosen_model, r.model AS rejected_model, p.judge_margin"""


def _prompt_text() -> str:
    roles = "json_extract_string(prompt_out, '$[*].role')"
    return f"json_extract_string(prompt_out, '$[*].content')[{_last_index(roles, 'user')}]"


def selection_where(sources: Sequence[str], lang: str | None, saved: str | None) -> tuple[str, list[Any]]:
    """Return the WHERE clause (over samples) and parameters of the filters."""
    clauses, params = [ACTIVE], []
    if sources:
        clauses.append("list_contains(?, source)")
        params.append(list(sources))
    if lang in LANG_SQL:
        clauses.append(f"(lang = ? OR (lang IS NULL AND {LANG_SQL[lang]}))")
        params.append(lang)
    elif lang:
        clauses.append("lang = ?")
        params.append(lang)
    if saved:
        clauses.append("id IN (SELECT unnest(sample_ids) FROM selections WHERE name = ?)")
        params.append(saved)
    return " AND ".join(clauses), params


def resolved_sql(where: str, effective: str, revisions: str, *, preference: bool, alpaca: bool,
                 include: Sequence[str], judged_only: bool, langs: Sequence[str] | None, seed: int,
                 dedupe: bool) -> str:
    """Return the SELECT of the working table (columns in the module docstring); `where` filters samples,
    `effective` and `revisions` are the review module's effective-verdict and revision-map SELECTs."""
    in_langs = "TRUE" if langs is None else f"lang IN ({', '.join(repr(str(lang)) for lang in langs)})"
    pair_reasons = """WHEN coalesce(winner, '') = 'tie' THEN 'tie'
            WHEN chosen_id IS NULL OR rejected_id IS NULL OR chosen_id = rejected_id THEN 'no_pair'"""
    answer_reasons = """WHEN answer_id IS NULL OR (answer_id <> id || '/original' AND answer_message IS NULL)
                THEN 'no_answer'"""
    if alpaca:
        answer_reasons += """
            WHEN NOT regexp_full_match(array_to_string(list_filter(
                json_extract_string(coalesce(messages_out, messages), '$[*].role'), lambda r: r <> 'system'), ','),
                'user,assistant(,user,assistant)*') THEN 'not_single_thread'"""
    flagged_answer = ("(list_contains(flagged_cids, chosen_id) OR list_contains(flagged_cids, rejected_id))"
                      if preference else "list_contains(flagged_cids, answer_id)")
    dup_key = ("hash(concat(prompt_out::VARCHAR, chosen_out::VARCHAR, rejected_out::VARCHAR))" if preference
               else "CASE WHEN messages_out IS NULL THEN messages_hash ELSE hash(messages_out::VARCHAR) END")
    needs = ("TRUE" if alpaca else "p.chosen_id IS NOT NULL" if preference
             else "p.answer_id IS NOT NULL AND p.answer_id <> p.id || '/original'")
    zh = LANG_SQL["zh"]

    def selected(column: str) -> str:  # the joins below drop other samples' rows; narrow early only when it pays
        return "TRUE" if where == ACTIVE else f"{column} IN (SELECT id FROM ids)"

    columns = _pair_columns() if preference else _answer_columns()
    return f"""
WITH ids AS (
    SELECT id, row_number() OVER (ORDER BY created_at, import_id, row_number, id) AS ord
    FROM samples WHERE {where}
),
picked AS (
    SELECT s.id, s.source, s.lang IS NULL AS unprofiled,
           coalesce(s.lang, CASE WHEN {zh} THEN 'zh' ELSE 'en' END) AS lang,
           o.ord, hash(s.id, {int(seed)}) AS pick,
           CASE WHEN s.message_roles IS NOT NULL
                THEN list_filter(s.message_roles, lambda r: r <> '{CANDIDATE_ROLE}')[-1]
                ELSE json_extract_string(s.messages, '$[#-1].role') END AS last_role,
           hash(s.messages::VARCHAR) AS messages_hash, s.rowid AS stored_at
    FROM samples s JOIN ids o ON o.id = s.id
),
eff AS (SELECT * FROM ({effective}) WHERE {selected('sample_id')}),
revmap AS ({revisions}),
cands AS (
    SELECT c.id, c.sample_id, c.model, c.label, c.position, c.message, c.origin, c.created_at,
           coalesce(c.extra->>'original', c.id) AS root, TRY_CAST(c.extra->>'turn' AS INTEGER) AS turn,
           c.extra->'rating' AS rating, j.params->>'turn' AS job_turn
    FROM candidates c LEFT JOIN jobs j ON j.id = c.job_id
    WHERE {selected('c.sample_id')}
),
current AS (
    SELECT c.id, c.sample_id, c.model, c.label, c.position, c.message, c.created_at, c.root, c.turn, c.job_turn,
           coalesce(c.rating, r.rating) AS rating, coalesce(r.origin, 'sample') AS root_origin,
           c.message->>'role' AS role
    FROM cands c LEFT JOIN revmap m ON m.cid = c.root LEFT JOIN cands r ON r.id = c.root
    WHERE coalesce(m.cur, c.root) = c.id
),
fallback AS (
    SELECT sample_id,
           first(id ORDER BY created_at DESC, id) FILTER (WHERE root_origin = 'polish') AS polished,
           first(id) FILTER (WHERE root = sample_id || '/original') AS original_revision,
           first(id ORDER BY position, created_at, id)
               FILTER (WHERE role = 'assistant' AND root_origin NOT IN ('polish', 'sample')) AS first_answer,
           first(id ORDER BY position, id)
               FILTER (WHERE label = 'chosen' AND root_origin = 'import') AS imported_chosen,
           first(id ORDER BY position, id)
               FILTER (WHERE label = 'rejected' AND root_origin = 'import') AS imported_rejected
    FROM current GROUP BY sample_id
),
quality AS (
    SELECT sample_id, candidate_ids->>'$[0]' AS cid, json_array_length(outcome, '$.flags') > 0 AS flagged
    FROM (SELECT rowid AS rid, * FROM verdicts WHERE kind = 'quality' AND {selected('sample_id')})
    QUALIFY row_number() OVER (PARTITION BY sample_id, candidate_ids::VARCHAR ORDER BY created_at DESC, rid DESC) = 1
),
flags AS (
    SELECT sample_id, bool_or(flagged) FILTER (WHERE cid IS NULL) AS conversation,
           list(cid) FILTER (WHERE cid IS NOT NULL AND flagged) AS flagged_cids
    FROM quality GROUP BY sample_id
),
chosen AS (
    SELECT p.*, e.sample_id IS NOT NULL AS judged, e.keep, e.winner, e.kind, e.judge, e.parse_status, e.job_id,
           e.margin AS judge_margin, e.verdict_id, coalesce(e.disagrees, FALSE) AS overridden,
           CASE WHEN e.source = 'human' THEN 'human' WHEN e.sample_id IS NOT NULL THEN 'judge' ELSE 'import' END
               AS decided_by,
           CASE WHEN e.chosen IS NOT NULL THEN e.chosen
                WHEN fb.polished IS NOT NULL THEN fb.polished
                WHEN fb.imported_chosen IS NOT NULL THEN fb.imported_chosen
                WHEN fb.original_revision IS NOT NULL THEN fb.original_revision
                WHEN p.last_role = 'assistant' THEN p.id || '/original'
                ELSE fb.first_answer END AS answer_id,
           CASE WHEN e.sample_id IS NOT NULL THEN e.chosen ELSE fb.imported_chosen END AS chosen_id,
           CASE WHEN e.sample_id IS NOT NULL THEN e.rejected ELSE fb.imported_rejected END AS rejected_id
    FROM picked p LEFT JOIN eff e ON e.sample_id = p.id LEFT JOIN fallback fb ON fb.sample_id = p.id
),
context AS (  -- the conversation as a list, parsed only where an answer from elsewhere is put after its prompt
    SELECT p.*, m.messages, json_extract(m.messages, '$[*]') AS msgs, json_extract_string(m.messages, '$[*].role')
           AS roles
    FROM chosen p LEFT JOIN samples m ON m.id = p.id AND {needs}
),
built AS (
    SELECT p.id, p.source, p.lang, p.unprofiled, p.ord, p.stored_at, p.pick, p.judged, p.keep, p.winner, p.kind,
           p.judge, p.parse_status, p.job_id, p.overridden, p.decided_by, p.answer_id, p.chosen_id, p.rejected_id,
           coalesce(f.conversation, FALSE) AS flagged_conversation, f.flagged_cids,
           p.messages_hash, {"p.messages," if alpaca else ""}
           {columns}
    FROM context p
    {"LEFT JOIN current c ON c.id = p.chosen_id LEFT JOIN current r ON r.id = p.rejected_id" if preference
     else "LEFT JOIN current a ON a.id = p.answer_id"}
    {"LEFT JOIN verdicts v ON v.id = p.verdict_id" if preference else ""}
    LEFT JOIN flags f ON f.sample_id = p.id
),
reasoned AS (
    SELECT *,
           {_prompt_text() if preference else "NULL::VARCHAR"} AS prompt_text,
           CASE WHEN decided_by = 'human' THEN NULL
                WHEN decided_by = 'judge' THEN coalesce(judge_margin, chosen_rating - rejected_rating)
                ELSE chosen_rating - rejected_rating END AS margin,
           CASE WHEN keep IS FALSE AND {'rejected' not in include} THEN 'rejected'
                WHEN judged AND keep IS NULL AND {'unparsed' not in include} THEN 'unparsed'
                {pair_reasons if preference else answer_reasons}
                WHEN decided_by <> 'human' AND (flagged_conversation OR coalesce({flagged_answer}, FALSE))
                     AND {'flagged' not in include} THEN 'flagged'
                WHEN NOT judged AND {bool(judged_only)} THEN 'unjudged'
                WHEN NOT {in_langs} THEN 'language'
                END AS base_reason,
           {dup_key} AS dup_key
    FROM built
)
SELECT * EXCLUDE (base_reason, answer_message, messages_hash{", messages" if alpaca else ""}),
       base_reason AS reason
FROM reasoned
"""


def duplicates_sql(table: str, preference: bool) -> str:
    """Return the UPDATE that marks duplicates in the working table: rows whose exported content equals an earlier
    row's (by seeded pick), found by a 64-bit hash and confirmed by md5 of the content itself."""
    content = ("concat(t.prompt_out::VARCHAR, t.chosen_out::VARCHAR, t.rejected_out::VARCHAR)" if preference
               else "coalesce(t.messages_out, s.messages)::VARCHAR")
    return f"""UPDATE {table} SET reason = 'duplicate' WHERE id IN (
    SELECT id FROM (
        SELECT t.id, row_number() OVER (PARTITION BY t.dup_key, md5({content}) ORDER BY t.pick, t.id) AS copy
        FROM {table} t JOIN samples s ON s.id = t.id
        WHERE t.reason IS NULL AND t.dup_key IN (
            SELECT dup_key FROM {table} WHERE reason IS NULL GROUP BY dup_key HAVING count(*) > 1))
    WHERE copy > 1)"""
