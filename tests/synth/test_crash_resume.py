"""The crash run: `kill -9` of the `synth` process mid-job, then `synth --resume` finishes every item, and the
call cache means the simulator sees at most 1% of the pre-kill calls again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from blossom_studio.ingest import import_files
from blossom_studio.store import open_store
from blossom_studio.synth.jobs import job_progress
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

PROJECT = Path(__file__).resolve().parents[2]
ITEMS = 3000
# Requests the simulator has seen when the synth process is killed. The calls in flight (up to max_concurrency = 4)
# and those answered but not yet committed are lost by any kill -9, a handful whatever the kill point; 2,000 makes
# the 1% budget 20 re-sent calls.
KILL_AFTER = 2000


def real_prompts(realdata: Path) -> list[dict[str, str]]:
    gsm = [json.loads(line) for line in (realdata / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
           if line.strip()]
    alpaca = [row for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json")
              for row in json.loads((realdata / "llama-factory" / name).read_text(encoding="utf-8"))]
    prompts = [row["question"] for row in gsm] + [f"{row['instruction']}\n{row['input']}".strip() for row in alpaca]
    unique = list(dict.fromkeys(prompts))[:ITEMS]
    assert len(unique) == ITEMS
    return [{"prompt": prompt} for prompt in unique]


def synth(db: Path, roster: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "blossom_studio", "--db", str(db), "synth", "--models", str(roster), *args]


def check_consistent_after_kill(db: Path) -> int:
    """Each item's results were committed together: a done item has its answer and its call, a pending one nothing."""
    with open_store(db) as store:
        progress = job_progress(store, "crash")
        assert progress.status == "interrupted"  # marked running, but no process runs it
        assert progress.failed == 0 and progress.done + progress.pending == ITEMS
        answered = dict(store.query("SELECT sample_id, count(*) FROM candidates GROUP BY sample_id"))
        done = {row[0] for row in store.query("SELECT sample_id FROM job_items WHERE state = 'done'")}
        assert set(answered) == done and set(answered.values()) <= {1}
        orphans = store.query(
            "SELECT count(*) FROM candidates c LEFT JOIN calls k ON k.key = c.call_key WHERE k.status IS DISTINCT "
            "FROM 'ok'"
        )[0][0]
        assert orphans == 0
        return progress.done


def test_kill_9_mid_job_then_resume_finishes_every_item_and_resends_at_most_1_percent(
    tmp_path: Path, realdata: Path
) -> None:
    db, prompts = tmp_path / "studio.duckdb", tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in real_prompts(realdata)), encoding="utf-8")
    with open_store(db) as store:
        assert import_files(store, [prompts], source="prompts")[0].imported == ITEMS

    with FakeOpenAIServer(FakeConfig(latency=0.02, seed=8)) as server:
        roster = tmp_path / "models.toml"
        roster.write_text(f'[models.sim]\nbase_url = "{server.base_url}"\nmodel = "fake-a"\nmax_concurrency = 4\n'
                          "timeout = 10.0\n", encoding="utf-8")
        command = synth(db, roster, "--strategy", "generate", "--roles", "A=sim", "--job", "crash", "--json")
        process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while server.app.stats.requests < KILL_AFTER:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the synth process made too few requests"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        before = server.app.stats.as_dict()
        assert before["repeats"] == 0

        done_at_kill = check_consistent_after_kill(db)
        assert 0 < done_at_kill < ITEMS

        resumed = subprocess.run(synth(db, roster, "--resume", "crash", "--json"), cwd=PROJECT,
                                 capture_output=True, text=True, timeout=300)
        after = server.app.stats.as_dict()

    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert (final["name"], final["status"], final["items"], final["done"], final["failed"]) == (
        "crash", "done", ITEMS, ITEMS, 0)
    assert after["distinct_calls"] == ITEMS
    assert after["repeats"] <= 0.01 * before["requests"], (before, after)
    with open_store(db) as store:
        answered = dict(store.query("SELECT sample_id, count(*) FROM candidates GROUP BY sample_id"))
        assert len(answered) == ITEMS and set(answered.values()) == {1}
