"""The issue's fault run: 2,000 pairwise items against a simulator that answers 10% of requests with 429
(Retry-After), 5% with 500, hangs 2% past the client's timeout and garbles 10% of judge replies.

Every item must end done, or failed with a known reason; the counts must add up; nothing may escape.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.llm.roster import parse_roster
from blossom_studio.store import Store
from blossom_studio.synth.jobs import JobProgress, create_job, job_progress
from blossom_studio.synth.runner import run_job
from blossom_studio.testing.fake_openai import FakeConfig, fake_server_process, fetch_stats

ITEMS = 2000
KNOWN_REASONS = {"parse_failure", "timeout", "rate_limited", "server_error", "connection"}
FAULTS = FakeConfig(rate_429=0.10, retry_after=0.02, rate_500=0.05, rate_hang=0.02, hang_seconds=5.0,
                    rate_malformed=0.10, seed=2024)


def preference_pairs(realdata: Path) -> list[dict[str, str]]:
    """2,000 distinct real prompts (GSM8K, then Alpaca), each with its own answer and another prompt's answer."""
    gsm = [json.loads(line) for line in (realdata / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
           if line.strip()]
    alpaca = json.loads((realdata / "llama-factory" / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    pairs = [(row["question"], row["answer"]) for row in gsm]
    pairs += [(f"{row['instruction']}\n{row['input']}".strip(), row["output"]) for row in alpaca]
    unique = list({prompt: answer for prompt, answer in pairs if answer.strip()}.items())[:ITEMS]
    assert len(unique) == ITEMS
    return [{"prompt": prompt, "chosen": answer, "rejected": unique[(i + 7) % ITEMS][1]}
            for i, (prompt, answer) in enumerate(unique)]


def run_with_faults(store: Store, realdata: Path, tmp_path: Path) -> tuple[JobProgress, dict[str, Any]]:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in preference_pairs(realdata)),
                    encoding="utf-8")
    report = import_files(store, [path], source="pairs")[0]
    assert (report.imported, report.candidates) == (ITEMS, 2 * ITEMS)
    with fake_server_process(FAULTS) as url:
        table = {"base_url": url, "max_concurrency": 64, "timeout": 0.5, "max_retries": 6}
        roster = parse_roster({"models": {name: {**table, "model": name} for name in ("fake-a", "fake-b", "fake-c")}})
        create_job(store, roster, strategy="pairwise", roles={"A": "fake-a", "B": "fake-b", "C": "fake-c"},
                   params={"answers": "existing"}, name="faults")
        progress = run_job(store, roster, "faults")  # an escaping exception fails the test here
        return progress, fetch_stats(url)


def check_items(store: Store, progress: JobProgress, stats: dict[str, Any]) -> None:
    """Every item is done, or failed with a known reason; the DB's counts are the progress's counts."""
    assert progress.status == "done" and progress.items == ITEMS
    assert progress.pending == 0 and progress.done + progress.failed == ITEMS
    assert set(progress.reasons) <= KNOWN_REASONS and sum(progress.reasons.values()) == progress.failed
    assert progress.reasons.get("parse_failure", 0) > 0  # 10% garbled twice in a row happens about 1% of the time
    assert progress.done > 0.9 * ITEMS

    rows = store.query("SELECT state, reason, error FROM job_items")
    assert Counter(state for state, _, _ in rows) == {"done": progress.done, "failed": progress.failed}
    assert Counter(reason for state, reason, _ in rows if state == "failed") == progress.reasons
    assert all(reason is None and error is None for state, reason, error in rows if state == "done")
    assert all(reason and error for state, reason, error in rows if state == "failed")
    # the faults really happened, and the client rode them out
    assert stats["by_status"]["429"] > 100 and stats["by_status"]["500"] > 50
    # every 429 and 500 was sent again, and so were the requests that hung past the client's timeout
    assert stats["repeats"] > stats["by_status"]["429"] + stats["by_status"]["500"]


def check_calls_and_verdicts(store: Store, progress: JobProgress) -> None:
    """Failed calls say why; a verdict that failed to parse has no outcome; one verdict per judged item."""
    failed_calls = store.query("SELECT count(*) FROM calls WHERE status = 'failed' AND error_kind IS NULL")[0][0]
    assert failed_calls == 0
    assert store.query("SELECT count(*) FROM calls WHERE status NOT IN ('ok', 'failed')")[0][0] == 0
    rows = store.query("SELECT v.sample_id, v.parse_status, v.outcome, v.raw_output, i.state, i.reason "
                       "FROM verdicts v JOIN job_items i ON i.sample_id = v.sample_id AND i.job_id = v.job_id")
    assert all(outcome is None for _, status, outcome, _, _, _ in rows if status == "failed")
    assert all(raw for _, status, _, raw, _, _ in rows if status == "failed")  # the raw text is kept
    assert all(state == "failed" and reason == "parse_failure" for _, status, _, _, state, reason in rows
               if status == "failed")
    assert set(Counter(sample for sample, *_ in rows).values()) == {1}
    done = {sample for sample, status, outcome, *_ in rows if status in ("ok", "repaired") and outcome}
    assert len(done) == progress.done
    statuses = Counter(status for _, status, *_ in rows)
    assert statuses["failed"] == progress.reasons.get("parse_failure", 0)
    assert statuses["repaired"] > 0
    winners = Counter(json.loads(outcome)["winner"] for _, _, outcome, *_ in rows if outcome)
    assert set(winners) <= {"A", "B", "tie"} and sum(winners.values()) == progress.done
    assert job_progress(store, "faults").as_dict() == progress.as_dict()  # the DB says what the run returned


def test_fault_run_of_2000_items_ends_every_item_done_or_failed_with_a_reason_and_the_counts_add_up(
    store: Store, realdata: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    progress, stats = run_with_faults(store, realdata, tmp_path)
    check_items(store, progress, stats)
    check_calls_and_verdicts(store, progress)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no item "failed unexpectedly"
