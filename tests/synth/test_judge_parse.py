"""Judge-output parsing: realistic replies parse, ambiguous or broken ones fail with a reason, nothing raises."""

from __future__ import annotations

import random

import pytest

from blossom_studio.synth.judge_parse import ParseOutcome, parse_judge_output


def ok(kind: str, text: str, **kw: object) -> ParseOutcome:
    parsed = parse_judge_output(kind, text, **kw)  # type: ignore[arg-type]
    assert parsed.ok and parsed.error is None, parsed.error
    return parsed


def fails(kind: str, text: str, needle: str, **kw: object) -> None:
    parsed = parse_judge_output(kind, text, **kw)  # type: ignore[arg-type]
    assert not parsed.ok and parsed.value is None, parsed
    assert parsed.error is not None and needle in parsed.error, parsed.error


@pytest.mark.parametrize(
    ("text", "winner"),
    [
        ("Reasoning: A is more accurate.\nVerdict: A", "A"),
        ("**Reasoning:** B explains more.\n\n**Verdict:** B", "B"),
        ("Reasoning: same\n**Verdict**: tie", "tie"),
        ("verdict:   TIE  ", "tie"),
        ("Verdict: [[A]]", "A"),
        ("Verdict: Assistant B", "B"),
        ("Verdict: Assistant A is better.", "A"),
        ("Both answers are fine but A is clearer. [[A]]", "A"),
        ("After comparing, my final verdict is: [[C]]", "tie"),
        ("理由：A 更准确。\n结论：A", "A"),
        ("理由：两者相当\n结论：平局", "tie"),
        ("理由：回答B更完整\n结论： 助手B", "B"),
        ("<think>Let me weigh A against B. Verdict: B maybe?</think>\nReasoning: A wins.\nVerdict: A", "A"),
        ("### Output format\nReasoning: fine\nVerdict: B", "B"),
        ("- Reasoning: fine\n- Verdict: `A`", "A"),
        ('{"reasoning": "x", "verdict": "B"}', "B"),
    ],
)
def test_pairwise_variants(text: str, winner: str) -> None:
    assert ok("pairwise", text).value == {"winner": winner}


def test_pairwise_rationale_is_kept_across_lines() -> None:
    parsed = ok("pairwise", "Reasoning: A is right.\nB has an arithmetic slip.\nVerdict: A")
    assert parsed.rationale == "A is right.\nB has an arithmetic slip."


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Reasoning: both fine", "no verdict line"),
        ("Verdict: A\nVerdict: B", "two different verdicts (A and B)"),
        ("Verdict: A\n\nSo the answer is [[B]]", "two different verdicts"),
        ("I would choose [[A]] or maybe [[B]]", "two different verdicts"),
        ("Verdict: A and B are equally good", "is not one of A, B, tie"),
        ("Verdict: C", "is not one of A, B, tie"),
        ("Verdict: neither is good", "is not one of A, B, tie"),
        ("Reasoning: <your reasoning>\nVerdict: <A|B|tie>", "placeholder was not filled in"),
        ("", "empty reply"),
        ("   \n\n", "empty reply"),
        ("<think>Verdict: A</think>", "empty reply"),
    ],
)
def test_pairwise_failures(text: str, needle: str) -> None:
    fails("pairwise", text, needle)


@pytest.mark.parametrize(
    ("text", "correct"),
    [
        ("Analysis: Both give 18.\nCorrect: true", True),
        ("Analysis: 18 vs 17.\nCorrect: false", False),
        ("**Correct:** **True**", True),
        ("Correct: Yes - the final answers match.", True),
        ("Correct: incorrect", False),
        ("分析：参考答案是 18，助手也是 18。\n是否正确：true", True),
        ("分析：不一致\n是否正确：错误。", False),
        ("分析：一致\n是否正确：正确", True),
        ("分析：x\n是否正确：不正确，因为少算了一步", False),
        ('```json\n{"correct": false}\n```', False),
        ("Analysis: match\nVerdict: correct", True),
    ],
)
def test_verify_variants(text: str, correct: bool) -> None:
    assert ok("verify", text, n_answers=1).value == {"correct": correct}


def test_verify_failures() -> None:
    fails("verify", "Analysis: fine", "no verdict line")
    fails("verify", "Correct: true\nCorrect: false", "two different verdicts (true and false)")
    fails("verify", "Correct: not correct", "is not true or false")
    fails("verify", "Correct: maybe", "is not true or false")
    fails("verify", "The answer is correct.", "no verdict line")


@pytest.mark.parametrize(
    ("text", "consistent"),
    [
        ("Analysis: A says 5, B says 5.\nConsistent: true", True),
        ("Analysis: 5 vs 6\nConsistent: False", False),
        ("分析：都是 5\n是否一致：true", True),
        ("分析：5 和 6\n是否一致：不一致", False),
        ("分析：5 和 5\n是否一致：一致", True),
    ],
)
def test_consistency_variants(text: str, consistent: bool) -> None:
    assert ok("consistency", text).value == {"consistent": consistent}


@pytest.mark.parametrize(
    ("text", "good"),
    [
        ("Reasoning: clear and complete.\nQuality: good", True),
        ("Reasoning: refers to an image.\nQuality: **bad**", False),
        ("理由：清晰完整\n质量：good", True),
        ("理由：指代了上文\n质量：差", False),
    ],
)
def test_instruction_quality_variants(text: str, good: bool) -> None:
    assert ok("instruction_quality", text).value == {"good": good}


def test_instruction_quality_failure() -> None:
    fails("instruction_quality", "Quality: acceptable", "is not good or bad")


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Reasoning: a complete expert answer.\nScore: 5", 5),
        ("The answer is off-topic.\n\nScore: 1", 1),
        ("Reasoning: ok\nScore: 4/5", 4),
        ("Reasoning: ok\n**Score:** 3", 3),
        ("Reasoning: ok\nScore: 4 out of 5", 4),
        ("理由：回答完整\n分数：4", 4),
        ("理由：回答完整\n分数：4分", 4),
        ("Reasoning: ok\nScore: 4.0", 4),
    ],
)
def test_instruction_score_variants(text: str, score: int) -> None:
    parsed = ok("instruction_score", text, n_answers=1)
    assert parsed.value == {"score": score}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Score: 7", "'7' is not a whole number from 1 to 5"),
        ("Score: 0", "is not a whole number from 1 to 5"),
        ("Score: 3-4", "is not a whole number"),
        ("Score: 3.5", "is not a whole number"),
        ("Score: 8/10", "is not a whole number"),
        ("Score: 1e3", "is not a whole number"),
        ("Score: 4th", "is not a whole number"),
        ("Score: N/A", "is not a whole number"),
        ("Score: 3\nScore: 4", "two different scores (3 and 4)"),
        ("Reasoning: good answer", "no score line"),
    ],
)
def test_instruction_score_failures(text: str, needle: str) -> None:
    fails("instruction_score", text, needle)


RATE_OK = """#### Text 1
Rating: 4
Rationale: Accurate and detailed.

#### Text 2
Rating: 2
Rationale: Contains an error.
It also misses the second part.

#### Text 3
Rating: N/A
Rationale: Creative writing."""


def test_rate_reads_ratings_rationales_and_na() -> None:
    parsed = ok("rate", RATE_OK, n_answers=3, aspect="honesty")
    assert parsed.value == {
        "ratings": [4, 2, None],
        "rationales": ["Accurate and detailed.", "Contains an error.\nIt also misses the second part.",
                       "Creative writing."],
    }
    assert parsed.rationale is not None and parsed.rationale.startswith("Text 1: Accurate")


@pytest.mark.parametrize(
    ("text", "n", "ratings"),
    [
        ("#### 文本 1\n评分：5\n理由：很好\n\n#### 文本 2\n评分：3\n理由：一般", 2, [5, 3]),
        ("**Text 1**\n**Rating:** 4\n**Rationale:** fine\n**Text 2**\n**Rating:** 5\n**Rationale:** great", 2, [4, 5]),
        ("#### Output for Text 1\nRating: 3\nRationale: ok\n#### Output for Text 2\nRating: 3\nRationale: ok", 2,
         [3, 3]),
        ("Text 1: 4\nText 2: 2", 2, [4, 2]),
        ("Rating for text 1: 5\nRating for text 2: 1", 2, [5, 1]),
        ("Rating: 4\nRationale: solid", 1, [4]),
        ("#### Text 2\nRating: 1\nRationale: x\n#### Text 1\nRating: 5\nRationale: y", 2, [5, 1]),
        ("#### Text 1\nRating: 4 (Highly informative)\nRationale: x", 1, [4]),
        ("#### Text 1\nRating: 不适用\nRationale: 诗歌", 1, [None]),
        ("### Output format\n#### Text 1\nRating: 2\nRationale: The answers were compared point by point.", 1, [2]),
    ],
)
def test_rate_variants(text: str, n: int, ratings: list[int | None]) -> None:
    assert ok("rate", text, n_answers=n, aspect="overall").value["ratings"] == ratings  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "n", "needle"),
    [
        ("#### Text 1\nRating: 4\n#### Text 3\nRating: 2", 4, "ratings for texts 1, 3 but 4 texts were shown"),
        ("#### Text 1\nRating: 4", 2, "ratings for text 1 but 2 texts were shown"),
        ("#### Text 1\nRating: 4\n#### Text 2\nRating: 3\n#### Text 3\nRating: 3", 2, "text 3 but 2 texts were shown"),
        ("#### Text 2\nRating: 4\n#### Text 3\nRating: 2\n#### Text 4\nRating: 2\n#### Text 5\nRating: 1", 4,
         "a rating for text 5 but 4 texts were shown"),
        ("#### Text 1\nRating: 7\n#### Text 2\nRating: 3", 2, "text 1: 7 is outside 1-5"),
        ("#### Text 1\nRating: -1\n#### Text 2\nRating: 3", 2, "text 1:"),
        ("#### Text 1\nRating: 4.5\n#### Text 2\nRating: 3", 2, "not a whole number"),
        ("#### Text 1\nRating: 4\nRating: 2\n#### Text 2\nRating: 3", 2, "two different ratings for text 1 (4 and 2)"),
        ("#### Text 1\nRating: 4\n#### Text 1\nRating: 2", 1, "two different ratings for text 1"),
        ("Rating: 4\nRating: 3", 2, "not labelled with their text numbers"),
        ("#### Text 1\nRationale: good\n#### Text 2\nRationale: bad", 2, "no rating lines"),
        ("#### Text 1\nRating: <1-5>\nRationale: <why>", 1, "placeholder for text 1 was not filled in"),
        ("Both texts are good.", 2, "no rating lines"),
    ],
)
def test_rate_failures(text: str, n: int, needle: str) -> None:
    fails("rate", text, needle, n_answers=n, aspect="helpfulness")


def test_rate_never_defaults_a_missing_section() -> None:
    """Tulu 3 turned an unparsable chunk into rating 1; here it fails the whole reply."""
    text = "#### Text 1\nRating: 5\n#### Text 2\nI could not decide.\n#### Text 3\nRating: 4"
    fails("rate", text, "ratings for texts 1, 3 but 3 texts were shown", n_answers=3, aspect="overall")


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("backtranslate", "Write a haiku about spring.", "Write a haiku about spring."),
        ("backtranslate", 'Instruction: "Write a haiku about spring."', "Write a haiku about spring."),
        ("backtranslate", "**Instruction:**\nWrite a haiku.", "Write a haiku."),
        ("backtranslate", "指令：写一首关于春天的诗。", "写一首关于春天的诗。"),
        ("backtranslate", "“写一首关于春天的诗。”", "写一首关于春天的诗。"),
        ("backtranslate", "```\nExplain recursion.\n```", "Explain recursion."),
        ("backtranslate", "Here is the instruction:\nExplain recursion.", "Explain recursion."),
        ("backtranslate", "<think>It is about recursion.</think>Explain recursion.", "Explain recursion."),
        ("polish", "Rewritten answer:\n\nParis is the capital of France.", "Paris is the capital of France."),
        ("polish", "以下是改写后的回答：\n巴黎是法国的首都。", "巴黎是法国的首都。"),
        ("polish", "改写后的回答：巴黎是法国的首都。", "巴黎是法国的首都。"),
        ("polish", "Answer the phone politely.\nThen hang up.", "Answer the phone politely.\nThen hang up."),
        ("polish", '"Hi," she said, "bye."', '"Hi," she said, "bye."'),
        ("polish", "```python\nprint('hi')\n```", "```python\nprint('hi')\n```"),
    ],
)
def test_free_text_is_cleaned(kind: str, text: str, value: str) -> None:
    assert ok(kind, text, n_answers=1).value == value


def test_free_text_failures() -> None:
    fails("backtranslate", "", "empty reply")
    fails("backtranslate", "Instruction:", "only a label")
    fails("polish", "  \n ", "empty reply")
    fails("polish", "<think>thinking only</think>", "empty reply")


def test_unknown_kind_is_a_failure() -> None:
    fails("grade", "Verdict: A", "unknown judge kind")


GARBAGE = [
    "",
    "\x00\x01\x02",
    "😀" * 5000,
    "{" * 10000,
    "[[" * 5000,
    "Verdict:" * 3000,
    "#### Text 99999999999999999999\nRating: 4",
    "Rating: " + "9" * 5000,
    "Score: 1e309",
    "<think>" + "x" * 100000,
    "\r\n" * 1000,
    "\ud800 lone surrogate",
]


@pytest.mark.parametrize("kind", ["verify", "consistency", "pairwise", "rate", "polish", "backtranslate",
                                  "instruction_quality", "instruction_score"])
def test_never_raises_on_garbage(kind: str) -> None:
    rng = random.Random(kind)
    samples = [*GARBAGE, "x" * 1_000_000, "Verdict: A\n" + "noise " * 200_000]
    samples += ["".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(rng.randint(0, 400))) for _ in range(200)]
    samples += [rng.choice(["Verdict:", "Rating:", "#### Text 1", "[[A]]", "Score:", "：", "\n", " 3", "N/A"])
                * rng.randint(1, 50) for _ in range(200)]
    for text in samples:
        for n in (0, 1, 4, 9):
            parsed = parse_judge_output(kind, text, n_answers=n, aspect="honesty")
            assert isinstance(parsed, ParseOutcome)
            assert parsed.ok == (parsed.error is None)
            if not parsed.ok:
                assert parsed.value is None and parsed.error and len(parsed.error) < 300
                assert not parsed.error.startswith("parser error"), (text[:80], parsed.error)
    assert not parse_judge_output(kind, None, n_answers=1).ok  # type: ignore[arg-type]
