"""The language profile of one sample: each message's language, the prompt's and the answer's, and a mismatch flag."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from blossom_studio.profile.language import Language, analyse
from blossom_studio.profile.texts import CANDIDATE_ROLE

PROFILE_VERSION = 1
PROMPT_ROLES = frozenset({"user"})
RESPONSE_ROLES = frozenset({"assistant"})
_SPOKEN = ("zh", "en", "mixed", "other")

# A prompt that asks for a translation or for an answer in a given language expects the answer's language to differ.
_ASKS_FOR_LANGUAGE = re.compile(
    r"翻译|翻譯|译成|譯成|译为|譯為|翻成|英译|中译|汉译|英譯|中譯|"
    r"用(?:英文|英语|英語|中文|汉语|漢語|日语|日文|法语|德语|韩语)|(?:英文|英语|英語|中文)(?:回答|回复|写|寫|表达|表述)|"
    r"translat|\bin (?:chinese|english|mandarin|cantonese|japanese|french|german|spanish|korean)\b|"
    r"\binto (?:chinese|english|mandarin|japanese|french|german|spanish|korean)\b|"
    r"\b(?:respond|answer|reply|write) in (?:chinese|english)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SampleProfile:
    """The profile columns of one sample (words are counted later by the word pass)."""

    lang: str
    lang_code: str | None
    prompt_lang: str | None
    response_lang: str | None
    lang_mismatch: bool
    traditional: bool
    message_roles: list[str]
    message_langs: list[str]
    message_chars: list[int]
    zh_chars: int
    en_words: int
    chars: int
    prompt_chars: int
    response_chars: int


def asks_for_other_language(prompt: str) -> bool:
    """Return True when a prompt asks for a translation or for an answer in a named language."""
    return bool(_ASKS_FOR_LANGUAGE.search(prompt))


def _combined(languages: Sequence[Language]) -> Language | None:
    """Return the language several messages share; zh and en together are mixed; None when there are none."""
    spoken = [language for language in languages if language.lang in _SPOKEN]
    if not spoken:
        return languages[0] if languages else None
    kinds = {language.lang for language in spoken}
    if len(kinds) == 1:
        return spoken[0]
    return Language("mixed") if {"zh", "en"} <= kinds or "mixed" in kinds else spoken[0]


def profile_sample(entries: Sequence[tuple[str, str]]) -> SampleProfile:
    """Profile a sample from its (role, text) entries: messages in order, then its imported candidates."""
    roles: list[str] = []
    langs: list[str] = []
    chars: list[int] = []
    prompt_languages: list[Language] = []
    answer_languages: list[Language] = []
    candidate_languages: list[Language] = []
    prompt_texts: list[str] = []
    zh_chars = en_words = prompt_chars = response_chars = candidate_chars = 0
    simplified = traditional = 0
    for role, text in entries:
        is_prompt = role in PROMPT_ROLES
        language, found = analyse(text, instruction=is_prompt or role == "system")
        roles.append(role)
        langs.append(language.lang)
        chars.append(len(text))
        if is_prompt:
            prompt_languages.append(language)
            prompt_texts.append(text)
            prompt_chars += len(text)
        elif role in RESPONSE_ROLES:
            answer_languages.append(language)
            response_chars += len(text)
        elif role == CANDIDATE_ROLE:
            candidate_languages.append(language)
            candidate_chars += len(text)
        zh_chars += found.han
        en_words += found.latin_words
        simplified += found.simplified
        traditional += found.traditional
    if not answer_languages:  # prompts with imported completions or preference pairs answer in their candidates
        answer_languages, response_chars = candidate_languages, candidate_chars
    prompt = _combined(prompt_languages)
    response = _combined(answer_languages)
    if prompt is not None and prompt.lang in _SPOKEN:
        sample = prompt
    else:
        sample = _combined([*prompt_languages, *answer_languages]) or Language("unknown")
    other = {"zh": "en", "en": "zh"}.get(prompt.lang) if prompt is not None else None
    mismatch = (
        other is not None
        and any(answer.lang == other for answer in answer_languages)
        and not asks_for_other_language("\n".join(prompt_texts))
    )
    return SampleProfile(
        lang=sample.lang,
        lang_code=sample.code,
        prompt_lang=prompt.lang if prompt else None,
        response_lang=response.lang if response else None,
        lang_mismatch=mismatch,
        traditional=traditional > simplified,
        message_roles=roles,
        message_langs=langs,
        message_chars=chars,
        zh_chars=zh_chars,
        en_words=en_words,
        chars=sum(chars),
        prompt_chars=prompt_chars,
        response_chars=response_chars,
    )
