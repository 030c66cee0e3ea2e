"""Rules: the model-free filters (repetition, refusal, self-identity, empty turns, placeholders, length) as a job."""

from __future__ import annotations

from blossom_studio.synth.context import ItemContext
from blossom_studio.synth.filters import check_messages, check_text
from blossom_studio.synth.strategies.base import Strategy


class Rules(Strategy):
    """Flags each sample and each of its candidates with a reason; nothing is deleted and no model is called."""

    name = "rules"
    description = "rule filters without models: repetition, refusals, placeholders, empty turns, length"

    async def run(self, ctx: ItemContext) -> None:
        """Record one quality verdict for the conversation and one per flagged candidate."""
        flags = check_messages(ctx.sample.messages)
        ctx.add_verdict(
            kind="quality",
            judge="rule",
            candidates=[],
            parse_status="rule",
            outcome={"flags": sorted({flag.name for flag in flags})},
            rationale="; ".join(flag.reason for flag in flags) or None,
        )
        for candidate in ctx.sample.candidates:
            found = check_text(candidate.text)
            if found:
                ctx.add_verdict(
                    kind="quality",
                    judge="rule",
                    candidates=[candidate],
                    parse_status="rule",
                    outcome={"flags": sorted({flag.name for flag in found})},
                    rationale="; ".join(flag.reason for flag in found),
                )
