"""Rule filters without models: repetition, refusals, self-identity, length, empty turns and template placeholders."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass

from blossom_studio.synth.templates import content_text

FLAG_NAMES = ("repetition", "refusal", "self_identity", "empty_turn", "placeholder", "too_short", "too_long")

# Phrases matched case-insensitively; each is a regular expression, and the flag's reason quotes the matched text.
REFUSAL_PHRASES: list[str] = [
    r"\bI(?:'m| am) (?:very |so |really )?sorry,? (?:but )?I (?:can(?:'t|not)|am unable|'m unable|won't|am not able)\b",
    r"\bI apologi[sz]e,? (?:but )?I (?:can(?:'t|not)|am unable|'m unable|won't)\b",
    r"\bsorry,? (?:but )?I can(?:'t|not) (?:help|assist|comply|provide|do that|fulfill)\b",
    r"\bI (?:can(?:'t|not)|won't) (?:help|assist) (?:you )?with (?:that|this)\b",
    r"\bI (?:can(?:'t|not)|won't|am unable to|'m unable to) (?:comply|fulfill|fulfil) (?:with )?(?:that|this|your)\b",
    r"\bI must (?:respectfully )?(?:decline|refuse)\b",
    r"\bI(?:'m| am) not able to (?:help|assist|provide|comply) (?:with )?(?:that|this)\b",
    r"(?:抱歉|对不起|很抱歉|非常抱歉|不好意思)[，,。!！\s]*(?:但是?)?我(?:无法|不能|没办法|不可以|不会)(?:为你|为您|帮你|帮您)?"
    r"(?:回答|提供|协助|帮助|满足|完成|执行|处理|确定|判断|理解|访问|获取|生成|创作|参与|讨论)",
    r"我(?:无法|不能)(?:为你|为您|帮你|帮您)?(?:提供|协助|满足|完成|执行|回答)(?:这个|这一|此|该|你的|您的)(?:请求|要求|问题)",
    r"(?:无法|不能)满足(?:你|您)的(?:请求|要求)",
]
SELF_IDENTITY_PHRASES: list[str] = [
    r"\bas an? (?:AI language model|AI assistant|AI|artificial intelligence|(?:large )?language model|LLM)\b",
    r"\bI(?:'m| am) (?:just |only |merely )?(?:an? )?(?:AI language model|AI assistant|AI|artificial intelligence"
    r"|(?:large )?language model|LLM|chatbot|virtual assistant)\b",
    r"\b(?:language model|AI|AI assistant|AI model|assistant|chatbot) (?:\w+ )?(?:trained|developed|created|built|made)"
    r" by\b",
    r"\bI(?: am|'m| was) (?:\w+ )?(?:trained|developed|created|built) by (?:OpenAI|Anthropic|Google|Meta|Microsoft"
    r"|DeepSeek|Alibaba|Baidu|LMSYS|Large Model Systems Organization|researchers|a team)\b",
    r"\b(?:OpenAI|Anthropic|LMSYS|Large Model Systems Organization\W*(?:\(LMSYS\))?|researchers|engineers|developers)"
    r" (?:\w+ )?(?:created|developed|trained|built) me\b",
    r"\bmy creators? (?:is|are|was|were)\b",
    r"\b(?:my name is|I am|I'm|call me|refer to me as) (?:ChatGPT|GPT-?[34][\w.-]*|Claude|Vicuna|Bard|Gemini"
    r"|Qwen|ERNIE|DeepSeek|Kimi|ChatGLM|MOSS)\b",
    r"作为(?:一个|一名|一款)?(?:人工智能|AI|语言模型|大语言模型|大型语言模型|智能助手|AI助手|AI语言模型)",
    r"我是(?:一个|一名|一款)?(?:人工智能|AI|语言模型|大语言模型|大型语言模型|聊天机器人|AI助手|人工智能助手)",
    r"我是\s*(?:ChatGPT|GPT|Claude|通义千问|文心一言|Kimi|ChatGLM|智谱清言|豆包|DeepSeek)",
    r"我(?:是|是一个)?由\s*(?:OpenAI|Anthropic|谷歌|Google|百度|阿里巴巴|阿里云|阿里|深度求索|DeepSeek|智谱)[^。\n]{0,12}"
    r"(?:开发|训练|创建|打造|研发)",
]
_REFUSAL = [re.compile(p, re.I) for p in REFUSAL_PHRASES]
_SELF_IDENTITY = [re.compile(p, re.I) for p in SELF_IDENTITY_PHRASES]
_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}\}")
_SEGMENT = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")
_PADDING = re.compile(r"([ \t\-=_~.·*#|])\1{3,}")  # layout runs (table padding, rules) are not repeated content
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)


@dataclass(frozen=True)
class Flag:
    """A rule filter's finding: the filter's name and a short reason with the measured value."""

    name: str
    reason: str


def repetition_ratio(text: str, n: int = 10) -> float:
    """BlossomData's measure: count mass of the top sqrt(#distinct) repeated character n-grams over all n-grams."""
    if n < 1 or len(text) < n:
        return 0.0
    counts = Counter(text[i : i + n] for i in range(len(text) - n + 1))
    repeated = [count for count in counts.values() if count > 1]
    if not repeated:
        return 0.0
    top = min(int(math.sqrt(len(counts))), len(repeated))
    return sum(heapq.nlargest(top, repeated)) / (len(text) - n + 1)


def repeated_segment_fraction(text: str, min_chars: int = 8) -> float:
    """Share of the characters of sentences and lines (of `min_chars` or more) that repeat an earlier one."""
    counts = Counter(seg for seg in (part.strip() for part in _SEGMENT.split(text)) if len(seg) >= min_chars)
    total = sum(len(seg) * count for seg, count in counts.items())
    repeated = sum(len(seg) * (count - 1) for seg, count in counts.items())
    return repeated / total if total else 0.0


def _first_match(patterns: list[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


def check_text(text: str, *, repetition_threshold: float = 0.5, min_chars: int = 2,
               max_chars: int = 100_000) -> list[Flag]:
    """Flag one text for repetition (n-grams, with layout runs squeezed; or repeated sentences outside code),
    refusal and self-identity phrases, and a length outside the limits."""
    flags = []
    size = len(text.strip())
    if size < min_chars:
        flags.append(Flag("too_short", f"{size} character{'' if size == 1 else 's'} < {min_chars}"))
    if size > max_chars:
        flags.append(Flag("too_long", f"{size:,} characters > {max_chars:,}"))
    ratio = repetition_ratio(_PADDING.sub(lambda m: m.group(0)[:3], text))
    if ratio > repetition_threshold:
        flags.append(Flag("repetition", f"character 10-gram repetition {ratio:.2f} > {repetition_threshold:g}"))
    else:  # the n-gram measure is about 1/sqrt(period) on a looping text, so a repeated sentence needs this one
        share = repeated_segment_fraction(_CODE.sub("\n", text))
        if share > repetition_threshold:
            reason = f"repeated sentences are {share:.2f} of the text > {repetition_threshold:g}"
            flags.append(Flag("repetition", reason))
    refusal = _first_match(_REFUSAL, text)
    if refusal:
        flags.append(Flag("refusal", f"refusal phrase {refusal!r}"))
    identity = _first_match(_SELF_IDENTITY, text)
    if identity:
        flags.append(Flag("self_identity", f"self-identity phrase {identity!r}"))
    return flags


def placeholders(text: str) -> list[str]:
    """Return the distinct `{{name}}` template placeholders in a text, ignoring those inside code."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(_CODE.sub(" ", text))))


def check_messages(messages: list[dict]) -> list[Flag]:
    """Flag empty user/assistant turns, `{{name}}` placeholders in any turn, and `check_text` findings on replies."""
    flags = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            flags.append(Flag("empty_turn", f"turn {number} is not a message"))
            continue
        role = str(message.get("role") or message.get("from") or "unknown")
        text = content_text(message.get("content", message.get("value")))
        where = f"turn {number} ({role})"
        if not text.strip():
            if role != "system":
                flags.append(Flag("empty_turn", f"{where} is empty"))
            continue
        found = placeholders(text)
        if found:
            flags.append(Flag("placeholder", f"{where} has template placeholder {', '.join(found[:3])}"))
        if role in ("assistant", "gpt"):
            flags.extend(Flag(flag.name, f"{where}: {flag.reason}") for flag in check_text(text))
    return flags
