"""The offline simulator in the studio process: a real server on 127.0.0.1, its models added to the roster in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from blossom_studio.llm import simulator as sim
from blossom_studio.llm.roster import load_roster


@pytest.fixture
def running() -> Iterator[sim.Simulator]:
    sim.stop_simulator()
    started = sim.start_simulator(latency=0.0)
    yield started
    sim.stop_simulator()


def test_start_serves_three_distinct_models_on_a_free_local_port_and_is_idempotent(running: sim.Simulator) -> None:
    assert running.base_url.startswith("http://127.0.0.1:") and running.server.port > 0
    assert list(running.models) == list(sim.SIM_MODELS)
    assert {spec.model for spec in running.models.values()} == set(sim.SIM_MODELS)
    assert all(spec.base_url == running.base_url and spec.api_key_env is None for spec in running.models.values())
    assert sim.start_simulator() is running and sim.running_simulator() is running
    client = openai.OpenAI(base_url=running.base_url, api_key="not-needed", max_retries=0, timeout=5)
    try:
        answer = client.chat.completions.create(model="sim-b", messages=[{"role": "user", "content": "Hi"}])
    finally:
        client.close()
    assert "offline simulator" in (answer.choices[0].message.content or "")


def test_without_a_roster_file_the_studio_roster_is_the_simulator_with_the_reason(
    running: sim.Simulator, tmp_path: Path
) -> None:
    state = sim.studio_roster(tmp_path / "models.toml")
    assert state.missing and state.error and "does not exist" in state.error
    assert state.roster.names() == list(sim.SIM_MODELS) and state.simulated == sim.SIM_MODELS
    assert state.file_models == []


def test_file_models_come_first_keep_their_names_and_the_file_is_not_written(
    running: sim.Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "models.toml"
    text = ('[models.local]\nbase_url = "http://127.0.0.1:8000/v1"\nmodel = "qwen"\n\n'
            '[models.sim-a]\nbase_url = "http://127.0.0.1:8001/v1"\nmodel = "mine"\n')
    path.write_text(text, encoding="utf-8")
    state = sim.studio_roster(path)
    assert state.error is None and not state.missing
    assert state.roster.names() == ["local", "sim-a", "sim-b", "sim-c"]
    assert state.roster.get("sim-a").model == "mine", "a file model keeps its name"
    assert state.shadowed == ("sim-a",) and state.simulated == ("sim-b", "sim-c")
    assert state.file_models == ["local", "sim-a"]
    assert path.read_text(encoding="utf-8") == text
    assert load_roster(path).names() == ["local", "sim-a"]


def test_an_invalid_roster_file_keeps_its_error_and_the_simulator_still_works(
    running: sim.Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.x]\nbase_url = "http://h/v1"\nmodel = "m"\napi_key = "sk-secret-value-123"\n')
    state = sim.studio_roster(path)
    assert state.error is not None and "keys never go in the roster file" in state.error
    assert "sk-secret-value-123" not in state.error
    assert state.roster.names() == list(sim.SIM_MODELS)


def test_stopping_removes_the_models(tmp_path: Path) -> None:
    sim.stop_simulator()
    started = sim.start_simulator(latency=0.0)
    port = started.server.port
    sim.stop_simulator()
    assert sim.running_simulator() is None
    assert sim.studio_roster(tmp_path / "none.toml").roster.names() == []
    again = sim.start_simulator(latency=0.0)
    try:
        assert again is not started and again.server.port > 0
        assert again.server.port != port or again.base_url == started.base_url
    finally:
        sim.stop_simulator()
