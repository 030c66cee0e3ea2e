"""Polish: COIG-Kun answer polishment, A rewrites an existing answer so that it answers the instruction well."""

from __future__ import annotations

from blossom_studio.synth.context import ItemContext
from blossom_studio.synth.conversation import prompt_messages
from blossom_studio.synth.items import ItemFailed
from blossom_studio.synth.judge_parse import parse_judge_output
from blossom_studio.synth.strategies.answers import answers_on_hand
from blossom_studio.synth.strategies.base import Strategy
from blossom_studio.synth.templates import build_judge_prompt, format_conversation


class Polish(Strategy):
    """The sample's answer (its first candidate, else its own final reply) is rewritten by A as a new candidate."""

    name = "polish"
    description = "A rewrites the existing answer to fit the instruction (COIG-Kun)"
    required_roles = ("A",)

    async def run(self, ctx: ItemContext) -> None:
        """Rewrite the answer and record the result with a link to what it polished."""
        source = answers_on_hand(ctx)[0]
        spec = ctx.role("A")
        messages = build_judge_prompt(
            "polish",
            ctx.lang,
            instruction=format_conversation(prompt_messages(ctx.sample)),
            answers=[source.text],
            override_dir=ctx.templates_dir,
        )
        key, result = await ctx.ask(spec, messages, "polish")
        parsed = parse_judge_output("polish", result.text or "")
        if not parsed.ok or not isinstance(parsed.value, str):
            raise ItemFailed("empty_output", f"polish by {spec.name}: {parsed.error}")
        ctx.add_candidate(
            model=spec.name,
            label="polished",
            origin="polish",
            finish_reason=result.finish_reason,
            call_key=key,
            message={"role": "assistant", "content": parsed.value},
            extra={"polished_from": source.id},
        )
