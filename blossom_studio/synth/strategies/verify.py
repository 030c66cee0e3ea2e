"""Verify: A answers (or the existing answers are taken); a rule checks against the reference, else B judges."""

from __future__ import annotations

from typing import Any, ClassVar

from blossom_studio.synth.answers import check_answer
from blossom_studio.synth.context import ItemContext
from blossom_studio.synth.conversation import prompt_messages
from blossom_studio.synth.items import ItemFailed
from blossom_studio.synth.strategies.answers import answers_on_hand, generated_answer
from blossom_studio.synth.strategies.base import Strategy
from blossom_studio.synth.templates import format_conversation


class Verify(Strategy):
    """Checks answers against the sample's reference: GSM8K `#### n`, `\\boxed{}`, numbers and letters by rule."""

    name = "verify"
    description = "check answers against the reference answer (rule first, then judge B)"
    required_roles = ("B",)
    optional_roles = ("A",)
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"answers": ("generate", "existing")}

    def roles_needed(self) -> tuple[str, ...]:
        """A answers unless the existing answers are verified; B judges what the rule cannot decide."""
        return ("B",) if self.uses_existing else ("A", "B")

    async def run(self, ctx: ItemContext) -> None:
        """Verify each answer of the item."""
        reference = (ctx.sample.reference or "").strip()
        if not reference:
            raise ItemFailed("no_reference", "the sample has no reference answer to verify against")
        answers = answers_on_hand(ctx) if self.uses_existing else [await generated_answer(ctx, "A", ctx.role("A"))]
        instruction = format_conversation(prompt_messages(ctx.sample))
        for answer in answers:
            rule = check_answer(reference, answer.text)
            if rule.decided:
                ctx.add_verdict(
                    kind="verify",
                    judge="rule",
                    candidates=[answer],
                    parse_status="rule",
                    outcome={
                        "correct": rule.correct,
                        "expected": rule.expected,
                        "found": rule.found,
                        "method": rule.method,
                    },
                    rationale=f"{rule.method}: expected {rule.expected}, found {rule.found}",
                )
                continue
            judge = ctx.role("B")
            judgement = await ctx.judge(
                judge, "verify", instruction=instruction, answers=[answer.text], reference=reference
            )
            ctx.record_judgement(
                judgement, kind="verify", judge=judge, candidates=[answer], details={"rule": rule.method}
            )
