"""Backtranslate: A writes the instruction a text answers (Humpback / COIG-Kun), then B scores that instruction."""

from __future__ import annotations

from typing import Any, ClassVar

from blossom_studio.synth.context import ItemContext, message_text
from blossom_studio.synth.conversation import original_answer
from blossom_studio.synth.items import ItemFailed
from blossom_studio.synth.judge_parse import parse_judge_output
from blossom_studio.synth.strategies.base import Strategy
from blossom_studio.synth.templates import build_judge_prompt


def output_text(ctx: ItemContext) -> str:
    """Return the text to label: the sample's final answer, else its first candidate, else its only user text."""
    original = original_answer(ctx.sample)
    if original:
        return original.text
    if ctx.sample.candidates:
        return ctx.sample.candidates[0].text
    users = [message_text(m) for m in ctx.sample.messages if m.get("role") == "user"]
    if len(users) == 1 and users[0].strip():
        return users[0]
    raise ItemFailed("no_output", "the sample has no answer or raw text to write an instruction for")


class Backtranslate(Strategy):
    """Kun's label step then its point step (good/bad), or Humpback's 1-5 self-curation score with a threshold."""

    name = "backtranslate"
    description = "A writes the instruction for an output; B (or A) scores it"
    required_roles = ("A",)
    optional_roles = ("B",)
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"score": ("quality", "score"), "threshold": (4,)}

    async def run(self, ctx: ItemContext) -> None:
        """Write the instruction, record it as a candidate, then score it."""
        text = output_text(ctx)
        writer = ctx.role("A")
        messages = build_judge_prompt(
            "backtranslate", ctx.lang, instruction="", answers=[text], override_dir=ctx.templates_dir
        )
        key, result = await ctx.ask(writer, messages, "instruction writing")
        parsed = parse_judge_output("backtranslate", result.text or "")
        if not parsed.ok or not isinstance(parsed.value, str):
            raise ItemFailed("empty_output", f"instruction writing by {writer.name}: {parsed.error}")
        instruction = parsed.value
        candidate = ctx.add_candidate(
            model=writer.name,
            label="instruction",
            origin="backtranslate",
            finish_reason=result.finish_reason,
            call_key=key,
            message={"role": "user", "content": instruction},
        )
        scorer = ctx.roles.get("B", writer)
        kind = "instruction_quality" if self.params["score"] == "quality" else "instruction_score"
        answers = [text] if kind == "instruction_score" else []
        judgement = await ctx.judge(scorer, kind, instruction=instruction, answers=answers)
        outcome = None
        if judgement.parsed.ok and isinstance(judgement.parsed.value, dict):
            value = judgement.parsed.value
            keep = value["good"] if kind == "instruction_quality" else value["score"] >= self.params["threshold"]
            outcome = {**value, "keep": keep}
        ctx.record_judgement(
            judgement,
            kind="instruction",
            judge=scorer,
            candidates=[candidate.view()],
            outcome=outcome,
            details={"scale": self.params["score"], "threshold": self.params["threshold"]},
        )
