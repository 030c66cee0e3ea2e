"""A real pairwise job over HTTP against the fake OpenAI server, then reviewed end to end."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from blossom_studio import review
from blossom_studio.llm.roster import Roster, parse_roster
from blossom_studio.store import Store
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

# --- a real pairwise job over HTTP, then review ----------------------------------------------------------------------

MODELS = ("fake-a", "fake-b", "fake-c")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(seed=11)) as running:
        yield running


@pytest.fixture
def roster(server: FakeOpenAIServer) -> Roster:
    table = {"base_url": server.base_url, "max_concurrency": 8, "timeout": 5.0, "max_retries": 2}
    return parse_roster({"models": {name: {**table, "model": name} for name in MODELS}})


def test_review_a_real_pairwise_job(store: Store, roster: Roster, realdata: Path, tmp_path: Path) -> None:
    from blossom_studio.ingest import import_files
    from blossom_studio.synth.jobs import create_job
    from blossom_studio.synth.runner import run_job
    from blossom_studio.synth.selection import Selection
    from blossom_studio.synth.verdicts import list_verdicts

    rows = [json.loads(line) for line in
            (realdata / "open-instruct" / "eval_instances_tulu_1.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    rows = [row for row in rows if len({c["completion"].strip() for c in row["completions"]}) == 2][:24]
    path = tmp_path / "tulu.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert import_files(store, [path], source="tulu")[0].imported == 24
    create_job(store, roster, strategy="pairwise", roles=dict(zip("ABC", MODELS, strict=True)),
               params={"answers": "existing"}, selection=Selection(source="tulu"), seed=3, name="pw")
    progress = run_job(store, roster, "pw")
    assert progress.done == 24, progress
    verdicts = {v["sample_id"]: v for v in list_verdicts(store, "pw")}

    pending = review.queue_page(store, filter="pending", job="pw", limit=100)
    assert sorted(pending.sample_ids) == sorted(verdicts) and pending.total == 24
    splits = sorted(sid for sid, v in verdicts.items() if v["outcome"]["split"])
    assert review.queue_page(store, filter="split", limit=100).sample_ids == splits and splits
    for sample_id, verdict in verdicts.items():
        e = review.effective(store, sample_id)
        assert (e.kind, e.judge, e.judge_winner, e.source) == ("pairwise", verdict["judge"],
                                                                verdict["outcome"]["winner"], "judge")
        assert e.chosen == verdict["outcome"].get("chosen")
        item = review.load_item(store, sample_id)
        assert [s.candidate.id for s in item.slots] == verdict["candidate_ids"]

    rng = random.Random(5)
    decided: dict[str, str] = {}
    for sample_id in pending.sample_ids[:12]:
        winner = rng.choice(["A", "B", "tie"])
        if winner == "tie":
            review.decide(store, sample_id, "tie", reviewer="alice")
        else:
            review.decide(store, sample_id, "choose", reviewer="alice", winner=winner)
        decided[sample_id] = winner
    stats = review.review_stats(store)
    by_judge: dict[str, list[bool]] = {}
    for sample_id, winner in decided.items():
        by_judge.setdefault(verdicts[sample_id]["judge"], []).append(winner == verdicts[sample_id]["outcome"]["winner"])
    assert {a.judge: (a.decided, a.agreed) for a in stats.agreement} == {
        judge: (len(agree), sum(agree)) for judge, agree in by_judge.items()}
    judged = [v for v in verdicts.values() if v["judge"] != "rule"]
    assert stats.position_bias[-1] == review.PositionBias("all", len(judged),
                                                          sum(v["outcome"]["split"] for v in judged))
    disagreeing = sorted(sid for sid, w in decided.items() if w != verdicts[sid]["outcome"]["winner"])
    assert review.queue_page(store, filter="disagreement", limit=100).sample_ids == disagreeing
    assert review.bulk_accept(store, reviewer="bob", filter="pending", job="pw") == 12
    assert review.count_queue(store, filter="pending") == 0
    assert store.query("SELECT count(*) FROM decisions")[0][0] == 24
    payloads = [orjson.loads(p) for (p,) in store.query("SELECT payload FROM decisions WHERE reviewer = 'bob'")]
    assert all(p["bulk"] is True for p in payloads)

    # what leaves the studio: every pair follows the reviewers' decisions, and no tie is exported as a pair
    from blossom_studio.export import ExportRequest, export
    from blossom_studio.library import get_sample

    result = export(store, ExportRequest(format="preference"), tmp_path / "pairs")
    records = [json.loads(line) for line in (result.folder / "data/train.jsonl").read_text("utf-8").splitlines()]
    winners = {sid: decided.get(sid, verdicts[sid]["outcome"]["winner"]) for sid in verdicts}
    assert sorted(r["id"] for r in records) == sorted(sid for sid, w in winners.items() if w != "tie")
    answers = {c["id"]: c for sid in verdicts for c in get_sample(store, sid)["candidates"]}
    for record in records:
        verdict = verdicts[record["id"]]
        chosen_id = verdict["candidate_ids"][0 if winners[record["id"]] == "A" else 1]
        assert record["chosen"][-1]["content"] == answers[chosen_id]["message"]["content"]
        assert record["decided_by"] == "human"  # alice chose or tied half, bob bulk-accepted the rest
        assert record["judge"] == verdict["judge"] and record["chosen_model"] == answers[chosen_id]["model"]
    assert result.manifest["counts"]["jobs"] == [{"id": store.query("SELECT id FROM jobs")[0][0], "name": "pw",
                                                  "strategy": "pairwise"}]
