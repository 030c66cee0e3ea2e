"""Every strategy over real HTTP (the openai SDK against the offline simulator) on real public prompts.

Each test imports a slice of a file from ../shared/realdata into a fresh DuckDB file, runs a job, and checks the
verdicts against what the simulator was actually sent and answered (the calls table), recomputed in the test.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.llm.roster import Roster, parse_roster
from blossom_studio.store import Store
from blossom_studio.synth.jobs import JobProgress, create_job
from blossom_studio.synth.runner import run_job
from blossom_studio.synth.selection import Selection
from blossom_studio.synth.strategies.rate import FOUR_ASPECTS, binarize, mean_ratings
from blossom_studio.synth.verdicts import list_verdicts
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

MODELS = ("fake-a", "fake-b", "fake-c")
TEMPLATES = Path(__file__).resolve().parents[2] / "blossom_studio" / "synth" / "templates"
INTEGER = re.compile(r"-?\d+")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig(seed=11)) as running:
        yield running


@pytest.fixture
def roster(server: FakeOpenAIServer) -> Roster:
    table = {"base_url": server.base_url, "max_concurrency": 8, "timeout": 5.0, "max_retries": 2}
    return parse_roster({"models": {name: {**table, "model": name} for name in MODELS}})


# --- small helpers -------------------------------------------------------------------------------------------------


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_array(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def load(store: Store, path: Path, source: str, **options: Any) -> None:
    report = import_files(store, [path], source=source, **options)[0]
    assert report.error is None and report.imported > 0, report


def run(store: Store, roster: Roster, strategy: str, roles: dict[str, str], *, name: str,
        params: dict[str, Any] | None = None, source: str | None = None, seed: int = 0) -> JobProgress:
    create_job(store, roster, strategy=strategy, roles=roles, params=params, selection=Selection(source=source),
               seed=seed, name=name)
    return run_job(store, roster, name)


def all_done(progress: JobProgress) -> None:
    assert (progress.status, progress.done, progress.failed, progress.pending) == ("done", progress.items, 0, 0), (
        progress
    )


def verdicts(store: Store, job: str) -> list[dict[str, Any]]:
    """The job's verdicts as `verdicts --json` shows them, plus the keys of the calls behind each one."""
    keys = {vid: json.loads(raw) for vid, raw in store.query("SELECT id, call_keys FROM verdicts")}
    return [{**row, "call_keys": keys[row["id"]]} for row in list_verdicts(store, job)]


def call(store: Store, key: str) -> tuple[list[dict[str, str]], str]:
    """The messages sent and the text answered for one call of the calls table."""
    rows = store.query("SELECT messages, response, status FROM calls WHERE key = ?", [key])
    assert rows and rows[0][2] == "ok", key
    return json.loads(rows[0][0]), rows[0][1]


def last_user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def user_prompts(store: Store) -> dict[str, str]:
    """Sample id -> the text of its first user message."""
    out = {}
    for sample_id, messages in store.query("SELECT id, messages FROM samples"):
        first = next(m for m in json.loads(messages) if m["role"] == "user")
        out[sample_id] = first["content"] if isinstance(first["content"], str) else json.dumps(first["content"])
    return out


def answer_texts(store: Store) -> dict[str, str]:
    """Candidate id -> answer text, including each sample's own final reply under the id `SAMPLE/original`."""
    texts = {cid: json.loads(message)["content"] for cid, message in store.query("SELECT id, message FROM candidates")}
    for sample_id, messages in store.query("SELECT id, messages FROM samples"):
        turns = json.loads(messages)
        if turns[-1]["role"] == "assistant":
            texts[f"{sample_id}/original"] = turns[-1]["content"]
    return texts


def assignments(store: Store, job: str) -> dict[str, dict[str, Any]]:
    rows = store.query(
        "SELECT i.sample_id, i.assignment FROM job_items i JOIN jobs j ON j.id = i.job_id WHERE j.name = ?", [job]
    )
    return {sample_id: json.loads(raw) for sample_id, raw in rows}


def job_candidates(store: Store, job: str) -> list[dict[str, Any]]:
    rows = store.query(
        "SELECT c.id, c.sample_id, c.model, c.label, c.origin, c.message, c.extra, c.call_key FROM candidates c "
        "JOIN jobs j ON j.id = c.job_id WHERE j.name = ? ORDER BY c.sample_id, c.position",
        [job],
    )
    names = ("id", "sample_id", "model", "label", "origin", "message", "extra", "call_key")
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["message"] = json.loads(item["message"])
        item["extra"] = json.loads(item["extra"]) if item["extra"] else None
        out.append(item)
    return out


def job_call_count(store: Store, job: str) -> int:
    return store.query("SELECT count(*) FROM calls c JOIN jobs j ON j.id = c.job_id WHERE j.name = ?", [job])[0][0]


LABELS = {"Correct": "是否正确", "Consistent": "是否一致", "Verdict": "结论", "Quality": "质量", "Score": "分数"}


def labelled(text: str, label: str) -> str:
    """The value of the `Label: value` line a judge wrote (the simulator fills the template's output format)."""
    match = re.search(rf"^(?:{label}|{LABELS[label]})[:：]\s*(.+)$", text, re.M)
    assert match, (label, text)
    return match.group(1).strip()


def last_number(text: str) -> Decimal:
    return Decimal(re.findall(r"\d+(?:\.\d+)?", text)[-1])


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0].strip()


# --- verify ---------------------------------------------------------------------------------------------------------


def test_verify_rule_checks_generated_answers_against_gsm8k_and_cmath_references(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    gsm = jsonl_rows(realdata / "gsm8k" / "test.jsonl")[:30]
    cmath = [row for row in jsonl_rows(realdata / "qwen2.5-math" / "cmath" / "test.jsonl")
             if INTEGER.fullmatch(row["answer"])][:30]
    load(store, write_jsonl(tmp_path / "gsm8k.jsonl", gsm), "gsm8k")
    load(store, write_jsonl(tmp_path / "cmath.jsonl", cmath), "cmath")
    expected = {row["question"]: (row["answer"].rsplit("####", 1)[1].strip().replace(",", ""), "gsm8k")
                for row in gsm}
    expected |= {row["question"]: (row["answer"], "number") for row in cmath}

    progress = run(store, roster, "verify", {"A": "fake-a", "B": "fake-b"}, name="verify-math")
    all_done(progress)
    assert progress.items == 60

    prompts, texts = user_prompts(store), answer_texts(store)
    rows = verdicts(store, "verify-math")
    assert sorted(row["sample_id"] for row in rows) == sorted(prompts)  # one verdict per answer, one answer each
    outcomes = []
    for row in rows:
        value, method = expected[prompts[row["sample_id"]]]
        (answer_id,) = row["candidate_ids"]
        found = last_number(texts[answer_id])
        assert (row["kind"], row["judge"], row["parse_status"], row["candidates"]) == ("verify", "rule", "rule",
                                                                                      ["fake-a"])
        assert row["outcome"]["method"] == method
        assert Decimal(row["outcome"]["expected"]) == Decimal(value)
        assert Decimal(row["outcome"]["found"]) == found
        assert row["outcome"]["correct"] is (found == Decimal(value)), row
        outcomes.append(row["outcome"]["correct"])
    assert False in outcomes
    assert job_call_count(store, "verify-math") == 60  # A answered each prompt once; no judge was needed


def test_verify_existing_answers_known_to_be_right_are_correct_by_rule_without_any_call(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    gsm = jsonl_rows(realdata / "gsm8k" / "test.jsonl")
    cmath = [row for row in jsonl_rows(realdata / "qwen2.5-math" / "cmath" / "test.jsonl")
             if INTEGER.fullmatch(row["answer"])][:20]
    chats = [{"id": f"gsm8k-{i}", "type": "chat", "metadata": {"source": "gsm8k"}, "reference": row["answer"],
              "messages": [{"role": "user", "content": row["question"]},
                           {"role": "assistant", "content": row["answer"]}]} for i, row in enumerate(gsm[:20])]
    chats += [{"id": f"cmath-{i}", "type": "chat", "metadata": {"source": "cmath"}, "reference": row["answer"],
               "messages": [{"role": "user", "content": row["question"]},
                            {"role": "assistant", "content": f"答案是 {row['answer']}。"}]}
              for i, row in enumerate(cmath)]
    load(store, write_jsonl(tmp_path / "chats.jsonl", chats), "chats")
    # preference pairs: chosen = the worked solution, rejected = the next problem's solution
    pairs = [{"prompt": row["question"], "chosen": row["answer"], "rejected": nxt["answer"], "reference": row["answer"]}
             for row, nxt in itertools.pairwise(gsm[100:121])]
    load(store, write_jsonl(tmp_path / "pairs.jsonl", pairs), "pairs")
    final = {row["answer"]: Decimal(row["answer"].rsplit("####", 1)[1].strip().replace(",", "")) for row in gsm}

    all_done(run(store, roster, "verify", {"B": "fake-b"}, params={"answers": "existing"}, name="own", source="chats"))
    rows = verdicts(store, "own")
    assert len(rows) == 40
    assert all(row["judge"] == "rule" and row["outcome"]["correct"] is True for row in rows), rows
    assert {row["outcome"]["method"] for row in rows} == {"gsm8k", "number"}
    assert all(row["candidates"] == ["original"] for row in rows)

    all_done(run(store, roster, "verify", {"B": "fake-b"}, params={"answers": "existing"}, name="pairs",
                 source="pairs"))
    texts = answer_texts(store)
    rows = verdicts(store, "pairs")
    assert len(rows) == 40  # one verdict per answer: chosen and rejected
    for row in rows:
        (answer_id,) = row["candidate_ids"]
        (name,) = row["candidates"]
        reference = next(pair["reference"] for pair in pairs if pair[name] == texts[answer_id])
        assert row["judge"] == "rule"
        assert row["outcome"]["correct"] is (final[texts[answer_id]] == final[reference])
    assert {row["outcome"]["correct"] for row in rows if row["candidates"] == ["chosen"]} == {True}
    assert job_call_count(store, "own") == job_call_count(store, "pairs") == 0


def test_verify_asks_judge_b_with_the_reference_when_a_latex_answer_defeats_the_rule(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    rows = jsonl_rows(realdata / "math-evaluation-harness" / "math_oai" / "test.jsonl")[:60]
    load(store, write_jsonl(tmp_path / "math500.jsonl", rows), "math500")
    by_prompt = {row["problem"]: row for row in rows}
    all_done(run(store, roster, "verify", {"A": "fake-a", "B": "fake-b"}, name="math500"))

    prompts, texts = user_prompts(store), answer_texts(store)
    judged = ruled = 0
    for verdict in verdicts(store, "math500"):
        reference = by_prompt[prompts[verdict["sample_id"]]]["answer"]
        (answer_id,) = verdict["candidate_ids"]
        if INTEGER.fullmatch(reference):
            ruled += 1
            assert verdict["judge"] == "rule"
            assert verdict["outcome"]["correct"] is (last_number(texts[answer_id]) == Decimal(reference))
        elif re.search(r"\\(sqrt|pi|left|text)\b", reference):
            judged += 1
            assert (verdict["judge"], verdict["parse_status"]) == ("fake-b", "ok"), verdict
            (key,) = verdict["call_keys"]
            messages, response = call(store, key)
            prompt = last_user(messages)
            assert reference.strip() in prompt and texts[answer_id].strip() in prompt
            assert verdict["outcome"] == {"correct": labelled(response, "Correct") == "true"}
            assert verdict["details"]["rule"] in ("expression", "boxed", "none")
    assert ruled >= 20 and judged >= 6, (ruled, judged)


# --- consistency ----------------------------------------------------------------------------------------------------


def test_consistency_on_cmath_has_b_judge_whether_a_and_c_agree(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    rows = jsonl_rows(realdata / "qwen2.5-math" / "cmath" / "test.jsonl")[100:125]
    load(store, write_jsonl(tmp_path / "cmath.jsonl", rows), "cmath")
    all_done(run(store, roster, "consistency", {"A": "fake-a", "B": "fake-b", "C": "fake-c"}, name="cons"))

    texts = answer_texts(store)
    found = []
    for verdict in verdicts(store, "cons"):
        assert (verdict["kind"], verdict["candidates"]) == ("consistency", ["fake-a", "fake-c"])
        assert verdict["judge"] in ("fake-b", "rule")
        if verdict["judge"] == "fake-b":
            (key,) = verdict["call_keys"]
            messages, response = call(store, key)
            first, second = (texts[cid].strip() for cid in verdict["candidate_ids"])
            prompt = last_user(messages)
            assert prompt.index(first) < prompt.index(second)
            assert verdict["outcome"] == {"consistent": labelled(response, "Consistent") == "true"}
            assert verdict["rationale"]  # a disagreement keeps its reason
        found.append(verdict["outcome"]["consistent"])
    assert len(found) == 25 and {True, False} <= set(found)


def test_consistency_of_existing_short_answers_is_decided_by_rule(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    rows = [row for row in jsonl_rows(realdata / "qwen2.5-math" / "cmath" / "test.jsonl")
            if INTEGER.fullmatch(row["answer"])][:20]
    pairs = [{"question": row["question"], "chosen": row["answer"],
              "rejected": f"答案是 {int(row['answer']) + (i % 2)}。"} for i, row in enumerate(rows)]
    load(store, write_jsonl(tmp_path / "pairs.jsonl", pairs), "pairs")
    expect = {row["question"]: i % 2 == 0 for i, row in enumerate(rows)}
    all_done(run(store, roster, "consistency", {"B": "fake-b"}, params={"answers": "existing"}, name="cons-rule"))
    prompts = user_prompts(store)
    got = verdicts(store, "cons-rule")
    assert len(got) == 20
    for verdict in got:
        assert (verdict["judge"], verdict["candidates"]) == ("rule", ["chosen", "rejected"])
        assert verdict["outcome"]["consistent"] is expect[prompts[verdict["sample_id"]]]
    assert job_call_count(store, "cons-rule") == 0


def test_consistency_counts_two_identical_existing_answers_as_consistent(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    rows = jsonl_rows(realdata / "qwen2.5-math" / "cmath" / "test.jsonl")[:5]
    pairs = [{"question": row["question"], "chosen": row["answer"], "rejected": row["answer"]} for row in rows]
    load(store, write_jsonl(tmp_path / "same.jsonl", pairs), "same")
    progress = run(store, roster, "consistency", {"B": "fake-b"}, params={"answers": "existing"}, name="same")
    assert progress.reasons == {}, progress  # two answers that agree word for word are not "not enough answers"
    assert all(v["outcome"]["consistent"] is True for v in verdicts(store, "same"))


# --- pairwise -------------------------------------------------------------------------------------------------------


def tulu_slice(realdata: Path, tmp_path: Path, start: int, count: int, *, prompts_only: bool = False) -> Path:
    """Open-instruct eval instances: a prompt and two completions (35 of the 996 have two identical ones: skipped)."""
    rows = [row for row in jsonl_rows(realdata / "open-instruct" / "eval_instances_tulu_1.jsonl")
            if len({c["completion"].strip() for c in row["completions"]}) == 2][start : start + count]
    if prompts_only:
        rows = [{"prompt": row["prompt"]} for row in rows]
    return write_jsonl(tmp_path / f"tulu-{start}.jsonl", rows)


def check_both_orders(store: Store, verdict: dict[str, Any], texts: dict[str, str]) -> None:
    """The judge saw A-B and then B-A; the outcome combines both, and a split is a tie."""
    first, second = (texts[cid].strip() for cid in verdict["candidate_ids"])
    assert len(verdict["call_keys"]) == 2
    seen, said = [], []
    for key in verdict["call_keys"]:
        messages, response = call(store, key)
        prompt = last_user(messages)
        seen.append((between(prompt, "[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]"),
                     between(prompt, "[The Start of Assistant B's Answer]", "[The End of Assistant B's Answer]")))
        said.append(labelled(response, "Verdict"))
    assert seen == [(first, second), (second, first)]
    swapped_back = {"A": "B", "B": "A"}.get(said[1], said[1])
    winner = said[0] if said[0] == swapped_back else "tie"
    assert verdict["outcome"]["winner"] == winner and verdict["outcome"]["split"] is (said[0] != swapped_back)
    assert [order["verdict"] for order in verdict["details"]["orders"]] == said
    if winner != "tie":
        chosen, rejected = verdict["candidate_ids"] if winner == "A" else verdict["candidate_ids"][::-1]
        assert (verdict["outcome"]["chosen"], verdict["outcome"]["rejected"]) == (chosen, rejected)


def test_pairwise_on_existing_tulu_completions_judges_both_orders_and_calls_a_split_a_tie(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, tulu_slice(realdata, tmp_path, 0, 30), "tulu")
    roles = {"A": "fake-a", "B": "fake-b", "C": "fake-c"}
    all_done(run(store, roster, "pairwise", roles, params={"answers": "existing"}, name="pw-existing"))

    texts, drawn = answer_texts(store), assignments(store, "pw-existing")
    imported = {}
    for cid, sample_id, model in store.query("SELECT id, sample_id, model FROM candidates ORDER BY position"):
        imported.setdefault(sample_id, []).append((cid, model))
    rows = verdicts(store, "pw-existing")
    assert len(rows) == 30
    for verdict in rows:
        assignment = drawn[verdict["sample_id"]]
        assert assignment["judge"] in MODELS and assignment["judge"] not in assignment["respondents"]
        assert verdict["judge"] == assignment["judge"]
        assert [cid for cid, _ in imported[verdict["sample_id"]]] == verdict["candidate_ids"]
        assert [model for _, model in imported[verdict["sample_id"]]] == verdict["candidates"]
        assert verdict["candidates"] == assignment["respondents"]
        check_both_orders(store, verdict, texts)
    winners = [verdict["outcome"]["winner"] for verdict in rows]
    assert "tie" in winners and {"A", "B"} & set(winners)
    assert any(v["outcome"]["split"] for v in rows) and len({a["judge"] for a in drawn.values()}) == 3


def test_pairwise_draws_two_respondents_and_a_third_judge_per_sample_reproducibly(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, tulu_slice(realdata, tmp_path, 100, 20), "tulu")
    roles = {"A": "fake-a", "B": "fake-b", "C": "fake-c"}
    all_done(run(store, roster, "pairwise", roles, name="pw-gen", source="tulu", seed=5))

    drawn, texts = assignments(store, "pw-gen"), answer_texts(store)
    answers: dict[str, list[dict[str, Any]]] = {}
    for candidate in job_candidates(store, "pw-gen"):
        answers.setdefault(candidate["sample_id"], []).append(candidate)
    for verdict in verdicts(store, "pw-gen"):
        assignment = drawn[verdict["sample_id"]]
        respondents = assignment["respondents"]
        assert len(set(respondents)) == 2 and assignment["judge"] not in respondents
        assert set(respondents) | {assignment["judge"]} == set(MODELS)
        assert roles[assignment["roles"]["judge"]] == assignment["judge"] == verdict["judge"]
        assert [c["model"] for c in answers[verdict["sample_id"]]] == respondents == verdict["candidates"]
        check_both_orders(store, verdict, texts)
    assert len({a["judge"] for a in drawn.values()}) > 1

    all_done(run(store, roster, "pairwise", roles, name="pw-same-seed", source="tulu", seed=5))
    assert assignments(store, "pw-same-seed") == drawn
    all_done(run(store, roster, "pairwise", roles, name="pw-other-seed", source="tulu", seed=6))
    assert assignments(store, "pw-other-seed") != drawn


def test_pairwise_never_lets_a_respondent_judge_its_own_answer(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, tulu_slice(realdata, tmp_path, 200, 6, prompts_only=True), "tulu")
    all_done(run(store, roster, "generate", {"A": "fake-a", "B": "fake-b"}, name="answers"))
    # the only models on the roles are the two that wrote the answers: no impartial judge is available
    progress = run(store, roster, "pairwise", {"A": "fake-a", "B": "fake-b"}, params={"answers": "existing"},
                   name="self-judged")
    for verdict in verdicts(store, "self-judged"):
        assert verdict["judge"] not in verdict["candidates"], verdict
    assert progress.done + progress.failed == progress.items


# --- rate -----------------------------------------------------------------------------------------------------------


def parse_ratings(response: str) -> dict[int, int | None]:
    found = re.findall(r"^#### Text (\d+)\nRating: (\S+)", response, re.M)
    return {int(k): None if value == "N/A" else int(value) for k, value in found}


def check_rating(store: Store, verdict: dict[str, Any], texts: dict[str, str], margin: float) -> None:
    """Each aspect's order matches the prompt the judge saw, and each rating is mapped back to its answer."""
    outcome, orders = verdict["outcome"], verdict["details"]["orders"]
    assert list(orders) == outcome["aspects"] and len(verdict["call_keys"]) == len(orders)
    assert sorted(outcome["ratings"]) == sorted(verdict["candidate_ids"])
    for (aspect, order), key in zip(orders.items(), verdict["call_keys"], strict=True):
        assert sorted(order) == sorted(verdict["candidate_ids"])
        messages, response = call(store, key)
        prompt = last_user(messages)
        shown = [body.strip() for _, body in re.findall(r"\[Text (\d+)\]\n(.*?)\n\[End of Text \1\]", prompt, re.S)]
        assert shown == [texts[cid].strip() for cid in order], aspect
        rubric_title = (TEMPLATES / f"rate_{aspect}.en.md").read_text(encoding="utf-8").splitlines()[0]
        assert rubric_title in prompt
        for number, rating in parse_ratings(response).items():
            assert outcome["ratings"][order[number - 1]][aspect] == rating
    for cid, by_aspect in outcome["ratings"].items():
        numbers = [value for value in by_aspect.values() if value is not None]
        assert outcome["mean"][cid] == (pytest.approx(mean(numbers), abs=1e-4) if numbers else None)
    pair = outcome["pair"]
    if pair is not None:
        best = max(value for value in outcome["mean"].values() if value is not None)
        assert outcome["mean"][pair["chosen"]] == best
        assert outcome["mean"][pair["rejected"]] <= best - margin


def test_rate_overall_on_existing_tulu_completions_maps_shuffled_ratings_back(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, tulu_slice(realdata, tmp_path, 300, 24), "tulu")
    all_done(run(store, roster, "rate", {"B": "fake-b"}, params={"answers": "existing"}, name="rate-overall"))
    texts = answer_texts(store)
    rows = verdicts(store, "rate-overall")
    assert len(rows) == 24
    for verdict in rows:
        assert (verdict["kind"], verdict["judge"], verdict["parse_status"]) == ("rating", "fake-b", "ok")
        assert verdict["outcome"]["aspects"] == ["overall"]
        check_rating(store, verdict, texts, 1.0)
    firsts = {verdict["details"]["orders"]["overall"][0] == verdict["candidate_ids"][0] for verdict in rows}
    assert firsts == {True, False}  # the shown order is shuffled per sample
    assert any(v["outcome"]["pair"] is None for v in rows) and any(v["outcome"]["pair"] for v in rows)


def test_rate_all_four_aspects_of_generated_answers_keeps_na_out_of_the_mean(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, tulu_slice(realdata, tmp_path, 400, 16), "tulu")
    roles = {"A": "fake-a", "B": "fake-b", "C": "fake-c"}
    all_done(run(store, roster, "rate", roles, params={"aspects": "all", "margin": 0.5}, name="rate-all"))
    texts = answer_texts(store)
    rows = verdicts(store, "rate-all")
    assert len(rows) == 16
    for verdict in rows:
        assert verdict["candidates"] == ["fake-a", "fake-c"]
        assert verdict["outcome"]["aspects"] == list(FOUR_ASPECTS)
        check_rating(store, verdict, texts, 0.5)
    orders_vary = [len({tuple(order) for order in v["details"]["orders"].values()}) > 1 for v in rows]
    assert any(orders_vary) and not all(orders_vary)
    honesty = [r["honesty"] for v in rows for r in v["outcome"]["ratings"].values()]
    assert None in honesty and any(isinstance(value, int) for value in honesty)
    others = [r[a] for v in rows for r in v["outcome"]["ratings"].values() for a in FOUR_ASPECTS if a != "honesty"]
    assert None not in others  # only honesty admits N/A


def test_mean_ratings_leave_na_out_and_binarize_needs_a_strictly_lower_answer() -> None:
    import random

    means = mean_ratings({"x": {"helpfulness": 4, "honesty": None}, "y": {"helpfulness": 2, "honesty": 3},
                          "z": {"helpfulness": None, "honesty": None}})
    assert means == {"x": 4, "y": 2.5, "z": None}
    pair = binarize(means, 1.0, random.Random(0))
    assert pair["pair"] == {"chosen": "x", "rejected": "y", "margin": 1.5}
    assert binarize({"x": 4, "y": 4}, 0.0, random.Random(0))["pair"] is None  # a tie never becomes a pair
    assert binarize({"x": 4, "y": 3.5}, 1.0, random.Random(0))["pair"] is None
    assert binarize({"x": 4, "z": None}, 1.0, random.Random(0))["pair"] is None
    chosen = {binarize({"x": 5, "y": 5, "w": 1}, 1.0, random.Random(seed))["pair"]["chosen"] for seed in range(20)}
    assert chosen == {"x", "y"}


# --- polish and backtranslate ---------------------------------------------------------------------------------------


def kun_slice(realdata: Path, tmp_path: Path, count: int) -> tuple[Path, list[dict[str, Any]]]:
    rows = json.loads((realdata / "coig-kun" / "question.jsonl").read_text(encoding="utf-8"))
    rows = [row for row in rows if row["output"].strip()][:count]
    return write_array(tmp_path / "kun.json", rows), rows


def template_line(name: str) -> str:
    lines = (TEMPLATES / name).read_text(encoding="utf-8").splitlines()
    return next(line for line in lines if line.strip() and not line.startswith("<!--"))


def test_polish_rewrites_coig_kun_outputs_as_new_candidates_linked_to_the_original(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    path, rows = kun_slice(realdata, tmp_path, 15)
    load(store, path, "kun")
    all_done(run(store, roster, "polish", {"A": "fake-a"}, name="polish"))
    prompts, texts = user_prompts(store), answer_texts(store)
    outputs = {(row["instruction"] + ("\n" + row["input"] if row["input"].strip() else "")): row["output"]
               for row in rows}
    polished = job_candidates(store, "polish")
    assert sorted(c["sample_id"] for c in polished) == sorted(prompts)
    for candidate in polished:
        assert (candidate["model"], candidate["label"], candidate["origin"]) == ("fake-a", "polished", "polish")
        source = candidate["extra"]["polished_from"]
        assert source == f"{candidate['sample_id']}/original"
        assert texts[source] == outputs[prompts[candidate["sample_id"]]]
        messages, response = call(store, candidate["call_key"])
        prompt = last_user(messages)
        assert template_line("polish.zh.md") in prompt  # a Chinese instruction gets the Chinese template
        assert texts[source].strip() in prompt and prompts[candidate["sample_id"]].strip() in prompt
        assert candidate["message"] == {"role": "assistant", "content": response.strip()}
    assert verdicts(store, "polish") == []


def test_polish_fails_each_prompt_without_an_answer_with_a_reason(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    rows = jsonl_rows(realdata / "belle" / "eval_set.json")[:8]
    load(store, write_jsonl(tmp_path / "belle.jsonl", rows), "belle")  # std_answer is kept as the reference
    progress = run(store, roster, "polish", {"A": "fake-a"}, name="polish-belle")
    assert (progress.done, progress.failed, progress.reasons) == (0, 8, {"not_enough_answers": 8})
    assert job_call_count(store, "polish-belle") == 0


def test_backtranslate_writes_an_instruction_for_each_output_then_b_judges_it(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    path, _ = kun_slice(realdata, tmp_path, 12)
    load(store, path, "kun")
    belle = jsonl_rows(realdata / "belle" / "eval_set.json")[:12]
    load(store, write_jsonl(tmp_path / "belle.jsonl", belle), "belle",
         mapping={"prompt": "question", "response": "std_answer"})
    roles = {"A": "fake-a", "B": "fake-b"}
    all_done(run(store, roster, "backtranslate", roles, name="kun-quality", source="kun"))
    all_done(run(store, roster, "backtranslate", roles, params={"score": "score", "threshold": 3}, name="belle-score",
                 source="belle"))
    texts = answer_texts(store)
    keeps = []
    for job, label in (("kun-quality", "Quality"), ("belle-score", "Score")):
        instructions = {c["id"]: c for c in job_candidates(store, job)}
        rows = verdicts(store, job)
        assert len(rows) == len(instructions) == 12
        for verdict in rows:
            (cid,) = verdict["candidate_ids"]
            candidate = instructions[cid]
            assert (candidate["label"], candidate["origin"], candidate["message"]["role"]) == (
                "instruction", "backtranslate", "user")
            written_messages, written = call(store, candidate["call_key"])
            assert texts[f"{verdict['sample_id']}/original"].strip() in last_user(written_messages)
            assert candidate["message"]["content"] == written.strip()
            assert (verdict["kind"], verdict["judge"], verdict["candidates"]) == ("instruction", "fake-b", ["fake-a"])
            (key,) = verdict["call_keys"]
            messages, response = call(store, key)
            assert candidate["message"]["content"] in last_user(messages)
            value = labelled(response, label)
            if label == "Quality":
                assert verdict["outcome"] == {"good": value == "good", "keep": value == "good"}
            else:
                assert verdict["outcome"] == {"score": int(value), "keep": int(value) >= 3}
                assert verdict["details"] == {"scale": "score", "threshold": 3}
            keeps.append(verdict["outcome"]["keep"])
    assert {True, False} <= set(keeps)


# --- generate -------------------------------------------------------------------------------------------------------


def test_generate_every_turn_feeds_each_answer_back_into_the_conversation(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    conversations = json.loads((realdata / "fastchat" / "dummy_conversation.json").read_text(encoding="utf-8"))
    picked = [row for row in conversations if len(row["conversations"]) >= 4][:10]
    load(store, write_array(tmp_path / "fastchat.json", picked), "fastchat")
    all_done(run(store, roster, "generate", {"A": "fake-a"}, params={"turn": "every"}, name="every"))

    originals = {sample_id: json.loads(raw) for sample_id, raw in store.query("SELECT id, messages FROM samples")}
    by_sample: dict[str, list[dict[str, Any]]] = {}
    for candidate in job_candidates(store, "every"):
        by_sample.setdefault(candidate["sample_id"], []).append(candidate)
    assert sorted(by_sample) == sorted(originals)
    for sample_id, candidates in by_sample.items():
        users = [m["content"] for m in originals[sample_id] if m["role"] == "user"]
        assert [c["extra"]["turn"] for c in candidates] == list(range(len(users)))
        for number, candidate in enumerate(candidates):
            messages, response = call(store, candidate["call_key"])
            expected: list[dict[str, str]] = []
            for user, earlier in zip(users[:number], candidates[:number], strict=True):
                expected += [{"role": "user", "content": user}, earlier["message"]]
            assert messages == [*expected, {"role": "user", "content": users[number]}]
            assert candidate["message"] == {"role": "assistant", "content": response}
            assert (candidate["model"], candidate["label"]) == ("fake-a", "A")


def glaive_slice(realdata: Path, tmp_path: Path) -> Path:
    rows = json.loads((realdata / "llama-factory" / "glaive_toolcall_zh_demo.json").read_text(encoding="utf-8"))
    return write_array(tmp_path / "glaive.json", rows[:12])


def test_generate_first_and_last_turn_on_tool_conversations_answer_at_that_user_turn(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, glaive_slice(realdata, tmp_path), "glaive")
    roles = {"A": "fake-a", "B": "fake-b"}
    all_done(run(store, roster, "generate", roles, params={"turn": "first"}, name="first"))
    all_done(run(store, roster, "generate", roles, params={"turn": "last"}, name="last"))
    originals = {sample_id: json.loads(raw) for sample_id, raw in store.query("SELECT id, messages FROM samples")}
    assert any(m["role"] == "function_call" for turns in originals.values() for m in turns)
    for job, pick in (("first", 0), ("last", -1)):
        candidates = job_candidates(store, job)
        assert len(candidates) == 2 * len(originals)
        for candidate in candidates:
            turns = originals[candidate["sample_id"]]
            cut = [i for i, m in enumerate(turns) if m["role"] == "user"][pick]
            messages, response = call(store, candidate["call_key"])
            assert len(messages) == cut + 1 and messages[-1] == {"role": "user", "content": turns[cut]["content"]}
            assert {m["role"] for m in messages} <= {"system", "user", "assistant"}
            for sent, original in zip(messages, turns, strict=False):
                assert sent["content"].endswith(original["content"])
                if original["role"] in ("function_call", "observation"):
                    assert sent["content"].startswith(f"[{original['role']}]")
            assert candidate["message"]["content"] == response
            assert candidate["model"] == roles[candidate["label"]]


def test_generate_every_turn_never_puts_a_tool_call_after_the_answer_it_replaced(
    store: Store, roster: Roster, realdata: Path, tmp_path: Path
) -> None:
    load(store, glaive_slice(realdata, tmp_path), "glaive")
    all_done(run(store, roster, "generate", {"A": "fake-a"}, params={"turn": "every"}, name="every-tools"))
    candidates = job_candidates(store, "every-tools")
    generated = {c["message"]["content"] for c in candidates}
    for candidate in candidates:
        messages, _ = call(store, candidate["call_key"])
        for here, after in itertools.pairwise(messages):
            if here["role"] == "assistant" and here["content"] in generated:
                # a tool call and its result belong before the reply they led to, not after a generated reply
                assert not after["content"].startswith(("[function_call]", "[observation]")), messages


# --- rules ----------------------------------------------------------------------------------------------------------


def test_rules_flag_the_template_placeholders_of_v1_sft_demo_without_calling_a_model(
    store: Store, roster: Roster, realdata: Path, server: FakeOpenAIServer
) -> None:
    load(store, realdata / "llama-factory" / "v1_sft_demo.jsonl", "v1")
    before = server.app.stats.requests
    progress = run(store, roster, "rules", {}, name="rules")
    all_done(progress)
    assert server.app.stats.requests == before and job_call_count(store, "rules") == 0

    placeholder = re.compile(r"\{\{\s*[A-Za-z_]\w*\s*\}\}")
    with_placeholder = set()
    for sample_id, raw in store.query("SELECT id, messages FROM samples"):
        text = json.dumps(json.loads(raw), ensure_ascii=False)
        if placeholder.search(text):
            with_placeholder.add(sample_id)
    rows = verdicts(store, "rules")
    assert len(rows) == progress.items  # one conversation verdict per sample, flagged or not
    flagged = {row["sample_id"] for row in rows if "placeholder" in row["outcome"]["flags"]}
    assert flagged == with_placeholder and len(flagged) > 0
    raw_lines = (realdata / "llama-factory" / "v1_sft_demo.jsonl").read_text(encoding="utf-8").split("\n")
    assert sum("{{name}}" in line for line in raw_lines) == 46  # the MANIFEST's count; 4 more hold only {{author}}
    assert len(flagged) == sum(bool(placeholder.search(line)) for line in raw_lines) == 50
    for row in rows:
        assert (row["kind"], row["judge"], row["parse_status"], row["candidates"]) == ("quality", "rule", "rule", [])
        if "placeholder" in row["outcome"]["flags"]:
            assert "{{" in row["rationale"]
