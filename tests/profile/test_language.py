"""Language decisions: 99% or better on labelled real records, every hard case right, and no exception on odd text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blossom_studio.profile.language import Language, analyse, text_language


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def labelled_prompts(realdata: Path) -> list[tuple[str, str, str]]:
    """(source, label, prompt) from files whose language is known: three Chinese sets and two English ones."""
    sets = [
        ("cmath", "zh", [r["question"] for r in _jsonl(realdata / "qwen2.5-math/cmath/test.jsonl")]),
        ("coig-kun", "zh", [r["instruction"] + "\n" + r["input"]
                            for r in json.loads((realdata / "coig-kun/question.jsonl").read_text())]),
        ("belle", "zh", [r["question"] for r in _jsonl(realdata / "belle/eval_set.json")]),
        ("gsm8k", "en", [r["question"] for r in _jsonl(realdata / "gsm8k/test.jsonl")]),
        ("alpaca-en", "en", [r["instruction"] + "\n" + r["input"]
                             for r in json.loads((realdata / "llama-factory/alpaca_en_demo.json").read_text())]),
    ]
    return [(source, label, text) for source, label, texts in sets for text in texts]


def test_real_prompts_are_labelled_right_at_least_99_percent(realdata: Path) -> None:
    rows = labelled_prompts(realdata)
    wrong = [(source, text[:80]) for source, label, text in rows
             if text_language(text, instruction=True).lang != label]
    assert len(rows) > 6900
    assert len(wrong) <= 0.01 * len(rows), wrong[:20]


def test_chinese_requests_over_english_material_are_chinese(realdata: Path) -> None:
    """belle and COIG-Kun ask in Chinese to translate or edit English text: the request's language wins."""
    translations = [r["question"] for r in _jsonl(realdata / "belle/eval_set.json") if "翻译" in r["question"]]
    assert len(translations) >= 5
    assert {text_language(text, instruction=True).lang for text in translations} == {"zh"}


HARD_CASES: list[tuple[str, Language]] = [
    ("请用Python写一个quick sort函数", Language("zh", "zh-Hans")),
    ("如何在pandas中用groupby计算每组的平均值？", Language("zh", "zh-Hans")),
    ("這是什麼意思？", Language("zh", "zh-Hant", traditional=True)),
    ("謝謝你", Language("zh", "zh-Hant", traditional=True)),
    ("好", Language("zh", "zh-Hans")),
    ("```python\ndef add(a, b):\n    return a + b\n```", Language("code")),
    ("def add(a, b):\n    return a + b\nprint(add(1, 2))", Language("code")),
    ("这段代码有什么问题？\n```js\nconsole.log(x)\n```", Language("zh", "zh-Hans")),
    ("1234567890", Language("unknown")),
    ("3.14 + 2 = 5.14", Language("unknown")),
    ("😀😀🎉👍", Language("unknown")),
    ("", Language("unknown")),
    ("   \n\t", Language("unknown")),
    ("！？。，", Language("unknown")),
    ("Yes.", Language("en", "en")),
    ("Paris", Language("en", "en")),
    ("Seventeen", Language("en", "en")),
    ("The weather is nice today. 今天天气很好。", Language("mixed")),
    ("求$\\frac{x^2+1}{x}$的最小值", Language("zh", "zh-Hans")),
    ("See https://zh.wikipedia.org/wiki/%E4%B8%AD%E6%96%87 for details", Language("en", "en")),
    ("请访问https://example.com/docs获取说明", Language("zh", "zh-Hans")),
    ("是的，它是www.mywebsite.com。", Language("zh", "zh-Hans")),
    ("Bonjour, comment allez-vous aujourd'hui? Je voudrais un café.", Language("other", "fr")),
    ("今日はいい天気ですね。明日も晴れるでしょう。", Language("other", "ja")),
    ("안녕하세요, 만나서 반갑습니다", Language("other", "ko")),
]


@pytest.mark.parametrize(("text", "expected"), HARD_CASES, ids=[repr(text[:24]) for text, _ in HARD_CASES])
def test_hard_cases(text: str, expected: Language) -> None:
    assert text_language(text) == expected


def test_plain_langdetect_gets_hard_cases_wrong() -> None:
    """Seeded langdetect alone calls a Chinese request with code terms, a one-word answer and code wrong or fails."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0

    def plain(text: str) -> str:
        try:
            return detect(text)
        except LangDetectException:
            return "error"

    cases = {
        "Paris": "en",
        "Seventeen": "en",
        "1234567890": "unknown",
        "😀😀🎉👍": "unknown",
        "```python\ndef add(a, b):\n    return a + b\n```": "code",
        "The weather is nice today. 今天天气很好。": "mixed",
    }
    plain_wrong = [text for text, label in cases.items() if plain(text) != label]
    ours_wrong = [text for text, label in cases.items() if text_language(text).lang != label]
    assert len(plain_wrong) >= 4, plain_wrong
    assert ours_wrong == []


def test_an_instruction_takes_its_first_clear_line() -> None:
    text = ("Q: 给定一句日语的句子，检查翻译是否正确。\n"
            "Japanese: この後、私の今のチームメイトは最後まで私をカバーしてくれた")
    assert text_language(text, instruction=True).lang == "zh"
    assert text_language(text).lang == "other"
    english_over_chinese = ("Translate the following sentence into English:\n"
                            "我今天很高兴，因为天气很好，我们去公园散步了。")
    assert text_language(english_over_chinese, instruction=True).lang == "en"


@pytest.mark.parametrize("text", [
    "a" * 1_000_000,
    "中" * 1_000_000,
    ("中文 English 混合 text " * 60_000)[:1_000_000],
    "```" + "x = 1\n" * 200_000,
    "$" * 1000 + "\\" * 1000 + "`" * 1000,
    "\x00\ufffd\U0001f600" * 1000,
    "@" * 5000 + "://" * 5000,
])
def test_odd_and_huge_text_never_raises(text: str) -> None:
    language, found = analyse(text, instruction=True)
    assert language.lang in ("zh", "en", "mixed", "other", "code", "unknown")
    assert found.chars == len(text)
