"""The `export` command: what it prints, its exit codes, and the requests it refuses without writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import last_json, run

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "studio.duckdb"
    assert run("--db", path, "import", *sorted(SAMPLE.glob("*.jsonl"))).returncode == 0
    return path


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_export_writes_the_dataset_folder_and_prints_the_manifest(db: Path, tmp_path: Path) -> None:
    result = run("--db", db, "export", "--format", "sharegpt", "--to", tmp_path / "out", "--balance", "zh:en=1:1",
                 "--test-size", "0.1", "--seed", "7", "--json")
    assert result.returncode == 0, result.stderr
    output = last_json(result)
    manifest = output["manifest"]
    assert output["folder"] == str(tmp_path / "out")
    assert files_under(tmp_path / "out") == ["README.md", "data/test.jsonl", "data/train.jsonl", "manifest.json"]
    assert manifest["counts"]["by_lang"]["zh"] == manifest["counts"]["by_lang"]["en"]
    assert manifest["request"]["seed"] == 7 and manifest["format"] == "sharegpt"
    assert "go out" in result.stderr and "left out: no_answer 24" in result.stderr
    first = json.loads((tmp_path / "out/data/train.jsonl").read_text("utf-8").splitlines()[0])
    assert set(first) == {"id", "conversations"} and first["conversations"][0]["from"] in ("human", "system")


def test_dry_run_previews_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    result = run("--db", db, "export", "--format", "alpaca", "--to", tmp_path / "out", "--limit", "3", "--dry-run",
                 "--json")
    assert result.returncode == 0, result.stderr
    output = last_json(result)
    assert output["dry_run"] and len(output["preview"]) == 3 and output["counts"]["rows"] == 3
    assert set(output["preview"][0]) == {"instruction", "input", "output", "system", "history"}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--format", "yaml"], "invalid choice: 'yaml'"),
    (["--format", "blossom", "--source", "nobody"], "the selection is empty"),
    (["--format", "blossom", "--balance", "zh:en=1"], "cannot read the ratio"),
    (["--format", "blossom", "--include", "everything"], "cannot include 'everything'"),
    (["--format", "blossom", "--push-to-hub", "team/set"], "$HF_TOKEN is not set"),
])
def test_bad_requests_exit_2_and_write_nothing(db: Path, tmp_path: Path, arguments: list[str], message: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = run("--db", db, "export", "--to", tmp_path / "out", *arguments)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_existing_export_is_kept_without_overwrite(db: Path, tmp_path: Path) -> None:
    assert run("--db", db, "export", "--format", "blossom", "--to", tmp_path / "out").returncode == 0
    before = {name: (tmp_path / "out" / name).read_bytes() for name in files_under(tmp_path / "out")}
    refused = run("--db", db, "export", "--format", "openai", "--to", tmp_path / "out")
    assert refused.returncode == 2 and "already exists; pass --overwrite" in refused.stderr
    assert {name: (tmp_path / "out" / name).read_bytes() for name in files_under(tmp_path / "out")} == before
    replaced = run("--db", db, "export", "--format", "openai", "--to", tmp_path / "out", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((tmp_path / "out/manifest.json").read_text("utf-8"))["format"] == "openai"
