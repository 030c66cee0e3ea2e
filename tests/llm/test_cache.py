"""The call cache: a key per (endpoint, model, params, messages), rows written as the job writer writes them, and
only answered calls served back."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from blossom_studio.llm.cache import CALL_COLUMNS, CallCache, CallRecord, call_key
from blossom_studio.llm.client import CallResult
from blossom_studio.llm.roster import ModelSpec
from blossom_studio.store import Store, open_store
from blossom_studio.synth.context import CallService
from blossom_studio.synth.writer import ResultWriter
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

SPEC = ModelSpec(name="deepseek", base_url="https://api.deepseek.com/v1", model="deepseek-chat")
PARAMS = {"temperature": 0.7, "max_tokens": 256}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "用一句话解释 DuckDB。"}]
OK = CallResult(
    status="ok",
    text="DuckDB 是一个嵌入式分析数据库。",
    reasoning="(thinking)",
    finish_reason="stop",
    usage={"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    latency_ms=123.5,
    attempts=2,
)
FAILED = CallResult(status="failed", latency_ms=5.0, attempts=3, error_kind="server_error", error="HTTP 500: boom")


def insert(store: Store, *records: CallRecord) -> None:
    """Write call rows with an INSERT of CallRecord.row() in the calls table's column order, as the writer does."""
    marks = ", ".join("?" * len(CALL_COLUMNS.split(",")))
    with store.write() as cursor:
        for record in records:
            cursor.execute(f"INSERT INTO calls ({CALL_COLUMNS}) VALUES ({marks})", list(record.row()))


def write_with_job_writer(store: Store, *records: CallRecord) -> None:
    """Write call rows through the job's own writer thread (its Arrow batch INSERT)."""
    writer = ResultWriter(store, "job-test")
    for record in records:
        writer.put(record)
    writer.close()


def record(result: CallResult, messages: list[dict] = MESSAGES, params: dict = PARAMS) -> CallRecord:
    return CallRecord(call_key(SPEC, params, messages), SPEC, params, messages, result, "job-test")


# --- keys ------------------------------------------------------------------------------------------------------------


def test_same_request_gives_the_same_key() -> None:
    key = call_key(SPEC, PARAMS, MESSAGES)
    assert key == call_key(SPEC, dict(PARAMS), [dict(m) for m in MESSAGES])
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"params": {**PARAMS, "temperature": 0.8}},
        {"params": {**PARAMS, "top_p": 0.9}},
        {"params": {"temperature": 0.7}},
        {"messages": [*MESSAGES[:1], {"role": "user", "content": "用一句话解释 SQLite。"}]},
        {"messages": MESSAGES[1:]},
        {"messages": [MESSAGES[0], {**MESSAGES[1], "role": "assistant"}]},
        {"spec": dataclasses.replace(SPEC, model="deepseek-reasoner")},
        {"spec": dataclasses.replace(SPEC, base_url="https://api.deepseek.com/beta")},
    ],
    ids=["param-value", "param-added", "param-removed", "message-text", "message-dropped", "message-role", "model",
         "base_url"],
)
def test_any_change_of_request_changes_the_key(change: dict) -> None:
    base = call_key(SPEC, PARAMS, MESSAGES)
    changed = call_key(change.get("spec", SPEC), change.get("params", PARAMS), change.get("messages", MESSAGES))
    assert changed != base


def test_key_ignores_param_and_field_order() -> None:
    reordered_params = {"max_tokens": 256, "temperature": 0.7}
    reordered_messages = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    assert call_key(SPEC, reordered_params, reordered_messages) == call_key(SPEC, PARAMS, MESSAGES)


def test_key_ignores_roster_name_and_limits() -> None:
    """Two roster entries for the same endpoint and model share answers; limits do not change an answer."""
    other = dataclasses.replace(SPEC, name="ds-fast", max_concurrency=99, rpm=10, timeout=5.0, api_key_env="X_KEY")
    assert call_key(other, PARAMS, MESSAGES) == call_key(SPEC, PARAMS, MESSAGES)


# --- rows ------------------------------------------------------------------------------------------------------------


def test_row_has_one_value_per_column_in_order() -> None:
    row = record(OK).row()
    names = [name.strip() for name in CALL_COLUMNS.split(",")]
    assert len(row) == len(names)
    values = dict(zip(names, row, strict=True))
    assert values["key"] == call_key(SPEC, PARAMS, MESSAGES)
    assert (values["endpoint"], values["model"], values["roster_name"]) == (SPEC.base_url, SPEC.model, SPEC.name)
    assert values["params"] == '{"max_tokens":256,"temperature":0.7}'
    assert orjson.loads(values["messages"]) == MESSAGES
    assert (values["status"], values["response"], values["reasoning"]) == ("ok", OK.text, OK.reasoning)
    assert orjson.loads(values["usage"]) == OK.usage
    assert (values["attempts"], values["error_kind"], values["error"], values["job_id"]) == (2, None, None, "job-test")
    failed = dict(zip(names, record(FAILED).row(), strict=True))
    assert (failed["status"], failed["usage"], failed["error_kind"]) == ("failed", None, "server_error")


# --- the cache -------------------------------------------------------------------------------------------------------


def test_unknown_key_is_a_miss(store: Store) -> None:
    assert CallCache(store).get(call_key(SPEC, PARAMS, MESSAGES)) is None
    assert CallCache(store).get("0" * 64) is None


@pytest.mark.parametrize("write", [insert, write_with_job_writer], ids=["insert", "job-writer"])
def test_written_answer_is_served_as_cached(store: Store, write: Callable[..., None]) -> None:
    written = record(OK)
    write(store, written)
    got = CallCache(store).get(written.key)
    assert got == dataclasses.replace(OK, cached=True)
    assert got is not None and got.ok and got.cached


@pytest.mark.parametrize("write", [insert, write_with_job_writer], ids=["insert", "job-writer"])
def test_failed_call_is_not_served(store: Store, write: Callable[..., None]) -> None:
    failed = record(FAILED)
    write(store, failed)
    assert store.query("SELECT status FROM calls WHERE key = ?", [failed.key]) == [("failed",)]
    assert CallCache(store).get(failed.key) is None


def test_failed_call_answered_in_a_later_run_is_served(store: Store) -> None:
    write_with_job_writer(store, record(FAILED))
    assert CallCache(store).get(record(OK).key) is None
    write_with_job_writer(store, record(OK))
    assert sorted(store.query("SELECT status FROM calls WHERE key = ?", [record(OK).key])) in (
        [("failed",), ("ok",)],  # calls is a log: one row per call
        [("ok",)],  # or one row per key, the answer replacing the failure
    )
    got = CallCache(store).get(record(OK).key)
    assert got == dataclasses.replace(OK, cached=True)


def test_only_the_exact_request_is_served(store: Store) -> None:
    insert(store, record(OK))
    cache = CallCache(store)
    assert cache.get(call_key(SPEC, {**PARAMS, "temperature": 0.0}, MESSAGES)) is None
    assert cache.get(call_key(SPEC, PARAMS, MESSAGES[1:])) is None


def test_remembered_answer_is_served_before_the_writer_commits(store: Store) -> None:
    cache = CallCache(store)
    key = call_key(SPEC, PARAMS, MESSAGES)
    cache.remember(key, OK)
    got = cache.get(key)
    assert got is not None and got.cached and got.text == OK.text
    assert OK.cached is False  # the stored result is not changed by serving it
    assert store.query("SELECT count(*) FROM calls")[0][0] == 0


def test_answered_keys_are_read_when_the_cache_opens(store: Store) -> None:
    """The set of answered keys is loaded once per cache (one per job run): later rows are seen by the next run."""
    cache = CallCache(store)
    insert(store, record(OK))
    assert cache.get(record(OK).key) is None
    assert CallCache(store).get(record(OK).key) is not None


def test_served_answer_survives_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "studio.duckdb"
    with open_store(path) as first:
        insert(first, record(OK))
    with open_store(path) as second:
        got = CallCache(second).get(record(OK).key)
    assert got == dataclasses.replace(OK, cached=True)


def test_a_repeated_request_reaches_the_endpoint_once(store: Store) -> None:
    """Through the job's call service: the second call of a run and the call of a later run come from the cache."""
    with FakeOpenAIServer(FakeConfig()) as server:
        spec = ModelSpec(name="sim", base_url=server.base_url, model="fake-a", params={"temperature": 0.1})
        messages = [{"role": "user", "content": "Name a prime number."}]

        async def twice(service: CallService) -> list[tuple[str, CallResult]]:
            try:
                return [await service.call(spec, messages), await service.call(spec, messages)]
            finally:
                await service.close()

        writer = ResultWriter(store, "job-1")
        first_run = asyncio.run(twice(CallService(CallCache(store), writer.put, "job-1")))
        writer.close()
        writer = ResultWriter(store, "job-2")
        second_run = asyncio.run(twice(CallService(CallCache(store), writer.put, "job-2")))
        writer.close()
        stats = server.app.stats.as_dict()
    (key, fresh), (same_key, again) = first_run
    assert key == same_key == call_key(spec, {"temperature": 0.1}, messages)
    assert fresh.ok and not fresh.cached
    assert again.cached and again.text == fresh.text
    assert all(result.cached and result.text == fresh.text for _, result in second_run)
    assert stats["requests"] == 1
    assert store.query("SELECT count(*), min(status), min(job_id) FROM calls") == [(1, "ok", "job-1")]
