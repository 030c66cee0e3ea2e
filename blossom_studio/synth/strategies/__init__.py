"""The strategies by name: generate, verify, consistency, pairwise, rate, polish, backtranslate and rules."""

from __future__ import annotations

from blossom_studio.synth.strategies.backtranslate import Backtranslate
from blossom_studio.synth.strategies.base import Strategy, StrategyError
from blossom_studio.synth.strategies.consistency import Consistency
from blossom_studio.synth.strategies.generate import Generate
from blossom_studio.synth.strategies.pairwise import Pairwise
from blossom_studio.synth.strategies.polish import Polish
from blossom_studio.synth.strategies.rate import Rate
from blossom_studio.synth.strategies.rules import Rules
from blossom_studio.synth.strategies.verify import Verify

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Generate, Verify, Consistency, Pairwise, Rate, Polish, Backtranslate, Rules)
}


def make_strategy(name: str, params: dict | None = None) -> Strategy:
    """Build the strategy `name` with validated options, or explain which names exist."""
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name](params)


__all__ = ["STRATEGIES", "Strategy", "StrategyError", "make_strategy"]
