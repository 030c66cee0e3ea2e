"""The Synthesize tab's handlers over a real store and the in-process simulator: estimate, start, live progress read
from the database, cancel, resume, and shared mode refusing writes without a user."""

from __future__ import annotations

import html
import inspect
import re
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from blossom_studio import library
from blossom_studio.llm import simulator as sim
from blossom_studio.store import Store
from blossom_studio.synth.estimate import estimate_job
from blossom_studio.synth.jobs import create_job, job_progress, list_jobs, recent_jobs, set_status
from blossom_studio.synth.selection import Selection
from blossom_studio.synth.strategies import STRATEGIES
from blossom_studio.synth.verdicts import list_verdicts
from blossom_studio.ui import synthesize_tab as tab
from blossom_studio.ui.studio import Studio

SOURCE = "studio-sample"
PAIRWISE = {"strategy": "pairwise", "role_a": "sim-a", "role_b": "sim-b", "role_c": "sim-c"}
USER = gr.Request(username="ann")


def build(studio: Studio) -> gr.Blocks:
    with gr.Blocks() as demo, gr.Tabs(), gr.Tab("Synthesize", id="synthesize"):
        tab.build_synthesize_tab(demo, studio)
    return demo


def handler(demo: gr.Blocks, api_name: str) -> Any:
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def progress_data(html_text: str) -> dict[str, str]:
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', html_text))


@pytest.fixture(autouse=True)
def simulator() -> Iterator[sim.Simulator]:
    sim.stop_simulator()
    yield sim.start_simulator(latency=0.0)  # the tab's handlers reuse the running simulator
    sim.stop_simulator()


@pytest.fixture
def studio(store: Store, tmp_path: Path) -> Studio:
    library.ensure_sample_data(store)
    return Studio(store, roster_path=tmp_path / "models.toml")  # no roster file: the simulator's models only


def poll(demo: gr.Blocks, selected: str, until: tuple[str, ...], timeout: float = 60) -> tuple[dict[str, str], Any]:
    watch = handler(demo, "job_progress")
    state: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = watch.fn(selected, state)
        state = values[-1]
        data = progress_data(values[1])
        if data.get("status") in until:
            return data, values
        time.sleep(0.1)
    raise AssertionError(f"the job did not reach {until} within {timeout} s: {data}")


def test_the_tab_registers_its_api_names_with_named_parameters(studio: Studio) -> None:
    demo = build(studio)
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"synth_choices", "estimate_job", "start_job", "job_progress", "cancel_job", "resume_job",
            "synth_add_simulator"} <= names
    start = handler(demo, "start_job")
    assert [p for p in inspect.signature(start.fn).parameters] == [*tab.FORM_FIELDS, "request"]
    assert len(start.inputs) == len(tab.FORM_FIELDS)
    assert set(tab.OPTION_NAMES) == {option for cls in STRATEGIES.values() for option in cls.options}, \
        "the form offers every strategy option"


def test_choices_offer_sources_and_the_simulator_models_and_say_there_is_no_roster_file(studio: Studio) -> None:
    demo = build(studio)
    values = handler(demo, "synth_choices").fn("pairwise", tab.NOT_USED, tab.NOT_USED, tab.NOT_USED,
                                               *(tab._option_default(name) for name in tab.OPTION_NAMES))
    sources, saved, role_a, role_b, role_c, note = values
    assert sources["choices"] == [tab.ALL_SOURCES, *library.sources(studio.store)]
    assert saved["choices"] == [tab.NO_SAVED]
    assert [role["value"] for role in (role_a, role_b, role_c)] == ["sim-a", "sim-b", "sim-c"]
    assert role_a["choices"] == list(sim.SIM_MODELS) and all(role["visible"] for role in (role_a, role_b, role_c))
    assert "No roster file" in note and "simulated" in note


def test_roles_follow_the_strategy_and_its_options() -> None:
    models = list(sim.SIM_MODELS)
    assert tab.shown_roles("pairwise") == {"A": True, "B": True, "C": True}
    assert tab.shown_roles("pairwise", {"answers": "existing"}) == {"A": True, "B": True}
    assert tab.shown_roles("verify", {"answers": "existing"}) == {"B": True}
    assert tab.shown_roles("generate") == {"A": True, "B": False, "C": False}
    assert tab.shown_roles("rules") == {}
    a, b, c = tab.role_updates("generate", {}, {"A": "sim-c"}, models)
    assert (a["value"], a["visible"], b["value"], b["choices"][0]) == ("sim-c", True, tab.NOT_USED, tab.NOT_USED)
    assert "optional" in b["label"]
    _, b, c = tab.role_updates("verify", {"answers": "existing"}, {}, models)
    assert b["visible"] and not c["visible"]


def test_the_estimate_handler_shows_the_library_estimate(studio: Studio) -> None:
    demo = build(studio)
    text = handler(demo, "estimate_job").fn(*tab.form_values(source=SOURCE, limit=3, **PAIRWISE))
    expected = estimate_job(studio.store, sim.studio_roster(studio.roster_path).roster, strategy="pairwise",
                            roles={"A": "sim-a", "B": "sim-b", "C": "sim-c"}, selection=Selection(source=SOURCE,
                                                                                                limit=3))
    assert expected.calls == 12
    assert expected.summary().replace("→", "") in text.replace("→", "").replace("&gt;", ">")
    missing = handler(demo, "estimate_job").fn(*tab.form_values(strategy="pairwise", role_a="sim-a"))
    assert "pick a model for role B, C" in missing


def test_a_pairwise_job_started_from_the_tab_runs_to_100_percent_and_shows_on_reload(studio: Studio) -> None:
    demo = build(studio)
    values = tab.form_values(source=SOURCE, limit=4, seed=7, job_name="pw-ui", **PAIRWISE)
    status, job_choice = handler(demo, "start_job").fn(*values, USER)
    assert "Started `pw-ui`: 4 items" in status and job_choice["value"] == "pw-ui"
    # A reloaded page (no session state) follows the latest job and reads its progress from the database.
    data, _ = poll(demo, tab.LATEST, ("done",))
    assert data["job"] == "pw-ui" and data["items"] == "4" and data["percent"] == "100"
    assert int(data["done"]) + int(data["failed"]) == 4
    choices, _, rows, timer, cancel, resume, sent = handler(demo, "job_progress").fn(tab.LATEST, {})
    assert choices["choices"] == [tab.LATEST, "pw-ui"] and choices["value"] == tab.LATEST
    assert timer.value == tab.IDLE_TICK and cancel["interactive"] is False and resume["interactive"] is False
    assert handler(demo, "job_progress").fn(tab.LATEST, sent)[2] == gr.update(), "unchanged tables are not resent"
    row = dict(zip(tab.HISTORY_HEADERS, rows[0], strict=True))
    assert (row["name"], row["strategy"], row["status"], row["items"]) == ("pw-ui", "pairwise", "done", 4)
    assert row["roles"] == "A=sim-a, B=sim-b, C=sim-c"
    progress = job_progress(studio.store, "pw-ui")
    assert progress.done == progress.items == 4, progress.reasons
    assert studio.store.query("SELECT created_by FROM jobs WHERE name = 'pw-ui'") == [("ann",)]
    assert {v["kind"] for v in list_verdicts(studio.store, "pw-ui")} == {"pairwise"}
    with pytest.warns(UserWarning, match="already exists"):
        again, _ = handler(demo, "start_job").fn(*values, USER)
    assert "already exists" in again
    handler(demo, "job_progress").outputs[2].postprocess(rows)


def test_cancel_keeps_the_job_resumable_and_resume_finishes_it(studio: Studio) -> None:
    sim.stop_simulator()
    sim.start_simulator(latency=2.0)  # slow answers: the job is still running when cancelled
    demo = build(studio)
    values = tab.form_values(source=SOURCE, limit=6, job_name="slow", **PAIRWISE)
    status, _ = handler(demo, "start_job").fn(*values, USER)
    assert "Started" in status
    data, _ = poll(demo, "slow", ("running",), timeout=10)
    assert data["percent"] == "0"
    message = handler(demo, "cancel_job").fn("slow", USER)
    assert "Cancelling `slow`" in message
    data, outputs = poll(demo, "slow", ("cancelled",), timeout=30)
    assert int(data["done"]) < 6 and job_progress(studio.store, "slow").pending > 0
    assert outputs[5]["interactive"] is True, "resume is offered"
    assert "nothing to cancel" in handler(demo, "cancel_job").fn("slow", USER)
    # The simulator comes back on a new port (as after a restart); the job resumes with the same model names.
    sim.stop_simulator()
    sim.start_simulator(latency=0.0)
    resume = handler(demo, "resume_job")
    message = resume.fn("slow", False, USER)
    assert message.startswith("Resumed `slow`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "already running" in resume.fn("slow", False, USER), "a double click does not run the job twice"
    data, _ = poll(demo, "slow", ("done",))
    assert data["percent"] == "100" and job_progress(studio.store, "slow").pending == 0
    assert "has no pending items" in handler(demo, "resume_job").fn("slow", False, USER)


def test_a_bad_form_is_explained_and_starts_nothing(studio: Studio) -> None:
    demo = build(studio)
    start = handler(demo, "start_job")
    with pytest.warns(UserWarning, match="pick a model for role C"):
        status, _ = start.fn(*tab.form_values(strategy="pairwise", role_a="sim-a", role_b="sim-b"), USER)
    assert status.startswith("⚠️ Not started")
    with pytest.warns(UserWarning, match="different model in each role"):
        start.fn(*tab.form_values(strategy="pairwise", role_a="sim-a", role_b="sim-a", role_c="sim-b"), USER)
    with pytest.warns(UserWarning, match="matches no samples"):
        start.fn(*tab.form_values(source="no-such-source", role_a="sim-a"), USER)
    assert list_jobs(studio.store) == []


def test_shared_mode_refuses_every_write_without_a_signed_in_user(store: Store, tmp_path: Path) -> None:
    library.ensure_sample_data(store)
    shared = Studio(store, roster_path=tmp_path / "models.toml", shared=True)
    demo = build(shared)
    values = tab.form_values(source=SOURCE, limit=2, **PAIRWISE)
    for api_name, args in [("start_job", (*values, gr.Request())), ("cancel_job", (tab.LATEST, gr.Request())),
                           ("resume_job", (tab.LATEST, False, None)),
                           ("synth_add_simulator", ("generate", *([tab.NOT_USED] * 3),
                                                    *(tab._option_default(n) for n in tab.OPTION_NAMES),
                                                    gr.Request()))]:
        with pytest.raises(gr.Error, match="Sign in"):
            handler(demo, api_name).fn(*args)
    assert list_jobs(store) == []
    status, _ = handler(demo, "start_job").fn(*values, USER)
    assert status.startswith("Started")
    assert "(following the latest job)" in handler(demo, "job_progress").fn(tab.LATEST, {})[1]
    poll(demo, tab.LATEST, ("done",))


def test_progress_html_escapes_names_and_shows_no_jobs_yet(studio: Studio) -> None:
    assert 'data-status="none"' in tab.progress_html(None)
    demo = build(studio)
    name = '<img src=x onerror="alert(1)">'
    handler(demo, "start_job").fn(*tab.form_values(source=SOURCE, limit=1, job_name=name, role_a="sim-a"), USER)
    data, outputs = poll(demo, name, ("done",))
    assert "<img" not in outputs[1] and "&lt;img" in outputs[1]
    assert data["job"] == html.escape(name)


def test_a_job_left_running_by_a_crash_shows_as_interrupted_and_resumes(studio: Studio) -> None:
    roster = sim.studio_roster(studio.roster_path).roster
    job = create_job(studio.store, roster, strategy="generate", roles={"A": "sim-a"},
                     selection=Selection(source=SOURCE, limit=3), name="crashed")
    set_status(studio.store, job.id, "running", started=True)  # what a killed studio leaves behind
    demo = build(studio)
    _, html_text, _, _, cancel, resume, _ = handler(demo, "job_progress").fn(tab.LATEST, {})
    data = progress_data(html_text)
    assert (data["job"], data["status"], data["percent"]) == ("crashed", "interrupted", "0")
    assert resume["interactive"] is True and cancel["interactive"] is False
    assert handler(demo, "resume_job").fn(tab.LATEST, False, USER) == "Resumed `crashed`: 3 items to go."
    data, _ = poll(demo, "crashed", ("done",))
    assert data["done"] == "3"
    # A job name that no longer resolves falls back to following the latest job.
    _, html_text, *_ = handler(demo, "job_progress").fn("no-such-job", {})
    assert progress_data(html_text)["job"] == "crashed"


def test_gradio_client_starts_a_job_and_reads_its_progress_over_http(studio: Studio) -> None:
    from gradio_client import Client

    demo = build(studio)
    demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        fields = dict(zip(tab.FORM_FIELDS, tab.form_values(source=SOURCE, limit=2, job_name="over-http", **PAIRWISE),
                          strict=True))
        status, job_choice = client.predict(**fields, api_name="/start_job")
        assert status.startswith("Started `over-http`") and job_choice["value"] == "over-http"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, html_text, *_ = client.predict("over-http", api_name="/job_progress")
            if progress_data(html_text)["status"] == "done":
                break
            time.sleep(0.2)
        assert progress_data(html_text)["percent"] == "100"
    finally:
        demo.close()
    assert [job.as_dict() for job in recent_jobs(studio.store)] == [job.as_dict() for job in list_jobs(studio.store)]
