"""Prompt templates as files a user can override, rendered with one-pass `{{var}}` substitution."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
ENV_VAR = "BLOSSOM_STUDIO_TEMPLATES"
LANGS = ("en", "zh")
KINDS: tuple[str, ...] = (
    "verify",
    "consistency",
    "pairwise",
    "rate",
    "polish",
    "backtranslate",
    "instruction_quality",
    "instruction_score",
)
ASPECTS: tuple[str, ...] = ("helpfulness", "honesty", "instruction_following", "truthfulness", "overall")

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SYSTEM_MARK = "<!-- system -->"
_USER_MARK = "<!-- user -->"


class TemplateError(KeyError):
    """A template cannot be found or rendered; the message names the template file and what is missing."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Template:
    """One prompt template file: its name, the language actually loaded, where it came from and its text."""

    name: str
    lang: str
    path: Path
    text: str

    def variables(self) -> list[str]:
        """Return the distinct `{{var}}` names in the order they first appear."""
        return list(dict.fromkeys(_VAR.findall(self.text)))

    def render(self, **values: str) -> str:
        """Substitute every `{{var}}` of the whole file (marker lines kept) in one pass; values are not rescanned."""
        return render_text(self.text, values, where=str(self.path))

    def render_messages(self, **values: str) -> list[dict[str, str]]:
        """Render and split at the `<!-- system -->` / `<!-- user -->` marker lines into chat messages."""
        system, user = split_sections(self.text)
        messages = []
        if system.strip():
            messages.append({"role": "system", "content": render_text(system, values, where=str(self.path)).strip()})
        messages.append({"role": "user", "content": render_text(user, values, where=str(self.path)).strip()})
        return messages


def render_text(text: str, values: Mapping[str, str], *, where: str = "template") -> str:
    """Replace `{{var}}` placeholders in `text` with `values` in a single regex pass."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"{where} needs a value for {{{{{name}}}}}")
        return str(values[name])

    return _VAR.sub(substitute, text)


def split_sections(text: str) -> tuple[str, str]:
    """Split a template's text into (system, user) parts; without markers it is all user."""
    lines = text.splitlines(keepends=True)
    stripped = [line.strip() for line in lines]
    if _USER_MARK not in stripped:
        return "", "".join(line for line, s in zip(lines, stripped, strict=True) if s != _SYSTEM_MARK)
    cut = stripped.index(_USER_MARK)
    system = "".join(line for line, s in zip(lines[:cut], stripped[:cut], strict=True) if s != _SYSTEM_MARK)
    return system, "".join(lines[cut + 1 :])


def search_dirs(override_dir: Path | None = None) -> list[Path]:
    """Folders searched for a template, first match wins: `override_dir`, $BLOSSOM_STUDIO_TEMPLATES, built-ins."""
    dirs = []
    if override_dir is not None:
        dirs.append(Path(override_dir))
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(BUILTIN_DIR)
    return dirs


def load_template(name: str, lang: str = "en", override_dir: Path | None = None) -> Template:
    """Load `{name}.{lang}.md` from the first folder that has it, falling back to English when no folder has it."""
    if lang not in LANGS:
        raise ValueError(f"template language must be one of {', '.join(LANGS)}, not {lang!r}")
    dirs = search_dirs(override_dir)
    for try_lang in dict.fromkeys((lang, "en")):
        for folder in dirs:
            path = folder / f"{name}.{try_lang}.md"
            if path.is_file():
                return Template(name=name, lang=try_lang, path=path, text=path.read_text(encoding="utf-8"))
    looked = ", ".join(str(d) for d in dirs)
    raise TemplateError(f"no template {name}.{lang}.md or {name}.en.md in {looked}")


OUTPUT_HEADINGS = {"en": "### Output format", "zh": "### 输出格式"}
JUDGE_KINDS: tuple[str, ...] = ("verify", "consistency", "pairwise", "rate", "instruction_quality", "instruction_score")
_ANSWER_COUNTS = {
    "verify": (1, 1),
    "consistency": (2, 2),
    "pairwise": (2, 2),
    "rate": (1, 4),
    "polish": (1, 1),
    "backtranslate": (1, 1),
    "instruction_quality": (0, 0),
    "instruction_score": (1, 1),
}
_ROLE_LABELS = {
    "en": {"system": "System", "user": "User", "human": "User", "assistant": "Assistant", "gpt": "Assistant",
           "tool": "Tool", "function": "Tool", "observation": "Tool result", "function_call": "Tool call"},
    "zh": {"system": "系统", "user": "用户", "human": "用户", "assistant": "助手", "gpt": "助手",
           "tool": "工具", "function": "工具", "observation": "工具结果", "function_call": "工具调用"},
}
# The numbered text sections of a rating prompt and the output lines the parser reads (judge_parse matches these).
_RATE_TEXT = {"en": "[Text {i}]\n{body}\n[End of Text {i}]", "zh": "【文本 {i}】\n{body}\n【文本 {i} 结束】"}
_RATE_OUTPUT = {
    "en": "#### Text {i}\nRating: {scale}\nRationale: <why text {i} gets this rating>",
    "zh": "#### 文本 {i}\n评分：{scale}\n理由：<文本 {i} 得到这个评分的理由>",
}
_REPAIR_WHAT = {"polish": {"en": "rewritten answer", "zh": "改写后的回答"},
                "backtranslate": {"en": "instruction", "zh": "指令"}}


def content_text(content: object) -> str:
    """Return the text of a message content: a string, or a list of parts `{type, text|value}` joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict):
                kind = str(part.get("type") or "text")
                text = part.get("text", part.get("value"))
                pieces.append(str(text) if kind == "text" and text is not None else f"[{kind}]")
            elif part is not None:
                pieces.append(str(part))
        return "\n".join(pieces)
    return str(content)


def format_conversation(messages: list[dict], *, lang: str = "en") -> str:
    """Render messages `[{role, content}]` as plain text with a labelled block per turn, for a judge to read."""
    labels = _ROLE_LABELS.get(lang, _ROLE_LABELS["en"])
    blocks = []
    for message in messages:
        role = str(message.get("role") or message.get("from") or "unknown")
        label = labels.get(role, role.replace("_", " ").capitalize())
        text = content_text(message.get("content", message.get("value")))
        blocks.append(f"[{label}]\n{text.strip()}")
    return "\n\n".join(blocks)


def _check_args(kind: str, lang: str, instruction: str, answers: tuple[str, ...], reference: str | None,
                aspect: str | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown prompt kind {kind!r}; use one of {', '.join(KINDS)}")
    if lang not in LANGS:
        raise ValueError(f"prompt language must be one of {', '.join(LANGS)}, not {lang!r}")
    low, high = _ANSWER_COUNTS[kind]
    if not low <= len(answers) <= high:
        wanted = str(low) if low == high else f"{low} to {high}"
        raise ValueError(f"a {kind} prompt takes {wanted} answers, not {len(answers)}")
    if kind != "backtranslate" and not instruction.strip():
        raise ValueError(f"a {kind} prompt needs the instruction text")
    if kind == "verify" and not (reference or "").strip():
        raise ValueError("a verify prompt needs the reference answer")
    if kind == "rate" and aspect not in ASPECTS:
        raise ValueError(f"a rate prompt needs an aspect, one of {', '.join(ASPECTS)}; got {aspect!r}")


def rate_values(lang: str, answers: tuple[str, ...], aspect: str) -> dict[str, str]:
    """Build the numbered text sections and the matching numbered output lines (1..N in both) for a rating prompt."""
    scale = "<1-5|N/A>" if aspect == "honesty" else "<1-5>"
    texts = "\n\n".join(_RATE_TEXT[lang].format(i=i, body=body.strip()) for i, body in enumerate(answers, 1))
    ratings = "\n\n".join(_RATE_OUTPUT[lang].format(i=i, scale=scale) for i in range(1, len(answers) + 1))
    return {"texts": texts, "ratings": ratings, "n": str(len(answers))}


def build_judge_prompt(kind: str, lang: str, *, instruction: str, answers: Sequence[str] = (),
                       reference: str | None = None, aspect: str | None = None,
                       override_dir: Path | None = None) -> list[dict[str, str]]:
    """Build the chat messages (optional system, then user) for one judge or rewrite call of the given kind."""
    texts = tuple(str(a) for a in answers)
    _check_args(kind, lang, instruction, texts, reference, aspect)
    values: dict[str, str] = {"instruction": instruction.strip()}
    if kind == "verify":
        values |= {"reference": (reference or "").strip(), "answer": texts[0].strip()}
    elif kind in ("consistency", "pairwise"):
        values |= {"answer_a": texts[0].strip(), "answer_b": texts[1].strip()}
    elif kind == "rate":
        values |= rate_values(lang, texts, str(aspect))
        values["rubric"] = load_template(f"rate_{aspect}", lang, override_dir).render(n=values["n"]).strip()
    elif kind in ("polish", "backtranslate"):
        values["output"] = texts[0].strip()
    elif kind == "instruction_score":
        values["answer"] = texts[0].strip()
    return load_template(kind, lang, override_dir).render_messages(**values)


def output_format_block(text: str) -> str | None:
    """Return the output-format block of a prompt: from the last `### Output format`/`### 输出格式` line to the end."""
    lines = text.splitlines()
    headings = set(OUTPUT_HEADINGS.values())
    starts = [i for i, line in enumerate(lines) if line.strip() in headings]
    return "\n".join(lines[starts[-1] :]).strip() if starts else None


def repair_messages(kind: str, lang: str, messages: list[dict[str, str]], raw_output: str, error: str, *,
                    override_dir: Path | None = None) -> list[dict[str, str]]:
    """Return the original messages, the model's unusable reply and a user turn naming the fault and the format."""
    if kind not in KINDS:
        raise ValueError(f"unknown prompt kind {kind!r}; use one of {', '.join(KINDS)}")
    lang = lang if lang in LANGS else "en"
    reason = error.strip().rstrip("。.") or "the reply did not follow the format"
    if kind in JUDGE_KINDS:
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        block = output_format_block(content_text(user)) or OUTPUT_HEADINGS[lang]
        content = load_template("repair", lang, override_dir).render(error=reason, output_format=block)
    else:
        what = _REPAIR_WHAT[kind][lang]
        content = load_template("repair_text", lang, override_dir).render(error=reason, what=what)
    reply = raw_output if raw_output.strip() else ("(empty reply)" if lang == "en" else "（空回复）")
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": content.strip()}]
