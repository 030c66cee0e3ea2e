"""Jobs as rows: validation at creation, progress read from the DB, cancel and resume, parse failures and repairs,
the call cache across jobs, and retrying failed items, all over real HTTP to the offline simulator."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.llm.roster import Roster, RosterError, parse_roster
from blossom_studio.store import Store
from blossom_studio.synth.jobs import JobError, cancel_job, create_job, job_progress, list_jobs
from blossom_studio.synth.runner import run_job, start_job_thread
from blossom_studio.synth.selection import Selection, SelectionError
from blossom_studio.synth.strategies import StrategyError
from blossom_studio.synth.verdicts import list_verdicts
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

MODELS = ("fake-a", "fake-b", "fake-c")
MALFORMED = {"I think both are fine.", "", "Verdict pending; more context needed.", "{"}


@contextmanager
def simulator(**config: Any) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(**config)) as server:
        yield server


def make_roster(server: FakeOpenAIServer, **table: Any) -> Roster:
    settings = {"base_url": server.base_url, "max_concurrency": 8, "timeout": 5.0, "max_retries": 2, **table}
    return parse_roster({"models": {name: {**settings, "model": name} for name in MODELS}})


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def load_gsm8k(store: Store, realdata: Path, tmp_path: Path, count: int, start: int = 0) -> None:
    lines = (realdata / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()[start : start + count]
    path = tmp_path / f"gsm8k-{start}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert import_files(store, [path], source="gsm8k")[0].imported == count


def load_tulu(store: Store, realdata: Path, tmp_path: Path, count: int) -> None:
    rows = [json.loads(line) for line in (realdata / "open-instruct" / "eval_instances_tulu_1.jsonl")
            .read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [row for row in rows if len({c["completion"].strip() for c in row["completions"]}) == 2][:count]
    assert import_files(store, [write_jsonl(tmp_path / "tulu.jsonl", rows)], source="tulu")[0].imported == count


def states(store: Store, job: str) -> dict[str, str]:
    rows = store.query(
        "SELECT i.sample_id, i.state FROM job_items i JOIN jobs j ON j.id = i.job_id WHERE j.name = ?", [job]
    )
    return dict(rows)


def candidates_by_sample(store: Store, job: str) -> Counter[str]:
    rows = store.query(
        "SELECT c.sample_id FROM candidates c JOIN jobs j ON j.id = c.job_id WHERE j.name = ?", [job]
    )
    return Counter(row[0] for row in rows)


def call(store: Store, key: str) -> tuple[list[dict[str, str]], str]:
    messages, response = store.query("SELECT messages, response FROM calls WHERE key = ?", [key])[0]
    return json.loads(messages), response


def verdict_keys(store: Store) -> dict[str, list[str]]:
    return {vid: json.loads(keys) for vid, keys in store.query("SELECT id, call_keys FROM verdicts")}


@contextmanager
def thread_errors() -> Iterator[list[BaseException]]:
    """Collect the exceptions that escape background threads (a job thread must never die with one)."""
    caught: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: caught.append(args.exc_value)  # type: ignore[assignment]
    try:
        yield caught
    finally:
        threading.excepthook = previous


def wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# --- creation -------------------------------------------------------------------------------------------------------


def test_create_job_rejects_each_bad_spec_with_a_message_that_says_how_to_fix_it(
    store: Store, realdata: Path, tmp_path: Path
) -> None:
    load_gsm8k(store, realdata, tmp_path, 5)
    with simulator() as server:
        roster = make_roster(server)
        cases: list[tuple[type[Exception], str, dict[str, Any]]] = [
            (StrategyError, "unknown strategy 'summarize'; choose one of generate, verify",
             {"strategy": "summarize", "roles": {"A": "fake-a"}}),
            (StrategyError, "strategy verify needs role(s) B: pass --roles A=MODEL,B=MODEL",
             {"strategy": "verify", "roles": {"A": "fake-a"}}),
            (StrategyError, "strategy pairwise needs role(s) C: pass --roles A=MODEL,B=MODEL,C=MODEL",
             {"strategy": "pairwise", "roles": {"A": "fake-a", "B": "fake-b"}}),
            (StrategyError, "strategy generate does not use role(s) Z",
             {"strategy": "generate", "roles": {"A": "fake-a", "Z": "fake-b"}}),
            (StrategyError, "strategy generate: unknown option(s) turns; options: turn",
             {"strategy": "generate", "roles": {"A": "fake-a"}, "params": {"turns": "every"}}),
            (StrategyError, "strategy generate: turn must be one of last, first, every, got 'middle'",
             {"strategy": "generate", "roles": {"A": "fake-a"}, "params": {"turn": "middle"}}),
            (StrategyError, "strategy rate: margin must be a number, got 'wide'",
             {"strategy": "rate", "roles": {"A": "fake-a", "B": "fake-b"}, "params": {"margin": "wide"}}),
            (RosterError, "no model named 'gpt-9' in the roster; the roster has: fake-a, fake-b, fake-c",
             {"strategy": "generate", "roles": {"A": "gpt-9"}}),
            (JobError, "matches no samples",
             {"strategy": "generate", "roles": {"A": "fake-a"}, "selection": Selection(source="nowhere")}),
            (SelectionError, "language must be zh or en, got 'fr'",
             {"strategy": "generate", "roles": {"A": "fake-a"}, "selection": Selection(lang="fr")}),
            (SelectionError, "--limit must be at least 1, got 0",
             {"strategy": "generate", "roles": {"A": "fake-a"}, "selection": Selection(limit=0)}),
        ]
        for error, message, spec in cases:
            with pytest.raises(error) as raised:
                create_job(store, roster, name="bad", **spec)
            assert message in str(raised.value), (message, str(raised.value))
        assert store.query("SELECT count(*) FROM jobs")[0][0] == 0  # nothing half-written

        create_job(store, roster, strategy="generate", roles={"A": "fake-a"}, name="taken")
        with pytest.raises(JobError, match="a job named 'taken' already exists; pick another --job name or --resume"):
            create_job(store, roster, strategy="generate", roles={"A": "fake-a"}, name="taken")

        keyed = parse_roster({"models": {"paid": {"base_url": server.base_url, "model": "fake-a",
                                                  "api_key_env": "BLOSSOM_TEST_KEY_THAT_IS_NOT_SET"}}})
        with pytest.raises(RosterError, match="the environment variable BLOSSOM_TEST_KEY_THAT_IS_NOT_SET is not set"):
            create_job(store, keyed, strategy="generate", roles={"A": "paid"}, name="keyed")
    assert [job.name for job in list_jobs(store)] == ["taken"]


# --- progress -------------------------------------------------------------------------------------------------------


def test_progress_counts_items_by_state_and_failures_by_reason_from_the_database(
    store: Store, realdata: Path, tmp_path: Path
) -> None:
    load_gsm8k(store, realdata, tmp_path, 30)
    alpaca = json.loads((realdata / "llama-factory" / "alpaca_en_demo.json").read_text(encoding="utf-8"))[:12]
    import_files(store, [write_jsonl(tmp_path / "alpaca.jsonl", alpaca)], source="alpaca")  # no references
    with simulator(latency=0.01) as server:
        roster = make_roster(server, max_concurrency=2)
        created = create_job(store, roster, strategy="verify", roles={"A": "fake-a", "B": "fake-b"}, name="counts")
        assert (created.status, created.items, created.pending, created.done, created.failed) == ("pending", 42, 42,
                                                                                                   0, 0)
        seen: list[tuple[str, str | None]] = []
        polls = []
        with thread_errors() as errors:
            thread = start_job_thread(store, roster, "counts",
                                      progress=lambda item: seen.append((item.state, item.reason)))
            while thread.is_alive():
                polls.append(job_progress(store, "counts"))
                time.sleep(0.01)
            thread.join()
        assert errors == []
    final = job_progress(store, "counts")
    assert (final.status, final.items, final.done, final.failed, final.pending) == ("done", 42, 30, 12, 0)
    assert final.reasons == {"no_reference": 12}
    assert Counter(seen) == Counter({("done", None): 30, ("failed", "no_reference"): 12})
    for poll in polls:
        assert poll.done + poll.failed + poll.pending == poll.items == 42
    assert [p.finished for p in polls] == sorted(p.finished for p in polls)  # never goes backwards
    row = final.as_dict()
    assert {"name", "strategy", "status", "items", "done", "failed", "pending", "failure_reasons"} <= set(row)
    assert json.loads(json.dumps(row)) == row
    errors = store.query("SELECT DISTINCT error FROM job_items WHERE state = 'failed'")
    assert len(errors) == 1 and "reference" in errors[0][0]


def test_reading_progress_from_another_thread_never_breaks_a_finishing_job(store: Store, tmp_path: Path) -> None:
    """The UI polls progress while a job runs; the job's closing CHECKPOINT must not fail because of a reader."""
    prompts = [{"prompt": f"Name a prime number greater than {n}."} for n in range(40)]
    import_files(store, [write_jsonl(tmp_path / "primes.jsonl", prompts)], source="primes")
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            store.query("SELECT state, count(*) FROM job_items GROUP BY state")
            time.sleep(0.002)

    failures: list[str] = []
    with simulator() as server:
        roster = make_roster(server)
        reader = threading.Thread(target=poll)
        reader.start()
        try:
            for number in range(30):
                name = f"poll-{number}"
                create_job(store, roster, strategy="generate", roles={"A": "fake-a"}, name=name, seed=number)
                try:
                    run_job(store, roster, name)
                except Exception as exc:  # the job itself finished; only its closing step raised
                    failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            stop.set()
            reader.join()
    assert failures == []
    assert all(job.status == "done" and job.done == 40 for job in list_jobs(store))


# --- cancel and resume ----------------------------------------------------------------------------------------------


def test_cancel_mid_job_keeps_finished_items_leaves_the_rest_pending_and_resume_finishes(
    store: Store, realdata: Path, tmp_path: Path
) -> None:
    load_gsm8k(store, realdata, tmp_path, 300)
    with simulator(latency=0.05, seed=2) as server:
        roster = make_roster(server, max_concurrency=4)
        create_job(store, roster, strategy="generate", roles={"A": "fake-a"}, name="long")
        thread = start_job_thread(store, roster, "long")
        wait_for(lambda: job_progress(store, "long").done >= 20)
        cancel_job(store, "long")
        thread.join(20)
        assert not thread.is_alive(), "the job thread did not stop after the cancel"
        stopped = job_progress(store, "long")
        sent = server.app.stats.requests
        assert stopped.status == "cancelled"
        assert stopped.done >= 20 and stopped.pending > 0 and stopped.failed == 0
        assert stopped.done + stopped.pending == 300
        assert sent <= stopped.done + 8  # no new calls after the cancel; at most the in-flight ones were dropped
        time.sleep(0.3)
        assert server.app.stats.requests == sent

        item_states, answers = states(store, "long"), candidates_by_sample(store, "long")
        assert {s for s, state in item_states.items() if state == "done"} == set(answers)
        assert set(answers.values()) == {1}

        resumed = run_job(store, roster, "long")
        assert (resumed.status, resumed.done, resumed.failed, resumed.pending) == ("done", 300, 0, 0)
        assert server.app.stats.requests <= 300 + 8
    answers = candidates_by_sample(store, "long")
    assert len(answers) == 300 and set(answers.values()) == {1}  # nothing answered twice


# --- judge output: parse failures and repairs -----------------------------------------------------------------------


def test_a_judge_reply_that_never_parses_fails_the_item_and_keeps_the_raw_output_never_a_score(
    store: Store, realdata: Path, tmp_path: Path
) -> None:
    load_tulu(store, realdata, tmp_path, 10)
    with simulator(rate_malformed=1.0, seed=4) as server:
        roster = make_roster(server)
        create_job(store, roster, strategy="rate", roles={"B": "fake-b"}, params={"answers": "existing"}, name="bad")
        progress = run_job(store, roster, "bad")
        create_job(store, roster, strategy="pairwise", roles={"A": "fake-a", "B": "fake-b", "C": "fake-c"},
                   params={"answers": "existing"}, name="bad-pairs")
        pairs = run_job(store, roster, "bad-pairs")
    assert (progress.done, progress.failed, progress.reasons) == (0, 10, {"parse_failure": 10})
    assert (pairs.done, pairs.failed, pairs.reasons) == (0, 10, {"parse_failure": 10})
    keys = verdict_keys(store)
    for job in ("bad", "bad-pairs"):
        rows = list_verdicts(store, job)
        assert len(rows) == 10
        for verdict in rows:
            assert verdict["parse_status"] == "failed" and verdict["outcome"] is None
            assert verdict["details"]["parse_error"]
            raw = store.query("SELECT raw_output FROM verdicts WHERE id = ?", [verdict["id"]])[0][0]
            assert len(keys[verdict["id"]]) >= 2  # the reply and one repair attempt
            for key in keys[verdict["id"]]:
                _, response = call(store, key)
                assert response in MALFORMED and response in raw
            assert "--- repair attempt ---" in raw
    errors = [row[0] for row in store.query("SELECT error FROM job_items WHERE state = 'failed'")]
    assert len(errors) == 20 and all(re.match(r"(rate|pairwise) judge fake-[abc]\b", error) for error in errors)


def test_a_judge_reply_fixed_by_the_one_repair_attempt_is_marked_repaired(
    store: Store, realdata: Path, tmp_path: Path
) -> None:
    load_tulu(store, realdata, tmp_path, 30)
    with simulator(rate_malformed=0.4, seed=9) as server:
        roster = make_roster(server)
        create_job(store, roster, strategy="rate", roles={"B": "fake-b"}, params={"answers": "existing"}, name="fix")
        progress = run_job(store, roster, "fix")
    rows = list_verdicts(store, "fix")
    keys = verdict_keys(store)
    by_status = Counter(verdict["parse_status"] for verdict in rows)
    assert by_status["repaired"] >= 3 and by_status["ok"] >= 3, by_status
    assert progress.failed == by_status["failed"] and set(progress.reasons) <= {"parse_failure"}
    assert progress.done == by_status["ok"] + by_status["repaired"] == progress.items - progress.failed
    for verdict in rows:
        if verdict["parse_status"] == "ok":
            assert len(keys[verdict["id"]]) == 1 and verdict["outcome"]["ratings"]
        if verdict["parse_status"] != "repaired":
            continue
        first_key, repair_key = keys[verdict["id"]]
        asked, bad_reply = call(store, first_key)
        repair_messages, good_reply = call(store, repair_key)
        assert bad_reply in MALFORMED and good_reply not in MALFORMED
        assert repair_messages[: len(asked)] == asked
        assert repair_messages[len(asked)] == {"role": "assistant", "content": bad_reply or "(empty reply)"}
        assert repair_messages[-1]["role"] == "user" and "### Output format" in repair_messages[-1]["content"]
        assert all(isinstance(r["overall"], int) for r in verdict["outcome"]["ratings"].values())


# --- the call cache and retries -------------------------------------------------------------------------------------


def test_the_same_job_spec_under_a_new_name_is_answered_from_the_call_cache_without_a_request(
    store: Store, realdata: Path, tmp_path: Path
) -> None:
    load_tulu(store, realdata, tmp_path, 12)
    roles = {"A": "fake-a", "B": "fake-b", "C": "fake-c"}
    with simulator(seed=5) as server:
        roster = make_roster(server)
        for name in ("first", "again"):
            create_job(store, roster, strategy="pairwise", roles=roles, seed=3, name=name,
                       selection=Selection(source="tulu"))
            assert run_job(store, roster, name).done == 12
            if name == "first":
                sent = server.app.stats.requests
        assert server.app.stats.requests == sent == 12 * 4  # two answers and two judge orders per sample
    assert store.query("SELECT count(*), count(DISTINCT key) FROM calls")[0] == (sent, sent)

    def outcomes(job: str) -> dict[str, Any]:
        rows = list_verdicts(store, job)
        return {v["sample_id"]: (v["judge"], v["candidates"], v["outcome"]["winner"]) for v in rows}

    assert outcomes("again") == outcomes("first")


def test_retry_failed_resends_only_the_failed_items(store: Store, realdata: Path, tmp_path: Path) -> None:
    load_gsm8k(store, realdata, tmp_path, 60)
    with simulator(rate_500=0.3, seed=6) as server:
        roster = make_roster(server, max_retries=0)
        create_job(store, roster, strategy="generate", roles={"A": "fake-a"}, name="flaky")
        first = run_job(store, roster, "flaky")
        assert first.failed > 0 and first.reasons == {"server_error": first.failed}
        assert first.done + first.failed == 60
        done_before = {s for s, state in states(store, "flaky").items() if state == "done"}
        kept = set(candidates_by_sample(store, "flaky"))
        assert kept == done_before
        failed_calls = store.query("SELECT DISTINCT status, error_kind FROM calls WHERE status <> 'ok'")
        assert failed_calls == [("failed", "server_error")]
        with pytest.raises(JobError, match="already finished"):
            run_job(store, roster, "flaky")

        sent = server.app.stats.requests
        second = run_job(store, roster, "flaky", retry_failed=True)
        assert server.app.stats.requests - sent == first.failed  # one request per failed item, none for done ones
    assert second.done > first.done and second.done + second.failed == 60 and second.pending == 0
    after = states(store, "flaky")
    assert all(after[sample] == "done" for sample in done_before)
    answers = candidates_by_sample(store, "flaky")
    assert set(answers) == {s for s, state in after.items() if state == "done"} and set(answers.values()) == {1}
