"""Turn stored conversations into what Gradio's Chatbot shows (it sanitises HTML itself)."""

from __future__ import annotations

from typing import Any

import orjson

# No single-dollar delimiter: it turns prices such as "$1 and $0.5" into formulas.
LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "```json\n" + orjson.dumps(content, option=orjson.OPT_INDENT_2).decode() + "\n```"


def chat_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Map canonical messages to Chatbot messages; roles other than user/assistant get a titled box."""
    shown = []
    for message in messages:
        role = message.get("role", "user")
        text = _text(message.get("content", ""))
        if role in ("user", "assistant"):
            shown.append({"role": role, "content": text})
        else:
            shown.append({"role": "user" if role == "system" else "assistant", "content": text,
                          "metadata": {"title": role}})
    return shown


def candidate_messages(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Show each candidate answer as an assistant message titled with its label and model."""
    shown = []
    for candidate in candidates:
        title = " · ".join(str(part) for part in (candidate.get("label"), candidate.get("model")) if part)
        shown.append({"role": "assistant", "content": _text(candidate["message"].get("content", "")),
                      "metadata": {"title": title or "candidate", "status": "done"}})
    return shown
