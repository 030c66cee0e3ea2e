"""Decide the language of a text from script counts: zh, en, mixed, other (with a code), code, or unknown.

Han characters against Latin words decide zh, en and mixed, after code blocks, inline code, URLs and LaTeX are
taken out. Kana, Hangul and other scripts decide their languages the same way. Seeded langdetect is asked only
about Latin text that may not be English: too few English function words, more French/German/Spanish/... function
words than English ones, or many accented letters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from blossom_studio.profile.hanzi import script_counts

LANGS = ("zh", "en", "mixed", "other", "code", "unknown")

# In translation an English word matches about 1.5 Chinese characters, so a Latin word (two letters or more)
# weighs 1.5 Han characters. Chinese prose names English terms freely (请用Python写一个quick sort函数 is 0.61).
LATIN_WORD_WEIGHT = 1.5
ZH_MIN_SHARE = 0.5
EN_MAX_SHARE = 0.2
# Function words are counted among a text's first words only: their share settles within a few hundred.
FUNCTION_WORD_SAMPLE = 300
# Letters of another script per unit, as a word is about five letters.
OTHER_LETTERS_PER_UNIT = 5

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]+")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]{2,}")
_ACCENTED = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")
_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"(?<![A-Za-z])(?:https?|ftp)://[!-~]+|(?<![A-Za-z])www\.[!-~]+|[\w.+-]+@[\w-]+\.[\w.]+")
_LATEX = re.compile(
    r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|\$[^$\n]*[\\^_{}][^$\n]*\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}|\\[A-Za-z]+",
    re.S,
)
_CODE_LINE = re.compile(
    r"^[ \t]*(?:def |class |import |from \S+ import |#include|public |private |static |function |return\b|"
    r"(?:var|let|const) \w|for ?\(|while ?\(|if ?\(|else\b|\}|\{$|#!|<\?php|SELECT |INSERT |CREATE |@\w+)"
    r"|[;{][ \t]*$|^[ \t]*[\w.\[\]]+[ \t]*=[ \t]*\S|^[ \t]*[\w.]+\([^\n]*\)[ \t]*;?[ \t]*$",
)
_CODE_LINES = re.compile(_CODE_LINE.pattern, re.M)
# Every line _CODE_LINE matches holds one of these (or starts with a keyword below).
_CODE_MARKS = ("=", ";", "{", "}", "(", "def ", "class ", "import ", "#include", "public ", "private ", "static ",
               "return", "else", "#!", "SELECT ", "INSERT ", "CREATE ", "@")
_SCRIPTS = {
    "ja": re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]"),
    "ko": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "ru": re.compile(r"[\u0400-\u04ff]"),
    "ar": re.compile(r"[\u0600-\u06ff]"),
    "hi": re.compile(r"[\u0900-\u097f]"),
    "th": re.compile(r"[\u0e00-\u0e7f]"),
    "el": re.compile(r"[\u0370-\u03ff]"),
    "he": re.compile(r"[\u0590-\u05ff]"),
}
# Scripts shared by several languages: langdetect names the language when it can.
_SHARED_SCRIPTS = {"ru", "ar", "hi"}
_OTHER_LETTERS = re.compile("|".join([_ACCENTED.pattern, *(pattern.pattern for pattern in _SCRIPTS.values())]))

_ENGLISH_TEXT = (
    "the of and to in is it that for on with as was are be this by or at from an not but have has had were which"
    " you your we our they their he she his her its what how why when where who can will would should could if"
    " then than there these those them been do does did so all any each into about more some one two also may"
    " many much such other only after before over under between write explain give describe make find list use"
    " please answer question following text sentence word words example using given create name how many based"
    " provide generate summarize identify rewrite classify translate suggest compare describe each every most"
    " new first last same different good best time people year way day thing just like because while through"
    " during without within out up down no yes very well here now need want know think take get see come go"
)
_ENGLISH_WORDS = frozenset(_ENGLISH_TEXT.split())
_FUNCTION_WORDS_BY_LANG = {
    "fr": "le la les des est une et du au aux dans pour pas sont qui que avec sur ce cette nous vous ils elle",
    "de": "der die das und ist nicht ein eine zu den dem mit sich auf für ich sie es wir auch",
    "es": "el los las del por para una es con como pero más sus lo se su al que la",
    "it": "il della che di non sono gli nel alla per con una la",
    "pt": "os não uma para mais dos das pelo que",
    "nl": "het een niet zijn wordt ook voor",
    "id": "yang dan ini itu dengan untuk tidak ada dari akan",
}
_FOREIGN_TEXT = " ".join(_FUNCTION_WORDS_BY_LANG.values())
_FOREIGN_WORDS = frozenset(_FOREIGN_TEXT.split())


@dataclass
class Features:
    """Script counts of a text (or of several texts added together) that decide its language."""

    chars: int = 0
    han: int = 0
    latin_words: int = 0
    english_words: int = 0
    foreign_words: int = 0
    accented: int = 0
    other_letters: dict[str, int] = field(default_factory=dict)
    simplified: int = 0
    traditional: int = 0
    code: bool = False
    prose: list[str] = field(default_factory=list)

    def add(self, other: Features) -> None:
        """Add another text's counts to these."""
        self.chars += other.chars
        self.han += other.han
        self.latin_words += other.latin_words
        self.english_words += other.english_words
        self.foreign_words += other.foreign_words
        self.accented += other.accented
        for script, count in other.other_letters.items():
            self.other_letters[script] = self.other_letters.get(script, 0) + count
        self.simplified += other.simplified
        self.traditional += other.traditional
        self.code = self.code or other.code
        self.prose.extend(other.prose)


@dataclass(frozen=True)
class Language:
    """A decided language: one of LANGS, its code (zh-Hans, zh-Hant, en, fr...) and whether it is Traditional."""

    lang: str
    code: str | None = None
    traditional: bool = False


def _strip_markup(text: str) -> tuple[str, bool]:
    """Return the text without code, URLs and LaTeX, and whether it held code."""
    had_code = False
    if "```" in text or "~~~" in text:
        text, fences = _FENCE.subn(" ", text)
        had_code = fences > 0
    if "`" in text:
        text = _INLINE_CODE.sub(" ", text)
    if "://" in text or "www." in text or "@" in text:
        text = _URL.sub(" ", text)
    if "$" in text or "\\" in text:
        text = _LATEX.sub(" ", text)
    return text, had_code


def _without_code_lines(text: str) -> tuple[str, bool]:
    """Return the text without its unfenced source lines when at least two lines look like statements."""
    if sum(text.count(mark) for mark in _CODE_MARKS) < 2:  # prose: skip the slower line-by-line look
        return text, False
    first = _CODE_LINES.search(text)
    if first is None or _CODE_LINES.search(text, first.end() + 1) is None:
        return text, False
    lines = text.split("\n")
    prose = [line for line in lines if not _CODE_LINE.search(line)]
    if len(lines) - len(prose) < 2:
        return text, False
    return "\n".join(prose), True


def features(text: str) -> Features:
    """Count the scripts of one text, outside code blocks, inline code, URLs and LaTeX."""
    found = Features(chars=len(text))
    if not text:
        return found
    prose, found.code = _strip_markup(text)
    bare = prose.strip()
    if bare[:1] in ("{", "[") and bare[-1:] in ("}", "]"):  # JSON: tool calls, tool results, structured data
        found.code = True
        return found
    if "\n" in prose:
        prose, code_lines = _without_code_lines(prose)
        found.code = found.code or code_lines
    if not prose.isascii():
        runs = _HAN.findall(prose)
        if runs:
            han_text = "".join(runs)
            found.han = len(han_text)
            found.simplified, found.traditional = script_counts(han_text)
        letters = _OTHER_LETTERS.findall(prose)
        if letters:
            found.accented = len(_ACCENTED.findall("".join(letters)))
            if found.accented < len(letters):
                others = "".join(letters)
                for script, pattern in _SCRIPTS.items():
                    count = len(pattern.findall(others))
                    if count:
                        found.other_letters[script] = count
    words = _LATIN_WORD.findall(prose.lower())
    if words:
        found.latin_words = len(words)
        sample = words[:FUNCTION_WORD_SAMPLE]
        found.english_words = sum(map(_ENGLISH_WORDS.__contains__, sample))
        found.foreign_words = sum(map(_FOREIGN_WORDS.__contains__, sample))
        found.prose.append(prose)
    elif found.other_letters:
        found.prose.append(prose)
    return found


def decide(found: Features) -> Language:
    """Decide the language of counted text; seeded langdetect only for Latin text that may not be English."""
    other_units = sum(found.other_letters.values()) / OTHER_LETTERS_PER_UNIT
    kana = found.other_letters.get("ja", 0)
    latin_units = found.latin_words * LATIN_WORD_WEIGHT
    units = found.han + latin_units + other_units
    if units == 0:
        return Language("code") if found.code else Language("unknown")
    if kana and kana * 4 >= found.han:  # Japanese writes Han characters between its kana
        return Language("other", "ja")
    if other_units >= 0.5 * units:
        script = max(found.other_letters, key=found.other_letters.__getitem__)
        code = _detect(found.prose) if script in _SHARED_SCRIPTS else None
        return Language("other", code or script)
    share = found.han / (found.han + latin_units)
    if share >= ZH_MIN_SHARE:
        traditional = found.traditional > found.simplified
        return Language("zh", "zh-Hant" if traditional else "zh-Hans", traditional)
    if share > EN_MAX_SHARE:
        return Language("mixed")
    if _may_not_be_english(found):
        code = _function_word_language(found.prose) or _detect(found.prose)
        if code and code != "en":
            return Language("other", code)
    return Language("en", "en")


def _may_not_be_english(found: Features) -> bool:
    """Return True when Latin text has more foreign than English function words, or many accented letters.

    Latin text with neither (lists of nouns, tables, identifiers) is taken as English without asking langdetect.
    """
    if found.foreign_words > found.english_words:
        return True
    return found.accented >= 3 and found.accented * 20 >= found.latin_words


_FUNCTION_SETS = {lang: frozenset(words.split()) for lang, words in _FUNCTION_WORDS_BY_LANG.items()}
_FUNCTION_SETS["en"] = _ENGLISH_WORDS


def _function_word_language(prose: list[str]) -> str | None:
    """Return the language whose function words clearly lead (at least 5, twice the next), else None."""
    words = _LATIN_WORD.findall(" ".join(prose).lower())[:FUNCTION_WORD_SAMPLE]
    hits = sorted(((sum(map(known.__contains__, words)), lang) for lang, known in _FUNCTION_SETS.items()),
                  reverse=True)
    (best, lang), (second, _) = hits[0], hits[1]
    return lang if best >= 5 and best >= 2 * second else None


def _detect(prose: list[str]) -> str | None:
    """Return langdetect's language for the prose when it is at least 90% sure, else None."""
    from blossom_studio.profile.langdetect_seeded import detect_language

    return detect_language(" ".join(prose))


_HEAD_END = re.compile(r"\n|[：。？！]|:(?![/\d])")
HEAD_MIN_UNITS = 4
# How many leading segments may hold the request ("Q: 给定一句日语..." starts with a label).
HEAD_SEGMENTS = 3


def text_language(text: str, *, instruction: bool = False) -> Language:
    """Return the language of one text; an instruction takes the language of its first line when that is clear."""
    return analyse(text, instruction=instruction)[0]


def analyse(text: str, *, instruction: bool = False) -> tuple[Language, Features]:
    """Return the language of one text and its script counts.

    Prompts put the request first and the material after it ("将以下文字翻译成中文：Natural language..."): the
    request's language is the one the user speaks, so a clear zh or en first line decides an instruction.
    """
    found = features(text)
    whole = decide(found)
    if not instruction or whole.lang in ("code", "unknown"):
        return whole, found
    rest = text
    for _ in range(HEAD_SEGMENTS):
        end = _HEAD_END.search(rest)
        if end is None or not rest[end.end():].strip():
            break
        head = features(rest[: end.start()])
        rest = rest[end.end():]
        if head.han + head.latin_words >= HEAD_MIN_UNITS:
            head_language = decide(head)
            return (head_language if head_language.lang in ("zh", "en") else whole), found
    return whole, found
