"""Counts of stored samples grouped by source, layout, turns, message role or language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blossom_studio.store import Store

SAMPLE_KEYS = ("source", "format", "turns")
GROUP_KEYS = (*SAMPLE_KEYS, "role", "lang")


def parse_group_keys(text: str | None) -> list[str]:
    """Parse `--by source,role` into a list of keys, raising ValueError that lists the valid ones."""
    keys = [key.strip() for key in (text or "source").split(",") if key.strip()]
    unknown = [key for key in keys if key not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"unknown --by key(s) {', '.join(unknown)}; use any of {', '.join(GROUP_KEYS)}")
    return list(dict.fromkeys(keys))


def sample_stats(store: Store, by: Sequence[str] = ("source",)) -> list[dict[str, Any]]:
    """Return one row per group with `samples` and measures; grouping by `lang` reads the profile columns."""
    keys = parse_group_keys(",".join(by))
    if "lang" in keys:
        from blossom_studio.balance import balance_rows

        return balance_rows(store, keys)
    if "role" in keys:
        return _role_stats(store, keys)
    group = ", ".join(f"s.{key}" for key in keys)
    sql = f"""
        SELECT {group},
               count(*) AS samples,
               count(s.reference) AS with_reference,
               count(c.sample_id) AS with_candidates,
               coalesce(sum(c.n), 0)::BIGINT AS candidates,
               sum(s.turns)::BIGINT AS user_turns
        FROM samples s
        LEFT JOIN (SELECT sample_id, count(*) AS n FROM candidates GROUP BY sample_id) c ON c.sample_id = s.id
        WHERE s.status = 'active'
        GROUP BY ALL ORDER BY ALL
    """
    return _rows(store, sql)


def _role_stats(store: Store, keys: list[str]) -> list[dict[str, Any]]:
    sample_keys = [key for key in keys if key != "role"]
    plain = "".join(f"{key}, " for key in sample_keys)
    joined = "".join(f"s.{key}, " for key in sample_keys)
    group = ", ".join([*sample_keys, "role"])
    sql = f"""
        WITH messages AS (
            SELECT id, {plain} unnest(CAST(messages AS JSON[])) AS message, false AS is_candidate
            FROM samples WHERE status = 'active'
            UNION ALL
            SELECT s.id, {joined} c.message, true AS is_candidate
            FROM candidates c JOIN samples s ON s.id = c.sample_id WHERE s.status = 'active'
        )
        SELECT {group}, count(DISTINCT id) AS samples, count(*) AS messages, sum(chars)::BIGINT AS chars
        FROM (
            SELECT {plain} id, CASE WHEN is_candidate THEN 'candidate' ELSE message->>'role' END AS role,
                   length(coalesce(message->>'content', '')) AS chars
            FROM messages
        )
        GROUP BY {group} ORDER BY {group}
    """
    return _rows(store, sql)


def _rows(store: Store, sql: str) -> list[dict[str, Any]]:
    cursor = store.read().execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
