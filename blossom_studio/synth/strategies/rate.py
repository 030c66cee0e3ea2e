"""Rate: UltraFeedback-style 1-5 ratings per aspect (or overall), order shuffled per call and mapped back."""

from __future__ import annotations

from statistics import mean
from typing import Any, ClassVar

from blossom_studio.synth.context import ItemContext
from blossom_studio.synth.conversation import prompt_messages
from blossom_studio.synth.items import CandidateView, ItemFailed
from blossom_studio.synth.strategies.answers import answers_on_hand, generated_answer
from blossom_studio.synth.strategies.base import Strategy
from blossom_studio.synth.templates import format_conversation

FOUR_ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
RESPONDENT_ROLES = ("A", "C", "D", "E")


def mean_ratings(ratings: dict[str, dict[str, int | None]]) -> dict[str, float | None]:
    """Return each answer's mean over its numeric ratings; N/A is left out, and all N/A gives None."""
    means: dict[str, float | None] = {}
    for answer, by_aspect in ratings.items():
        numbers = [value for value in by_aspect.values() if value is not None]
        means[answer] = round(mean(numbers), 4) if numbers else None
    return means


def binarize(means: dict[str, float | None], margin: float, rng: Any) -> dict[str, Any]:
    """Pick chosen = the best mean and rejected = a random answer at least `margin` lower; ties give no pair."""
    rated = {answer: value for answer, value in means.items() if value is not None}
    rule = f"chosen = best mean rating; rejected = random answer rated at least {margin:g} lower; ties dropped"
    if len(rated) < 2:
        return {"pair": None, "rule": rule, "reason": "fewer than two answers have numeric ratings"}
    best = max(rated.values())
    tops = sorted(answer for answer, value in rated.items() if value == best)
    lower = sorted(answer for answer, value in rated.items() if value <= best - margin and value < best)
    if not lower:
        return {"pair": None, "rule": rule, "reason": f"no answer is rated at least {margin:g} below the best"}
    chosen = rng.choice(tops)
    rejected = rng.choice(lower)
    return {"pair": {"chosen": chosen, "rejected": rejected, "margin": round(best - rated[rejected], 4)}, "rule": rule}


class Rate(Strategy):
    """Respondents A, C (D, E) answer or the existing answers are taken; B rates them all, one call per aspect."""

    name = "rate"
    description = "B rates the answers 1-5 per aspect (UltraFeedback) or overall"
    required_roles = ("B",)
    optional_roles = RESPONDENT_ROLES
    options: ClassVar[dict[str, tuple[Any, ...]]] = {
        "aspects": ("overall", "all"),
        "answers": ("generate", "existing"),
        "margin": (1.0,),
    }

    def roles_needed(self) -> tuple[str, ...]:
        """B rates; at least A answers unless the existing answers are rated."""
        return ("B",) if self.uses_existing else ("A", "B")

    async def run(self, ctx: ItemContext) -> None:
        """Collect the answers, rate them per aspect in a shuffled order, and record the ratings and the pair."""
        if self.uses_existing:
            answers = answers_on_hand(ctx)[:4]
        else:
            answers = [
                await generated_answer(ctx, role, ctx.role(role)) for role in RESPONDENT_ROLES if role in ctx.roles
            ]
        judge = ctx.role("B")
        aspects = FOUR_ASPECTS if self.params["aspects"] == "all" else ("overall",)
        instruction = format_conversation(prompt_messages(ctx.sample))
        ratings: dict[str, dict[str, int | None]] = {answer.id: {} for answer in answers}
        rationales: dict[str, dict[str, str]] = {answer.id: {} for answer in answers}
        orders: dict[str, list[str]] = {}
        raws: list[str] = []
        keys: list[str] = []
        statuses: list[str] = []
        for aspect in aspects:
            shown = list(answers)
            ctx.rng.shuffle(shown)
            orders[aspect] = [answer.id for answer in shown]
            judgement = await ctx.judge(
                judge, "rate", instruction=instruction, answers=[a.text for a in shown], aspect=aspect
            )
            raws.append(f"[{aspect}]\n{judgement.raw}")
            keys += judgement.call_keys
            statuses.append(judgement.parse_status)
            if not judgement.parsed.ok:
                self._record(
                    ctx,
                    judge.name,
                    answers,
                    None,
                    "failed",
                    raws,
                    keys,
                    {"orders": orders, "parse_error": f"{aspect}: {judgement.parsed.error}"},
                )
                raise ItemFailed("parse_failure", f"rate judge {judge.name} ({aspect}): {judgement.parsed.error}")
            value = judgement.parsed.value
            for answer, rating, rationale in zip(shown, value["ratings"], value["rationales"], strict=True):
                ratings[answer.id][aspect] = rating
                rationales[answer.id][aspect] = rationale
        means = mean_ratings(ratings)
        outcome = {
            "aspects": list(aspects),
            "ratings": ratings,
            "mean": means,
            **binarize(means, self.params["margin"], ctx.rng),
        }
        status = "repaired" if "repaired" in statuses else "ok"
        self._record(
            ctx, judge.name, answers, outcome, status, raws, keys, {"orders": orders, "rationales": rationales}
        )

    @staticmethod
    def _record(
        ctx: ItemContext,
        judge: str,
        answers: list[CandidateView],
        outcome: dict[str, Any] | None,
        status: str,
        raws: list[str],
        keys: list[str],
        details: dict[str, Any],
    ) -> None:
        ctx.add_verdict(
            kind="rating",
            judge=judge,
            candidates=answers,
            outcome=outcome,
            parse_status=status,
            raw_output="\n\n".join(raws),
            details=details,
            call_keys=keys,
        )
