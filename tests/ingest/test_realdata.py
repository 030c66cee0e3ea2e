"""Import every real public file in ../shared/realdata and check counts, detection and the exact field mapping.

The expected samples are computed here from the raw files (json, or lines split on "\\n" only), independently
of the importer, and compared with what the library returns for the stored sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.ingest import import_files
from blossom_studio.library import get_sample
from blossom_studio.store import Store

Record = dict[str, Any]
Expected = dict[str, Any]

SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system",
                  "function_call": "function_call", "observation": "observation"}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def sharegpt(turns: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{"role": SHAREGPT_ROLES[turn["from"]], "content": turn["value"]} for turn in turns]


def expected(messages: list[dict[str, Any]], *, reference: str | None = None, source_id: str | None = None,
             metadata: dict[str, Any] | None = None, candidates: list[dict[str, Any]] | None = None) -> Expected:
    return {"messages": messages, "reference": reference, "source_id": source_id, "metadata": metadata or {},
            "candidates": candidates or []}


def candidate(label: str, text: str, model: str | None = None) -> dict[str, Any]:
    return {"model": model, "label": label, "message": assistant(text), "extra": None, "origin": "import"}


# One function per file: the raw record -> the sample the studio must store for it.

def blossomdata(r: Record) -> Expected:
    # BlossomData chat: metadata kept as is, the top-level `failed` flag moved into metadata, id -> source_id.
    return expected(r["messages"], source_id=r["id"], metadata={**r["metadata"], "failed": r["failed"]})


def alpaca(r: Record) -> Expected:
    # Alpaca / COIG: user = instruction, plus "\n" + input when the input is not empty; output = answer.
    prompt = r["instruction"] + ("\n" + r["input"] if r["input"] else "")
    return expected([user(prompt), assistant(r["output"])])


def belle(r: Record) -> Expected:
    # BELLE eval set: the question is the prompt, std_answer the reference, `class` (with U+00A0) kept.
    return expected([user(r["question"])], reference=r["std_answer"], metadata={"class": r["class"]})


def dpo_zh(r: Record) -> Expected:
    # LLaMA-Factory DPO: the prompt from `conversations` (system turns kept), chosen/rejected as candidates.
    assert r["chosen"]["from"] == r["rejected"]["from"] == "gpt"
    return expected(sharegpt(r["conversations"]),
                    candidates=[candidate("chosen", r["chosen"]["value"]),
                                candidate("rejected", r["rejected"]["value"])])


def glaive(r: Record) -> Expected:
    # Glaive tool calls: function_call / observation roles kept as such, the tools JSON string in metadata.
    return expected(sharegpt(r["conversations"]), metadata={"tools": r["tools"]})


def v1_sft(r: Record) -> Expected:
    # LLaMA-Factory v1: content parts [{type: text, value}] joined into one string, loss_weight kept.
    messages = [{"role": m["role"], "content": "".join(part["value"] for part in m["content"]),
                 "loss_weight": m["loss_weight"]} for m in r["messages"]]
    return expected(messages)


def fastchat(r: Record) -> Expected:
    return expected(sharegpt(r["conversations"]), source_id=r["id"])


def gsm8k(r: Record) -> Expected:
    # GSM8K: one user message; the worked answer ending in "#### n" is the reference, not an assistant turn.
    assert "\n#### " in r["answer"]
    return expected([user(r["question"])], reference=r["answer"])


def math500(r: Record) -> Expected:
    # MATH-500: the short `answer` is the reference; `solution` (with \boxed{}) stays in metadata.
    assert "\\boxed" in r["solution"]
    return expected([user(r["problem"])], reference=r["answer"],
                    metadata={"solution": r["solution"], "subject": r["subject"], "level": r["level"],
                              "unique_id": r["unique_id"]})


def cmath(r: Record) -> Expected:
    return expected([user(r["question"])], reference=r["answer"],
                    metadata={"grade": r["grade"], "reasoning_step": r["reasoning_step"],
                              "num_digits": r["num_digits"]})


def open_instruct(r: Record) -> Expected:
    # open-instruct: two unlabeled model answers become candidates completion-1/2 with their model.
    return expected([user(r["prompt"])], source_id=r["id"],
                    candidates=[candidate(f"completion-{i}", c["completion"], c["model"])
                                for i, c in enumerate(r["completions"], 1)])


@dataclass(frozen=True)
class RealFile:
    """One file of ../shared/realdata with the facts from MANIFEST.md and the expected stored sample."""

    path: str
    records: int
    format: str
    file_type: str
    source: str
    expect: Callable[[Record], Expected]
    also: tuple[Callable[[Record], bool], ...] = field(default=())  # more records worth checking

    def __str__(self) -> str:
        return self.path


def has_input(r: Record) -> bool:
    return bool(r["input"])


def has_system_turn(r: Record) -> bool:
    return r["conversations"][0]["from"] == "system"


FILES = [
    RealFile("blossomdata/chat.jsonl", 6, "blossom", "jsonl", "chat", blossomdata),
    RealFile("coig-kun/question.jsonl", 3000, "alpaca", "json", "question", alpaca, (has_input,)),
    RealFile("belle/eval_set.json", 1000, "prompt", "jsonl", "eval_set", belle,
             (lambda r: "\xa0" in r["class"],)),
    RealFile("llama-factory/alpaca_zh_demo.json", 1000, "alpaca", "json", "alpaca_zh_demo", alpaca, (has_input,)),
    RealFile("llama-factory/alpaca_en_demo.json", 999, "alpaca", "json", "alpaca_en_demo", alpaca, (has_input,)),
    RealFile("llama-factory/dpo_zh_demo.json", 300, "preference", "json", "dpo_zh_demo", dpo_zh,
             (has_system_turn,)),
    RealFile("llama-factory/glaive_toolcall_zh_demo.json", 300, "sharegpt", "json", "glaive_toolcall_zh_demo",
             glaive),
    RealFile("llama-factory/v1_sft_demo.jsonl", 500, "openai", "jsonl", "v1_sft_demo", v1_sft,
             (lambda r: "{{name}}" in json.dumps(r),)),
    RealFile("fastchat/dummy_conversation.json", 500, "sharegpt", "json", "dummy_conversation", fastchat),
    RealFile("gsm8k/test.jsonl", 1319, "prompt", "jsonl", "gsm8k/test", gsm8k),
    RealFile("math-evaluation-harness/math_oai/test.jsonl", 500, "prompt", "jsonl", "math_oai/test", math500),
    RealFile("qwen2.5-math/cmath/test.jsonl", 600, "prompt", "jsonl", "cmath/test", cmath),
    RealFile("open-instruct/eval_instances_tulu_1.jsonl", 996, "completions", "jsonl", "eval_instances_tulu_1",
             open_instruct),
]


def read_raw(path: Path, file_type: str) -> list[tuple[int, Record]]:
    """Return (position, record): the 0-based index in a JSON array, or the 1-based line in JSONL."""
    text = path.read_bytes().decode("utf-8")
    if file_type == "json":
        document = json.loads(text)
        assert isinstance(document, list)
        return list(enumerate(document))
    return [(number, json.loads(line)) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def canonical(record: Record) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def exact_duplicates(raw: list[tuple[int, Record]]) -> int:
    return len(raw) - len({canonical(record) for _, record in raw})


def last_stored(raw: list[tuple[int, Record]]) -> tuple[int, Record]:
    """The last record that is not an exact copy of an earlier one (copies are skipped on import)."""
    first_seen: dict[str, int] = {}
    for index, (_, record) in enumerate(raw):
        first_seen.setdefault(canonical(record), index)
    return next(raw[i] for i in range(len(raw) - 1, -1, -1) if first_seen[canonical(raw[i][1])] == i)


def stored_sample(store: Store, row_number: int) -> dict[str, Any]:
    rows = store.query("SELECT id FROM samples WHERE row_number = ?", [row_number])
    assert len(rows) == 1, f"expected one sample from row {row_number}, found {len(rows)}"
    sample = get_sample(store, rows[0][0])
    assert sample is not None
    return sample


def comparable(sample: dict[str, Any]) -> Expected:
    return {"messages": sample["messages"], "reference": sample["reference"], "source_id": sample["source_id"],
            "metadata": sample["metadata"],
            "candidates": [{k: c[k] for k in ("model", "label", "message", "extra", "origin")}
                           for c in sample["candidates"]]}


@pytest.mark.parametrize("real", FILES, ids=str)
def test_real_file_imports_with_exact_mapping(store: Store, realdata: Path, real: RealFile) -> None:
    path = realdata / real.path
    raw = read_raw(path, real.file_type)
    assert len(raw) == real.records, "the file no longer matches MANIFEST.md"

    [report] = import_files(store, [path])

    assert report.error is None
    assert report.errors == []
    assert report.bad == 0
    assert report.records == real.records
    assert report.imported + report.duplicates + report.bad == real.records
    assert report.duplicates == exact_duplicates(raw)
    assert report.format == real.format
    assert report.file_type == real.file_type
    assert store.query("SELECT count(*) FROM samples")[0][0] == report.imported
    assert store.query("SELECT DISTINCT source, format FROM samples") == [(real.source, real.format)]

    checked = [raw[0], last_stored(raw)]
    for wanted in real.also:
        checked.append(next(item for item in raw if wanted(item[1])))
    for position, record in checked:
        sample = stored_sample(store, position)
        assert sample["source"] == real.source
        assert sample["format"] == real.format
        assert sample["row_number"] == position
        assert comparable(sample) == real.expect(record), f"{real.path} record at {position}"


@pytest.mark.parametrize("real", FILES, ids=str)
def test_importing_a_real_file_twice_adds_nothing(store: Store, realdata: Path, real: RealFile) -> None:
    path = realdata / real.path
    [first] = import_files(store, [path])
    count = store.query("SELECT count(*) FROM samples")[0][0]
    candidates = store.query("SELECT count(*) FROM candidates")[0][0]

    [second] = import_files(store, [path])

    assert first.imported > 0
    assert second.imported == 0
    assert second.bad == 0
    assert second.duplicates == first.imported + first.duplicates == real.records
    assert store.query("SELECT count(*) FROM samples")[0][0] == count
    assert store.query("SELECT count(*) FROM candidates")[0][0] == candidates


def test_belle_class_values_are_kept_byte_exact(store: Store, realdata: Path) -> None:
    """BELLE's `class` values hold a no-break space (U+00A0); metadata keeps it, not a plain space."""
    path = realdata / "belle/eval_set.json"
    raw = read_raw(path, "jsonl")
    import_files(store, [path])
    stored = {row[0] for row in store.query("SELECT DISTINCT metadata->>'class' FROM samples")}
    assert stored == {record["class"] for _, record in raw}
    assert "closed\xa0qa" in stored


def test_all_real_files_together_keep_their_sources_apart(store: Store, realdata: Path) -> None:
    reports = import_files(store, [realdata / real.path for real in FILES])
    assert [r.format for r in reports] == [real.format for real in FILES]
    rows = dict(store.query("SELECT source, count(*) FROM samples GROUP BY source"))
    assert rows == {real.source: report.imported for real, report in zip(FILES, reports, strict=True)}
    preference_pairs = store.query(
        "SELECT count(*) FROM candidates c JOIN samples s ON s.id = c.sample_id WHERE s.format = 'preference'")
    dpo = next(report for real, report in zip(FILES, reports, strict=True) if real.format == "preference")
    assert preference_pairs[0][0] == 2 * dpo.imported
