"""The Models tab's handlers over a real roster file: the table never shows a key, tests, the simulator, shared mode."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from blossom_studio.llm import simulator as sim
from blossom_studio.store import Store
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer
from blossom_studio.ui.models_tab import ALL_MODELS, ROSTER_HEADERS, TEST_HEADERS, build_models_tab
from blossom_studio.ui.studio import Studio

SECRET = "sk-ui-test-9876543210zyxwvuSECRET"
KEY_ENV = "BLOSSOM_TEST_MODELS_TAB_KEY"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build(studio: Studio) -> gr.Blocks:
    with gr.Blocks() as demo, gr.Tabs(), gr.Tab("Models", id="models"):
        build_models_tab(demo, studio)
    return demo


def handler(demo: gr.Blocks, api_name: str) -> Any:
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def flat(values: Any) -> str:
    return json.dumps(values, default=str, ensure_ascii=False)


@pytest.fixture(autouse=True)
def no_simulator() -> Iterator[None]:
    sim.stop_simulator()
    yield
    sim.stop_simulator()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig()) as running:
        yield running


@pytest.fixture
def roster_file(tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, SECRET)
    path = tmp_path / "models.toml"
    path.write_text(
        f'[models.good]\nbase_url = "{server.base_url}"\nmodel = "fake-a"\napi_key_env = "{KEY_ENV}"\n'
        'max_concurrency = 4\nrpm = 60\n[models.good.params]\ntemperature = 0.5\nmax_tokens = 64\n\n'
        f'[models.dead]\nbase_url = "http://127.0.0.1:{free_port()}/v1"\nmodel = "fake-b"\n'
        f'api_key_env = "{KEY_ENV}"\n\n'
        '[models.unset]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "x"\napi_key_env = "BLOSSOM_TEST_NEVER_SET"\n',
        encoding="utf-8")
    return path


def test_the_roster_table_shows_the_key_variable_and_whether_it_is_set_never_the_key(
    store: Store, roster_file: Path
) -> None:
    demo = build(Studio(store, roster_path=roster_file))
    view = handler(demo, "models_roster")
    note, rows, choices, simulator_status, help_box = view.fn()
    assert str(roster_file) in note and "3 models" in note
    assert [row[0] for row in rows] == ["good", "dead", "unset"]
    good = dict(zip(ROSTER_HEADERS, rows[0], strict=True))
    assert good["api_key_env"] == KEY_ENV and good["key set"] == "yes" and good["from"] == "file"
    assert good["max_concurrency"] == 4 and good["rpm"] == 60
    assert json.loads(good["params"]) == {"max_tokens": 64, "temperature": 0.5}
    assert dict(zip(ROSTER_HEADERS, rows[2], strict=True))["key set"] == "NOT SET"
    assert choices["choices"] == [ALL_MODELS, "good", "dead", "unset"]
    assert "not running" in simulator_status and help_box["open"] is False
    assert SECRET not in flat(view.fn())
    handler(demo, "models_roster").outputs[1].postprocess(rows)


def test_connection_tests_give_latency_or_a_clear_error_and_never_the_key(store: Store, roster_file: Path) -> None:
    demo = build(Studio(store, roster_path=roster_file))
    test = handler(demo, "test_connection")
    rows = test.fn(ALL_MODELS, gr.Request(username="ann"))
    results = {row[0]: dict(zip(TEST_HEADERS, row, strict=True)) for row in rows}
    assert results["good"]["ok"] == "yes" and results["good"]["latency ms"] > 0
    assert results["dead"]["ok"] == "no" and results["dead"]["detail"].startswith("connection: could not connect")
    assert "BLOSSOM_TEST_NEVER_SET is not set" in results["unset"]["detail"]
    assert SECRET not in flat(rows)
    one = test.fn("good", None)
    assert [row[0] for row in one] == ["good"]


def test_a_missing_roster_file_explains_how_to_add_models_and_opens_the_help(store: Store, tmp_path: Path) -> None:
    demo = build(Studio(store, roster_path=tmp_path / "nowhere" / "models.toml"))
    note, rows, choices, _, help_box = handler(demo, "models_roster").fn()
    assert "No roster file at" in note and "simulator" in note
    assert rows == [] and choices["choices"] == [ALL_MODELS] and help_box["open"] is True
    results = handler(demo, "test_connection").fn(ALL_MODELS, None)
    assert "no models to test" in results[0][3]


def test_a_broken_roster_file_shows_the_roster_error(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.x]\nbase_url = "ftp://nope"\nmodel = "m"\n', encoding="utf-8")
    note, rows, *_ = handler(build(Studio(store, roster_path=path)), "models_roster").fn()
    assert "cannot be used" in note and "base_url must be an http(s) URL" in note and rows == []


def test_adding_the_simulator_adds_three_answering_models_in_memory(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    demo = build(Studio(store, roster_path=path))
    sim.start_simulator(latency=0.0)  # the handler reuses the running one; tests keep it fast
    note, rows, choices, simulator_status, _ = handler(demo, "add_simulator").fn(gr.Request(username="ann"))
    assert "No roster file" in note and choices["choices"] == ["(all models)", *sim.SIM_MODELS]
    assert [row[0] for row in rows] == list(sim.SIM_MODELS) and {row[1] for row in rows} == {"simulator"}
    assert {row[5] for row in rows} == {"not needed"}
    assert "fake answers" in simulator_status and "127.0.0.1" in simulator_status
    assert not path.exists(), "the simulator is not written into the roster file"
    results = handler(demo, "test_connection").fn("sim-c", None)
    assert results[0][:2] == ["sim-c", "yes"]


def test_shared_mode_refuses_tests_and_the_simulator_without_a_signed_in_user(
    store: Store, roster_file: Path
) -> None:
    demo = build(Studio(store, roster_path=roster_file, shared=True))
    with pytest.raises(gr.Error, match="Sign in"):
        handler(demo, "add_simulator").fn(gr.Request())
    with pytest.raises(gr.Error, match="Sign in"):
        handler(demo, "test_connection").fn(ALL_MODELS, None)
    assert sim.running_simulator() is None
    assert handler(demo, "models_roster").fn()[1], "reading the roster needs no user"
