"""Turn stored text into Markdown that Gradio's Chatbot and Markdown show inert: HTML as text, no unsafe links.

Gradio sanitises HTML but keeps the tags it allows, so an imported `<img src=...>` would still make a reviewer's
browser load a URL. Here every `<`, `>` and `&` outside code is escaped (blockquote markers aside), so HTML shows as
the text it is while Markdown and LaTeX still render; code is re-emitted so that Gradio cannot read it as anything
but code (a fenced block it highlights, or `<code>`/`<pre>` whose every punctuation character is an HTML entity);
Markdown images and links to `javascript:`, `vbscript:` or `data:` show as their literal text.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import orjson

# No single-dollar delimiter: it turns prices such as "$1 and $0.5" into formulas.
LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
]
# Gradio cuts LaTeX out of the raw text (even out of code) before Markdown parses it; code holding a delimiter
# could pair with one outside and so end the code early, so such code is shown as HTML with entities instead.
_LATEX_MARKS = ("$$", "\\(", "\\)", "\\[", "\\]")

_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_BACKTICK_RUN = re.compile(r"`+")
_SPECIAL = re.compile(r"[\\`]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LANGUAGE = re.compile(r"[\w+#.-]{1,30}")
_UNSAFE_TARGET = r"(?=[ \t]*\n?[ \t]*(?:&lt;)?[\x00-\x20]*(?:javascript|vbscript|data)[\x00-\x20]*:)"
_UNSAFE_LINK = re.compile(r"\]\(" + _UNSAFE_TARGET, re.IGNORECASE)  # [text](javascript:...)
_UNSAFE_DEFINITION = re.compile(r"\]:" + _UNSAFE_TARGET, re.IGNORECASE)  # [ref]: javascript:...
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _entities(text: str) -> str:
    """Every ASCII punctuation character as a numeric entity: no Markdown, HTML or LaTeX can start in the text."""
    return "".join(f"&#{ord(char)};" if char in _PUNCTUATION else char for char in text)


_QUOTE_MARKERS = re.compile(r"^(?:[ \t]{0,3}>)+", re.MULTILINE)  # blockquote markers at the start of a line


def _escape_text(text: str, line_start: bool) -> str:
    """Escape &, < and > (but keep the > of blockquotes, so quotes still render, and the text after them)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    out, last = [], 0
    for marker in _QUOTE_MARKERS.finditer(escaped):
        if marker.start() == 0 and not line_start:
            continue  # the text continues a line after a code span: its first > is not a quote marker
        out.append(escaped[last:marker.start()].replace(">", "&gt;"))
        out.append(marker.group())
        last = marker.end()
    out.append(escaped[last:].replace(">", "&gt;"))
    return "".join(out)


def _code_span(content: str) -> str:
    content = content.replace("\n", " ")
    if len(content) > 2 and content[0] == content[-1] == " " and content.strip(" "):
        content = content[1:-1]
    return f"<code>{_entities(content)}</code>"


def _inline(text: str) -> str:
    """Escape prose and turn its code spans into `<code>` elements (CommonMark's pairing of backtick runs)."""
    starts_by_width: dict[int, list[int]] = {}
    for run in _BACKTICK_RUN.finditer(text):
        starts_by_width.setdefault(len(run.group()), []).append(run.start())
    breaks = [found.start() for found in _PARAGRAPH_BREAK.finditer(text)]
    out: list[str] = []
    plain_start = position = 0
    while (special := _SPECIAL.search(text, position)) is not None:
        position = special.start()
        if text[position] == "\\":
            position += 2 if position + 1 < len(text) and text[position + 1] in _PUNCTUATION else 1
            continue  # a backslash escape: the next character is literal (also a backtick)
        opener = _BACKTICK_RUN.match(text, position)
        assert opener is not None
        width, end = len(opener.group()), opener.end()
        next_break = bisect.bisect_left(breaks, end)
        limit = breaks[next_break] if next_break < len(breaks) else len(text)  # code spans end with the paragraph
        starts = starts_by_width.get(width, [])
        index = bisect.bisect_left(starts, end)
        if index == len(starts) or starts[index] >= limit:
            position = end  # no closing run of the same width: the backticks are literal text
            continue
        out.append(_escape_text(text[plain_start:position], line_start=plain_start == 0))
        out.append(_code_span(text[end:starts[index]]))
        plain_start = position = starts[index] + width
    out.append(_escape_text(text[plain_start:], line_start=plain_start == 0))
    joined = "".join(out)
    joined = joined.replace("![", "!&#91;")  # images show as their Markdown text and load nothing
    joined = _UNSAFE_LINK.sub("]&#40;", joined)
    return _UNSAFE_DEFINITION.sub("]&#58;", joined)


def _code_block(info: str, lines: list[str]) -> str:
    content = "\n".join(lines)
    language = _LANGUAGE.match(info.strip())
    name = language.group() if language and language.group().lower() != "mermaid" else ""
    if any(mark in content for mark in _LATEX_MARKS):
        klass = f' class="language-{name}"' if name else ""
        # Leading spaces as entities too, so that Gradio's dedent of the message (inspect.cleandoc) keeps them.
        shown = "\n".join("&#32;" * (len(line) - len(line.lstrip(" "))) + _entities(line.lstrip(" ")) for line in lines)
        return f"\n\n<pre><code{klass}>{shown}</code></pre>\n\n"
    runs = [len(run) for run in _BACKTICK_RUN.findall(content)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"\n\n{fence}{name}\n{content}\n{fence}\n\n"


def inert_markdown(text: str) -> str:
    """Return Markdown that shows the text's HTML literally and keeps its Markdown, code blocks and LaTeX working."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    parts: list[str] = []
    prose: list[str] = []
    index = 0
    while index < len(lines):
        opener = _FENCE_OPEN.match(lines[index])
        if opener is None or (opener.group(2)[0] == "`" and "`" in opener.group(3)):
            prose.append(lines[index])
            index += 1
            continue
        indent, fence, info = len(opener.group(1)), opener.group(2), opener.group(3)
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        index += 1
        while index < len(lines) and not closing.match(lines[index]):
            line = lines[index]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            index += 1
        index += 1  # the closing fence (or the end of the text, which closes an open fence)
        parts.append(_inline("\n".join(prose)))
        prose = []
        parts.append(_code_block(info, body))
    parts.append(_inline("\n".join(prose)))
    return "".join(parts).strip("\n")


def inline_code(value: object) -> str:
    """Return the value as an inline `<code>` element that shows it literally in any Markdown."""
    return _code_span(str(value))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "```json\n" + orjson.dumps(content, option=orjson.OPT_INDENT_2).decode() + "\n```"


def _shown(text: str, markdown: bool) -> str:
    return inert_markdown(text) if markdown else text


def chat_messages(messages: list[dict[str, Any]], *, markdown: bool = True) -> list[dict[str, Any]]:
    """Map canonical messages to inert Chatbot messages; roles other than user/assistant get a titled box.

    With `markdown=False` the text is returned as stored, for a caller that escapes it itself.
    """
    shown = []
    for message in messages:
        role = message.get("role", "user")
        text = _shown(_text(message.get("content", "")), markdown)
        if role in ("user", "assistant"):
            shown.append({"role": role, "content": text})
        else:
            shown.append({"role": "user" if role == "system" else "assistant", "content": text,
                          "metadata": {"title": _shown(str(role), markdown)}})
    return shown


def candidate_messages(candidates: list[dict[str, Any]], *, markdown: bool = True) -> list[dict[str, Any]]:
    """Show each candidate answer as an inert assistant message titled with its label and model."""
    shown = []
    for candidate in candidates:
        title = " · ".join(str(part) for part in (candidate.get("label"), candidate.get("model")) if part)
        shown.append({"role": "assistant", "content": _shown(_text(candidate["message"].get("content", "")), markdown),
                      "metadata": {"title": _shown(title or "candidate", markdown), "status": "done"}})
    return shown


def verdict_messages(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show each verdict as an inert assistant message: kind, judge and parse status, outcome, then the rationale."""
    shown = []
    for verdict in verdicts:
        title = f"{verdict['kind']} · {verdict['judge']} · {verdict['parse_status']}"
        if verdict.get("candidates"):
            title += " · " + " vs ".join(str(name) for name in verdict["candidates"])
        body = [_text(verdict["outcome"]) if verdict.get("outcome") is not None else "*no outcome (parse failure)*"]
        if verdict.get("rationale"):
            body.append(str(verdict["rationale"]))
        shown.append({"role": "assistant", "content": inert_markdown("\n\n".join(body)),
                      "metadata": {"title": inert_markdown(title), "status": "done"}})
    return shown
