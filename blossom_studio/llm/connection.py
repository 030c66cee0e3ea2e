"""A connection test per roster model: one chat completion of at most one token, its latency or a clear error.

The test sends the model's own name and a one-word prompt with `max_tokens=1`, so it checks the address, the key and
the model name in one call that costs a token at most. Errors say the kind of failure and where (the endpoint's
address, or the server's own short error text); the key is never part of them: a refused key gets our own message,
and the key, or anything shaped like one, is redacted from the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai

from blossom_studio.llm.client import classify
from blossom_studio.llm.roster import ModelSpec, RosterError
from blossom_studio.llm.secrets import redact

PROBE = [{"role": "user", "content": "ping"}]
DEFAULT_TIMEOUT = 15.0
MAX_PARALLEL = 8


@dataclass(frozen=True)
class ConnectionResult:
    """The outcome of one model's connection test: ok with a latency, or the reason it failed."""

    name: str
    ok: bool
    latency_ms: float | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        """Return the result as JSON-ready data."""
        return {"name": self.name, "ok": self.ok, "latency_ms": self.latency_ms, "detail": self.detail}


def check_connection(spec: ModelSpec, *, timeout: float = DEFAULT_TIMEOUT) -> ConnectionResult:
    """Send one `max_tokens=1` chat completion to the model and return its latency, or why it failed."""
    try:
        key = spec.api_key()
    except RosterError as exc:  # names the variable, never a value
        return ConnectionResult(spec.name, False, None, str(exc))
    client = openai.OpenAI(base_url=spec.base_url, api_key=key, max_retries=0, timeout=min(timeout, spec.timeout))
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(model=spec.model, messages=PROBE, max_tokens=1)  # type: ignore[arg-type]
    except openai.APIError as exc:
        kind, _, message = classify(exc)
        elapsed = (time.perf_counter() - started) * 1000.0
        if kind in ("connection", "timeout"):
            message = f"{message} at {spec.base_url}"
            if kind == "timeout":
                message += f" (after {elapsed / 1000.0:.1f} s)"
        return ConnectionResult(spec.name, False, None, redact(f"{kind}: {message}", [key]))
    except Exception as exc:  # an answer the SDK cannot read: say what kind, not its text
        return ConnectionResult(spec.name, False, None, f"error: {type(exc).__name__} from {spec.base_url}")
    finally:
        client.close()
    elapsed = (time.perf_counter() - started) * 1000.0
    answered = getattr(response, "model", None) or spec.model
    return ConnectionResult(spec.name, True, round(elapsed, 1), redact(f"answered as model {answered}", [key]))


def check_connections(specs: Iterable[ModelSpec], *, timeout: float = DEFAULT_TIMEOUT) -> list[ConnectionResult]:
    """Test several models at once (a few threads) and return their results in the order given."""
    chosen = list(specs)
    if not chosen:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(chosen)), thread_name_prefix="connection-test") as pool:
        return list(pool.map(lambda spec: check_connection(spec, timeout=timeout), chosen))
