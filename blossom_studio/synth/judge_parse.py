"""Parse a judge's or rewriter's reply into a value or a parse failure with a reason; never a default score."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from blossom_studio.synth.templates import KINDS


@dataclass(frozen=True)
class ParseOutcome:
    """The result of parsing one reply: a value and rationale when ok, else a short error saying what was wrong."""

    ok: bool
    value: dict | str | None
    rationale: str | None
    error: str | None


def _fail(error: str) -> ParseOutcome:
    return ParseOutcome(ok=False, value=None, rationale=None, error=error)


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_LINE = re.compile(
    r"^[\s>#*_\-+•·]*(?:\d{1,2}[.)、]\s+)?"  # markdown lead: headings, quotes, bullets, bold, a list number
    r"(?P<label>[^\n:：*_`]{1,40}?)"
    r"[\s*_]*[:：][\s*_]*(?P<value>.*)$"
)
_HEADINGS = ("### Output format", "### 输出格式")
_PLACEHOLDER = re.compile(r"^<[^<>\n]*>$")
_EDGE = " \t*_`\"'“”‘’「」『』"
_TRAIL = ".。!！,，;；"
_HEAD_SPLIT = re.compile(r"[\s,，。.;；:：()（）\[\]【】!！、\-—]+")
_NA = {"n/a", "na", "n.a", "not applicable", "不适用", "无法评分"}
_RATIONALE = {"rationale", "reason", "reasoning", "reasons", "explanation", "justification", "analysis", "comparison",
              "理由", "原因", "解释", "分析", "评价", "比较"}

# label sets: the template's own label first (a bad value there fails the parse), then synonyms
_BOOL_KINDS: dict[str, tuple[str, tuple[set[str], set[str]], dict[str, bool]]] = {
    "verify": ("correct", ({"correct", "是否正确"}, {
        "is correct", "is the answer correct", "answer correct", "correctness", "verdict", "final verdict",
        "judgement", "judgment", "正确", "正确与否", "结论", "判断", "判定", "最终结论", "判断结果"}), {
        "true": True, "yes": True, "correct": True, "right": True, "是": True, "对": True, "正确": True, "真": True,
        "false": False, "no": False, "incorrect": False, "wrong": False, "否": False, "错": False, "错误": False,
        "不正确": False, "假": False, "不对": False}),
    "consistency": ("consistent", ({"consistent", "是否一致"}, {
        "are consistent", "consistency", "same result", "verdict", "final verdict", "judgement", "judgment", "一致",
        "一致性", "结论", "判断", "判定", "最终结论", "判断结果"}), {
        "true": True, "yes": True, "consistent": True, "same": True, "agree": True, "是": True, "一致": True,
        "相同": True, "真": True, "false": False, "no": False, "inconsistent": False, "different": False,
        "disagree": False, "否": False, "不一致": False, "不同": False, "假": False}),
    "instruction_quality": ("good", ({"quality", "质量"}, {
        "verdict", "final verdict", "judgement", "judgment", "instruction quality", "结论", "判断", "判定", "指令质量",
        "最终结论"}), {
        "good": True, "好": True, "合格": True, "优": True, "优质": True, "bad": False, "差": False, "坏": False,
        "不合格": False, "劣": False, "较差": False}),
}
_PAIR_LABELS = ({"verdict", "结论"}, {
    "final verdict", "winner", "better answer", "better", "decision", "judgement", "judgment", "result", "裁决",
    "最终结论", "最终裁决", "判决", "胜者", "更好的回答", "评判结果", "结果"})
_PAIR_AB = re.compile(
    r"^(?:assistant|answer|response|model|助手|回答|答案|模型)?\s*([ab])"
    r"(?:\s*(?:is|was)?\s*(?:slightly|much|clearly|significantly)?\s*better|\s*(?:更好|更优|较好|更佳|胜出|获胜|胜))?$"
)
_PAIR_TIE = {"tie", "a tie", "draw", "equal", "tied", "平局", "平手", "相当", "两者相当", "打平", "不相上下", "一样好"}
_FASTCHAT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)
_SCORE_LABELS = ({"score", "分数"}, {"final score", "overall score", "rating", "评分", "得分", "最终得分", "总分"})
_RATING_LABELS = {"rating", "score", "评分", "分数", "得分", "打分"}
_TEXT_HEADER = re.compile(
    r"^[\s>#*_\-•]*[\[【(<]?\s*(?:output\s+for\s+)?(?:text|文本)\s*(\d{1,3})\s*[\]】)>]?[\s*_]*[:：]?[\s*_]*(?P<rest>.*)$",
    re.I,
)
_RATING_FOR = re.compile(
    r"^(?:rating|score)\s*(?:for\s+)?(?:text|文本)\s*(\d{1,3})$|^文本\s*(\d{1,3})\s*的?(?:评分|分数)$"
)
_BARE_RATING = re.compile(r"^\d(?:\.\d+)?(?:\s*/\s*5)?$|^n/?a$", re.I)


def prepare(text: object) -> str:
    """Normalise newlines and drop `<think>` reasoning blocks before parsing."""
    if not isinstance(text, str):
        return ""
    text = _THINK.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


def clean_value(value: str) -> str:
    """Strip markdown, quotes, brackets and trailing punctuation from a labelled value."""
    value = value.strip().strip(_EDGE).rstrip(_TRAIL).strip(_EDGE)
    while len(value) >= 2 and value[0] + value[-1] in ("[]", "()", "【】", "（）"):
        value = value[1:-1].strip().strip(_EDGE)
    return value


def match_line(line: str) -> tuple[str, str] | None:
    """Split a `Label: value` line into (normalised label, raw value); only the line's start is scanned."""
    match = _LINE.match(line[:200])
    if not match:
        return None
    return " ".join(match.group("label").lower().split()), line[match.start("value") :]


def label_lines(text: str) -> list[tuple[str, str, int]]:
    """Return (normalised label, raw value, line index) for every `Label: value` line."""
    found = []
    for index, line in enumerate(text.split("\n")):
        matched = match_line(line)
        if matched:
            found.append((*matched, index))
    return found


def _rationale(text: str, verdict_labels: set[str]) -> str | None:
    lines = text.split("\n")
    drop = {i for label, _v, i in label_lines(text) if label in verdict_labels}
    drop |= {i for i, line in enumerate(lines) if line.strip() in _HEADINGS}
    kept = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        matched = match_line(line)
        kept.append(matched[1] if matched and matched[0] in _RATIONALE else line)
    joined = "\n".join(kept).strip()
    return joined or None


def _json_values(text: str, labels: set[str]) -> list[str]:
    values = []
    for match in re.finditer(r"\{[^{}]{0,2000}\}", text):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(data, dict):
            for key, value in data.items():
                if str(key).lower() in labels and isinstance(value, (str, bool, int)):
                    values.append(str(value).lower() if isinstance(value, bool) else str(value))
    return values


def _collect(text: str, labels: tuple[set[str], set[str]], convert: Callable[[str], object], what: str,
             options: str) -> tuple[object | None, str | None]:
    """Map every labelled value through `convert`; one agreed value is the answer, anything ambiguous an error."""
    primary, secondary = labels
    hits = [(label in primary, value) for label, value, _i in label_lines(text) if label in primary | secondary]
    if not hits:
        hits = [(True, value) for value in _json_values(text, primary | secondary)]
    results, bad, echoed = [], [], False
    for is_primary, raw in hits:
        if _PLACEHOLDER.match(raw.strip().strip("*_ ")):
            echoed = True
            continue
        converted = convert(raw)
        if converted is None:
            if is_primary:
                bad.append(clean_value(raw))
        else:
            results.append(converted)
    if bad:
        shown = bad[0] if len(bad[0]) <= 60 else bad[0][:57] + "..."
        return None, f"{what} '{shown}' is not {options}"
    distinct = list(dict.fromkeys(results))
    if len(distinct) > 1:
        shown_values = " and ".join(str(d).lower() if isinstance(d, bool) else str(d) for d in distinct[:2])
        return None, f"two different {what}s ({shown_values})"
    if not distinct:
        return None, f"the {what} placeholder was not filled in" if echoed else f"no {what} line"
    return distinct[0], None


def _bool_converter(mapping: dict[str, bool]) -> Callable[[str], bool | None]:
    def convert(raw: str) -> bool | None:
        low = clean_value(raw).lower()
        if low in mapping:
            return mapping[low]
        head = _HEAD_SPLIT.split(low, maxsplit=1)[0]
        return mapping.get(head)

    return convert


def _pair_value(raw: str) -> str | None:
    brackets = {_bracket_value(m) for m in _FASTCHAT.findall(raw)}
    if len(brackets) == 1:
        return brackets.pop()
    low = " ".join(clean_value(raw).lower().split())
    if low in _PAIR_TIE:
        return "tie"
    match = _PAIR_AB.match(low)
    return match.group(1).upper() if match else None


def _bracket_value(letter: str) -> str:
    letter = letter.strip().lower()
    return letter.upper() if letter in ("a", "b") else "tie"


def score_value(value: str, *, allow_na: bool) -> tuple[int | None, str | None]:
    """Read a 1-5 score: an int, or None for N/A when allowed; the error says what is wrong with the value."""
    value = clean_value(value)
    if value.lower() in _NA:
        return (None, None) if allow_na else (None, "N/A is not a score")
    match = re.match(r"(\d{1,6}(?:\.\d{1,6})?)\s*(?:(?:/|out of|满分)\s*(\d{1,6}))?", value, re.I)
    rest = value[match.end() :] if match else ""
    if not match or re.match(r"[A-Za-z0-9.]", rest):
        return None, f"'{value[:40]}' is not a whole number from 1 to 5"
    if re.match(r"\s*(?:-|–|—|~|to|or|至|或|和)\s*\d", rest, re.I):
        return None, f"'{value[:40]}' is a range, not one number"
    if match.group(2) and match.group(2) != "5":
        return None, f"'{value[:40]}' is not on the 1-5 scale"
    number = float(match.group(1))
    if number != int(number):
        return None, f"{match.group(1)} is not a whole number from 1 to 5"
    if not 1 <= number <= 5:
        return None, f"{int(number)} is outside 1-5"
    return int(number), None


def _parse_bool(kind: str, text: str) -> ParseOutcome:
    key, labels, mapping = _BOOL_KINDS[kind]
    options = "good or bad" if kind == "instruction_quality" else "true or false"
    value, error = _collect(text, labels, _bool_converter(mapping), "verdict", options)
    if error:
        return _fail(error)
    return ParseOutcome(True, {key: value}, _rationale(text, labels[0] | labels[1]), None)


def _parse_pairwise(text: str) -> ParseOutcome:
    labels = _PAIR_LABELS
    value, error = _collect(text, labels, _pair_value, "verdict", "one of A, B, tie")
    brackets = list(dict.fromkeys(_bracket_value(m) for m in _FASTCHAT.findall(text)))
    if error and (error.startswith("no ") or "placeholder" in error) and brackets:
        value, error = brackets[0], None
    if error:
        return _fail(error)
    if len(brackets) > 1 or (brackets and brackets[0] != value):
        other = next(b for b in brackets if b != value)
        return _fail(f"two different verdicts ({value} and {other})")
    return ParseOutcome(True, {"winner": value}, _rationale(text, labels[0] | labels[1]), None)


def _parse_score(text: str) -> ParseOutcome:
    value, error = _collect(text, _SCORE_LABELS, lambda raw: score_value(raw, allow_na=False)[0], "score",
                            "a whole number from 1 to 5")
    if error:
        return _fail(error)
    return ParseOutcome(True, {"score": value}, _rationale(text, _SCORE_LABELS[0] | _SCORE_LABELS[1]), None)


def _texts(numbers: list[int]) -> str:
    return ("text " if len(numbers) == 1 else "texts ") + ", ".join(str(k) for k in numbers)


def _rate_sections(text: str) -> tuple[dict[int, list[str]], dict[int, list[str]], list[str], list[str]]:
    """Split a rating reply into raw rating values and other lines per text number; lines before any text apart."""
    ratings: dict[int, list[str]] = {}
    notes: dict[int, list[str]] = {}
    loose: list[str] = []
    loose_notes: list[str] = []
    current: int | None = None
    for line in text.split("\n"):
        if line.strip() in _HEADINGS:
            continue
        header = _TEXT_HEADER.match(line[:200])
        if header:
            rest = line[header.start("rest") :].strip()
            rest_label = match_line(rest)
            if not rest or _BARE_RATING.match(clean_value(rest)) or (
                    rest_label and rest_label[0] in _RATING_LABELS | _RATIONALE):
                current = int(header.group(1))
                ratings.setdefault(current, [])
                notes.setdefault(current, [])
                if not rest:
                    continue
                line = rest if rest_label else f"Rating: {rest}"
        label, value = match_line(line) or ("", "")
        numbered = _RATING_FOR.match(label)
        if numbered:
            ratings.setdefault(int(numbered.group(1) or numbered.group(2)), []).append(value)
        elif label in _RATING_LABELS:
            (ratings[current] if current is not None else loose).append(value)
        else:
            note = value if label in _RATIONALE else line
            (notes[current] if current is not None else loose_notes).append(note)
    return ratings, notes, loose, loose_notes


def _parse_rate(text: str, n_answers: int) -> ParseOutcome:
    if not 1 <= n_answers <= 4:
        return _fail(f"a rating reply covers 1 to 4 texts, not {n_answers}")
    ratings, notes, loose, loose_notes = _rate_sections(text)
    shown = f"{n_answers} text was shown" if n_answers == 1 else f"{n_answers} texts were shown"
    if not any(ratings.values()) and loose and n_answers == 1:
        ratings, notes = {1: loose}, {1: loose_notes}
    rated = sorted(k for k, values in ratings.items() if values)
    if not rated:
        return _fail("ratings are not labelled with their text numbers" if loose else "no rating lines")
    extra = [k for k in rated if not 1 <= k <= n_answers]
    if extra:
        return _fail(f"a rating for {_texts(extra)} but {shown}")
    if len(rated) != n_answers:
        return _fail(f"ratings for {_texts(rated)} but {shown}")
    values: list[int | None] = []
    for k in rated:
        parsed = []
        for raw in ratings[k]:
            if _PLACEHOLDER.match(raw.strip().strip("*_ ")):
                continue
            score, error = score_value(raw, allow_na=True)
            if error:
                return _fail(f"text {k}: {error}")
            parsed.append("N/A" if score is None else score)
        distinct = list(dict.fromkeys(parsed))
        if not distinct:
            return _fail(f"the rating placeholder for text {k} was not filled in")
        if len(distinct) > 1:
            return _fail(f"two different ratings for text {k} ({distinct[0]} and {distinct[1]})")
        values.append(None if distinct[0] == "N/A" else int(distinct[0]))
    rationales = ["\n".join(notes.get(k, [])).strip() for k in rated]
    summary = "\n".join(f"Text {k}: {r}" for k, r in zip(rated, rationales, strict=True) if r) or None
    return ParseOutcome(True, {"ratings": values, "rationales": rationales}, summary, None)


_FREE_LABELS = {
    "backtranslate": r"instruction|user instruction|generated instruction|prompt|user prompt|question|request|task|"
                     r"query|指令|用户指令|生成的指令|问题|提示|请求|任务",
    "polish": r"answer|rewritten answer|polished answer|revised answer|improved answer|final answer|response|"
              r"rewritten response|output|rewritten text|回答|答案|改写后的回答|润色后的回答|改写后的答案|改写后的文本|"
              r"润色后的答案|输出",
}
_PREAMBLE = re.compile(r"^(?:(?:sure|okay|ok|certainly)[,!.]?\s*)?(?:here is|here's|below is)\b[^\n]{0,80}[:：]\s*\n"
                       r"|^(?:好的[，,！!]?\s*)?以下是[^\n]{0,40}[:：]\s*\n", re.I)
_FENCE = re.compile(r"^```[ \t]*(?:text|markdown|md|plaintext|txt)?[ \t]*\n(.*)\n```$", re.S | re.I)
_QUOTES = {'"': '"', "“": "”", "「": "」", "『": "』", "'": "'", "‘": "’"}


def clean_free_text(kind: str, text: str) -> str:
    """Strip what a model wraps around a rewrite: a preamble, a label such as "Instruction:", a code fence, quotes."""
    words = _FREE_LABELS[kind]
    label = re.compile(
        rf"^(?:#{{1,6}}\s*)?[*_]*\s*(?:{words})\s*[*_]*\s*(?:[:：][*_]*[ \t]*|[:：]?[*_]*[ \t]*(?:\n|$))", re.I
    )
    for _ in range(3):
        before = text
        text = text.strip()
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1).strip()
        text = _PREAMBLE.sub("", text, count=1).strip()
        text = label.sub("", text, count=1).strip()
        if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
            inner = text[1:-1]
            if text[0] not in inner and text[-1] not in inner:
                text = inner.strip()
        if text == before:
            break
    return text


def _parse_free(kind: str, text: str) -> ParseOutcome:
    if not text:
        return _fail("empty reply")
    cleaned = clean_free_text(kind, text)
    if not cleaned:
        return _fail("the reply holds only a label, no text")
    return ParseOutcome(True, cleaned, None, None)


def parse_judge_output(kind: str, text: str, *, n_answers: int = 2, aspect: str | None = None) -> ParseOutcome:
    """Parse a reply of the given kind into a value, or a failure with a short reason; never raises."""
    try:
        if kind not in KINDS:
            return _fail(f"unknown judge kind {kind!r}")
        prepared = prepare(text)
        if kind in ("polish", "backtranslate"):
            return _parse_free(kind, prepared)
        if not prepared:
            return _fail("empty reply")
        if kind in _BOOL_KINDS:
            return _parse_bool(kind, prepared)
        if kind == "pairwise":
            return _parse_pairwise(prepared)
        if kind == "instruction_score":
            return _parse_score(prepared)
        return _parse_rate(prepared, n_answers)
    except Exception as exc:  # a parser bug must become a parse failure, not a crashed job
        return _fail(f"parser error: {type(exc).__name__}: {exc}")
