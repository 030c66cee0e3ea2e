"""The strategy contract: validated options, the roles it needs, and one coroutine that works one item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from blossom_studio.synth.context import ItemContext


class StrategyError(ValueError):
    """A strategy cannot be built from the options or roles given; the message says how to fix it."""


class Strategy:
    """One way of working an item; subclasses set the class attributes and implement `run`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required_roles: ClassVar[tuple[str, ...]] = ()
    optional_roles: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, tuple[Any, ...]]] = {}
    """Option name -> allowed values, the first being the default; a numeric default admits any number."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = self.validate(dict(params or {}))

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Return the options with defaults filled in, or raise StrategyError naming the bad one."""
        unknown = set(params) - set(cls.options)
        if unknown:
            allowed = ", ".join(sorted(cls.options)) or "none"
            raise StrategyError(
                f"strategy {cls.name}: unknown option(s) {', '.join(sorted(unknown))}; options: {allowed}"
            )
        values: dict[str, Any] = {}
        for option, allowed in cls.options.items():
            default, *choices = allowed
            value = params.get(option, default)
            if isinstance(default, int | float) and not isinstance(default, bool):
                try:
                    value = type(default)(value)
                except (TypeError, ValueError):
                    raise StrategyError(f"strategy {cls.name}: {option} must be a number, got {value!r}") from None
            elif choices and value not in (default, *choices):
                raise StrategyError(
                    f"strategy {cls.name}: {option} must be one of {', '.join(map(str, (default, *choices)))}, "
                    f"got {value!r}"
                )
            values[option] = value
        return values

    def roles_needed(self) -> tuple[str, ...]:
        """Return the roles this strategy needs with its current options."""
        return self.required_roles

    def check_roles(self, roles: Mapping[str, str]) -> None:
        """Raise StrategyError when a needed role is missing or an unknown role is given."""
        needed = self.roles_needed()
        missing = [role for role in needed if role not in roles]
        if missing:
            raise StrategyError(
                f"strategy {self.name} needs role(s) {', '.join(missing)}: pass --roles "
                + ",".join(f"{role}=MODEL" for role in needed)
            )
        unknown = set(roles) - set(self.required_roles) - set(self.optional_roles)
        if unknown:
            allowed = ", ".join((*self.required_roles, *self.optional_roles))
            raise StrategyError(
                f"strategy {self.name} does not use role(s) {', '.join(sorted(unknown))}; roles: {allowed}"
            )

    @property
    def uses_existing(self) -> bool:
        """True when the strategy judges the answers a sample already has instead of generating new ones."""
        return self.params.get("answers") == "existing"

    async def run(self, ctx: ItemContext) -> None:
        """Work one item, recording candidates and verdicts on `ctx`; raise ItemFailed to fail it with a reason."""
        raise NotImplementedError

