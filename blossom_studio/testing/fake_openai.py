"""An offline OpenAI-compatible chat server with deterministic answers, latency and fault injection.

It answers `/v1/chat/completions` and `/v1/models` over keep-alive HTTP/1.1, derives every answer from
the request (so runs are reproducible), fills in the output-format block of judge prompts, and counts the
requests it saw per (model, messages) so that tests can prove what was sent twice. `GET /_fake/stats`
returns the counters; `POST /_fake/reset` clears them.

Run it for a demo with `python -m blossom_studio.testing.fake_openai --port 8765`: it is a simulator,
and its answers are not a model's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from blossom_studio.synth.templates import output_format_block

PLACEHOLDER = re.compile(r"<([^<>\n]{1,80})>")
RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
HAN = re.compile(r"[\u4e00-\u9fff]")
FAKE_MODELS = ("fake-a", "fake-b", "fake-c")


@dataclass
class FakeConfig:
    """Latency and fault rates of the simulator; each rate is a probability per request."""

    latency: float = 0.0
    jitter: float = 0.0
    rate_429: float = 0.0
    retry_after: float = 0.05
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_seconds: float = 60.0
    rate_malformed: float = 0.0
    seed: int = 0
    models: tuple[str, ...] = FAKE_MODELS


@dataclass
class FakeStats:
    """Counters of what the simulator saw and answered."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_call: Counter[str] = field(default_factory=Counter)
    completed_by_call: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        """Return the counters as JSON-ready data; `repeats` counts requests beyond the first per call."""
        return {
            "requests": self.requests,
            "by_status": {str(status): count for status, count in self.by_status.items()},
            "distinct_calls": len(self.by_call),
            "repeats": sum(count - 1 for count in self.by_call.values()),
            "completed": sum(self.completed_by_call.values()),
            "completed_repeats": sum(count - 1 for count in self.completed_by_call.values()),
        }


def call_key(model: str, messages: object) -> str:
    """Return the key under which a request is counted: a hash of its model and messages."""
    blob = json.dumps([model, messages], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def _fill_placeholder(spec: str, rng: random.Random) -> str:
    options = [option.strip() for option in spec.split("|")]
    choice = rng.choice(options)
    bounds = RANGE.match(choice)
    if bounds:
        return str(rng.randint(int(bounds.group(1)), int(bounds.group(2))))
    if len(options) > 1:
        return choice
    return "The answers were compared point by point." if rng.random() < 0.5 else "Both address the question."


def fill_output_format(block: str, rng: random.Random) -> str:
    """Return a judge reply that follows an output-format block, each placeholder filled from `rng`."""
    lines = [line for line in block.strip().splitlines() if line.strip()]
    return "\n".join(PLACEHOLDER.sub(lambda match: _fill_placeholder(match.group(1), rng), line) for line in lines)


def _plain_answer(model: str, prompt: str, rng: random.Random) -> str:
    number = rng.randint(1, 100)
    if HAN.search(prompt):
        return f"这是{model}的模拟回答（离线模拟器）。先分析题意，再逐步推理。\n\n答案是 {number}。"
    return f"This is a simulated answer from {model} (offline simulator). Step by step:\n\nThe answer is {number}."


def answer_text(model: str, messages: list[dict], malformed: bool, seed: int) -> str:
    """Return the deterministic reply of `model` to `messages`."""
    prompt = _last_user_text(messages)
    rng = _rng(seed, model, messages)
    block = output_format_block(prompt)
    if block is None:
        return _plain_answer(model, prompt, rng)
    if malformed:
        return rng.choice(["I think both are fine.", "", "Verdict pending; more context needed.", "{"])
    return fill_output_format(block.split("\n", 1)[1] if "\n" in block else "", rng)


class FakeOpenAI:
    """The simulator's request handling, independent of the socket layer."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.stats = FakeStats()

    async def chat(self, body: dict) -> tuple[int, dict, dict[str, str]]:
        """Answer one chat-completions request body with (status, JSON body, extra headers)."""
        self.stats.requests += 1
        model = str(body.get("model", ""))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self.stats.by_status[400] += 1
            return 400, _error("messages must be a non-empty list", "invalid_request_error"), {}
        if model not in self.config.models:
            self.stats.by_status[404] += 1
            return 404, _error(f"The model `{model}` does not exist", "model_not_found"), {}
        key = call_key(model, messages)
        attempt = self.stats.by_call[key]
        self.stats.by_call[key] += 1
        rng = _rng(self.config.seed, key, attempt)
        config = self.config
        roll = rng.random()
        if roll < config.rate_429:
            self.stats.by_status[429] += 1
            return (
                429,
                _error("Rate limit reached (simulated)", "rate_limit_exceeded"),
                {"retry-after": f"{config.retry_after:g}"},
            )
        roll -= config.rate_429
        if roll < config.rate_500:
            self.stats.by_status[500] += 1
            return 500, _error("Internal error (simulated)", "server_error"), {}
        roll -= config.rate_500
        if roll < config.rate_hang:
            await asyncio.sleep(config.hang_seconds)
        delay = config.latency + (rng.uniform(-config.jitter, config.jitter) if config.jitter else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        malformed = rng.random() < config.rate_malformed
        text = answer_text(model, messages, malformed, config.seed)
        self.stats.completed_by_call[key] += 1
        self.stats.by_status[200] += 1
        return 200, self._completion(model, messages, text, body.get("max_tokens")), {}

    def _completion(self, model: str, messages: list[dict], text: str, max_tokens: object) -> dict:
        words = text.split(" ")
        finish_reason = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            words = words[:max_tokens]
            text, finish_reason = " ".join(words), "length"
        prompt_tokens = sum(len(str(message.get("content", ""))) for message in messages) // 4 + 1
        message: dict[str, object] = {"role": "assistant", "content": text}
        if "reason" in model:
            message["reasoning_content"] = f"(simulated reasoning of {model})"
        return {
            "id": f"chatcmpl-fake-{call_key(model, messages)[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(words),
                "total_tokens": prompt_tokens + len(words),
            },
        }

    def models(self) -> dict:
        """Return the `/v1/models` listing."""
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "simulator"} for name in self.config.models
            ],
        }


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


class _HTTPServer:
    """A minimal keep-alive HTTP/1.1 server over asyncio streams for the simulator's few routes."""

    def __init__(self, app: FakeOpenAI) -> None:
        self.app = app
        self.connections: set[asyncio.Task] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                status, payload, extra = await self.route(method, path.split("?", 1)[0], body)
                data = json.dumps(payload, ensure_ascii=False).encode()
                lines = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
                    "content-type: application/json",
                    f"content-length: {len(data)}",
                ]
                lines += [f"{name}: {value}" for name, value in extra.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:  # the server is stopping with this keep-alive connection still open
            pass
        finally:
            writer.close()
            self.connections.discard(task)

    async def route(self, method: str, path: str, body: bytes) -> tuple[int, dict, dict[str, str]]:
        if method == "POST" and path.endswith("/chat/completions"):
            try:
                request = json.loads(body)
            except ValueError:
                return 400, _error("the body is not JSON", "invalid_request_error"), {}
            return await self.app.chat(request)
        if method == "GET" and path.endswith("/models"):
            return 200, self.app.models(), {}
        if method == "GET" and path == "/_fake/stats":
            return 200, self.app.stats.as_dict(), {}
        if method == "POST" and path == "/_fake/reset":
            self.app.stats = FakeStats()
            return 200, {"reset": True}, {}
        return 404, _error(f"no route {method} {path}", "not_found"), {}


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}


class FakeOpenAIServer:
    """The simulator on 127.0.0.1 in a background thread of this process; use as a context manager."""

    def __init__(self, config: FakeConfig | None = None, port: int = 0) -> None:
        self.app = FakeOpenAI(config)
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Start serving and return once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        http = _HTTPServer(self.app)
        server = await asyncio.start_server(http.handle, "127.0.0.1", self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            for connection in list(http.connections):
                connection.cancel()
            await asyncio.gather(*http.connections, return_exceptions=True)


@contextlib.contextmanager
def fake_server_process(config: FakeConfig | None = None) -> Iterator[str]:
    """Run the simulator in a child process (its own interpreter and GIL) and yield its base URL."""
    config = config or FakeConfig()
    args = [
        sys.executable,
        "-m",
        "blossom_studio.testing.fake_openai",
        "--port",
        "0",
        "--config",
        json.dumps(asdict(config)),
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError("the offline simulator did not start")
        yield line.split("listening on ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()


def fetch_stats(base_url: str) -> dict:
    """Return the simulator's counters from `GET /_fake/stats`."""
    import urllib.request

    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_fake/stats", timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Offline OpenAI-compatible simulator (answers are not a model's).")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=None, help="seconds per answer")
    parser.add_argument("--config", default=None, help="FakeConfig fields as JSON")
    args = parser.parse_args(argv)
    fields = json.loads(args.config) if args.config else {}
    if "models" in fields:
        fields["models"] = tuple(fields["models"])
    config = FakeConfig(**fields)
    if args.latency is not None:
        config.latency = args.latency
    server = FakeOpenAIServer(config, args.port).start()
    print(f"listening on {server.base_url}", flush=True)
    print(f"offline simulator: models {', '.join(config.models)}; answers are simulated", file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
