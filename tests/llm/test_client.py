"""The async client over real HTTP to the simulator: answers, retries, timeouts, failure kinds and the limits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import openai
import pytest

from blossom_studio.llm.client import (
    MAX_BACKOFF,
    CallResult,
    ModelClient,
    RateLimiter,
    backoff,
    classify,
    redact,
    retry_after,
)
from blossom_studio.llm.roster import ModelSpec, RosterError
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAI, FakeOpenAIServer

ERROR_KINDS = {"rate_limited", "server_error", "timeout", "connection", "auth", "not_found", "bad_request",
               "bad_response"}


def spec_for(base_url: str, model: str = "fake-a", **limits: Any) -> ModelSpec:
    """A roster model on `base_url` with short timeouts, for tests."""
    return ModelSpec(name="sim", base_url=base_url, model=model, **{"timeout": 5.0, "max_retries": 3, **limits})


def user(text: str) -> list[dict[str, Any]]:
    """One user turn."""
    return [{"role": "user", "content": text}]


async def with_client(spec: ModelSpec, work: Callable[[ModelClient], Awaitable[Any]]) -> Any:
    """Open a client inside the running loop, run `work` with it, and close it."""
    client = ModelClient(spec)
    try:
        return await work(client)
    finally:
        await client.close()


def complete(spec: ModelSpec, messages: list[dict[str, Any]], params: dict[str, Any] | None = None) -> CallResult:
    """Run one call on a fresh event loop and client."""
    return asyncio.run(with_client(spec, lambda client: client.complete(messages, params or {})))


def statuses(config: FakeConfig, model: str, messages: list[dict[str, Any]], attempts: int) -> list[int]:
    """The HTTP statuses the simulator gives to the first `attempts` sends of one request (it is deterministic)."""
    app = FakeOpenAI(dataclasses.replace(config, latency=0.0, jitter=0.0))

    async def send() -> list[int]:
        return [(await app.chat({"model": model, "messages": messages}))[0] for _ in range(attempts)]

    return asyncio.run(send())


def prompt_answered(config: FakeConfig, pattern: list[int], model: str = "fake-a") -> list[dict[str, Any]]:
    """Find a prompt whose first sends get exactly the statuses in `pattern` from a simulator with `config`."""
    for index in range(2000):
        messages = user(f"probe question {index}")
        if statuses(config, model, messages, len(pattern)) == pattern:
            return messages
    raise AssertionError(f"no probe prompt gets {pattern} with {config}")


def count_in_flight(server: FakeOpenAIServer) -> dict[str, Any]:
    """Wrap the simulator's chat handler to record the peak number of requests in flight and every body seen."""
    seen: dict[str, Any] = {"now": 0, "peak": 0, "bodies": []}
    inner = server.app.chat

    async def chat(body: dict) -> tuple[int, dict, dict[str, str]]:
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        seen["bodies"].append(body)
        try:
            return await inner(body)
        finally:
            seen["now"] -= 1

    server.app.chat = chat  # type: ignore[method-assign]
    return seen


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StaticServer:
    """A tiny real HTTP server answering every POST with one fixed status, body and headers (for what the
    simulator does not do: 401s, non-JSON bodies, bodies that echo the caller's key); `{auth}` in the body is
    replaced with the request's Authorization header."""

    def __init__(self, status: int, body: str, content_type: str = "application/json",
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                self.rfile.read(int(self.headers.get("content-length") or 0))
                auth = self.headers.get("authorization", "")
                data = outer.body.replace("{auth}", auth).encode()
                self.send_response(outer.status)
                self.send_header("content-type", outer.content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in outer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL."""
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def simulator(**config: Any) -> Iterator[FakeOpenAIServer]:
    """The simulator in a background thread with the given FakeConfig fields."""
    with FakeOpenAIServer(FakeConfig(**config)) as server:
        yield server


# --- answers -------------------------------------------------------------------------------------------------------


def test_ok_answer_has_text_finish_reason_usage_and_one_attempt() -> None:
    with simulator() as server:
        result = complete(spec_for(server.base_url), user("What is 2 + 2?"))
    assert result.ok and result.status == "ok"
    assert result.text and result.text.startswith("This is a simulated answer from fake-a")
    assert result.finish_reason == "stop"
    assert result.reasoning is None
    assert set(result.usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert result.usage["total_tokens"] == result.usage["prompt_tokens"] + result.usage["completion_tokens"]
    assert (result.attempts, result.error_kind, result.error, result.cached) == (1, None, None, False)
    assert result.latency_ms > 0


def test_small_max_tokens_gives_finish_reason_length() -> None:
    with simulator() as server:
        result = complete(spec_for(server.base_url), user("Explain recursion."), {"max_tokens": 3})
    assert result.ok
    assert result.finish_reason == "length"
    assert result.text is not None and len(result.text.split(" ")) == 3


def test_reasoning_model_returns_its_reasoning() -> None:
    with simulator(models=("fake-a", "fake-reasoner")) as server:
        result = complete(spec_for(server.base_url, "fake-reasoner"), user("Why is the sky blue?"))
    assert result.ok
    assert result.reasoning == "(simulated reasoning of fake-reasoner)"
    assert result.text and "fake-reasoner" in result.text


def test_params_are_sent_but_cannot_override_model_or_messages() -> None:
    with simulator() as server:
        seen = count_in_flight(server)
        result = complete(spec_for(server.base_url), user("hi"), {"temperature": 0.25, "model": "other",
                                                                   "messages": []})
    assert result.ok
    (body,) = seen["bodies"]
    assert body["model"] == "fake-a"
    assert body["messages"] == user("hi")
    assert body["temperature"] == 0.25


def test_client_needs_the_key_variable_to_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLOSSOM_CLIENT_TEST_KEY", raising=False)
    spec = spec_for("http://127.0.0.1:9/v1", api_key_env="BLOSSOM_CLIENT_TEST_KEY")

    async def open_client() -> None:
        ModelClient(spec)

    with pytest.raises(RosterError, match="BLOSSOM_CLIENT_TEST_KEY is not set"):
        asyncio.run(open_client())


# --- retries ---------------------------------------------------------------------------------------------------------


def test_429_is_retried_and_the_simulator_counts_the_repeats() -> None:
    config = FakeConfig(rate_429=0.5, retry_after=0.01)
    messages = prompt_answered(config, [429, 429, 200])
    with FakeOpenAIServer(config) as server:
        result = complete(spec_for(server.base_url, max_retries=3), messages)
        stats = server.app.stats.as_dict()
    assert result.ok
    assert result.attempts == 3
    assert stats["requests"] == 3
    assert stats["by_status"] == {"429": 2, "200": 1}
    assert (stats["distinct_calls"], stats["repeats"], stats["completed"]) == (1, 2, 1)


def test_429_waits_as_long_as_retry_after_says() -> None:
    """Backoff alone waits at most 0.5 s after a first failure, so a wait of 0.7 s proves Retry-After was read."""
    config = FakeConfig(rate_429=0.5, retry_after=0.7)
    messages = prompt_answered(config, [429, 200])
    with FakeOpenAIServer(config) as server:
        started = time.monotonic()
        result = complete(spec_for(server.base_url), messages)
        elapsed = time.monotonic() - started
    assert result.ok and result.attempts == 2
    assert elapsed >= 0.68


def test_retry_after_is_honoured_on_503_too() -> None:
    """An overloaded endpoint's 503 with Retry-After asks for the same wait as a 429 (RFC 9110 section 10.2.3)."""
    body = json.dumps({"error": {"message": "overloaded"}})
    with StaticServer(503, body, headers={"retry-after": "0.7"}) as server:
        started = time.monotonic()
        result = complete(spec_for(server.base_url, max_retries=1), user("hi"))
        elapsed = time.monotonic() - started
        requests = server.requests
    assert (result.error_kind, result.attempts, requests) == ("server_error", 2, 2)
    assert elapsed >= 0.68, "the 503's Retry-After was not waited for (backoff alone waits at most 0.5 s)"


def test_429_on_every_attempt_fails_as_rate_limited() -> None:
    with simulator(rate_429=1.0, retry_after=0.01) as server:
        result = complete(spec_for(server.base_url, max_retries=2), user("busy?"))
        stats = server.app.stats.as_dict()
    assert not result.ok and result.status == "failed"
    assert result.error_kind == "rate_limited"
    assert result.attempts == 3
    assert result.error == "HTTP 429: Rate limit reached (simulated)"
    assert result.text is None
    assert stats["requests"] == 3 and stats["repeats"] == 2


def test_500_is_retried_then_succeeds() -> None:
    config = FakeConfig(rate_500=0.5)
    messages = prompt_answered(config, [500, 200])
    with FakeOpenAIServer(config) as server:
        result = complete(spec_for(server.base_url), messages)
        stats = server.app.stats.as_dict()
    assert result.ok and result.attempts == 2
    assert stats["by_status"] == {"500": 1, "200": 1}
    assert stats["repeats"] == 1


def test_500_on_every_attempt_fails_as_server_error_after_max_retries() -> None:
    with simulator(rate_500=1.0) as server:
        result = complete(spec_for(server.base_url, max_retries=1), user("down?"))
        stats = server.app.stats.as_dict()
    assert (result.status, result.error_kind, result.attempts) == ("failed", "server_error", 2)
    assert result.error == "HTTP 500: Internal error (simulated)"
    assert stats["requests"] == 2 and stats["by_status"] == {"500": 2}


def test_no_retries_when_max_retries_is_zero() -> None:
    with simulator(rate_500=1.0) as server:
        result = complete(spec_for(server.base_url, max_retries=0), user("once"))
        assert server.app.stats.requests == 1
    assert (result.error_kind, result.attempts) == ("server_error", 1)


def test_hang_on_every_attempt_fails_as_timeout() -> None:
    with simulator(rate_hang=1.0, hang_seconds=2.0) as server:
        result = complete(spec_for(server.base_url, timeout=0.3, max_retries=1), user("hello?"))
        requests = server.app.stats.requests
    assert (result.status, result.error_kind, result.attempts) == ("failed", "timeout", 2)
    assert result.error == "the request timed out"
    assert requests == 2


def test_hangs_are_retried_until_an_answer_comes() -> None:
    """The simulator's faults are seeded per (request, attempt): with this seed some calls hang first, none always."""
    with simulator(rate_hang=0.4, hang_seconds=2.0, seed=3) as server:
        spec = spec_for(server.base_url, timeout=0.3, max_retries=6)

        async def many(client: ModelClient) -> list[CallResult]:
            return await asyncio.gather(*(client.complete(user(f"question {i}"), {}) for i in range(8)))

        results = asyncio.run(with_client(spec, many))
        stats = server.app.stats.as_dict()
    assert all(result.ok for result in results), [r.error_kind for r in results]
    assert any(result.attempts > 1 for result in results)
    assert stats["distinct_calls"] == 8
    assert stats["repeats"] > 0
    assert stats["requests"] <= sum(result.attempts for result in results)
    assert stats["completed"] >= 8


# --- failures that are not retried -----------------------------------------------------------------------------------


def test_unknown_model_is_not_found_without_retry() -> None:
    with simulator() as server:
        result = complete(spec_for(server.base_url, "gpt-nonexistent"), user("hi"))
        requests = server.app.stats.requests
    assert (result.status, result.error_kind, result.attempts) == ("failed", "not_found", 1)
    assert result.error == "HTTP 404: The model `gpt-nonexistent` does not exist"
    assert requests == 1


def test_invalid_request_is_bad_request_without_retry() -> None:
    with simulator() as server:
        result = complete(spec_for(server.base_url), [])
        requests = server.app.stats.requests
    assert (result.error_kind, result.attempts) == ("bad_request", 1)
    assert result.error == "HTTP 400: messages must be a non-empty list"
    assert requests == 1


def test_closed_port_fails_as_connection_after_retries() -> None:
    result = complete(spec_for(f"http://127.0.0.1:{closed_port()}/v1", max_retries=1), user("anyone?"))
    assert (result.status, result.error_kind, result.attempts) == ("failed", "connection", 2)
    assert result.error == "could not connect to the endpoint"


def test_401_is_auth_without_retry_and_without_the_servers_text() -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided: {auth}"}})
    with StaticServer(401, body) as server:
        result = complete(spec_for(server.base_url), user("hi"))
        requests = server.requests
    assert (result.error_kind, result.attempts) == ("auth", 1)
    assert result.error == "HTTP 401: the endpoint refused the key (check the environment variable)"
    assert requests == 1


def test_error_text_echoing_the_key_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "opaque-key-value-0123456789"  # not sk-shaped: only the client's own knowledge of its key can remove it
    monkeypatch.setenv("BLOSSOM_CLIENT_TEST_KEY", key)
    body = json.dumps({"error": {"message": "your header was {auth}"}})
    with StaticServer(400, body) as server:
        result = complete(spec_for(server.base_url, api_key_env="BLOSSOM_CLIENT_TEST_KEY"), user("hi"))
    assert result.error_kind == "bad_request"
    assert result.error is not None and "your header was Bearer ***" in result.error
    assert key not in result.error


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"choices": []}', "application/json"),
        ('{"choices": [{"message": {"content": null}, "finish_reason": "stop"}]}', "application/json"),
        ("[1, 2]", "application/json"),
        ("<html>maintenance</html>", "text/html"),
        ('{"choices": [{"message": {"content": "cut', "application/json"),
        ("not json at all", "application/json"),
    ],
)
def test_unusable_200_is_bad_response(body: str, content_type: str) -> None:
    with StaticServer(200, body, content_type) as server:
        result = complete(spec_for(server.base_url), user("hi"))
    assert result.status == "failed"
    assert result.error_kind == "bad_response", (result.error_kind, result.error)
    assert result.attempts == 1


def test_one_failing_call_does_not_fail_its_neighbours() -> None:
    with simulator(latency=0.05) as server:
        good = spec_for(server.base_url)
        dead = spec_for(f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)

        async def mixed() -> list[CallResult]:
            client, other = ModelClient(good), ModelClient(dead)
            try:
                calls = [client.complete(user(f"q{i}"), {}) for i in range(4)]
                calls.insert(2, client.complete([], {}))
                calls.append(other.complete(user("q"), {}))
                return await asyncio.gather(*calls)
            finally:
                await client.close()
                await other.close()

        results = asyncio.run(mixed())
    assert [r.status for r in results] == ["ok", "ok", "failed", "ok", "ok", "failed"]
    assert results[2].error_kind == "bad_request"
    assert results[5].error_kind in ERROR_KINDS  # which kind a closed port is: test_closed_port_fails_as_connection
    assert all(r.text for r in results if r.ok)


# --- limits --------------------------------------------------------------------------------------------------------


def test_max_concurrency_bounds_requests_in_flight() -> None:
    with simulator(latency=0.2) as server:
        seen = count_in_flight(server)
        spec = spec_for(server.base_url, max_concurrency=2)

        async def six(client: ModelClient) -> list[CallResult]:
            return await asyncio.gather(*(client.complete(user(f"c{i}"), {}) for i in range(6)))

        results = asyncio.run(with_client(spec, six))
    assert all(r.ok for r in results)
    assert len(seen["bodies"]) == 6
    assert seen["peak"] == 2


def test_rate_limiter_allows_a_burst_then_spaces_starts() -> None:
    """rpm=2400: a burst of 40, then one start per 0.025 s, so 60 starts need 0.5 s and by any time t at most
    40 + t / 0.025 have started (stamps are taken after each start, so delays only make the check looser)."""
    stamps: list[float] = []

    async def acquire_all() -> None:
        limiter = RateLimiter(2400)
        for _ in range(60):
            await limiter.acquire()
            stamps.append(time.monotonic())

    started = time.monotonic()
    asyncio.run(acquire_all())
    assert stamps[-1] - started >= 0.48
    for count, stamp in enumerate(stamps, 1):
        assert count <= 40 + (stamp - started) / 0.025 + 1


def test_rate_limiter_is_shared_by_concurrent_callers() -> None:
    async def race() -> float:
        limiter = RateLimiter(6000)  # burst 100, then one per 0.01 s
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire() for _ in range(130)))
        return time.monotonic() - started

    assert asyncio.run(race()) >= 0.29


def test_client_rpm_spaces_its_calls() -> None:
    """rpm=240 gives a burst of 4 and then one call per 0.25 s: 6 calls cannot all start within 0.5 s."""
    with simulator() as server:
        spec = spec_for(server.base_url, rpm=240)

        async def six(client: ModelClient) -> list[CallResult]:
            return await asyncio.gather(*(client.complete(user(f"r{i}"), {}) for i in range(6)))

        started = time.monotonic()
        results = asyncio.run(with_client(spec, six))
        elapsed = time.monotonic() - started
        requests = server.app.stats.requests
    assert all(r.ok for r in results)
    assert requests == 6
    assert elapsed >= 0.48


# --- helpers: classify, retry_after, backoff, redact ---------------------------------------------------------------


def status_error(status: int, headers: dict[str, str] | None = None, body: object = None) -> openai.APIStatusError:
    """A real SDK status error built from a real httpx2 response."""
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(400, "bad_request", False), (401, "auth", False), (403, "auth", False), (404, "not_found", False),
     (408, "server_error", True), (409, "server_error", True), (422, "bad_request", False),
     (429, "rate_limited", True), (500, "server_error", True), (503, "server_error", True),
     (529, "server_error", True), (599, "server_error", True)],
)
def test_classify_maps_statuses_to_kinds(status: int, kind: str, retryable: bool) -> None:
    got_kind, got_retryable, message = classify(status_error(status, body={"error": {"message": "detail"}}))
    assert (got_kind, got_retryable) == (kind, retryable)
    assert message.startswith(f"HTTP {status}: ")


def test_classify_network_errors() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    assert classify(openai.APITimeoutError(request)) == ("timeout", True, "the request timed out")
    assert classify(openai.APIConnectionError(request=request)) == (
        "connection", True, "could not connect to the endpoint",
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "2"}, 2.0), ({"retry-after": "0.05"}, 0.05), ({"retry-after-ms": "250"}, 0.25),
     ({"retry-after-ms": "250", "retry-after": "9"}, 0.25), ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
     ({}, None)],
)
def test_retry_after_reads_seconds_and_milliseconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(status_error(429, headers)) == expected


def test_backoff_is_full_jitter_within_the_exponential_cap() -> None:
    for attempt in range(1, 12):
        cap = min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))
        draws = [backoff(attempt) for _ in range(200)]
        assert all(0.0 <= draw <= cap for draw in draws)
        assert max(draws) > cap / 2  # jittered over the whole range, not a fixed delay


def test_redact_removes_the_key_and_key_shaped_strings() -> None:
    key = "sk-test-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    other = "opaque9876543210"
    message = f"refused {key}; also sk-proj-AbCdEf123456 and hf_abcdefghijk and {other} and Bearer {other}"
    cleaned = redact(message, [key, other])
    assert key not in cleaned and other not in cleaned
    assert "AbCdEf123456" not in cleaned and "abcdefghijk" not in cleaned
    assert cleaned.startswith("refused ***;")
    assert redact("plain words, no secrets", [key]) == "plain words, no secrets"
