"""The `synth`, `jobs` and `verdicts` commands as a contract: JSON on the last stdout line, the documented fields,
exit codes 0 / 1 / 2, and one-line errors without a traceback; run as `python -m blossom_studio` subprocesses
against the offline simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.store import open_store
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

PROJECT = Path(__file__).resolve().parents[2]
JOB_FIELDS = {"name", "strategy", "status", "items", "done", "failed"}
VERDICT_FIELDS = {"sample_id", "job", "kind", "judge", "candidates", "outcome", "parse_status"}
UNSET_KEY = "BLOSSOM_STUDIO_TEST_KEY_NEVER_SET"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(seed=3)) as running:
        yield running


@pytest.fixture(scope="module")
def garbling_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(rate_malformed=1.0, seed=3)) as running:
        yield running


def roster_toml(path: Path, base_url: str, models: dict[str, str], **extra: str) -> Path:
    tables = []
    for name, model in models.items():
        lines = [f"[models.{name}]", f'base_url = "{base_url}"', f'model = "{model}"', "max_retries = 0",
                 *(f"{key} = {value}" for key, value in extra.items())]
        tables.append("\n".join(lines))
    path.write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def roster(tmp_path: Path, server: FakeOpenAIServer) -> Path:
    """Models a, b, c on the simulator, and `ghost`, a model the endpoint does not serve."""
    models = {"a": "fake-a", "b": "fake-b", "c": "fake-c", "ghost": "fake-z"}
    return roster_toml(tmp_path / "models.toml", server.base_url, models)


@pytest.fixture
def db(tmp_path: Path, realdata: Path) -> Path:
    """A studio database with 6 GSM8K problems (with references) and 5 open-instruct prompts with 2 completions."""
    gsm = (realdata / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:6]
    (tmp_path / "gsm8k.jsonl").write_text("\n".join(gsm) + "\n", encoding="utf-8")
    tulu = (realdata / "open-instruct" / "eval_instances_tulu_1.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    (tmp_path / "tulu.jsonl").write_text("\n".join(tulu) + "\n", encoding="utf-8")
    path = tmp_path / "studio.duckdb"
    with open_store(path) as store:
        import_files(store, [tmp_path / "gsm8k.jsonl"], source="gsm8k")
        import_files(store, [tmp_path / "tulu.jsonl"], source="tulu")
    return path


def command(db: Path, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", "blossom_studio", "--db", str(db), *map(str, args)]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("BLOSSOM_STUDIO_DB", "BLOSSOM_STUDIO_MODELS", UNSET_KEY)}


def cli(db: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(db, *args), cwd=PROJECT, env=clean_env(), capture_output=True, text=True,
                          timeout=180)


def last_json(result: subprocess.CompletedProcess[str]) -> Any:
    lines = result.stdout.strip().splitlines()
    assert lines, f"no stdout; stderr: {result.stderr}"
    assert len(lines) == 1, "human-readable text goes to stderr with --json"
    return json.loads(lines[-1])


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_synth_json_reports_the_finished_job_and_jobs_and_verdicts_list_it(db: Path, roster: Path) -> None:
    result = cli(db, "synth", "--models", roster, "--strategy", "verify", "--roles", "A=a,B=b", "--source", "gsm8k",
                 "--limit", "4", "--job", "check", "--json")
    assert result.returncode == 0, result.stderr
    job = last_json(result)
    assert set(job) >= JOB_FIELDS
    assert {k: job[k] for k in JOB_FIELDS} == {"name": "check", "strategy": "verify", "status": "done", "items": 4,
                                               "done": 4, "failed": 0}
    assert "check (verify): done; 4 items, 4 done" in result.stderr

    pairs = cli(db, "synth", "--models", roster, "--strategy", "pairwise", "--roles", "A=a,B=b,C=c",
                "--set", "answers=existing", "--source", "tulu", "--seed", "7", "--json")
    assert pairs.returncode == 0, pairs.stderr
    assert last_json(pairs)["name"].startswith("pairwise-") and last_json(pairs)["done"] == 5

    jobs = cli(db, "jobs", "--json")
    assert jobs.returncode == 0
    rows = last_json(jobs)
    assert isinstance(rows, list) and len(rows) == 2 and all(set(row) >= JOB_FIELDS for row in rows)
    assert {row["name"]: (row["strategy"], row["status"], row["items"], row["done"], row["failed"])
            for row in rows}["check"] == ("verify", "done", 4, 4, 0)

    verdicts = cli(db, "verdicts", "--job", "check", "--json")
    assert verdicts.returncode == 0
    rows = last_json(verdicts)
    assert len(rows) == 4 and all(set(row) >= VERDICT_FIELDS for row in rows)
    for row in rows:
        assert (row["job"], row["kind"], row["judge"], row["candidates"], row["parse_status"]) == (
            "check", "verify", "rule", ["a"], "rule")
        assert isinstance(row["outcome"]["correct"], bool)
    every = last_json(cli(db, "verdicts", "--json"))
    pairwise = [row for row in every if row["kind"] == "pairwise"]
    assert len(every) == 9 and len(pairwise) == 5
    for row in pairwise:
        assert row["judge"] in ("a", "b", "c") and len(row["candidates"]) == 2
        assert row["outcome"]["winner"] in ("A", "B", "tie") and row["parse_status"] == "ok"


def test_synth_exits_1_when_items_fail_and_resume_with_retry_failed_finishes_them(
    db: Path, roster: Path, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    result = cli(db, "synth", "--models", roster, "--strategy", "generate", "--roles", "A=ghost", "--job", "lost",
                 "--source", "gsm8k", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    job = last_json(result)
    assert (job["status"], job["items"], job["done"], job["failed"]) == ("done", 6, 0, 6)
    assert job["failure_reasons"] == {"not_found": 6}

    finished = cli(db, "synth", "--models", roster, "--resume", "lost", "--json")
    one_line_error(finished, "already finished")
    fixed = roster_toml(tmp_path / "fixed.toml", server.base_url, {"ghost": "fake-a"})
    retried = cli(db, "synth", "--models", fixed, "--resume", "lost", "--retry-failed", "--json")
    assert retried.returncode == 0, retried.stderr
    assert {k: last_json(retried)[k] for k in ("name", "done", "failed")} == {"name": "lost", "done": 6, "failed": 0}


def test_synth_exits_1_when_every_judge_reply_is_garbled(
    db: Path, tmp_path: Path, garbling_server: FakeOpenAIServer
) -> None:
    roster = roster_toml(tmp_path / "garbled.toml", garbling_server.base_url, {"judge": "fake-b"})
    result = cli(db, "synth", "--models", roster, "--strategy", "rate", "--roles", "B=judge", "--set",
                 "answers=existing,aspects=all", "--source", "tulu", "--job", "garbled", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    job = last_json(result)
    assert (job["done"], job["failed"], job["failure_reasons"]) == (0, 5, {"parse_failure": 5})
    rows = last_json(cli(db, "verdicts", "--job", "garbled", "--json"))
    assert len(rows) == 5
    assert all(row["parse_status"] == "failed" and row["outcome"] is None for row in rows)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--roles", "A=a"], ["synth needs --strategy"]),
        (["--strategy", "generate", "--roles", "A"], ["--roles takes KEY=VALUE pairs", "'A'"]),
        (["--strategy", "generate", "--roles", "A=a,B"], ["--roles takes KEY=VALUE pairs", "'B'"]),
        (["--strategy", "summarise", "--roles", "A=a"], ["unknown strategy 'summarise'", "generate"]),
        (["--strategy", "verify", "--roles", "A=a"], ["needs role(s) B", "--roles A=MODEL,B=MODEL"]),
        (["--strategy", "generate", "--roles", "A=nobody"], ["no model named 'nobody'"]),
        (["--strategy", "generate", "--roles", "A=a", "--set", "turns=every"], ["unknown option(s) turns"]),
        (["--strategy", "generate", "--roles", "A=a", "--source", "nowhere"], ["matches no samples"]),
        (["--resume", "never-ran"], ["no job named 'never-ran'"]),
        (["--strategy", "generate", "--roles", "A=a", "--retry-failed"], ["--retry-failed goes with --resume"]),
        (["--strategy", "generate", "--roles", "A=a", "--lang", "fr"], ["--lang"]),
    ],
)
def test_synth_usage_errors_exit_2_with_one_line_on_stderr(
    db: Path, roster: Path, args: list[str], fragments: list[str]
) -> None:
    one_line_error(cli(db, "synth", "--models", roster, *args, "--json"), *fragments)


def test_synth_roster_problems_exit_2_with_one_line_that_never_shows_a_key(
    db: Path, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    missing = tmp_path / "no-such-roster.toml"
    one_line_error(cli(db, "synth", "--models", missing, "--strategy", "generate", "--roles", "A=a"),
                   str(missing), "does not exist")

    leaked = tmp_path / "leaky.toml"
    leaked.write_text(f'[models.a]\nbase_url = "{server.base_url}"\nmodel = "fake-a"\n'
                      'api_key = "sk-test-0123456789abcdef"\n', encoding="utf-8")
    line = one_line_error(cli(db, "synth", "--models", leaked, "--strategy", "generate", "--roles", "A=a"),
                          "keys never go in the roster file", "api_key_env")
    assert "0123456789abcdef" not in line

    broken = tmp_path / "broken.toml"
    broken.write_text("[models.a\nbase_url = 1\n", encoding="utf-8")
    one_line_error(cli(db, "synth", "--models", broken, "--strategy", "generate", "--roles", "A=a"), "not valid TOML")

    keyed = roster_toml(tmp_path / "keyed.toml", server.base_url, {"a": "fake-a"}, api_key_env=f'"{UNSET_KEY}"')
    one_line_error(cli(db, "synth", "--models", keyed, "--strategy", "generate", "--roles", "A=a", "--json"),
                   f"{UNSET_KEY} is not set")
    assert last_json(cli(db, "jobs", "--json")) == []


def test_ctrl_c_cancels_synth_with_exit_1_and_resume_finishes_the_job(tmp_path: Path, realdata: Path) -> None:
    lines = (realdata / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:300]
    (tmp_path / "gsm8k.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "studio.duckdb"
    with open_store(db) as store:
        import_files(store, [tmp_path / "gsm8k.jsonl"], source="gsm8k")
    with FakeOpenAIServer(FakeConfig(latency=0.05, seed=3)) as slow:
        roster = roster_toml(tmp_path / "slow.toml", slow.base_url, {"a": "fake-a"}, max_concurrency="4")
        process = subprocess.Popen(command(db, "synth", "--models", roster, "--strategy", "generate", "--roles", "A=a",
                                           "--job", "interrupted", "--json"),
                                   cwd=PROJECT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        deadline = time.monotonic() + 60
        while slow.app.stats.requests < 30:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail("synth did not stop within 30 s of Ctrl-C")
        assert process.returncode == 1 and "Traceback" not in stderr, stderr
        assert stdout.strip(), stderr
        job = json.loads(stdout.strip().splitlines()[-1])
        assert job["status"] == "cancelled" and 0 < job["done"] < 300 and job["done"] + job["pending"] == 300
        assert "--resume interrupted" in stderr

        resumed = cli(db, "synth", "--models", roster, "--resume", "interrupted", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert {k: last_json(resumed)[k] for k in ("status", "done", "failed")} == {"status": "done", "done": 300,
                                                                               "failed": 0}
