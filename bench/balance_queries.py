"""Time every query the Balance tab runs on load, over 500,000 profiled samples generated in SQL; each must be < 1 s."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_SECONDS = 1.0
SOURCES = 8

# Sources are skewed (src_0 is the biggest); languages zh 48%, en 35%, mixed 10%, code 4%, other 3%; 2-4 entries
# per sample (system, user, assistant, imported candidates); 2% of zh/en samples answer in the other language; 1 in 23
# Chinese samples is Traditional; 5% of samples wait for the word pass (words NULL). Message texts are about as
# long as their profiled length (capped at 4,000), so that reading them costs what it would.
GENERATE = """
INSERT INTO samples (id, source, type, format, messages, metadata, content_hash, row_number, turns, lang, lang_code,
                     prompt_lang, response_lang, lang_mismatch, traditional, message_roles, message_langs,
                     message_chars, message_words, zh_chars, en_words, chars, prompt_chars, response_chars, words,
                     profile_version)
WITH base AS (
    SELECT i, hash(i) AS h FROM range({n}) AS t(i)
), shaped AS (
    SELECT i, h,
           'src_' || CAST(floor({sources} * pow((h % 10007) / 10007.0, 2)) AS INTEGER) AS source,
           CASE WHEN (h >> 8) % 100 < 48 THEN 'zh' WHEN (h >> 8) % 100 < 83 THEN 'en'
                WHEN (h >> 8) % 100 < 93 THEN 'mixed' WHEN (h >> 8) % 100 < 97 THEN 'code' ELSE 'other' END AS lang,
           [['user', 'assistant'], ['system', 'user', 'assistant'], ['user', 'assistant', 'user', 'assistant'],
            ['user', 'assistant', 'candidate', 'candidate']][CAST((h >> 16) % 4 AS BIGINT) + 1] AS roles,
           (h >> 24) % 50 = 0 AS flip,
           (h >> 32) % 20 = 0 AS uncounted
    FROM base
), entries AS (
    SELECT *,
           list_transform(roles, lambda r: CASE
               WHEN lang = 'mixed' THEN (CASE WHEN r = 'user' THEN 'zh' ELSE 'en' END)
               WHEN flip AND lang IN ('zh', 'en') AND r IN ('assistant', 'candidate')
                   THEN (CASE WHEN lang = 'zh' THEN 'en' ELSE 'zh' END)
               ELSE lang END) AS langs,
           list_transform(roles, lambda r, j: CAST(floor(pow(10, 1 + 3 * ((hash(i * 8 + j) % 10000) / 10000.0)))
                                                   AS INTEGER)) AS lens
    FROM shaped
), counted AS (
    SELECT *,
           CASE WHEN NOT uncounted THEN list_transform(lens, lambda c, j: CAST(
               CASE WHEN langs[j] = 'zh' THEN c * 0.6 ELSE c / 5 END AS INTEGER)) END AS word_list
    FROM entries
)
SELECT printf('s%09d', i), source, 'chat', 'openai',
       to_json(list_transform(list_filter(roles, lambda r: r <> 'candidate'), lambda r, j: {{
           'role': r, 'content': CASE WHEN langs[j] = 'zh' THEN '请解释第' || i || '个问题：为什么天空是蓝色的？'
                                      ELSE 'Explain question ' || i || ': why is the sky blue?' END
                                 || repeat(' ' || md5(CAST(i * 8 + j AS VARCHAR)), least(lens[j], 4000) // 33)}})),
       '{{}}', md5(CAST(i AS VARCHAR)), i, len(list_filter(roles, lambda r: r = 'user')),
       lang, CASE lang WHEN 'zh' THEN (CASE WHEN h % 23 = 0 THEN 'zh-Hant' ELSE 'zh-Hans' END)
                       WHEN 'en' THEN 'en' WHEN 'other' THEN 'fr' END,
       langs[list_position(roles, 'user')], langs[list_position(roles, 'assistant')],
       flip AND lang IN ('zh', 'en'), lang = 'zh' AND h % 23 = 0,
       roles, langs, lens, word_list,
       CAST(CASE lang WHEN 'zh' THEN list_sum(lens) * 0.8 WHEN 'mixed' THEN list_sum(lens) * 0.4 ELSE 0 END AS INTEGER),
       CAST(CASE WHEN lang IN ('en', 'mixed', 'code') THEN list_sum(lens) / 5 ELSE 0 END AS INTEGER),
       list_sum(lens),
       list_sum(list_transform(roles, lambda r, j: CASE WHEN r = 'user' THEN lens[j] ELSE 0 END)),
       list_sum(list_transform(roles, lambda r, j: CASE WHEN r IN ('assistant', 'candidate') THEN lens[j] ELSE 0 END)),
       list_sum(word_list), 1
FROM counted
"""

WORDS = """
INSERT INTO word_counts
SELECT 'src_' || s, lang, CASE WHEN s = 3 AND j = 0 AND lang = 'en' THEN '{{{{name}}}}'
                              WHEN lang = 'zh' THEN '词' || j ELSE 'w' || j END,
       CAST(1000000 / (j + 1) + s AS BIGINT)
FROM range({sources}) AS a(s), (VALUES ('zh'), ('en')) AS b(lang), range({per}) AS c(j)
"""


def build(path: Path, samples: int, words_per_list: int) -> dict[str, Any]:
    """Create the studio database with the real migrations, fill it in SQL, and return its row counts."""
    from blossom_studio.store import open_store

    with open_store(path) as store:
        with store.write() as cursor:
            cursor.execute(GENERATE.format(n=samples, sources=SOURCES))
            cursor.execute(WORDS.format(sources=SOURCES, per=words_per_list))
        store.checkpoint()
        (rows, entries, mismatched, traditional, uncounted), = store.query(
            "SELECT count(*), sum(len(message_roles)), count(*) FILTER (WHERE lang_mismatch), "
            "count(*) FILTER (WHERE traditional), count(*) FILTER (WHERE words IS NULL) FROM samples")
        words = store.query("SELECT count(*) FROM word_counts")[0][0]
    return {"samples": rows, "entries": int(entries), "mismatches": mismatched, "traditional": traditional,
            "words_pending": uncounted, "word_count_rows": words, "megabytes": round(path.stat().st_size / 1e6, 1)}


def time_runs(call: Callable[[], Any], runs: int) -> list[float]:
    """Return the wall time of each of `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def queries(store: Any) -> dict[str, Callable[[], Any]]:
    """The Balance library calls of the tab's load (and of the mismatch page and one source's words), by name."""
    from blossom_studio import balance, library

    return {
        "profile_progress": lambda: balance.profile_progress(store),
        "rows_by_lang_source": lambda: balance.balance_rows(store, ["lang", "source"]),
        "rows_by_lang_source_role": lambda: balance.balance_rows(store, ["lang", "source", "role"]),
        "histogram_chars": lambda: balance.length_histogram(store, measure="chars"),
        "histogram_words": lambda: balance.length_histogram(store, measure="words"),
        "traditional_share": lambda: balance.traditional_share(store),
        "mismatches_first_page": lambda: balance.mismatches(store, limit=25),
        "mismatches_source_page_20": lambda: balance.mismatches(store, limit=25, offset=475, source="src_1"),
        "top_words_all_sources": lambda: balance.top_words(store, limit=200),
        "top_words_one_source": lambda: balance.top_words(store, source="src_3", limit=200),
        "sources": lambda: library.sources(store),
    }


def tab_load(store: Any) -> Callable[[], Any]:
    """The Balance tab's whole load handler work: every query plus the frames and rows Gradio receives."""
    from blossom_studio import library
    from blossom_studio.ui import balance_tab as tab

    def load() -> None:
        tab.progress_status(store)
        tab.volume_frames(store, tab.ALL_ROLES)
        tab.histogram_frame(store, "chars")
        tab.traditional_rows(store)
        tab.mismatch_page(store, 1, tab.ALL_SOURCES)
        tab.word_rows(store, tab.ALL_SOURCES, tab.ALL_LANGS)
        library.sources(store)

    return load


def main() -> None:
    """Build the database, time each query --runs times after reopening it, and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=500_000)
    parser.add_argument("--words-per-list", type=int, default=12_500, help="words per (source, language)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import duckdb

    from blossom_studio.store import open_store

    with tempfile.TemporaryDirectory(prefix="blossom-bench-") as tmp:
        path = Path(tmp) / "balance.duckdb"
        start = time.perf_counter()
        shape = build(path, args.samples, args.words_per_list)
        print(f"built {shape} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        with open_store(path) as store:  # reopened: the first run of each query reads the file again
            threads = store.query("SELECT current_setting('threads')")[0][0]
            scan = time_runs(lambda: store.query("SELECT count(*), sum(chars) FROM samples"), args.runs)
            print(f"baseline scan SELECT count(*), sum(chars): first {scan[0]:.3f} s, best {min(scan):.3f} s",
                  file=sys.stderr)
            figures: dict[str, dict[str, float]] = {}
            for name, call in queries(store).items():
                times = time_runs(call, args.runs)
                figures[name] = {"first": round(times[0], 4), "median": round(statistics.median(times), 4),
                                 "max": round(max(times), 4)}
                print(f"{name:28s} first {times[0]:.3f} s  median {statistics.median(times):.3f} s", file=sys.stderr)
            load_times = time_runs(tab_load(store), args.runs)
            print(f"{'whole tab load handler':28s} first {load_times[0]:.3f} s  median "
                  f"{statistics.median(load_times):.3f} s", file=sys.stderr)
    slowest_name = max(figures, key=lambda name: figures[name]["max"])
    slowest = figures[slowest_name]["max"]
    result = {
        **shape, "duckdb": duckdb.__version__, "threads": threads, "runs": args.runs,
        "seconds": {name: figure["max"] for name, figure in figures.items()},
        "slowest_query": slowest_name, "slowest_seconds": slowest,
        "ratio": round(slowest / BUDGET_SECONDS, 3),
        "baseline": "the 1 s budget per query (ratio = slowest run of any query / 1 s)",
        "scan_baseline_seconds": round(max(scan), 4),
        "tab_load_seconds": round(max(load_times), 4),
        "targets_met": {"every_query_under_1s": slowest < BUDGET_SECONDS},
    }
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
