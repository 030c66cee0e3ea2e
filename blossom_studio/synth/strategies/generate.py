"""Generate: each given role answers the prompt (first turn, last turn, or every user turn in sequence)."""

from __future__ import annotations

from typing import Any, ClassVar

from blossom_studio.llm.client import CallResult
from blossom_studio.llm.roster import ModelSpec
from blossom_studio.synth.context import ItemContext
from blossom_studio.synth.conversation import api_message, prompt_messages, user_turns
from blossom_studio.synth.filters import check_text
from blossom_studio.synth.items import ItemFailed
from blossom_studio.synth.strategies.base import Strategy


def answer_message(result: CallResult) -> dict[str, str]:
    """Return the assistant message of a call, keeping the reasoning when the endpoint gave one."""
    message = {"role": "assistant", "content": result.text or ""}
    if result.reasoning:
        message["reasoning_content"] = result.reasoning
    return message


def record_answer(
    ctx: ItemContext, spec: ModelSpec, label: str, key: str, result: CallResult, origin: str, turn: int | None = None
) -> None:
    """Record an answer as a candidate and flag it (truncated, refused, repetitive...) with a rule verdict."""
    flags = [flag for flag in check_text(result.text or "")]
    extra: dict[str, object] = {}
    if turn is not None:
        extra["turn"] = turn
    if result.finish_reason == "length":
        extra["truncated"] = True
    candidate = ctx.add_candidate(
        model=spec.name,
        label=label,
        message=answer_message(result),
        origin=origin,
        finish_reason=result.finish_reason,
        call_key=key,
        extra=extra or None,
    )
    reasons = [flag.reason for flag in flags]
    names = [flag.name for flag in flags]
    if result.finish_reason == "length":
        names.append("truncated")
        reasons.append("the answer stopped at the token limit (finish_reason=length)")
    if names:
        ctx.add_verdict(
            kind="quality",
            judge="rule",
            candidates=[candidate.view()],
            outcome={"flags": names},
            parse_status="rule",
            rationale="; ".join(reasons),
        )


class Generate(Strategy):
    """Every role given (A, and B, C when named) answers the prompt; finish reason and reasoning are kept."""

    name = "generate"
    description = "answer the prompt with each role's model"
    required_roles = ("A",)
    optional_roles = ("B", "C")
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"turn": ("last", "first", "every")}

    async def run(self, ctx: ItemContext) -> None:
        """Answer with each role in turn."""
        for label, spec in ctx.roles.items():
            if self.params["turn"] == "every":
                await self._every_turn(ctx, label, spec)
                continue
            messages = prompt_messages(ctx.sample, self.params["turn"])
            key, result = await ctx.ask(spec, messages, "answer")
            record_answer(ctx, spec, label, key, result, "generate")

    async def _every_turn(self, ctx: ItemContext, label: str, spec: ModelSpec) -> None:
        """Answer in place of each assistant turn, the model's own earlier answers (and the tool turns) as context."""
        messages = ctx.sample.messages
        slots = [index for index, message in enumerate(messages) if message.get("role") == "assistant"]
        if not slots:
            turns = user_turns(messages)
            if not turns:
                raise ItemFailed("no_prompt", "the sample has no user message to answer")
            slots = [len(messages)]
        conversation: list[dict[str, str]] = []
        previous = 0
        for number, slot in enumerate(slots):
            conversation += [api_message(m) for m in messages[previous:slot]]
            if not conversation or conversation[-1]["role"] == "assistant":
                continue  # nothing new to answer since the last reply
            key, result = await ctx.ask(spec, list(conversation), f"answer to turn {number + 1}")
            record_answer(ctx, spec, label, key, result, "generate", turn=number)
            conversation.append({"role": "assistant", "content": result.text or ""})
            previous = slot + 1
