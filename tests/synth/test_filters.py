"""Rule filters on real public data and hand-made cases: they flag with a reason and never need a model."""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from blossom_studio.synth.filters import (
    FLAG_NAMES,
    Flag,
    check_messages,
    check_text,
    placeholders,
    repeated_segment_fraction,
    repetition_ratio,
)

PARAGRAPH = (
    "Photosynthesis converts light energy into chemical energy. Plants take in carbon dioxide and water, and "
    "with sunlight they produce glucose and oxygen. The process happens in chloroplasts, which contain "
    "chlorophyll, the pigment that gives leaves their green colour."
)


def blossomdata_ratio(text: str, n: int = 10) -> float:
    """BlossomData's CharRepetitionFilter arithmetic, written out the slow way as an oracle."""
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    freq = sorted(Counter(grams).values(), reverse=True)
    if not freq:
        return 0.0
    repeated = min(int(math.sqrt(len(freq))), len(freq) - sum(1 for c in freq if c == 1))
    return sum(freq[:repeated]) / sum(freq)


def names(flags: list[Flag]) -> set[str]:
    return {flag.name for flag in flags}


def test_repetition_ratio_matches_blossomdata() -> None:
    rng = random.Random(7)
    texts = [PARAGRAPH, "ha" * 300, "", "short", "abcdefghij" * 3, PARAGRAPH + " lol" * 80]
    texts += ["".join(rng.choice("ab c\n的是") for _ in range(rng.randint(0, 400))) for _ in range(50)]
    for text in texts:
        assert repetition_ratio(text) == pytest.approx(blossomdata_ratio(text)), text[:40]
    assert repetition_ratio("哈" * 300) == 1.0
    assert repetition_ratio("ha" * 300) == pytest.approx(0.5, abs=0.01)  # two distinct grams, the top one counts
    assert repetition_ratio(PARAGRAPH) < 0.05


def test_a_repeated_sentence_is_flagged_and_a_paragraph_is_not() -> None:
    looped = "Paris is the capital of France. " * 20
    # BlossomData's n-gram measure is about 1/sqrt(period) on a loop, so alone it misses this ...
    assert repetition_ratio(looped) < 0.5
    # ... and the repeated-sentence share catches it
    assert repeated_segment_fraction(looped) == pytest.approx(0.95)
    flags = check_text(looped)
    assert names(flags) == {"repetition"} and "repeated sentences are 0.95 of the text > 0.5" in flags[0].reason
    assert check_text("巴黎是法国的首都。" * 20)[0].name == "repetition"
    assert check_text(PARAGRAPH) == []
    runaway = PARAGRAPH + "哈" * 600
    assert check_text(runaway)[0].reason.startswith("character 10-gram repetition 0.")


def test_layout_padding_is_not_repetition() -> None:
    table = "| name | year |\n|" + "-" * 60 + "|" + "-" * 60 + "|\n| Tower" + " " * 80 + "| 1930" + " " * 80 + "|\n"
    assert repetition_ratio(table) > 0.5  # the raw measure counts the padding
    assert check_text(table) == []
    code = "```\n" + "+-------+\n|  box  |\n+-------+\n" * 6 + "```\nThat is the flow chart."
    assert "repetition" not in names(check_text(code))


@pytest.mark.parametrize(
    ("text", "name", "phrase"),
    [
        ("I'm sorry, but I can't help with that request.", "refusal", "I'm sorry, but I can't"),
        ("I apologize, but I cannot provide that information.", "refusal", "I apologize, but I cannot"),
        ("I must respectfully decline.", "refusal", "I must respectfully decline"),
        ("抱歉，我无法回答这个问题。", "refusal", "抱歉，我无法回答"),
        ("对不起，我不能提供这方面的帮助。", "refusal", "对不起，我不能提供"),
        ("As an AI language model, I don't have feelings.", "self_identity", "As an AI language model"),
        ("I am an AI developed by OpenAI.", "self_identity", "I am an AI"),
        ("作为一个人工智能，我没有个人观点。", "self_identity", "作为一个人工智能"),
        ("我是ChatGPT，很高兴为你服务。", "self_identity", "我是ChatGPT"),
        ("你好，我是由OpenAI开发的助手。", "self_identity", "我是由OpenAI开发"),
        ("My creators are researchers from LMSYS.", "self_identity", "My creators are"),
    ],
)
def test_phrases_are_flagged_with_the_phrase_in_the_reason(text: str, name: str, phrase: str) -> None:
    flags = [flag for flag in check_text(text) if flag.name == name]
    assert len(flags) == 1 and phrase.lower() in flags[0].reason.lower(), check_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "I can't help but notice the colours of autumn.",
        "GPT-3 是一个由 OpenAI 开发的自然语言处理模型。",
        "非常抱歉我无法按照预计的时间参加面试，希望改期。",
        "The model was trained by gradient descent.",
        PARAGRAPH,
    ],
)
def test_ordinary_sentences_are_not_flagged(text: str) -> None:
    assert check_text(text) == []


def test_lengths_and_emoji() -> None:
    assert check_text("👍") == [Flag("too_short", "1 character < 2")]
    assert check_text("  ") == [Flag("too_short", "0 characters < 2")]
    assert check_text("👍🎉") == []
    assert names(check_text("😀" * 50)) == {"repetition"}
    assert check_text("abcdef", max_chars=5) == [Flag("too_long", "6 characters > 5")]
    assert check_text("ab", min_chars=3)[0].reason == "2 characters < 3"


def test_one_megabyte_is_fast() -> None:
    rng = random.Random(1)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz 的一是了我不人在.\n") for _ in range(1_000_000))
    start = time.perf_counter()
    ratio = repetition_ratio(text)
    elapsed = time.perf_counter() - start
    assert 0.0 <= ratio < 0.5 and elapsed < 1.0, elapsed
    start = time.perf_counter()
    flags = check_text(text)
    assert time.perf_counter() - start < 3.0
    assert names(flags) == {"too_long"} and flags[0].reason == "1,000,000 characters > 100,000"
    loop = ("All work and no play makes Jack a dull boy. " * 30_000)[:1_000_000]
    start = time.perf_counter()
    assert names(check_text(loop)) == {"repetition", "too_long"}
    assert time.perf_counter() - start < 3.0


def test_check_messages_flags_turns() -> None:
    messages = [
        {"role": "system", "content": ""},
        {"role": "user", "content": "Hello {{name}}, what is {{ topic }}?"},
        {"role": "assistant", "content": [{"type": "text", "text": ""}]},
        {"role": "user", "content": "Show me a Vue template."},
        {"role": "assistant", "content": "Use `{{ message }}`:\n```html\n<p>{{ message }}</p>\n```"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "As an AI language model, I am glad to help."},
    ]
    flags = check_messages(messages)
    assert flags == [
        Flag("placeholder", "turn 2 (user) has template placeholder {{name}}, {{ topic }}"),
        Flag("empty_turn", "turn 3 (assistant) is empty"),
        Flag("self_identity", "turn 7 (assistant): self-identity phrase 'As an AI language model'"),
    ]
    assert all(flag.name in FLAG_NAMES for flag in flags)
    assert check_messages([{"role": "user", "content": None}, "oops"]) == [  # type: ignore[list-item]
        Flag("empty_turn", "turn 1 (user) is empty"), Flag("empty_turn", "turn 2 is not a message")]
    assert placeholders("{{a}} {{a}} {b} {{ 1x }} `{{c}}`") == ["{{a}}"]


def test_llama_factory_placeholders(realdata: Path) -> None:
    lines = (realdata / "llama-factory" / "v1_sft_demo.jsonl").read_text(encoding="utf-8").split("\n")
    records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) == 500
    flagged = {i for i, r in enumerate(records) if "placeholder" in names(check_messages(r["messages"]))}
    with_name = {i for i, r in enumerate(records) if "{{name}}" in json.dumps(r, ensure_ascii=False)}
    with_any = {i for i, r in enumerate(records) if re.search(r"\{\{\w+\}\}", json.dumps(r, ensure_ascii=False))}
    # MANIFEST counts the 46 records with {{name}}; 4 more hold only {{author}} and are just as templated
    assert len(with_name) == 46 and with_name <= flagged
    assert flagged == with_any and len(flagged) == 50


def test_fastchat_identity_data_is_flagged(realdata: Path) -> None:
    records = json.loads((realdata / "fastchat" / "dummy_conversation.json").read_text(encoding="utf-8"))
    role = {"human": "user", "gpt": "assistant"}
    replies: Counter[str] = Counter()
    for record in records:
        messages = [{"role": role[turn["from"]], "content": turn["value"]} for turn in record["conversations"]]
        flags = check_messages(messages)
        assert "self_identity" in names(flags), record["id"]
        replies.update(turn["value"] for turn in record["conversations"] if turn["from"] == "gpt")
    clean = {reply for reply in replies if not check_text(reply)}
    assert clean == {"You too!", "Hello! How can I help you today?",
                     "Goodbye! If you have any more questions in the future, don't hesitate to ask."}


def test_gsm8k_and_math_solutions_are_clean(realdata: Path) -> None:
    gsm = [json.loads(line)["answer"] for line in (realdata / "gsm8k" / "test.jsonl").read_text().splitlines()]
    math_lines = (realdata / "math-evaluation-harness" / "math_oai" / "test.jsonl").read_text().splitlines()
    solutions = [json.loads(line)["solution"] for line in math_lines]
    flagged = [text for text in gsm + solutions if check_text(text)]
    assert len(flagged) <= 0.005 * len(gsm + solutions), flagged[:3]  # measured: 0 of 1,819


def test_real_refusals_and_identity_in_alpaca(realdata: Path) -> None:
    data = json.loads((realdata / "llama-factory" / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    counts = Counter(flag.name for row in data for flag in check_text(row["output"]))
    # measured: 27 self-identity ("As an AI ...") and 2 refusals among 999 outputs
    assert 20 <= counts["self_identity"] <= 40 and 1 <= counts["refusal"] <= 5
    assert counts["repetition"] == 0
