"""Pairwise: two respondents and a judge drawn at random per sample; the judge sees both orders; a split is a tie."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from blossom_studio.synth.context import ItemContext, Judgement
from blossom_studio.synth.conversation import prompt_messages
from blossom_studio.synth.items import CandidateView, ItemFailed
from blossom_studio.synth.strategies.answers import answers_on_hand, generated_answer
from blossom_studio.synth.strategies.base import Strategy, StrategyError
from blossom_studio.synth.templates import format_conversation

PARSE_RANK = {"ok": 0, "repaired": 1, "failed": 2}


def combine_orders(first: str, second_swapped: str) -> tuple[str, bool]:
    """Map the verdicts of both orders back to (winner "A"/"B"/"tie", split); any disagreement is a tie."""
    mapped_second = {"A": "B", "B": "A"}.get(second_swapped, second_swapped)
    if first == mapped_second:
        return first, False
    return "tie", True


class Pairwise(Strategy):
    """Blossom's subjective step with MT-Bench's swap: roles drawn per sample (seeded), both orders judged."""

    name = "pairwise"
    description = "two models answer, a third judges both orders"
    required_roles = ("A", "B", "C")
    optional_roles = ("D",)
    options: ClassVar[dict[str, tuple[Any, ...]]] = {"answers": ("generate", "existing")}

    def roles_needed(self) -> tuple[str, ...]:
        """Three models to draw from when answering; a judge and one other when existing answers are compared."""
        return ("A", "B") if self.uses_existing else ("A", "B", "C")

    def check_roles(self, roles: Mapping[str, str]) -> None:
        """Also require distinct models, so that a judge is never one of the respondents."""
        super().check_roles(roles)
        if len(set(roles.values())) < len(roles):
            raise StrategyError("pairwise needs a different model in each role, so that no model judges itself")

    async def run(self, ctx: ItemContext) -> None:
        """Draw the roles, get the two answers, judge them in both orders and record one verdict."""
        pool = list(ctx.roles)
        if self.uses_existing:
            first, second = answers_on_hand(ctx, 2)
            answer_models = {first.model, second.model}
            eligible = [role for role in pool if ctx.role(role).name not in answer_models]
            if not eligible:
                raise ItemFailed("judge_is_respondent", "every model in the roles wrote one of the two answers")
            judge_role = ctx.rng.choice(eligible)
            ctx.outcome.assignment = {"judge": ctx.role(judge_role).name, "respondents": [first.name, second.name]}
        else:
            respondents = ctx.rng.sample(pool, 2)
            judge_role = ctx.rng.choice([role for role in pool if role not in respondents])
            ctx.outcome.assignment = {
                "judge": ctx.role(judge_role).name,
                "respondents": [ctx.role(role).name for role in respondents],
                "roles": {"first": respondents[0], "second": respondents[1], "judge": judge_role},
            }
            first = await generated_answer(ctx, "A", ctx.role(respondents[0]))
            second = await generated_answer(ctx, "B", ctx.role(respondents[1]))
        if first.text.strip() == second.text.strip():
            ctx.add_verdict(kind="pairwise", judge="rule", candidates=[first, second], parse_status="rule",
                            outcome={"winner": "tie", "split": False, "method": "identical"},
                            rationale="the two answers are identical")
            return
        await self._judge(ctx, judge_role, first, second)

    async def _judge(self, ctx: ItemContext, judge_role: str, first: CandidateView, second: CandidateView) -> None:
        judge = ctx.role(judge_role)
        instruction = format_conversation(prompt_messages(ctx.sample))
        forward = await ctx.judge(judge, "pairwise", instruction=instruction, answers=[first.text, second.text])
        backward = await ctx.judge(judge, "pairwise", instruction=instruction, answers=[second.text, first.text])
        orders = [self._order(forward, [first, second]), self._order(backward, [second, first])]
        status = max((forward.parse_status, backward.parse_status), key=PARSE_RANK.__getitem__)
        details: dict[str, Any] = {"orders": orders}
        outcome: dict[str, Any] | None = None
        if status != "failed":
            winner, split = combine_orders(forward.parsed.value["winner"], backward.parsed.value["winner"])
            outcome = {"winner": winner, "split": split}
            if winner != "tie":
                chosen, rejected = (first, second) if winner == "A" else (second, first)
                outcome |= {"chosen": chosen.id, "rejected": rejected.id}
        else:
            errors = [j.parsed.error for j in (forward, backward) if not j.parsed.ok]
            details["parse_error"] = "; ".join(e for e in errors if e)
        ctx.add_verdict(
            kind="pairwise",
            judge=judge.name,
            candidates=[first, second],
            outcome=outcome,
            parse_status=status,
            rationale="\n\n".join(filter(None, (forward.parsed.rationale, backward.parsed.rationale))) or None,
            raw_output=f"{forward.raw}\n\n--- swapped order ---\n\n{backward.raw}",
            details=details,
            call_keys=forward.call_keys + backward.call_keys,
        )
        if status == "failed":
            raise ItemFailed("parse_failure", f"pairwise judge {judge.name}: {details['parse_error']}")

    @staticmethod
    def _order(judgement: Judgement, shown: list[CandidateView]) -> dict[str, Any]:
        value = judgement.parsed.value if judgement.parsed.ok else None
        return {
            "shown": [c.name for c in shown],
            "verdict": value["winner"] if isinstance(value, dict) else None,
            "parse_status": judgement.parse_status,
        }
