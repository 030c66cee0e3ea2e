"""Export speed: the studio's whole export of 500,000 samples against DuckDB's own COPY of the same rows, same run.

The target (issue): writing 500,000 samples as Blossom JSONL takes at most 2x the time of DuckDB's own
`COPY (SELECT id, 'chat' AS type, json_object('source', source) AS metadata, messages FROM samples) TO ... (FORMAT
json)` of the same rows, measured in the same process. Machines are shared and noisy, so the figure is a ratio of
medians, not seconds: each repeat runs the baseline COPY then the studio's `blossom_studio.export.export()` (format
blossom, jsonl, overwrite, a fresh folder each time), alternating, and the ratio is median(studio) / median(COPY)
of the wall times. Before each timed step the earlier files are flushed to disk (os.sync, untimed), so that neither
pays for the other's write-back, and an untimed warm-up round of both comes first (--warmup). Two companions help
to read a noisy run: the best-of ratio (fastest studio run over fastest COPY) and the user-CPU ratio (this
process's user CPU seconds, every DuckDB thread included). On the shared VMs it was written on, the wall time of
the same COPY varied 1.2-4.0 s, and the variance was mostly system time (page faults and page-cache work, which
other tenants disturb), while its user CPU time varied far less.

The studio's time is everything `export()` does: resolving every active sample's effective verdict and answer in
DuckDB (the working table), the left-out reasons and deduplication, the counts, the COPY of the records in import
order, the sha256 of each file, manifest.json, the dataset card, the exports row and the checkpoint. The samples are
stored import after import, each in file order, as the importer appends them, so the studio writes the records in
one scan of samples (with a table aligned to it row for row) instead of sorting them; a database whose storage order
is not its import order takes the sorting path (its figure is in the README).

The database is built untimed, in SQL (seconds, not minutes), with the real migrations: profiled Blossom chat
samples (55% Chinese, 40% English, 5% mixed; 1-3 turns, 15% with a system prompt, answers of a few hundred
characters, some with code, quotes and newlines, 5% of Chinese answers with reasoning_content; 1% of conversations
imported twice under another id, which deduplication drops), imported per source as the importer records them. A
share of the samples (--judged, 10% by default) has a pairwise job's two generated answers and its verdict (9%
split ties, 3% repaired, 3% failed to parse), rule flags on truncated answers, and on 15% of those a human decision
as review.decide writes it (accept, choose, tie, reject; 3% undone, a few answers edited). A rules job checked 20%
of all samples (4% of them flagged). Every exported sample goes through the effective-verdict path; the judged ones
export their chosen generated answer.

--format and --file-type time another layout or file type against the same baseline (the COPY writes the same file
type); a preference export writes only the judged pairs, so its ratio says little. --quick (20,000 samples) is a
smoke run: at that size the export's fixed costs dominate the ratio.

The first export (a warm-up's) is checked, untimed: the rows and bytes in its files match its manifest, its rows plus
the left-out counts equal the selected samples, and the exports table has its row. Human-readable figures go to
stderr; the last stdout line is one JSON object.

    python bench/export_speed.py [--samples 500000] [--runs 3] [--warmup 1] [--format blossom] [--file-type jsonl]
                                 [--quick] [--judged 0.1] [--breakdown] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 2.0  # studio export time / DuckDB COPY time, at most
QUICK_SAMPLES = 20_000
BASELINE_SQL = "SELECT id, 'chat' AS type, json_object('source', source) AS metadata, messages FROM samples"
COPY_OPTIONS = {"jsonl": "FORMAT json", "csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet, COMPRESSION zstd"}

# --- the data ---------------------------------------------------------------------------------------------------------

SOURCES = ["blossom-chat-v3", "blossom-orca-zh", "alpaca-gpt4-zh", "sharegpt-90k-en", "ultrachat-200k-en",
           "coig-cqia", "firefly-zh", "moss-003-sft"]
TASKS = ["general", "reasoning", "coding", "writing", "math", "knowledge", "roleplay", "translation"]
MODELS = ["qwen-plus", "deepseek-chat", "glm-4-plus"]

ZH_SYSTEM = ["你是一个乐于助人的助手，请用简体中文详细回答用户的问题。",
             "你是一名经验丰富的老师，回答要准确、有条理，并给出例子。",
             "请扮演一位专业的技术顾问，回答时先给结论，再解释原因。"]
EN_SYSTEM = ["You are a helpful assistant. Answer accurately and explain your reasoning step by step.",
             "You are an experienced teacher: be precise, structured, and give a short example.",
             "Act as a senior software engineer. Give the answer first, then the reasons."]
ZH_ASK = ["请解释一下为什么天空是蓝色的？", "能不能用简单的话说明光合作用的过程？",
          "帮我写一段关于春天的短文，不少于一百字。", "如何用Python读取一个很大的CSV文件而不占用太多内存？",
          "这句话翻译成英文应该怎么说：“学而不思则罔”。", "请比较一下TCP和UDP的区别，并说明各自适合的场景。",
          "我最近睡眠不好，有什么科学的方法可以改善吗？",
          "一个水池有两个进水管，甲管单独注满需要6小时，乙管需要4小时，两管同时开需要多久？",
          "请列出学习机器学习需要掌握的数学基础。", "给我推荐几本适合入门的历史书，并简单介绍理由。",
          "在团队合作中遇到意见分歧时应该怎么处理？", "什么是通货膨胀？它对普通人的生活有什么影响？"]
ZH_SAY = ["首先，我们需要明确问题的关键所在。", "简单来说，这是由于太阳光在大气中发生了瑞利散射。",
          "波长较短的蓝光比红光更容易被空气分子散射，因此天空呈现蓝色。", "下面我分几个方面来详细说明。",
          "第一，要保持规律的作息时间，每天尽量在同一时间起床和睡觉。", "第二，睡前一小时避免使用手机等电子设备。",
          "可以使用pandas的chunksize参数分块读取，每次只处理一部分数据。",
          "这样做的好处是内存占用稳定，不会随文件大小增长。", "TCP是面向连接的协议，提供可靠的、有序的数据传输。",
          "UDP则是无连接的，传输速度快，但不保证数据一定到达。", "综上所述，选择哪种方式取决于具体的应用场景和需求。",
          "需要注意的是，这个结论只在理想条件下成立。",
          "举个例子，如果你每天坚持阅读半小时，一年下来就能读完二十多本书。",
          "两管同时开，每小时注满1/6+1/4=5/12，所以需要2.4小时。",
          "当然，实际情况可能更复杂，还要考虑其他因素的影响。",
          "希望以上内容对你有所帮助，如果还有问题欢迎继续提问。"]
ZH_THINK = ["嗯，用户问的是一个基础的科学问题，我需要先回忆相关原理。", "让我一步一步地推理，确保每个结论都有依据。",
            "这里容易出错的地方是单位换算，需要仔细核对。", "我应该先给出结论，再补充解释和例子。"]
EN_ASK = ["Can you explain why the sky is blue?", "How do I read a very large CSV file in Python without running "
          "out of memory?", "Write a short poem about autumn leaves falling in the rain.",
          "What is the difference between TCP and UDP, and when should I use each?",
          "Summarize the main causes of the French Revolution in a few sentences.",
          "My code raises \"KeyError: 'id'\" when I parse the JSON. What am I doing wrong?",
          "Give me three tips for writing a good cover letter.", "Solve: a train travels 120 km in 1.5 hours; "
          "what is its average speed?", "Explain recursion to a ten-year-old.",
          "What are the health benefits of regular exercise?"]
EN_SAY = ["Sure! Here is a clear explanation.", "The short answer is Rayleigh scattering: air molecules scatter "
          "short wavelengths of sunlight much more strongly than long ones.", "Let's go through it step by step.",
          "First, read the file in chunks with pandas, e.g. `pd.read_csv(path, chunksize=100_000)`, and process each "
          "chunk on its own.", "Second, select only the columns you need with the usecols argument.",
          "TCP is connection-oriented and guarantees ordered, reliable delivery; UDP is connectionless and faster.",
          "Use TCP for file transfers and web pages, and UDP for real-time audio, video or games.",
          "The average speed is distance divided by time: 120 km / 1.5 h = 80 km/h.",
          "Here is an example:\n\n```python\nimport json\nwith open(\"data.json\") as f:\n    record = json.load(f)\n"
          "print(record.get(\"id\"))\n```", "In other words, the \"KeyError\" means the key is missing, so use .get() "
          "or check the data first.", "Keep in mind that this only holds under ideal conditions.",
          "I hope this helps - let me know if you have any other questions!"]


def _pool(texts: list[str]) -> str:
    """A DuckDB list literal of the texts."""
    return "[" + ", ".join("'" + text.replace("'", "''") + "'" for text in texts) + "]"


def _pick(pool: list[str], seed: str, count: str, sep: str = "''") -> str:
    """SQL: `count` texts of `pool` drawn by hash of `seed` (a SQL expression) and joined by `sep`."""
    return (f"array_to_string(list_transform(range({count}), lambda s: {_pool(pool)}[CAST(hash({seed}, s) % "
            f"{len(pool)} AS INTEGER) + 1]), {sep})")


def _text(role: str, lang: str, seed: str) -> str:
    """SQL: a text of `role` (system, user, assistant) in language `lang` (a SQL expression, 'zh' or 'en')."""
    if role == "system":
        zh, en = _pick(ZH_SYSTEM, seed, "1"), _pick(EN_SYSTEM, seed, "1")
    elif role == "user":
        more = _pick(ZH_SAY, seed + ", 7", f"CAST(hash({seed}, 1) % 3 AS INTEGER)")
        zh = f"{_pick(ZH_ASK, seed, '1')} || {more}"
        more = _pick(EN_SAY, seed + ", 7", f"CAST(hash({seed}, 1) % 2 AS INTEGER)", "' '")
        en = f"{_pick(EN_ASK, seed, '1')} || ' ' || {more}"
    else:
        zh = _pick(ZH_SAY, seed, f"5 + CAST(hash({seed}, 2) % 10 AS INTEGER)")
        en = _pick(EN_SAY, seed, f"3 + CAST(hash({seed}, 2) % 5 AS INTEGER)", "' '")
    return f"(CASE WHEN {lang} = 'zh' THEN {zh} ELSE {en} END)"


def _message(role: str, lang: str, seed: str, reasoning: str = "FALSE") -> str:
    """SQL: a JSON message {role, content[, reasoning_content]} (content unique to the seed)."""
    content = _text(role, lang, seed)
    if role == "user":  # the question number keeps conversations apart (and deduplication honest)
        number = f"(CASE WHEN {lang} = 'zh' THEN '（第' || {seed} || '题）' ELSE '(#' || {seed} || ') ' END)"
        content = f"{number} || {content}"
    think = _pick(ZH_THINK, seed, "2")
    return (f"CASE WHEN {reasoning} THEN json_object('role', '{role}', 'content', {content}, 'reasoning_content', "
            f"{think}) ELSE json_object('role', '{role}', 'content', {content}) END")


IMPORTS = f"""
INSERT INTO imports (id, path, file_type, format, source, records, imported, duplicates, bad, errors, started_at,
                     finished_at)
SELECT 'imp-' || s, '/data/raw/' || name || '.jsonl', 'jsonl', 'blossom', name, 0, 0, 0, 0, '[]',
       TIMESTAMP '2025-05-01 08:00:00' + to_minutes(s * 10), TIMESTAMP '2025-05-01 08:05:00' + to_minutes(s * 10)
FROM (SELECT unnest({_pool(SOURCES)}) AS name, generate_subscripts({_pool(SOURCES)}, 1) AS s)
"""

# One row per sample: k is the conversation's seed (1% of the samples repeat the previous conversation under
# another record id: the importer keeps them, since the metadata differ, and the export's dedupe drops them).
SAMPLES = f"""
INSERT INTO samples (id, source, source_id, type, format, messages, metadata, reference, content_hash, import_id,
                     row_number, turns, status, created_at, lang, lang_code, prompt_lang, response_lang,
                     lang_mismatch, traditional, message_roles, message_langs, message_chars, message_words,
                     zh_chars, en_words, chars, prompt_chars, response_chars, words, profile_version)
WITH base AS (
    SELECT i, CASE WHEN i > 0 AND hash(i, 'dup') % 100 = 0 THEN i - 1 ELSE i END AS k,
           CAST(floor({len(SOURCES)} * pow((hash(i, 'src') % 10007) / 10007.0, 1.6)) AS INTEGER) + 1 AS s
    FROM range({{n}}) AS t(i)
), shaped AS (
    SELECT *, {_pool(SOURCES)}[s] AS source,
           CASE WHEN hash(k, 'lang') % 100 < 55 THEN 'zh' WHEN hash(k, 'lang') % 100 < 95 THEN 'en' ELSE 'mixed'
               END AS lang,
           1 + CAST((CASE WHEN hash(k, 'turns') % 100 < 55 THEN 0 WHEN hash(k, 'turns') % 100 < 85 THEN 1 ELSE 2 END)
                    AS INTEGER) AS turns,
           hash(k, 'sys') % 100 < 15 AS sys, hash(k, 'trad') % 23 = 0 AS trad
    FROM base
), roled AS (
    SELECT *, list_concat(CASE WHEN sys THEN ['system'] ELSE []::VARCHAR[] END,
                          flatten(list_transform(range(turns), lambda t: ['user', 'assistant']))) AS roles
    FROM shaped
), texts AS (
    SELECT *, list_transform(roles, lambda r: CASE WHEN lang = 'en' OR (lang = 'mixed' AND r = 'assistant')
                                                  THEN 'en' ELSE 'zh' END) AS langs
    FROM roled
), built AS (
    SELECT *, list_transform(roles, lambda r, j: CASE r
                  WHEN 'system' THEN {_message('system', 'langs[j]', 'k * 8 + j')}
                  WHEN 'user' THEN {_message('user', 'langs[j]', 'k * 8 + j')}
                  ELSE {_message('assistant', 'langs[j]', 'k * 8 + j',
                                 "langs[j] = 'zh' AND hash(k, j, 'think') % 20 = 0")} END) AS msgs
    FROM texts
), measured AS (
    SELECT *, list_transform(msgs, lambda m: length(m->>'content')) AS lens
    FROM built
)
SELECT left(sha256('sample:' || i), 16), source, source || '-' || i, 'chat', 'blossom', to_json(msgs),
       json_object('source', source, 'task', {_pool(TASKS)}[CAST(hash(k, 'task') % {len(TASKS)} AS INTEGER) + 1]),
       NULL, sha256('sample:' || i), 'imp-' || s, i, turns, 'active',
       TIMESTAMP '2025-05-01 08:05:00' + to_minutes(s * 10),
       lang, CASE lang WHEN 'zh' THEN (CASE WHEN trad THEN 'zh-Hant' ELSE 'zh-Hans' END) WHEN 'en' THEN 'en' END,
       langs[list_position(roles, 'user')], langs[len(langs)], lang = 'mixed', lang = 'zh' AND trad,
       roles, langs, lens,
       list_transform(lens, lambda c, j: CAST(CASE WHEN langs[j] = 'zh' THEN c * 0.6 ELSE c / 5.5 END AS INTEGER)),
       CAST(list_sum(list_transform(lens, lambda c, j: CASE WHEN langs[j] = 'zh' THEN c * 0.8 ELSE 0 END))
            AS INTEGER),
       CAST(list_sum(list_transform(lens, lambda c, j: CASE WHEN langs[j] = 'en' THEN c / 5.5 ELSE 0 END))
            AS INTEGER),
       list_sum(lens),
       list_sum(list_transform(roles, lambda r, j: CASE WHEN r = 'user' THEN lens[j] ELSE 0 END)),
       list_sum(list_transform(roles, lambda r, j: CASE WHEN r = 'assistant' THEN lens[j] ELSE 0 END)),
       CAST(list_sum(list_transform(lens, lambda c, j: CASE WHEN langs[j] = 'zh' THEN c * 0.6 ELSE c / 5.5 END))
            AS INTEGER),
       1
FROM measured
ORDER BY s, i  -- stored import after import, each in file order, as the importer appends them
"""

UPDATE_IMPORTS = """
UPDATE imports SET records = n, imported = n
FROM (SELECT import_id, count(*) AS n FROM samples GROUP BY ALL) AS c WHERE c.import_id = imports.id
"""

# The pairwise job's samples: a share of all samples, with two generated answers (respondents and judge drawn
# from three models), in the sample's answer language.
JUDGED = """
CREATE TEMP TABLE bench_judged AS
SELECT id AS sample_id, row_number AS i, message_langs[len(message_langs)] AS lang,
       CAST(hash(row_number, 'v') % 100 AS INTEGER) AS p, CAST(hash(row_number, 'w') % 2 AS INTEGER) AS w,
       CAST(row_number % 3 AS INTEGER) AS m
FROM samples WHERE hash(row_number, 'judge') % 10000 < {per_10k}
"""

CANDIDATES = f"""
INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, finish_reason, call_key, origin,
                        extra, created_at)
SELECT left(md5('cand:' || sample_id || ':' || k), 16), sample_id, 'job-pairwise',
       {_pool(MODELS)}[(m + k) % 3 + 1], chr(65 + k), k,
       {_message('assistant', 'lang', 'i * 8 + 5 + k', "lang = 'zh' AND hash(i, k) % 20 = 0")},
       CASE WHEN hash(i, k, 'len') % 100 = 0 THEN 'length' ELSE 'stop' END, md5('call:' || sample_id || ':' || k),
       'generate', CASE WHEN hash(i, k, 'len') % 100 = 0 THEN '{{"truncated": true}}' END,
       TIMESTAMP '2025-06-01 08:00:00' + to_seconds(i)
FROM bench_judged, (SELECT CAST(range AS INTEGER) AS k FROM range(2))
"""

# Pairwise verdicts as the strategy writes them: 3% failed to parse (no outcome), 3% repaired, 9% split ties.
VERDICTS = f"""
INSERT INTO verdicts (id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale,
                      raw_output, parse_status, details, call_keys, created_at)
WITH v AS (
    SELECT *, [left(md5('cand:' || sample_id || ':0'), 16), left(md5('cand:' || sample_id || ':1'), 16)] AS ids,
           [{_pool(MODELS)}[m + 1], {_pool(MODELS)}[(m + 1) % 3 + 1]] AS shown,
           {_pool(MODELS)}[(m + 2) % 3 + 1] AS judge,
           CASE WHEN p >= 97 THEN 'failed' WHEN p >= 94 THEN 'repaired' ELSE 'ok' END AS status,
           CASE WHEN p < 9 THEN 'tie' WHEN w = 0 THEN 'A' ELSE 'B' END AS winner
    FROM bench_judged
)
SELECT left(md5('verdict:' || sample_id), 16), sample_id, 'job-pairwise', 'pairwise', judge, to_json(ids),
       to_json(shown),
       CASE WHEN status = 'failed' THEN NULL
            WHEN winner = 'tie' THEN json_object('winner', 'tie', 'split', TRUE)
            ELSE json_object('winner', winner, 'split', FALSE, 'chosen', ids[w + 1], 'rejected', ids[2 - w]) END,
       CASE WHEN status <> 'failed' THEN 'Answer ' || winner || ' follows the instruction more closely. '
                                         || repeat('理由充分，步骤完整。', 8) END,
       '[[' || winner || ']] ' || repeat('reasoning ', 30) || chr(10) || chr(10) || '--- swapped order ---'
           || chr(10) || chr(10) || '[[' || CASE winner WHEN 'A' THEN 'B' WHEN 'B' THEN 'A' ELSE 'A' END || ']]',
       status,
       json_object('orders', [json_object('shown', shown, 'verdict', CASE WHEN status <> 'failed' THEN winner END,
                                          'parse_status', status),
                              json_object('shown', list_reverse(shown), 'verdict',
                                          CASE WHEN status <> 'failed' THEN winner END, 'parse_status', status)]),
       to_json([md5('judge:' || sample_id), md5('judge:' || sample_id || ':swap')]),
       TIMESTAMP '2025-06-01 08:00:01' + to_seconds(i)
FROM v
"""

# The generate step's rule verdicts on truncated answers (finish_reason length), then a rules job over 20% of
# all samples (4% of those flagged).
QUALITY = f"""
INSERT INTO verdicts (id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale,
                      raw_output, parse_status, details, call_keys, created_at)
SELECT left(md5('quality:' || id), 16), sample_id, job_id, 'quality', 'rule', to_json([id]), to_json([model]),
       '{{"flags": ["truncated"]}}', 'the answer stopped at the token limit (finish_reason=length)', NULL, 'rule',
       NULL, '[]', created_at
FROM candidates WHERE finish_reason = 'length'
UNION ALL
SELECT left(md5('rules:' || id), 16), id, 'job-rules', 'quality', 'rule', '[]', '[]',
       CASE WHEN hash(row_number, 'flag') % 100 < 4
            THEN json_object('flags', [{_pool(['repetition', 'refusal', 'placeholder', 'too_short'])}[
                 CAST(hash(row_number, 'which') % 4 AS INTEGER) + 1]])
            ELSE '{{"flags": []}}' END,
       CASE WHEN hash(row_number, 'flag') % 100 < 4 THEN 'flagged by rule' END, NULL, 'rule', NULL, '[]',
       TIMESTAMP '2025-05-20 10:00:00' + to_seconds(row_number)
FROM samples WHERE hash(row_number, 'rules') % 100 < 20
"""

JOBS = f"""
INSERT INTO jobs (id, name, strategy, roles, roster, params, selection, seed, status, items, created_by, created_at,
                  started_at, finished_at)
SELECT job_id, name, strategy, roles, to_json({_pool(MODELS)}), '{{}}', '{{"source": null}}', 7, 'done', items,
       'bench', first, first, last
FROM (VALUES ('job-pairwise', 'pairwise-zh-en', 'pairwise',
              '{{"A": "qwen-plus", "B": "deepseek-chat", "C": "glm-4-plus"}}'),
             ('job-rules', 'rules-all', 'rules', '{{}}')) AS j(job_id, name, strategy, roles)
JOIN (SELECT job_id, count(DISTINCT sample_id) AS items, min(created_at) AS first, max(created_at) AS last
      FROM verdicts GROUP BY job_id) USING (job_id)
"""

# 15% of the pairwise samples decided by one of four reviewers, with review.decide's payloads: accept 50% (the
# judge's values; a failed parse cannot be accepted, so those are chosen), choose 30% (often against the judge),
# tie 5%, reject 15%.
DECISIONS = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
WITH d AS (
    SELECT j.*, v.id AS verdict_id, v.outcome, v.parse_status, v.candidate_ids AS ids,
           CAST(hash(i, 'act') % 100 AS INTEGER) AS r, CAST(hash(i, 'pick') % 2 AS INTEGER) AS pick
    FROM bench_judged j JOIN verdicts v ON v.sample_id = j.sample_id AND v.kind = 'pairwise'
    WHERE hash(i, 'decide') % 100 < 15
), acted AS (
    SELECT *, CASE WHEN r < 50 AND parse_status <> 'failed' THEN 'accept' WHEN r < 80 OR parse_status = 'failed'
                   THEN 'choose' WHEN r < 85 THEN 'tie' ELSE 'reject' END AS act
    FROM d
)
SELECT CAST(md5('decision:' || sample_id) AS UUID)::VARCHAR, sample_id, verdict_id,
       ['alice', 'bob', 'carol', 'dan'][CAST(hash(i, 'who') % 4 AS INTEGER) + 1], act,
       CASE act WHEN 'accept' THEN json_object('keep', TRUE, 'winner', outcome->>'winner',
                                               'chosen', outcome->>'chosen', 'rejected', outcome->>'rejected')
                WHEN 'choose' THEN json_object('keep', TRUE, 'winner', chr(65 + pick), 'chosen', ids->>pick,
                                               'rejected', ids->>(1 - pick))
                WHEN 'tie' THEN json_object('keep', TRUE, 'winner', 'tie', 'chosen', NULL, 'rejected', NULL)
                ELSE json_object('keep', FALSE, 'winner', NULL, 'chosen', NULL, 'rejected', NULL) END,
       CASE WHEN r % 9 = 0 THEN 'checked the numbers' END,
       TIMESTAMP '2025-07-01 09:00:00' + to_seconds(i)
FROM acted ORDER BY i
"""

# 2% of the decided samples had their chosen answer edited first (a candidates row with origin 'edit' and an
# edit decision), and 3% of the decisions were undone.
EDITS = """
INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, finish_reason, call_key, origin,
                        extra, created_at)
SELECT c.id || '~' || left(md5(c.id), 12), c.sample_id, c.job_id, c.model, c.label, c.position,
       json_object('role', 'assistant', 'content', 'Edited: ' || (c.message->>'content')), c.finish_reason,
       c.call_key, 'edit', json_object('revision_of', c.id, 'editor', d.reviewer, 'original', c.id),
       d.created_at - INTERVAL 1 MINUTE
FROM decisions d JOIN candidates c ON c.id = d.payload->>'chosen'
WHERE d.action IN ('accept', 'choose') AND hash(d.id, 'edit') % 100 < 2
"""
EDIT_DECISIONS = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
SELECT CAST(md5('edit:' || c.id) AS UUID)::VARCHAR, c.sample_id, d.verdict_id, c.extra->>'editor', 'edit',
       json_object('candidate_id', c.id, 'revision_of', c.extra->>'revision_of', 'original', c.extra->>'original'),
       'fixed a wrong step', c.created_at
FROM candidates c JOIN decisions d ON d.sample_id = c.sample_id AND d.action <> 'edit'
WHERE c.origin = 'edit'
"""
UNDOS = """
INSERT INTO decisions (id, sample_id, verdict_id, reviewer, action, payload, note, created_at)
SELECT CAST(md5('undo:' || d.id) AS UUID)::VARCHAR, d.sample_id, d.verdict_id, d.reviewer, 'undo',
       json_object('undoes', d.id, 'action', d.action), NULL, d.created_at + INTERVAL 1 MINUTE
FROM decisions d WHERE d.action IN ('accept', 'choose', 'tie', 'reject') AND hash(d.id, 'undo') % 100 < 3
ORDER BY d.created_at
"""


def build(path: Path, samples: int, judged: float) -> None:
    """Create the studio database with the real migrations and fill it in SQL (see the module docstring)."""
    from blossom_studio.store import open_store

    with open_store(path) as store:
        with store.write() as cursor:
            cursor.execute(IMPORTS)
            cursor.execute(SAMPLES.format(n=samples))
            cursor.execute(UPDATE_IMPORTS)
            cursor.execute(JUDGED.format(per_10k=round(judged * 10_000)))
            cursor.execute(CANDIDATES)
            cursor.execute(VERDICTS)
            cursor.execute(QUALITY)
            cursor.execute(JOBS)
            cursor.execute(DECISIONS)
            cursor.execute(EDITS)
            cursor.execute(EDIT_DECISIONS)
            cursor.execute(UNDOS)
            cursor.execute("DROP TABLE bench_judged")
        store.checkpoint()


def describe(store: Any) -> dict[str, Any]:
    """Row counts of the tables the export reads, verdicts by kind and status, decisions by action, and sizes."""
    counts = {table: store.query(f"SELECT count(*) FROM {table}")[0][0]
              for table in ("samples", "candidates", "verdicts", "decisions", "jobs")}
    langs = dict(store.query("SELECT lang, count(*) FROM samples GROUP BY ALL ORDER BY ALL"))
    kinds = {f"{kind}/{status}": n for kind, status, n in store.query(
        "SELECT kind, parse_status, count(*) FROM verdicts GROUP BY ALL ORDER BY ALL")}
    actions = dict(store.query("SELECT action, count(*) FROM decisions GROUP BY ALL ORDER BY ALL"))
    chars, turns = store.query("SELECT avg(chars), avg(turns) FROM samples")[0]
    return {**counts, "by_lang": langs, "verdicts": kinds, "decisions_by_action": actions,
            "mean_chars": round(chars or 0), "mean_turns": round(turns or 0, 2),
            "megabytes": round(store.path.stat().st_size / 1e6, 1)}


# --- what is timed ----------------------------------------------------------------------------------------------------


class Timing(NamedTuple):
    """One timed step: wall seconds, and this process's user and system CPU seconds (every DuckDB thread)."""

    wall: float
    user: float
    system: float


@contextmanager
def timed(into: list[Timing]) -> Iterator[None]:
    """Append the wall and CPU times of the block to `into`, after flushing earlier writes to disk (untimed), so that
    neither step pays for the other's write-back."""
    os.sync()
    before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    yield
    wall, after = time.perf_counter() - wall, resource.getrusage(resource.RUSAGE_SELF)
    into.append(Timing(wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))


def copy_baseline(store: Any, path: Path, file_type: str) -> int:
    """DuckDB's own COPY of every sample's id, type, source metadata and messages; return the rows written."""
    target = "'" + str(path).replace("'", "''") + "'"
    return int(store.read().execute(f"COPY ({BASELINE_SQL}) TO {target} ({COPY_OPTIONS[file_type]})").fetchall()[0][0])


def count_lines(path: Path) -> int:
    """Count the newline-terminated records of a JSONL file."""
    lines = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            lines += block.count(b"\n")
    return lines


def verify(store: Any, result: Any, samples: int) -> dict[str, Any]:
    """Check (untimed) that the export wrote what its manifest says and that every selected sample is accounted for;
    return the checks' figures. Raises SystemExit when a check fails."""
    from blossom_studio.export.writer import sha256

    manifest = json.loads((result.folder / "manifest.json").read_text("utf-8"))
    counts = manifest["counts"]
    problems = []
    written = 0
    for entry in manifest["files"]:
        path = result.folder / entry["path"]
        if sha256(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: its sha256 is not the manifest's")
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['path']}: {path.stat().st_size} bytes on disk, the manifest says {entry['bytes']}")
        if manifest["file_type"] == "jsonl":
            lines = count_lines(path)
            written += lines
            if lines != entry["rows"]:
                problems.append(f"{entry['path']}: {lines} lines, the manifest says {entry['rows']} rows")
            with path.open("rb") as handle:
                first = json.loads(handle.readline())
            if manifest["format"] == "blossom" and not (first.get("type") == "chat" and first.get("messages")
                                                        and first.get("metadata", {}).get("source")):
                problems.append(f"{entry['path']}: the first record is not a Blossom chat record: {first}")
        else:
            written += entry["rows"]
    left_out = sum(counts["left_out"].values())
    if counts["selected"] != samples:
        problems.append(f"{counts['selected']} samples selected, but the database holds {samples} active samples")
    if counts["rows"] + left_out != counts["selected"]:
        problems.append(f"{counts['rows']} rows + {left_out} left out != {counts['selected']} selected")
    if written != counts["rows"]:
        problems.append(f"{written} rows in the files, the manifest counts {counts['rows']}")
    recorded = store.query("SELECT rows FROM exports WHERE id = ?", [result.id])
    if not recorded or recorded[0][0] != counts["rows"]:
        problems.append(f"the exports table row of {result.id} is {recorded}, not {counts['rows']} rows")
    if problems:
        raise SystemExit("the export does not add up:\n  " + "\n  ".join(problems))
    return {"rows": counts["rows"], "selected": counts["selected"], "left_out": counts["left_out"],
            "by_verdict": counts["by_verdict"], "human_decisions": counts["human_decisions"],
            "overrides": counts["overrides"]}


@contextmanager
def _spy(module: Any, name: str, into: dict[str, float]) -> Iterator[None]:
    """Wrap `module.name` so that the seconds spent in it add up in `into[name]`; restore it on exit."""
    original: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def breakdown(store: Any, request: Any, folder: Path) -> dict[str, float]:
    """One more export, timed by phase: the working table, the counts, the data files' COPY, their sha256, and
    the rest (the table aligned with samples, manifest, card, exports row, checkpoint). Not part of the ratio."""
    from blossom_studio.export import plan as plan_module
    from blossom_studio.export import writer

    phases: dict[str, float] = {}
    with _spy(writer, "_copy", phases), _spy(writer, "sha256", phases), _spy(plan_module, "_count", phases):
        os.sync()
        start = time.perf_counter()
        with plan_module.prepare_export(store, request) as plan:
            prepared = time.perf_counter()
            writer.write_export(store, plan, folder, overwrite=True, created_by="bench")
            written = time.perf_counter()
        end = time.perf_counter()
    prepare, write = prepared - start, written - prepared
    copy, digest = phases.get("_copy", 0.0), phases.get("sha256", 0.0)
    figures = {
        "prepare_export": prepare,
        "prepare_export.working_table": prepare - phases.get("_count", 0.0),
        "prepare_export.counts": phases.get("_count", 0.0),
        "write_export": write,
        "write_export.copy_records": copy,
        "write_export.sha256": digest,
        "write_export.aligned_table_manifest_card_row_checkpoint": write - copy - digest,
        "drop_working_table": end - written,
        "total": end - start,
    }
    return {name: round(seconds, 3) for name, seconds in figures.items()}


def main() -> None:
    """Build (or reuse) the database, time the baseline COPY and the studio export alternately, verify the export,
    and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES:,} samples, for a smoke run")
    parser.add_argument("--runs", "--repeat", type=int, default=3, help="alternating repeats of both timings")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds of both first (the first is verified)")
    parser.add_argument("--format", default="blossom", help="the export format (blossom, openai, sharegpt, alpaca, "
                        "preference); the baseline stays the Blossom-shaped COPY")
    parser.add_argument("--file-type", default="jsonl", choices=sorted(COPY_OPTIONS),
                        help="the export's file type; the baseline COPY writes the same type")
    parser.add_argument("--judged", type=float, default=0.10, help="share of samples with a pairwise job's answers")
    parser.add_argument("--breakdown", action="store_true", help="then time one more export by phase")
    parser.add_argument("--db", type=Path, help="build the database here and keep it; reuse it when it exists")
    args = parser.parse_args()
    samples = QUICK_SAMPLES if args.quick else args.samples
    if samples < 100 or args.runs < 1 or args.warmup < 0 or not 0 <= args.judged <= 1:
        parser.error("need --samples of at least 100, --runs of at least 1, --warmup of at least 0 and --judged in "
                     "[0, 1]")
    import duckdb

    from blossom_studio.export import FORMATS, ExportRequest, export
    from blossom_studio.store import open_store

    if args.format not in FORMATS:
        parser.error(f"unknown --format {args.format!r}; use one of {', '.join(FORMATS)}")
    request = ExportRequest(format=args.format, file_type=args.file_type)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="blossom-bench-") as tmp:
        folder = Path(tmp)
        path = args.db or folder / "export.duckdb"
        built = None
        if not path.exists():
            start = time.perf_counter()
            build(path, samples, args.judged)
            built = round(time.perf_counter() - start, 1)
            print(f"built {path} in {built} s", file=sys.stderr)
        else:
            print(f"reusing {path}", file=sys.stderr)
        with open_store(path) as store:  # reopened: the first run of each reads the file again
            shape = describe(store)
            active = store.query("SELECT count(*) FROM samples WHERE status = 'active'")[0][0]
            print(f"data: {json.dumps(shape, ensure_ascii=False)}", file=sys.stderr)
            threads = store.query("SELECT current_setting('threads')")[0][0]
            copies: list[Timing] = []
            studios: list[Timing] = []
            copy_rows = copy_bytes = studio_bytes = 0
            checks: dict[str, Any] = {}
            for run in range(1 - args.warmup, args.runs + 1):
                label = f"warm-up {run + args.warmup}/{args.warmup}" if run < 1 else f"run {run}/{args.runs}"
                target = folder / f"copy{run}.{args.file_type}"
                with timed(copies):
                    copy_rows = copy_baseline(store, target, args.file_type)
                copy_bytes = target.stat().st_size
                target.unlink()
                out = folder / f"studio{run}"
                with timed(studios):
                    result = export(store, request, out, overwrite=True, created_by="bench")
                studio_bytes = sum(entry["bytes"] for entry in result.manifest["files"])
                exported = result.manifest["counts"]["rows"]
                copy, studio = copies[-1], studios[-1]
                print(f"{label}: duckdb COPY {copy.wall:.2f} s (user {copy.user:.2f} s, sys {copy.system:.2f} s, "
                      f"{copy_rows:,} rows, {copy_bytes / 1e6:,.0f} MB); studio export {studio.wall:.2f} s (user "
                      f"{studio.user:.2f} s, sys {studio.system:.2f} s, {exported:,} rows, "
                      f"{studio_bytes / 1e6:,.0f} MB); ratio {studio.wall / copy.wall:.2f}", file=sys.stderr)
                if not checks:
                    checks = verify(store, result, active)
                shutil.rmtree(out)
                if run < 1:  # warm-ups are not counted
                    copies.pop()
                    studios.pop()
            phases = None
            if args.breakdown:
                phases = breakdown(store, request, folder / "breakdown")
                shutil.rmtree(folder / "breakdown")
                print("breakdown of one more export (s): " + ", ".join(f"{k} {v}" for k, v in phases.items()),
                      file=sys.stderr)
    copy_median = statistics.median(t.wall for t in copies)
    studio_median = statistics.median(t.wall for t in studios)
    ratio = studio_median / copy_median
    best_ratio = min(t.wall for t in studios) / min(t.wall for t in copies)
    user_ratio = statistics.median(t.user for t in studios) / statistics.median(t.user for t in copies)
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    left_out = ", ".join(f"{reason} {n:,}" for reason, n in checks["left_out"].items()) or "none"
    print(f"{checks['rows']:,} rows exported of {checks['selected']:,} selected (left out: {left_out}), "
          f"{studio_bytes / 1e6:,.1f} MB; the COPY wrote {copy_rows:,} rows, {copy_bytes / 1e6:,.1f} MB",
          file=sys.stderr)
    print(f"median of {args.runs}: studio export {studio_median:.2f} s, duckdb COPY {copy_median:.2f} s -> ratio "
          f"{ratio:.2f} (target <= {TARGET_RATIO:g}) {verdict}  [best-of ratio {best_ratio:.2f}, user-CPU ratio "
          f"{user_ratio:.2f}]", file=sys.stderr)
    result_json = {
        "samples": active, "format": args.format, "file_type": args.file_type, "judged_share": args.judged,
        "data": shape, "build_seconds": built, "duckdb": duckdb.__version__, "threads": threads, "runs": args.runs,
        "warmup": args.warmup, "rows_exported": checks["rows"], "rows_selected": checks["selected"],
        "left_out": checks["left_out"],
        "by_verdict": checks["by_verdict"], "human_decisions": checks["human_decisions"],
        "export_bytes": studio_bytes, "copy_rows": copy_rows, "copy_bytes": copy_bytes,
        "studio_seconds": [round(t.wall, 3) for t in studios], "copy_seconds": [round(t.wall, 3) for t in copies],
        "studio_user_cpu_seconds": [round(t.user, 3) for t in studios],
        "studio_sys_cpu_seconds": [round(t.system, 3) for t in studios],
        "copy_user_cpu_seconds": [round(t.user, 3) for t in copies],
        "copy_sys_cpu_seconds": [round(t.system, 3) for t in copies],
        "studio_median_seconds": round(studio_median, 3), "copy_median_seconds": round(copy_median, 3),
        "ratio": round(ratio, 3), "best_of_ratio": round(best_ratio, 3), "user_cpu_ratio": round(user_ratio, 3),
        "baseline": f"duckdb COPY ({BASELINE_SQL}) TO file ({COPY_OPTIONS[args.file_type]}), same rows, same run "
                    "(ratio = median studio export wall time / median COPY wall time)",
        "target_ratio": TARGET_RATIO, "verdict": verdict, "targets_met": {"ratio": ratio <= TARGET_RATIO},
        "breakdown_seconds": phases, "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result_json, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
