"""Connection tests over real HTTP: latency on success, a clear error otherwise, and never the key in any output."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from blossom_studio.llm.connection import check_connection, check_connections
from blossom_studio.llm.roster import ModelSpec, parse_model
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

SECRET = "sk-test-0123456789abcdefSECRET"
KEY_ENV = "BLOSSOM_TEST_CONNECTION_KEY"


def spec(base_url: str, model: str = "fake-a", **table: object) -> ModelSpec:
    return parse_model(model, {"base_url": base_url, "model": model, **table})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig()) as running:
        yield running


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


class _EchoKey(BaseHTTPRequestHandler):
    """An endpoint that refuses every request and puts the Authorization header it got into its error message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0") or 0))
        status = int(self.server.status)  # type: ignore[attr-defined]
        body = json.dumps({"error": {"message": f"rejected {self.headers.get('authorization')}"}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKey)
    httpd.status = 400  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_reachable_model_answers_with_its_latency(server: FakeOpenAIServer, key: str) -> None:
    result = check_connection(spec(server.base_url, api_key_env=KEY_ENV))
    assert result.ok and result.latency_ms is not None and result.latency_ms > 0
    assert result.detail == "answered as model fake-a"
    assert key not in json.dumps(result.as_dict())


def test_an_unreachable_port_is_a_clear_connection_error_without_the_key(key: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = check_connection(spec(url, api_key_env=KEY_ENV), timeout=5)
    assert not result.ok and result.latency_ms is None
    assert result.detail == f"connection: could not connect to the endpoint at {url}"
    assert key not in json.dumps(result.as_dict())


def test_a_model_the_endpoint_does_not_have_is_named_in_the_error(server: FakeOpenAIServer) -> None:
    result = check_connection(spec(server.base_url, model="missing-model"))
    assert not result.ok and result.detail.startswith("not_found: HTTP 404")
    assert "missing-model" in result.detail


def test_a_missing_key_variable_is_named_without_any_call() -> None:
    result = check_connection(spec("http://127.0.0.1:9/v1", api_key_env="BLOSSOM_TEST_UNSET_VARIABLE"))
    assert not result.ok and "BLOSSOM_TEST_UNSET_VARIABLE is not set" in result.detail


@pytest.mark.parametrize("status", [400, 401, 500])
def test_an_endpoint_that_echoes_the_key_never_gets_it_into_the_result(
    echo: ThreadingHTTPServer, key: str, status: int
) -> None:
    echo.status = status  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{echo.server_address[1]}/v1"
    result = check_connection(spec(url, api_key_env=KEY_ENV), timeout=5)
    assert not result.ok
    assert key not in json.dumps(result.as_dict()) and "0123456789abcdef" not in result.detail
    if status == 401:
        assert result.detail == "auth: HTTP 401: the endpoint refused the key (check the environment variable)"
    else:
        assert f"HTTP {status}" in result.detail and "rejected" in result.detail


def test_a_hanging_endpoint_times_out_with_the_time_waited() -> None:
    with FakeOpenAIServer(FakeConfig(rate_hang=1.0, hang_seconds=3.0)) as hanging:
        result = check_connection(spec(hanging.base_url), timeout=0.5)
    assert not result.ok and result.detail.startswith("timeout: the request timed out at http://127.0.0.1:")
    assert "(after 0." in result.detail


def test_several_models_are_tested_at_once_in_the_order_given(server: FakeOpenAIServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    specs = [spec(server.base_url, "fake-a"), spec(dead, "fake-b"), spec(server.base_url, "fake-c")]
    results = check_connections(specs, timeout=5)
    assert [(r.name, r.ok) for r in results] == [("fake-a", True), ("fake-b", False), ("fake-c", True)]
    assert check_connections([]) == []
