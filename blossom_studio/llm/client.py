"""The async client of one endpoint: a concurrency bound, a requests-per-minute limiter, retries with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from blossom_studio.llm.roster import ModelSpec
from blossom_studio.llm.secrets import redact

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}
MAX_BACKOFF = 30.0


@dataclass
class CallResult:
    """The outcome of one chat call: the answer when status is "ok", else the reason it failed."""

    status: str
    text: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    attempts: int = 0
    error_kind: str | None = None
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        """True when the call returned an answer."""
        return self.status == "ok"


class RateLimiter:
    """Spaces request starts so that no more than `rpm` begin in any minute (with a burst of a second's worth)."""

    def __init__(self, rpm: int) -> None:
        self.interval = 60.0 / rpm
        self.burst = max(1.0, rpm / 60.0)
        self._tokens = self.burst
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may start."""
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) / self.interval)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) * self.interval)


def retry_after(exc: openai.APIStatusError) -> float | None:
    """Return the server's requested wait in seconds from Retry-After or retry-after-ms, if any."""
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000.0
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def backoff(attempt: int, base: float = 0.5) -> float:
    """Return a full-jitter exponential backoff for the given attempt (1-based)."""
    return random.uniform(0, min(MAX_BACKOFF, base * 2 ** (attempt - 1)))


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"][:300]
    return str(exc.message)[:300]


def _refused(exc: BaseException) -> bool:
    """True when a connection error (however the transport labels it) comes from a refused or failed connect."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or type(seen).__name__ == "ClientConnectorError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify(exc: BaseException) -> tuple[str, bool, str]:
    """Return (kind, retryable, message) for an exception raised by a call."""
    if isinstance(exc, openai.APIConnectionError) and _refused(exc):
        return "connection", True, "could not connect to the endpoint"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True, "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "connection", True, "could not connect to the endpoint"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"HTTP {status}: {_error_message(exc)}"
        if status == 429:
            return "rate_limited", True, message
        if status in (401, 403):
            return "auth", False, f"HTTP {status}: the endpoint refused the key (check the environment variable)"
        if status == 404:
            return "not_found", False, message
        if status in RETRYABLE_STATUS or status >= 500:
            return "server_error", True, message
        return "bad_request", False, message
    if isinstance(exc, ValueError):
        return "bad_response", False, "the endpoint's answer is not valid JSON"
    return "error", False, f"{type(exc).__name__}"


def _response_fields(data: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, dict[str, Any]]:
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], Mapping):
        return None, None, None, {}
    choice = choices[0]
    message = choice.get("message") or {}
    text = message.get("content")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    return (
        text if isinstance(text, str) else None,
        reasoning if isinstance(reasoning, str) else None,
        choice.get("finish_reason"),
        dict(usage or {}),
    )


with contextlib.suppress(ImportError):  # without the openai[aiohttp] extra, httpx serves
    import openai._vendor.httpx_aiohttp  # imported with this module, not in a job's first call (about 60 ms)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Return the process's one TLS context with the default CA store (loading the store takes 20-30 ms each time)."""
    return httpx2.create_ssl_context()


def http_client_for(spec: ModelSpec) -> httpx2.AsyncClient:
    """Return the HTTP client for an endpoint: aiohttp's transport (measured to cost less CPU per call), else httpx."""
    limits = httpx2.Limits(max_connections=spec.max_concurrency, max_keepalive_connections=spec.max_concurrency)
    try:
        return openai.DefaultAioHttpClient(limits=limits, timeout=spec.timeout, verify=tls_context())
    except RuntimeError:  # the openai[aiohttp] extra is not installed
        return openai.DefaultAsyncHttpxClient(limits=limits, timeout=spec.timeout, verify=tls_context())


class ModelClient:
    """Calls one roster model with its limits; open it inside the event loop that will use it."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._key = spec.api_key()
        self._semaphore = asyncio.Semaphore(spec.max_concurrency)
        self._limiter = RateLimiter(spec.rpm) if spec.rpm else None
        http_client = http_client_for(spec)
        self._client = openai.AsyncOpenAI(
            base_url=spec.base_url, api_key=self._key, max_retries=0, timeout=spec.timeout, http_client=http_client
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def complete(self, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> CallResult:
        """Send one chat completion with retries; never raises for endpoint or network failures."""
        body = {**params, "model": self.spec.model, "messages": messages}
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                if self._limiter:
                    await self._limiter.acquire()
                async with self._semaphore:
                    data = await self._client.post("/chat/completions", body=body, cast_to=object)
            except (openai.APIError, ValueError) as exc:
                kind, retryable, message = classify(exc)
                if isinstance(exc, openai.APIStatusError) and retryable:
                    wait = retry_after(exc)
                if not retryable or attempt > self.spec.max_retries:
                    return self._failed(kind, message, attempt, started)
                await asyncio.sleep(min(MAX_BACKOFF, wait) if wait is not None else backoff(attempt))
                continue
            if not isinstance(data, Mapping):
                return self._failed("bad_response", "the endpoint did not return a JSON object", attempt, started)
            text, reasoning, finish_reason, usage = _response_fields(data)
            if text is None:
                reason = f" (finish_reason={finish_reason})" if finish_reason else ""
                return self._failed("bad_response", f"the response has no message content{reason}", attempt, started)
            return CallResult(
                status="ok",
                text=text,
                reasoning=reasoning,
                finish_reason=finish_reason,
                usage=usage,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                attempts=attempt,
            )

    def _failed(self, kind: str, message: str, attempts: int, started: float) -> CallResult:
        return CallResult(
            status="failed",
            latency_ms=(time.perf_counter() - started) * 1000.0,
            attempts=attempts,
            error_kind=kind,
            error=redact(message, [self._key]),
        )
