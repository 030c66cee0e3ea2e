"""The `rebalance` and `selections` commands and `synth --selection` as a contract, run as `python -m blossom_studio`
subprocesses: a preview that saves nothing, --save, JSON on the last stdout line, exit code 2 with one line for bad
input, and a synthesis job over exactly the saved ids against the offline simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.store import open_store
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer
from tests.cli.test_synth import one_line_error

PROJECT = Path(__file__).resolve().parents[2]
FILES = {"gsm8k": ("gsm8k/test.jsonl", "en"), "cmath": ("qwen2.5-math/cmath/test.jsonl", "zh"),
         "belle": ("belle/eval_set.json", "zh")}


@pytest.fixture
def db(tmp_path: Path, realdata: Path) -> Path:
    """A studio database with 60 GSM8K (en), 30 CMATH and 40 BELLE (zh) records, profiled by source."""
    path = tmp_path / "studio.duckdb"
    with open_store(path) as store:
        for source, (name, _) in FILES.items():
            lines = (realdata / name).read_text(encoding="utf-8").splitlines()[: {"gsm8k": 60, "cmath": 30}.get(
                source, 40)]
            part = tmp_path / f"{source}.jsonl"
            part.write_text("\n".join(lines) + "\n", encoding="utf-8")
            import_files(store, [part], source=source)
        with store.write() as cursor:
            for source, (_, lang) in FILES.items():
                cursor.execute("UPDATE samples SET lang = ?, profile_version = 1 WHERE source = ?", [lang, source])
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(seed=3)) as running:
        yield running


def cli(db: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BLOSSOM_STUDIO_DB", "BLOSSOM_STUDIO_MODELS")}
    return subprocess.run([sys.executable, "-m", "blossom_studio", "--db", str(db), *map(str, args)], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=180)


def last_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"human-readable text goes to stderr with --json; stdout: {result.stdout!r}"
    return json.loads(lines[-1])


def test_rebalance_previews_without_saving_and_prints_the_table(db: Path) -> None:
    result = cli(db, "rebalance", "--ratio", "zh:en=1:1", "--size", "40")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["lang", "source", "available", "selected"]
    assert [line.split() for line in lines[1:4]] == [["zh", "belle", "40", "11"], ["zh", "cmath", "30", "9"],
                                                     ["en", "gsm8k", "60", "20"]]
    assert "total: zh 20 of 20, en 20 of 20 (40 of 40 samples, ratio zh:en=1:1)" in result.stdout
    assert "preview only: add --save NAME" in result.stdout
    assert last_json(cli(db, "selections", "--json")) == []

    plan = last_json(cli(db, "rebalance", "--ratio", "zh=1,en=1", "--size", "40", "--json"))
    assert (plan["samples"], plan["totals"], plan["shortfall"], plan["saved"]) == (40, {"zh": 20, "en": 20}, {}, None)
    assert len(plan["ids"]) == 40 and plan["counts"][0] == {"lang": "zh", "source": "belle", "available": 40,
                                                            "selected": 11}


def test_rebalance_reports_the_shortfall_and_keeps_the_ratio(db: Path) -> None:
    result = cli(db, "rebalance", "--ratio", "zh:en=1:2", "--size", "150", "--json")
    plan = last_json(result)
    assert plan["shortfall"] == {"en": 40} and plan["totals"] == {"zh": 30, "en": 60}  # 60 en of 100 -> 30 zh
    assert "short: en has 60 profiled samples for a target of 100" in result.stderr
    assert "to keep zh:en=1:2 the selection has 90 samples, not 150; --fill tops up to --size" in result.stderr
    filled = last_json(cli(db, "rebalance", "--ratio", "zh:en=1:2", "--size", "150", "--fill", "--json"))
    assert filled["totals"] == {"zh": 70, "en": 60} and filled["spec"]["fill"] is True  # all 130 there are


def test_rebalance_save_then_synth_selection_runs_on_exactly_those_ids(
    db: Path, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    saved = cli(db, "rebalance", "--ratio", "zh:en=1:1", "--size", "12", "--seed", "4", "--source", "cmath",
                "--source", "gsm8k", "--save", "平衡-1", "--json")
    plan = last_json(saved)
    assert plan["saved"] == "平衡-1" and plan["samples"] == 12 and plan["spec"]["sources"] == ["cmath", "gsm8k"]
    assert "saved as '平衡-1' (12 samples); use it with `synth --selection 平衡-1`" in saved.stderr

    rows = last_json(cli(db, "selections", "--json"))
    assert [(row["name"], row["samples"]) for row in rows] == [("平衡-1", 12)]
    assert rows[0]["spec"]["ratio"] == {"zh": 1.0, "en": 1.0} and rows[0]["spec"]["seed"] == 4
    listed = cli(db, "selections")
    assert "平衡-1: 12 samples, ratio zh:en=1:1, size 12, seed 4, sources cmath, gsm8k" in listed.stdout

    one_line_error(cli(db, "rebalance", "--ratio", "zh:en=1:1", "--size", "8", "--save", "平衡-1"),
                   "a selection named '平衡-1' already exists", "--overwrite")

    roster = tmp_path / "models.toml"
    roster.write_text(f'[models.a]\nbase_url = "{server.base_url}"\nmodel = "fake-a"\nmax_retries = 0\n',
                      encoding="utf-8")
    job = last_json(cli(db, "synth", "--models", roster, "--strategy", "generate", "--roles", "A=a",
                        "--selection", "平衡-1", "--job", "balanced", "--json"))
    assert (job["items"], job["done"], job["failed"]) == (12, 12, 0)
    with open_store(db) as store:
        items = [row[0] for row in store.query(
            "SELECT sample_id FROM job_items JOIN jobs ON jobs.id = job_items.job_id WHERE jobs.name = 'balanced' "
            "ORDER BY position")]
    assert items == plan["ids"]

    one_line_error(cli(db, "synth", "--models", roster, "--strategy", "generate", "--roles", "A=a",
                       "--selection", "nope", "--json"), "no saved selection named 'nope'", "saved selections: 平衡-1")


def test_rebalance_overwrite_replaces_a_saved_selection(db: Path) -> None:
    first = last_json(cli(db, "rebalance", "--ratio", "zh:en=1:1", "--size", "10", "--save", "bal", "--json"))
    second = last_json(cli(db, "rebalance", "--ratio", "zh:en=1:1", "--size", "6", "--seed", "1", "--save", "bal",
                           "--overwrite", "--json"))
    assert first["samples"] == 10 and second["samples"] == 6
    assert [(row["name"], row["samples"]) for row in last_json(cli(db, "selections", "--json"))] == [("bal", 6)]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--ratio", "zh:en", "--size", "10"], ["cannot read the ratio 'zh:en'", "zh:en=1:1 or zh=1,en=1"]),
        (["--ratio", "fr:en=1:1", "--size", "10"], ["unknown language 'fr'"]),
        (["--ratio", "zh:en=0:1", "--size", "10"], ["weight of zh must be a number above 0"]),
        (["--ratio", "zh:en=1:1", "--size", "0"], ["size must be a whole number of at least 1"]),
        (["--ratio", "zh:en=1:1", "--size", "ten"], ["--size", "invalid int value"]),
        (["--size", "10"], ["--ratio"]),
        (["--ratio", "zh:en=1:1", "--size", "10", "--source", "nowhere"], ["no active samples from source(s) nowhere"]),
        (["--ratio", "zh:en=1:1", "--size", "10", "--overwrite"], ["--overwrite goes with --save"]),
        (["--ratio", "zh:en=1:1", "--size", "10", "--save", "two words"], ["a selection name is 1 to 64"]),
        (["--ratio", "mixed=1", "--size", "10", "--save", "none"], ["picks no samples", "mixed 10"]),
    ],
)
def test_rebalance_bad_input_exits_2_with_one_line(db: Path, args: list[str], fragments: list[str]) -> None:
    one_line_error(cli(db, "rebalance", *args, "--json"), *fragments)


def test_rebalance_before_profiling_says_to_wait_for_it(tmp_path: Path, realdata: Path) -> None:
    path = tmp_path / "unprofiled.duckdb"
    with open_store(path) as store:
        import_files(store, [realdata / "qwen2.5-math/cmath/test.jsonl"], source="cmath")
    one_line_error(cli(path, "rebalance", "--ratio", "zh:en=1:1", "--size", "10"), "no profiled samples yet",
                   "600 active samples wait for the language profile")
    empty = cli(path, "selections")
    assert empty.returncode == 0 and "no saved selections yet" in empty.stdout
