"""Pushing to the Hugging Face Hub: the exact files uploaded, and clear errors without a token or a network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.export import ExportRequest, HubError, check_push, export, push_to_hub, upload_plan
from blossom_studio.ingest import import_files
from blossom_studio.store import Store

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
TOKEN = "hf_TESTSECRET0123456789abcdef"


@pytest.fixture
def exported(store: Store, tmp_path: Path) -> Path:
    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    folder = export(store, ExportRequest(format="blossom", test_size=0.1), tmp_path / "set").folder
    (folder / "notes.txt").write_text("a curator's own file, not part of the export", encoding="utf-8")
    return folder


def test_upload_plan_is_the_exact_dataset_layout(exported: Path) -> None:
    assert upload_plan(exported) == ["data/test.jsonl", "data/train.jsonl", "README.md", "manifest.json"]


def test_push_uploads_only_the_planned_files(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class RecordingApi:
        def __init__(self, token: str) -> None:
            calls.append(("init", {"token": token}))

        def create_repo(self, repo: str, **options: Any) -> None:
            calls.append(("create_repo", {"repo": repo, **options}))

        def upload_folder(self, **options: Any) -> None:
            calls.append(("upload_folder", options))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert push_to_hub(exported, "team/blossom-set") == "https://huggingface.co/datasets/team/blossom-set"
    assert calls[1] == ("create_repo", {"repo": "team/blossom-set", "repo_type": "dataset", "private": True,
                                        "exist_ok": True})
    upload = calls[2][1]
    assert (upload["repo_id"], upload["repo_type"], Path(upload["folder_path"])) == (
        "team/blossom-set", "dataset", exported)
    assert upload["allow_patterns"] == ["data/test.jsonl", "data/train.jsonl", "README.md", "manifest.json"]


def test_push_needs_a_token_and_a_repository_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubError, match=r"\$HF_TOKEN is not set"):
        check_push("team/set")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(HubError, match="OWNER/NAME"):
        check_push("just-a-name")
    assert check_push("team/set") == TOKEN


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("offline_env", [{"HF_ENDPOINT": "http://127.0.0.1:{port}"}, {"HF_HUB_OFFLINE": "1"}])
def test_offline_push_keeps_the_export_and_never_shows_the_token(tmp_path: Path, offline_env: dict[str, str]
                                                                 ) -> None:
    db = tmp_path / "studio.duckdb"
    env = {**os.environ, "HF_TOKEN": TOKEN, **{k: v.format(port=closed_port()) for k, v in offline_env.items()}}
    run = [sys.executable, "-m", "blossom_studio", "--db", str(db)]
    subprocess.run([*run, "import", *map(str, sorted(SAMPLE.glob("*.jsonl")))], env=env, check=True,
                   capture_output=True)
    done = subprocess.run([*run, "export", "--format", "openai", "--to", str(tmp_path / "out"), "--push-to-hub",
                           "team/set"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "could not reach the Hugging Face Hub" in done.stderr and "the export is kept" in done.stderr
    assert (tmp_path / "out" / "data" / "train.jsonl").exists()
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN not in done.stdout + done.stderr and TOKEN.encode() not in written
