"""The calls table as a content-addressed cache: a call's key is the hash of endpoint, model, params and messages."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from blossom_studio.llm.client import CallResult
from blossom_studio.llm.roster import ModelSpec
from blossom_studio.store import Store


def call_key(spec: ModelSpec, params: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> str:
    """Return the cache key of a request: sha256 of its endpoint, model, params and messages."""
    blob = orjson.dumps([spec.base_url, spec.model, dict(params), list(messages)], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class CallRecord:
    """One finished call as it is written to the calls table."""

    key: str
    spec: ModelSpec
    params: Mapping[str, Any]
    messages: Sequence[Mapping[str, Any]]
    result: CallResult
    job_id: str | None

    def row(self) -> tuple:
        """Return the values in the calls table's column order (without created_at)."""
        result = self.result
        return (
            self.key,
            self.spec.base_url,
            self.spec.model,
            self.spec.name,
            orjson.dumps(dict(self.params), option=orjson.OPT_SORT_KEYS).decode(),
            orjson.dumps(list(self.messages)).decode(),
            result.status,
            result.text,
            result.reasoning,
            result.finish_reason,
            orjson.dumps(result.usage).decode() if result.usage else None,
            result.latency_ms,
            result.attempts,
            result.error_kind,
            result.error,
            self.job_id,
        )


RECENT_LIMIT = 10_000
CALL_COLUMNS = (
    "key, endpoint, model, roster_name, params, messages, status, response, reasoning, finish_reason, usage, "
    "latency_ms, attempts, error_kind, error, job_id"
)


class CallCache:
    """Finds finished calls by key; the set of answered keys is loaded once so that misses cost nothing."""

    def __init__(self, store: Store) -> None:
        self.store = store
        table = store.read().sql("SELECT key FROM calls WHERE status = 'ok'").to_arrow_table()
        self._answered: set[str] = set(table.column("key").to_pylist())
        self._recent: dict[str, CallResult] = {}

    def remember(self, key: str, result: CallResult) -> None:
        """Keep an answer made in this run, so that it is served before (and after) the writer commits it."""
        self._answered.add(key)
        if len(self._recent) >= RECENT_LIMIT:
            self._recent.pop(next(iter(self._recent)))
        self._recent[key] = result

    def get(self, key: str) -> CallResult | None:
        """Return the cached answer of the call `key`, or None when it was never answered."""
        if key not in self._answered:
            return None
        if key in self._recent:
            return replace(self._recent[key], cached=True)
        rows = self.store.query(
            "SELECT response, reasoning, finish_reason, usage, latency_ms, attempts FROM calls "
            "WHERE key = ? AND status = 'ok'",
            [key],
        )
        if not rows:
            return None
        text, reasoning, finish_reason, usage, latency_ms, attempts = rows[0]
        return CallResult(
            status="ok",
            text=text,
            reasoning=reasoning,
            finish_reason=finish_reason,
            usage=orjson.loads(usage) if usage else {},
            latency_ms=latency_ms or 0.0,
            attempts=attempts,
            cached=True,
        )
