"""Keys never leave the environment: real jobs against the simulator (answers, judges, 401s, 404s, faults) leave no
trace of the key in logs at DEBUG, stored errors, any table or byte of the DuckDB file, roster errors, or CLI output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from blossom_studio.ingest import import_files
from blossom_studio.llm.client import redact
from blossom_studio.llm.roster import RosterError, load_roster, parse_roster
from blossom_studio.store import Store, open_store
from blossom_studio.synth.jobs import create_job
from blossom_studio.synth.runner import run_job
from blossom_studio.synth.selection import Selection
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer
from tests.llm.test_client import StaticServer, closed_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHAT = PROJECT_DIR / "data" / "sample" / "chat.jsonl"
LOGGERS = ("openai", "httpx2", "httpcore2", "httpx", "httpcore", "aiohttp", "blossom_studio", "asyncio")


@dataclass(frozen=True)
class Secret:
    """A fresh fake key in a fresh environment variable."""

    env: str
    key: str


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Secret:
    made = Secret(env=f"BLOSSOM_TEST_KEY_{uuid.uuid4().hex[:8].upper()}", key=f"sk-test-{uuid.uuid4().hex}")
    monkeypatch.setenv(made.env, made.key)
    return made


@dataclass
class Endpoints:
    """Every kind of endpoint a job meets: a good one, a faulty one, one that refuses the key, one that echoes it
    back in its error text, and a closed port."""

    sim: FakeOpenAIServer
    faulty: FakeOpenAIServer
    locked: StaticServer
    echo: StaticServer
    dead_url: str


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    refused = json.dumps({"error": {"message": "Incorrect API key provided: {auth}", "code": "invalid_api_key"}})
    echoed = json.dumps({"error": {"message": "bad request from {auth}"}})
    faults = FakeConfig(rate_429=0.3, rate_500=0.1, retry_after=0.01, rate_malformed=0.3, seed=7)
    with (
        FakeOpenAIServer(FakeConfig()) as sim,
        FakeOpenAIServer(faults) as faulty,
        StaticServer(401, refused) as locked,
        StaticServer(400, echoed) as echo,
    ):
        yield Endpoints(sim, faulty, locked, echo, f"http://127.0.0.1:{closed_port()}/v1")


def roster_toml(env: str, where: Endpoints) -> str:
    """A roster whose every model reads its key from `env`."""
    models = {
        "sim-a": (where.sim.base_url, "fake-a", 2),
        "sim-b": (where.sim.base_url, "fake-b", 2),
        "sim-c": (where.sim.base_url, "fake-c", 2),
        "ghost": (where.sim.base_url, "fake-ghost", 2),
        "faulty-a": (where.faulty.base_url, "fake-a", 4),
        "faulty-b": (where.faulty.base_url, "fake-b", 4),
        "faulty-c": (where.faulty.base_url, "fake-c", 4),
        "locked": (where.locked.base_url, "fake-a", 2),
        "echo": (where.echo.base_url, "fake-a", 2),
        "dead": (where.dead_url, "fake-a", 0),
    }
    return "".join(
        f'[models.{name}]\nbase_url = "{url}"\nmodel = "{model}"\napi_key_env = "{env}"\ntimeout = 2\n'
        f"max_retries = {retries}\nmax_concurrency = 4\n[models.{name}.params]\ntemperature = 0.3\n\n"
        for name, (url, model, retries) in models.items()
    )


def assert_no_key(key: str, text: str, where: str) -> None:
    """Fail with a short message (never the text itself, which holds the key) when `key` occurs in `text`."""
    assert key not in text, f"the key appears in {where}"
    assert key.removeprefix("sk-test-") not in text, f"the key's secret part appears in {where}"


def dump_database(path: Path) -> str:
    """Every row of every table (and the catalog) of a closed DuckDB file, as text."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        parts = []
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        assert {"calls", "jobs", "job_items", "candidates", "verdicts", "samples"} <= {name for _, name in tables}
        for schema, name in tables:
            rows = connection.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall()
            parts.append(f"{schema}.{name}: {rows!r}")
        parts.append(repr(connection.execute("SELECT * FROM duckdb_tables()").fetchall()))
        parts.append(repr(connection.execute("SELECT * FROM duckdb_settings()").fetchall()))
        return "\n".join(parts)
    finally:
        connection.close()


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the project's Python in a child process with `env`."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=PROJECT_DIR,
                          timeout=120)


def child_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("BLOSSOM_STUDIO_DB", None)
    env.pop("BLOSSOM_STUDIO_DEBUG", None)
    return env


# --- a real run of every path ----------------------------------------------------------------------------------------


def test_jobs_leave_no_key_in_logs_errors_or_the_database(
    store: Store, secret: Secret, endpoints: Endpoints, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    roster_path = tmp_path / "models.toml"
    roster_path.write_text(roster_toml(secret.env, endpoints), encoding="utf-8")
    roster = load_roster(roster_path)
    (report,) = import_files(store, [CHAT])
    assert report.imported > 10

    runs = {
        "gen": ("generate", {"A": "sim-a"}, 3),
        "pair": ("pairwise", {"A": "sim-a", "B": "sim-b", "C": "sim-c"}, 3),
        "pair-faulty": ("pairwise", {"A": "faulty-a", "B": "faulty-b", "C": "faulty-c"}, 4),
        "gen-401": ("generate", {"A": "locked"}, 2),
        "gen-404": ("generate", {"A": "ghost"}, 2),
        "gen-echo": ("generate", {"A": "echo"}, 2),
        "gen-dead": ("generate", {"A": "dead"}, 2),
    }
    progress = {}
    for name, (strategy, roles, limit) in runs.items():
        create_job(store, roster, strategy=strategy, roles=roles, selection=Selection(limit=limit), name=name)
        progress[name] = run_job(store, roster, name)

    # every path really ran
    assert (progress["gen"].done, progress["pair"].done) == (3, 3)
    assert progress["pair-faulty"].finished == 4
    assert progress["gen-401"].reasons == {"auth": 2}
    assert progress["gen-404"].reasons == {"not_found": 2}
    assert progress["gen-echo"].reasons == {"bad_request": 2}
    assert progress["gen-dead"].failed == 2  # its kind is checked in test_client; here only its text matters
    faults = endpoints.faulty.app.stats.as_dict()["by_status"]
    assert faults.get("429", 0) > 0 and faults.get("500", 0) > 0
    assert endpoints.locked.requests == 2 and endpoints.echo.requests == 2
    verdicts = store.query("SELECT count(*) FROM verdicts WHERE kind = 'pairwise'")[0][0]
    assert verdicts >= 3

    # logs at DEBUG, from the HTTP stack too
    names = {record.name.split(".")[0] for record in caplog.records}
    assert "openai" in names, "the SDK's DEBUG records were not captured"
    assert names & {"httpx2", "httpcore2", "aiohttp"}, "the HTTP transport's records were not captured"
    for record in caplog.records:
        assert_no_key(secret.key, record.getMessage(), f"a log record of {record.name}")
        assert_no_key(secret.key, repr(record.args), f"the args of a log record of {record.name}")
        assert_no_key(secret.key, repr(record.__dict__), f"a log record's fields ({record.name})")
    assert_no_key(secret.key, caplog.text, "the formatted log")

    # stored errors say what went wrong, without the key
    errors = store.query("SELECT error_kind, error FROM calls WHERE error IS NOT NULL")
    item_errors = store.query("SELECT reason, error FROM job_items WHERE error IS NOT NULL")
    assert {kind for kind, _ in errors} >= {"auth", "not_found", "bad_request"}
    assert {reason for reason, _ in item_errors} >= {"auth", "not_found", "bad_request"}
    for _, error in errors + item_errors:
        assert_no_key(secret.key, error, "a stored error")
    echo_errors = [error for kind, error in errors if kind == "bad_request"]
    assert echo_errors and all("***" in error for error in echo_errors)

    # the whole database: every table as text, then the raw bytes of the file and its WAL
    path = store.path
    store.close()
    assert_no_key(secret.key, dump_database(path), "a table of the database")
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            data = file.read_bytes()
            assert secret.key.encode() not in data, f"the key's bytes are in {file.name}"
            assert secret.key.removeprefix("sk-test-").encode() not in data, f"the key's bytes are in {file.name}"


# --- roster errors and the public view -------------------------------------------------------------------------------


def test_roster_errors_never_echo_the_key(secret: Secret) -> None:
    good = {"base_url": "https://api.example.com/v1", "model": "m"}
    for table in ({**good, "api_key": secret.key}, {**good, "api_key_env": secret.key}):
        with pytest.raises(RosterError) as caught:
            parse_roster({"models": {"leaky": table}})
        assert_no_key(secret.key, str(caught.value), "a roster error")
        assert "'leaky'" in str(caught.value)


def test_public_view_of_every_model_has_no_key(secret: Secret, endpoints: Endpoints, tmp_path: Path) -> None:
    roster_path = tmp_path / "models.toml"
    roster_path.write_text(roster_toml(secret.env, endpoints), encoding="utf-8")
    roster = load_roster(roster_path)
    for name in roster.names():
        spec = roster.get(name)
        assert spec.api_key() == secret.key
        assert_no_key(secret.key, json.dumps(spec.public()), f"the public view of {name}")
        assert_no_key(secret.key, repr(spec), f"the repr of {name}")
        assert spec.public()["api_key_env"] == secret.env


def test_redact_removes_the_key_and_key_shaped_text(secret: Secret) -> None:
    message = f"HTTP 401: Incorrect API key provided: {secret.key}; header Bearer {secret.key}; try sk-other-1234567890"
    cleaned = redact(message, [secret.key])
    assert_no_key(secret.key, cleaned, "a redacted message")
    assert "sk-other-1234567890" not in cleaned
    assert "Incorrect API key provided: ***" in cleaned
    assert_no_key(secret.key, redact(f"key={secret.key}"), "a message redacted without knowing the key")


# --- the command line ------------------------------------------------------------------------------------------------


def test_cli_output_never_shows_the_key(secret: Secret, endpoints: Endpoints, tmp_path: Path) -> None:
    roster_path = tmp_path / "models.toml"
    roster_path.write_text(roster_toml(secret.env, endpoints), encoding="utf-8")
    db = tmp_path / "cli.duckdb"
    with open_store(db) as prepared:
        import_files(prepared, [CHAT])
    env = child_env()
    assert env[secret.env] == secret.key
    result = run_python("-m", "blossom_studio", "--db", str(db), "synth", "--models", str(roster_path), "--strategy",
                        "generate", "--roles", "A=sim-a", "--limit", "2", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["done"] == 2
    assert endpoints.sim.app.stats.requests == 2
    assert_no_key(secret.key, result.stdout + result.stderr, "the output of `synth`")
    assert "Traceback" not in result.stderr


def test_cli_roster_mistakes_never_show_the_key(
    secret: Secret, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's own entry point, in this process: each roster mistake is one line on stderr and exit code 2."""
    from blossom_studio.cli import main

    db = str(tmp_path / "cli.duckdb")
    for setting in (f'api_key = "{secret.key}"', f'api_key_env = "{secret.key}"'):
        roster_path = tmp_path / "leaky.toml"
        roster_path.write_text(f'[models.leaky]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n{setting}\n',
                               encoding="utf-8")
        code = main(["--db", db, "synth", "--models", str(roster_path), "--strategy", "generate", "--roles",
                     "A=leaky", "--json"])
        out, err = capsys.readouterr()
        assert code == 2
        assert err.startswith("error: model 'leaky': ")
        assert_no_key(secret.key, out + err, f"the CLI error for {setting.split()[0]}")
