"""Consistency: A and C answer (or two existing answers are taken); B judges whether they agree."""

from __future__ import annotations

from typing import Any, ClassVar

from blossom_studio.synth.answers import check_answer
from blossom_studio.synth.context import ItemContext
from blossom_studio.synth.conversation import prompt_messages
from blossom_studio.synth.strategies.answers import answers_on_hand, generated_answer
from blossom_studio.synth.strategies.base import Strategy
from blossom_studio.synth.templates import format_conversation


class Consistency(Strategy):
    """Two answers to an objective prompt without a reference; disagreement is a reject with its reason."""

    name = "consistency"
    description = "A and C answer, B judges whether they agree"
    required_roles = ("B",)
    optional_roles = ("A", "C")
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"answers": ("generate", "existing")}

    def roles_needed(self) -> tuple[str, ...]:
        """A and C answer unless existing answers are compared; B judges."""
        return ("B",) if self.uses_existing else ("A", "B", "C")

    async def run(self, ctx: ItemContext) -> None:
        """Compare two answers, by rule when both give a clear final value, else by judge B."""
        if self.uses_existing:
            first, second = answers_on_hand(ctx, 2)
        else:
            first = await generated_answer(ctx, "A", ctx.role("A"))
            second = await generated_answer(ctx, "C", ctx.role("C"))
        if first.text.strip() == second.text.strip():
            ctx.add_verdict(
                kind="consistency", judge="rule", candidates=[first, second], parse_status="rule",
                outcome={"consistent": True, "method": "identical"}, rationale="the two answers are identical",
            )
            return
        rule = check_answer(first.text, second.text)
        if rule.decided:
            ctx.add_verdict(
                kind="consistency",
                judge="rule",
                candidates=[first, second],
                parse_status="rule",
                outcome={"consistent": rule.correct, "method": rule.method},
                rationale=f"{rule.method}: {rule.expected} vs {rule.found}",
            )
            return
        judge = ctx.role("B")
        judgement = await ctx.judge(
            judge,
            "consistency",
            instruction=format_conversation(prompt_messages(ctx.sample)),
            answers=[first.text, second.text],
        )
        ctx.record_judgement(judgement, kind="consistency", judge=judge, candidates=[first, second])
