"""Rule check of an answer against a reference: GSM8K `#### n`, `\\boxed{}`, numbers, choice letters, short LaTeX."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+(?![\d.]))?|\.\d+"
_FRAC = r"\\[dt]?frac\{-?\d+(?:\.\d+)?\}\{-?\d+(?:\.\d+)?\}"
# a leading minus is a sign only when it does not follow a digit, letter or bracket (16-3 is two numbers)
_NUMBER_RE = re.compile(rf"(?:(?<![0-9A-Za-z)\]}}])-)?(?:{_FRAC}|(?<![0-9A-Za-z_.])(?:{_NUMBER}))")
_GSM8K = re.compile(r"(?:^|\s)####[ \t]*([^\n]+?)\s*$", re.M)
_PHRASES = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*[:：]?\s*(?P<en>[^\n]+)"
    r"|(?:最终答案|最后答案|答案)\s*(?:是|为|[:：])\s*[:：]?\s*(?P<zh>[^\n]+)",
    re.I,
)
_CHOICE_PICK = re.compile(
    r"(?:(?i:answer is|answer:|option)|答案是|答案为|答案[:：]|选择|选项|选)\s*[:：]?\s*\**\(?([A-E])\)?(?![A-Za-z])"
)
_CHOICE = re.compile(r"^\(?([A-E])\)?[.．、]?$")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of the rule check; `decided` is False when an LLM judge must decide instead."""

    decided: bool
    correct: bool | None
    expected: str | None
    found: str | None
    method: str


def last_boxed(text: str) -> str | None:
    """Return the content of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced, or None."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\b", text)]
    if not starts:
        return None
    i = starts[-1]
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        match = re.match(r"\s*([^\s$]+)", text[i:])
        return match.group(1) if match else None
    depth, j = 0, i
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
        j += 1
    return None


def normalize(expr: str) -> str:
    """Lightly normalise a LaTeX or plain answer so that equal answers written differently compare equal."""
    s = expr.strip().strip("$").strip()
    s = re.sub(r"^\\[(\[]|\\[)\]]$", "", s)
    s = s.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\displaystyle", "").replace("{,}", "").replace("\\$", "").replace("\\%", "%")
    s = re.sub(r"\^\s*\{?\\circ\}?|°|\\degree", "", s)
    s = re.sub(r"(\d)\s*\\(?:text|mbox|mathrm)\s*\{\s*[a-zA-Z][a-zA-Z ]*\}(?:\^?\{?\d\}?)?$", r"\1", s)  # units
    s = _TEXT_CMD.sub(r"\1", s)
    s = re.sub(r"(?<!\\)\\[,;:! ]", "", s)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    s = re.sub(r"(\d),(\d{3})(?!\d)", r"\1\2", s)
    s = re.sub(r"(\d),(\d{3})(?!\d)", r"\1\2", s)
    s = re.sub(r"\s+", "", s).rstrip(".。")
    if s.count("=") == 1 and re.match(r"^[a-zA-Z]=", s):
        s = s[2:]
    return s


def to_number(text: str) -> Fraction | None:
    """Read a number: integers, decimals, thousands commas, `$`, `%`, `a/b` or `\\frac{a}{b}`; None otherwise."""
    s = normalize(text).replace("$", "").rstrip("%")
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}", s)
    try:
        if frac:
            value = Fraction(frac.group(2)) / Fraction(frac.group(3))
            return -value if frac.group(1) else value
        if re.fullmatch(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+/\d+", s):
            return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    return None


def reference_answer(reference: str) -> tuple[str, str] | None:
    """Return (value, method) for a reference the rule can use, or None for free text."""
    if not isinstance(reference, str) or not reference.strip():
        return None
    gsm = _GSM8K.findall(reference)
    if gsm:
        return normalize(gsm[-1]), "gsm8k"
    boxed = last_boxed(reference)
    value = normalize(boxed if boxed is not None else reference)
    choice = _CHOICE.match(value)
    if choice:
        return choice.group(1), "choice"
    if boxed is not None:
        return (value, "boxed") if value else None
    if to_number(value) is not None:
        return value, "number"
    if _is_short_math(reference, value):
        return value, "expression"
    return None


def _is_short_math(raw: str, value: str) -> bool:
    if "\n" in raw.strip() or len(value) > 60 or re.search(r"[\u3400-\u9fff]", raw):
        return False
    bare = re.sub(r"\\(?:begin|end)\{[A-Za-z*]+\}|\\[A-Za-z]+", " ", _TEXT_CMD.sub(r"\1", raw))
    words = re.findall(r"[A-Za-z]{3,}", bare)
    return len(words) <= 1


def numbers_in(text: str) -> list[str]:
    """Return the numbers in a text in order (signs, thousands commas, decimals, a/b and \\frac{a}{b} kept)."""
    return [m.group(0) for m in _NUMBER_RE.finditer(text)]


def _phrase_value(answer: str) -> str | None:
    """Return what follows the last "the answer is" / "答案是" phrase, cut at the end of its sentence."""
    matches = list(_PHRASES.finditer(answer))
    if not matches:
        return None
    value = (matches[-1].group("en") or matches[-1].group("zh") or "").strip().strip("*").strip()
    math = re.match(r"^\$+([^$]+)\$+", value) or re.match(r"^\\\((.+?)\\\)", value)
    if math:
        return math.group(1).strip()
    return re.split(r"(?<=[^\d])[.。](?:\s|$)|[.。]$|。|；|;|\n", value, maxsplit=1)[0].strip().strip("*").strip()


def _one_number(text: str, *, after_equals: bool) -> str | None:
    if after_equals and "=" in text:
        text = text.rsplit("=", 1)[1]
    if re.match(r"^\s*(?:not|isn't|不是|不)", text, re.I):
        return None
    found = numbers_in(text)
    return found[0] if found and (after_equals or len(found) == 1) else None


def extract_answer(answer: str, *, numeric: bool, choice: bool = False) -> str | None:
    """Return a reply's final answer: `\\boxed{}`, else `#### n`, else "the answer is X", else the last number."""
    boxed = last_boxed(answer)
    if boxed is not None:
        if numeric and to_number(boxed) is None:
            return _one_number(_TEXT_CMD.sub(r"\1", boxed), after_equals=False) or boxed
        return boxed
    gsm = _GSM8K.findall(answer)
    if gsm:
        return gsm[-1]
    if choice:
        picks = _CHOICE_PICK.findall(answer)
        return picks[-1] if picks else None
    phrase = _phrase_value(answer)
    if phrase:
        return _one_number(phrase, after_equals=True) if numeric else phrase
    if numeric:
        found = numbers_in(answer)
        return found[-1] if found else None
    return None


def _compare_numbers(expected: Fraction, found: Fraction, found_text: str, percent: bool) -> bool | None:
    candidates = [expected, expected / 100, expected * 100] if percent else [expected]
    for value in candidates:
        if value == found or abs(value - found) <= Fraction(1, 10**6) * max(1, abs(value)):
            return True
    decimals = re.search(r"\.(\d+)$", normalize(found_text).rstrip("%"))
    if decimals and round(float(expected), len(decimals.group(1))) == float(found):
        return None  # the answer is the reference rounded: let a judge decide whether rounding was allowed
    return False


def check_answer(reference: str, answer: str) -> RuleCheck:
    """Compare a model's final answer with the reference by rule; undecided (decided=False) rather than a guess."""
    ref = reference_answer(reference)
    if ref is None:
        return RuleCheck(decided=False, correct=None, expected=None, found=None, method="none")
    expected, method = ref
    expected_number = to_number(expected)
    if not isinstance(answer, str):
        answer = ""
    found = extract_answer(answer, numeric=expected_number is not None, choice=method == "choice")
    if found is None:
        return RuleCheck(decided=False, correct=None, expected=expected, found=None, method=method)
    if method == "choice":
        letter = _CHOICE.match(normalize(found))
        found = letter.group(1) if letter else found
        return RuleCheck(decided=bool(letter), correct=(found == expected) if letter else None, expected=expected,
                         found=found, method=method)
    normalized = normalize(found)
    if normalized == expected:
        return RuleCheck(decided=True, correct=True, expected=expected, found=normalized, method=method)
    found_number = to_number(found)
    if expected_number is None or found_number is None:
        return RuleCheck(decided=False, correct=None, expected=expected, found=normalized, method=method)
    percent = "%" in reference or "%" in found
    verdict = _compare_numbers(expected_number, found_number, found, percent)
    return RuleCheck(decided=verdict is not None, correct=verdict, expected=expected, found=normalized, method=method)
