"""The model roster: named OpenAI-compatible endpoints read from a TOML file and validated at load."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blossom_studio.llm.secrets import SECRET_PARAM, looks_like_key

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODEL_KEYS = {"base_url", "model", "api_key_env", "max_concurrency", "rpm", "timeout", "max_retries", "params"}
RESERVED_PARAMS = {"model", "messages", "stream", "n"}
NO_KEY = "not-needed"


class RosterError(ValueError):
    """A roster mistake, explained with how to fix it."""


@dataclass(frozen=True)
class ModelSpec:
    """One named endpoint: where it is, which model, the name of its key variable, limits and default params."""

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    max_concurrency: int = 8
    rpm: int | None = None
    timeout: float = 120.0
    max_retries: int = 6
    params: Mapping[str, Any] = field(default_factory=dict)

    def api_key(self) -> str:
        """Return the key from the environment variable the roster names (a placeholder for keyless servers)."""
        if not self.api_key_env:
            return NO_KEY
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise RosterError(
                f"model {self.name!r}: the environment variable {self.api_key_env} is not set; "
                f"export {self.api_key_env}=... before running, or remove api_key_env for a server without keys"
            )
        return key

    def public(self) -> dict[str, Any]:
        """Return the spec as data safe to store or show: names and limits, never a key."""
        return {
            "name": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "max_concurrency": self.max_concurrency,
            "rpm": self.rpm,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Roster:
    """The models a job may use, by name."""

    models: Mapping[str, ModelSpec]
    path: Path | None = None

    def get(self, name: str) -> ModelSpec:
        """Return the model called `name`, or explain which names exist."""
        if name in self.models:
            return self.models[name]
        known = ", ".join(sorted(self.models)) or "none"
        raise RosterError(f"no model named {name!r} in the roster{_where(self.path)}; the roster has: {known}")

    def names(self) -> list[str]:
        """Return the model names in roster order."""
        return list(self.models)


def _where(path: Path | None) -> str:
    return f" {path}" if path else ""


def _suggest(key: str, allowed: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(sorted(allowed))})"


def _positive_int(name: str, key: str, value: object, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RosterError(f"model {name!r}: {key} must be a whole number of at least 1, got {value!r}")
    return value


def parse_model(name: str, table: object) -> ModelSpec:
    """Validate one `[models.NAME]` table and return its spec."""
    if not isinstance(table, dict):
        raise RosterError(f"model {name!r}: expected a table [models.{name}] with base_url and model")
    if "api_key" in table:
        raise RosterError(
            f"model {name!r}: keys never go in the roster file; put the key in an environment variable "
            f'and write its name as api_key_env = "SOME_API_KEY"'
        )
    for key in table:
        if key not in MODEL_KEYS:
            raise RosterError(f"model {name!r}: unknown setting {key!r}{_suggest(key, MODEL_KEYS)}")
    base_url = table.get("base_url")
    if not isinstance(base_url, str) or not re.match(r"^https?://\S+$", base_url):
        raise RosterError(f'model {name!r}: base_url must be an http(s) URL such as "https://api.deepseek.com/v1"')
    model = table.get("model")
    if not isinstance(model, str) or not model.strip():
        raise RosterError(f'model {name!r}: model must name the endpoint\'s model, e.g. model = "deepseek-chat"')
    env = table.get("api_key_env")
    if env is not None and (not isinstance(env, str) or not ENV_NAME.match(env) or looks_like_key(env)):
        raise RosterError(
            f"model {name!r}: api_key_env must be the NAME of an environment variable (letters, digits, _), "
            "not the key itself"
        )
    timeout = table.get("timeout", 120.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise RosterError(f"model {name!r}: timeout must be a number of seconds above 0, got {timeout!r}")
    retries = table.get("max_retries", 6)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise RosterError(f"model {name!r}: max_retries must be a whole number of at least 0, got {retries!r}")
    params = table.get("params", {})
    if not isinstance(params, dict):
        raise RosterError(f"model {name!r}: params must be a table [models.{name}.params]")
    for key in params:
        if key in RESERVED_PARAMS:
            raise RosterError(f"model {name!r}: params.{key} is set by the studio; remove it from the roster")
        if SECRET_PARAM.search(key) or (isinstance(params[key], str) and looks_like_key(params[key])):
            raise RosterError(
                f"model {name!r}: params.{key} looks like a key; keys never go in the roster, "
                "put it in an environment variable named by api_key_env"
            )
    return ModelSpec(
        name=name,
        base_url=base_url.rstrip("/"),
        model=model.strip(),
        api_key_env=env,
        max_concurrency=_positive_int(name, "max_concurrency", table.get("max_concurrency", 8)) or 8,
        rpm=_positive_int(name, "rpm", table.get("rpm"), optional=True),
        timeout=float(timeout),
        max_retries=retries,
        params=dict(params),
    )


def parse_roster(data: Mapping[str, object], path: Path | None = None) -> Roster:
    """Validate roster data (the parsed TOML) and return the roster."""
    extra = set(data) - {"models"}
    if extra:
        raise RosterError(
            f"roster{_where(path)}: unknown top-level key(s) {sorted(extra)}; models go under [models.NAME]"
        )
    tables = data.get("models")
    if not isinstance(tables, dict) or not tables:
        raise RosterError(f"roster{_where(path)} lists no models; add a [models.NAME] table with base_url and model")
    return Roster({name: parse_model(name, table) for name, table in tables.items()}, path)


def load_roster(path: str | Path) -> Roster:
    """Read and validate a TOML roster file."""
    roster_path = Path(path)
    try:
        text = roster_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RosterError(f"the roster file {roster_path} does not exist (see data/models.example.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"cannot read the roster file {roster_path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RosterError(f"the roster file {roster_path} is not valid TOML: {exc}") from None
    return parse_roster(data, roster_path)


def with_models(roster: Roster, extra: Mapping[str, ModelSpec]) -> Roster:
    """Return a roster with `extra` models added after the roster's own; a model the roster already names is kept."""
    merged = dict(roster.models)
    for name, spec in extra.items():
        merged.setdefault(name, spec)
    return Roster(merged, roster.path)
