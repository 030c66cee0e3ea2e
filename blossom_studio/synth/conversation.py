"""Cutting a conversation at a user turn, and turning stored messages into what an endpoint accepts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from blossom_studio.synth.context import message_text
from blossom_studio.synth.items import CandidateView, ItemFailed, SampleView

API_ROLES = ("system", "user", "assistant")


def api_message(message: Mapping[str, Any]) -> dict[str, str]:
    """Return a message with text content and a role every OpenAI-compatible endpoint accepts."""
    role = str(message.get("role", "user"))
    text = message_text(message)
    if role in API_ROLES:
        return {"role": role, "content": text}
    speaker = "assistant" if role in ("function_call", "tool_call") else "user"
    return {"role": speaker, "content": f"[{role}]\n{text}"}


def user_turns(messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """Return the indices of the user messages."""
    return [index for index, message in enumerate(messages) if message.get("role") == "user"]


def prompt_until(messages: Sequence[Mapping[str, Any]], turn: int) -> list[dict[str, str]]:
    """Return the API messages up to and including the user message at index `turn`."""
    return [api_message(message) for message in messages[: turn + 1]]


def prompt_messages(sample: SampleView, which: str = "last") -> list[dict[str, str]]:
    """Return the conversation up to its first or last user turn, or fail the item when it has none."""
    turns = user_turns(sample.messages)
    if not turns:
        raise ItemFailed("no_prompt", "the sample has no user message to answer")
    return prompt_until(sample.messages, turns[0] if which == "first" else turns[-1])


def original_answer(sample: SampleView) -> CandidateView | None:
    """Return the conversation's own final assistant answer as a candidate-like view, if it ends with one."""
    if sample.messages and sample.messages[-1].get("role") == "assistant":
        message = api_message(sample.messages[-1])
        if message["content"].strip():
            return CandidateView(f"{sample.id}/original", None, "original", message, "sample")
    return None


def existing_answers(sample: SampleView) -> list[CandidateView]:
    """Return the sample's candidates with text, else its own final answer, else nothing."""
    answers = [candidate for candidate in sample.candidates if candidate.text.strip()]
    if answers:
        return answers
    original = original_answer(sample)
    return [original] if original else []
