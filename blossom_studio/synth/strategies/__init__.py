"""The strategies by name: generate, verify, consistency, pairwise, rate, polish, backtranslate and rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blossom_studio.llm.roster import ModelSpec, Roster
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


def strategy_for_roles(name: str, params: Mapping[str, Any] | None, roles: Mapping[str, str], roster: Roster
                       ) -> tuple[Strategy, dict[str, ModelSpec]]:
    """Return the strategy with its params checked and the roster model of each role (RosterError if unknown)."""
    built = make_strategy(name, dict(params or {}))
    built.check_roles(roles)
    return built, {role: roster.get(model) for role, model in roles.items()}


__all__ = ["STRATEGIES", "Strategy", "StrategyError", "make_strategy", "strategy_for_roles"]
