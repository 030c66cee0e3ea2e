"""The language balance of the stored samples, read from the profile columns (nothing is recomputed here)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import orjson

from blossom_studio.store import Store

PENDING = "pending"  # the lang (and role) of samples that are not profiled yet
BALANCE_KEYS = ("lang", "source", "role", "format", "turns")
MEASURES = ("chars", "words", "prompt_chars", "response_chars")
DEFAULT_EDGES = (0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
PREVIEW_CHARS = 160
_ACTIVE = "status = 'active'"


def _rows(store: Store, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = store.read().execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _keys(by: Sequence[str]) -> list[str]:
    keys = list(dict.fromkeys(key.strip() for key in by if key.strip()))
    unknown = [key for key in keys if key not in BALANCE_KEYS]
    if unknown or not keys:
        raise ValueError(f"group by one or more of {', '.join(BALANCE_KEYS)}; got {', '.join(by) or 'nothing'}")
    return keys


def balance_rows(store: Store, by: Sequence[str] = ("lang", "source")) -> list[dict[str, Any]]:
    """Return one row per group of `by` (lang, source, role, format, turns) with samples and text volume.

    Without `role`, `lang` is the sample's language and rows carry samples, chars, words, words_pending (samples
    whose words are not counted yet), zh_chars and en_words. With `role`, each message and imported candidate is
    an entry: `lang` is the entry's language and rows carry samples (distinct), messages, chars, words and
    words_pending (samples with entries whose words are not counted yet). Unprofiled samples count only in
    `samples` and `words_pending`, under lang (and role) 'pending'. Sums cover the values that are known.
    """
    keys = _keys(by)
    positions = ", ".join(str(index) for index in range(1, len(keys) + 1))
    if "role" not in keys:
        columns = ", ".join(f"coalesce(lang, '{PENDING}') AS lang" if key == "lang" else key for key in keys)
        sql = f"""
            SELECT {columns}, count(*) AS samples,
                   coalesce(sum(chars), 0)::BIGINT AS chars,
                   coalesce(sum(words), 0)::BIGINT AS words,
                   count(*) FILTER (WHERE words IS NULL) AS words_pending,
                   coalesce(sum(zh_chars), 0)::BIGINT AS zh_chars,
                   coalesce(sum(en_words), 0)::BIGINT AS en_words
            FROM samples WHERE {_ACTIVE} GROUP BY {positions} ORDER BY {positions}
        """
        return _rows(store, sql)
    carried = "".join(f"{key}, " for key in keys if key not in ("lang", "role"))
    entry = ", ".join({"lang": "coalesce(entry_lang, 'unknown') AS lang", "role": "coalesce(role, 'unknown') AS role"}
                      .get(key, key) for key in keys)
    names = ", ".join(keys)
    pending = ", ".join(f"'{PENDING}' AS {key}" if key in ("lang", "role") else key for key in keys)
    # Entries are first summed per sample and group, so that counting samples needs no count(DISTINCT).
    sql = f"""
        WITH entries AS (
            SELECT {carried} rowid AS rid,
                   unnest(message_roles) AS role, unnest(message_langs) AS entry_lang,
                   unnest(message_chars) AS entry_chars, unnest(message_words) AS entry_words
            FROM samples WHERE {_ACTIVE} AND message_roles IS NOT NULL
        ), per_sample AS (
            SELECT {entry}, rid, count(*) AS messages, sum(entry_chars) AS chars, sum(entry_words) AS words,
                   bool_or(entry_words IS NULL) AS uncounted
            FROM entries GROUP BY ALL
        )
        SELECT {names}, count(*) AS samples, sum(messages)::BIGINT AS messages,
               coalesce(sum(chars), 0)::BIGINT AS chars, coalesce(sum(words), 0)::BIGINT AS words,
               count(*) FILTER (WHERE uncounted) AS words_pending
        FROM per_sample GROUP BY {positions}
        UNION ALL
        SELECT {pending}, count(*) AS samples, 0 AS messages, 0 AS chars, 0 AS words, count(*) AS words_pending
        FROM samples WHERE {_ACTIVE} AND message_roles IS NULL GROUP BY {positions}
        ORDER BY {positions}
    """
    return _rows(store, sql)


def _compact(number: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if number >= size and number % size == 0:
            return f"{number // size}{suffix}"
    return str(number)


def _edges(bins: Sequence[int]) -> list[int]:
    edges = sorted({int(edge) for edge in bins} | {0})
    if edges[0] < 0:
        raise ValueError(f"histogram bin edges must be 0 or more, got {edges[0]}")
    return edges


def bin_labels(bins: Sequence[int] = DEFAULT_EDGES) -> list[str]:
    """Return the label of each histogram bin in order ("0–10", ..., "≥100k"), for sorting a chart's x axis."""
    edges = _edges(bins)
    return [f"{_compact(low)}–{_compact(high)}" for low, high in pairwise(edges)] + [
        f"≥{_compact(edges[-1])}"]


def length_histogram(store: Store, *, measure: str = "chars",
                     bins: Sequence[int] = DEFAULT_EDGES) -> list[dict[str, Any]]:
    """Return, per language and bin `[lower, upper)` of the measure, the number of samples whose value is known."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    edges = _edges(bins)
    labels = bin_labels(edges)
    cases = " ".join(f"WHEN {measure} >= {edge} THEN {index}" for index, edge in reversed(list(enumerate(edges))))
    sql = f"""
        SELECT coalesce(lang, '{PENDING}') AS lang, CASE {cases} END AS bin, count(*) AS samples
        FROM samples WHERE {_ACTIVE} AND {measure} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
    """
    rows = []
    for lang, index, samples in store.query(sql):
        upper = edges[index + 1] if index + 1 < len(edges) else None
        rows.append({"lang": lang, "bin": labels[index], "lower": edges[index], "upper": upper, "samples": samples})
    return rows


def traditional_share(store: Store) -> list[dict[str, Any]]:
    """Return per source the Chinese (lang 'zh') samples, how many are Traditional, and that share (None if none)."""
    return _rows(store, f"""
        SELECT source, zh_samples, traditional,
               CASE WHEN zh_samples > 0 THEN traditional / zh_samples END AS share
        FROM (SELECT source, count(*) FILTER (WHERE lang = 'zh') AS zh_samples,
                     count(*) FILTER (WHERE lang = 'zh' AND traditional) AS traditional
              FROM samples WHERE {_ACTIVE} GROUP BY source)
        ORDER BY source
    """)


def _first_prompt(messages: str) -> str:
    from blossom_studio.synth.templates import content_text

    parsed = orjson.loads(messages)
    for message in parsed if isinstance(parsed, list) else []:
        if isinstance(message, dict) and message.get("role") == "user":
            text = re.sub(r"\s+", " ", content_text(message.get("content"))).strip()
            return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"
    return ""


def mismatches(store: Store, *, limit: int = 100, offset: int = 0,
               source: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """Return one page of samples whose answer's language differs from the prompt's, and how many there are."""
    where, params = f"{_ACTIVE} AND lang_mismatch", []
    if source:
        where += " AND source = ?"
        params.append(source)
    total = store.query(f"SELECT count(*) FROM samples WHERE {where}", params)[0][0]
    # The page is found on small columns first; only its own rows' messages are then read (by rowid).
    page = store.query(f"""
        WITH page AS (
            SELECT rowid AS rid, id, source, prompt_lang, response_lang FROM samples WHERE {where}
            ORDER BY rowid LIMIT ? OFFSET ?
        )
        SELECT p.id, p.source, p.prompt_lang, p.response_lang, s.messages
        FROM page p JOIN samples s ON s.rowid = p.rid ORDER BY p.rid
    """, [*params, max(0, limit), max(0, offset)])
    rows = [{"id": sample_id, "source": name, "prompt_lang": prompt_lang, "response_lang": response_lang,
             "prompt": _first_prompt(messages)}
            for sample_id, name, prompt_lang, response_lang, messages in page]
    return rows, total


def top_words(store: Store, *, source: str | None = None, lang: str | None = None,
              limit: int = 20) -> list[dict[str, Any]]:
    """Return the most frequent counted words (jieba tokens for 'zh') of one source, or summed over all sources."""
    where, params = ["true"], []
    if source:
        where.append("source = ?")
        params.append(source)
    if lang:
        where.append("lang = ?")
        params.append(lang)
    return _rows(store, f"""
        SELECT ? AS source, lang, word, sum(count)::BIGINT AS count FROM word_counts
        WHERE {" AND ".join(where)} GROUP BY lang, word ORDER BY count DESC, word, lang LIMIT ?
    """, [source or None, *params, max(0, limit)])


def profile_progress(store: Store) -> dict[str, int]:
    """Return how many active samples there are, how many are profiled, and how many have their words counted."""
    samples, profiled, counted = store.query(
        f"SELECT count(*), count(lang), count(words) FROM samples WHERE {_ACTIVE}")[0]
    return {"samples": samples, "profiled": profiled, "words_counted": counted}
