"""Building samples, candidates and verdicts directly in a store, for the review tests."""

from __future__ import annotations

import json
from typing import Any

from blossom_studio.store import Store

# --- building samples and verdicts directly --------------------------------------------------------------------------


def add_sample(store: Store, sample_id: str, *, answers: int = 2, source: str = "test", final: str | None = None,
               job_id: str | None = None) -> list[str]:
    """Insert a sample with `answers` candidates labelled A, B, ...; return the candidate ids."""
    messages = [{"role": "user", "content": f"问题 {sample_id}: explain"}]
    if final is not None:
        messages.append({"role": "assistant", "content": final})
    ids = [f"{sample_id}-c{index}" for index in range(answers)]
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO samples (id, source, type, format, messages, metadata, content_hash, turns) "
            "VALUES (?, ?, 'chat', 'blossom', ?, '{}', ?, 1)",
            [sample_id, source, json.dumps(messages, ensure_ascii=False), sample_id],
        )
        for index, cid in enumerate(ids):
            cursor.execute(
                "INSERT INTO candidates (id, sample_id, job_id, model, label, position, message, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'generate')",
                [cid, sample_id, job_id, f"model-{index}", "ABCD"[index], index,
                 json.dumps({"role": "assistant", "content": f"answer {index} to {sample_id}"})],
            )
    return ids


_verdict_number = iter(range(1_000_000))


def add_verdict(store: Store, sample_id: str, kind: str, outcome: dict[str, Any] | None, *, judge: str = "judge-1",
                candidate_ids: list[str] | None = None, parse_status: str = "ok", job_id: str | None = None,
                details: dict[str, Any] | None = None) -> str:
    """Insert a verdict (in its own transaction, so later verdicts are newer) and return its id."""
    verdict_id = f"v{next(_verdict_number)}"
    ids = candidate_ids if candidate_ids is not None else [f"{sample_id}-c0", f"{sample_id}-c1"]
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO verdicts (id, sample_id, job_id, kind, judge, candidate_ids, candidates_shown, outcome, "
            "rationale, parse_status, details, call_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'because', ?, ?, '[]')",
            [verdict_id, sample_id, job_id, kind, judge, json.dumps(ids), json.dumps(ids),
             json.dumps(outcome) if outcome is not None else None, parse_status,
             json.dumps(details) if details is not None else None],
        )
    return verdict_id


def pairwise(store: Store, sample_id: str, winner: str, *, split: bool = False, judge: str = "judge-1",
             parse_status: str = "ok", job_id: str | None = None) -> str:
    """A pairwise verdict as the strategy writes it (winner of both orders, or a tie)."""
    a, b = f"{sample_id}-c0", f"{sample_id}-c1"
    if parse_status == "failed":
        return add_verdict(store, sample_id, "pairwise", None, judge=judge, parse_status="failed", job_id=job_id)
    outcome: dict[str, Any] = {"winner": winner, "split": split}
    if winner != "tie":
        outcome |= {"chosen": a, "rejected": b} if winner == "A" else {"chosen": b, "rejected": a}
    orders = [{"shown": ["model-0", "model-1"], "verdict": "A" if winner != "B" else "B", "parse_status": "ok"},
              {"shown": ["model-1", "model-0"], "verdict": "A" if split or winner == "B" else "B",
               "parse_status": "ok"}]
    return add_verdict(store, sample_id, "pairwise", outcome, judge=judge, job_id=job_id,
                       parse_status=parse_status, details={"orders": orders})


def rating(store: Store, sample_id: str, means: list[float | None], *, margin: float = 1.0) -> str:
    """A rating verdict with binarize's pair over `means` (one per candidate)."""
    ids = [f"{sample_id}-c{index}" for index in range(len(means))]
    rated = {cid: m for cid, m in zip(ids, means, strict=True) if m is not None}
    outcome: dict[str, Any] = {"aspects": ["overall"], "ratings": {cid: {"overall": m} for cid, m in zip(ids, means,
                                                                                                       strict=True)},
                               "mean": dict(zip(ids, means, strict=True)), "rule": "r"}
    best = max(rated.values()) if rated else None
    lower = [cid for cid, m in rated.items() if best is not None and m <= best - margin]
    if len(rated) < 2:
        outcome |= {"pair": None, "reason": "fewer than two answers have numeric ratings"}
    elif not lower:
        outcome |= {"pair": None, "reason": "no answer is rated at least 1 below the best"}
    else:
        chosen = next(cid for cid, m in rated.items() if m == best)
        outcome["pair"] = {"chosen": chosen, "rejected": lower[0], "margin": best - rated[lower[0]]}
    return add_verdict(store, sample_id, "rating", outcome, candidate_ids=ids)


def all_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.query("SELECT * FROM decisions ORDER BY seq")
