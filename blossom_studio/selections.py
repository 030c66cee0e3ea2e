"""Saved selections, and rebalancing: a language ratio and a size give a seeded sample stratified by source.

Rebalancing keeps the ratio before the size: when a language has fewer profiled samples than its share, it gives
all it has and every other language is scaled down with it, so the selection is smaller but keeps the ratio asked
for; the missing samples are reported as the shortfall. `fill=True` instead tops the size up with the other
languages (the ratio gives way). Picks are deterministic: on the same data, the same ratio, size, sources and seed
pick the same ids, and a larger quota picks a superset of a smaller one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import orjson

from blossom_studio.store import Store
from blossom_studio.synth.selection import PROFILE_LANGS, SelectionError

RATIO_FORMS = "zh:en=1:1 or zh=1,en=1"
NAME_MAX = 64
_NAME = re.compile(r"[^\W][\w.\-]*")  # \w is Unicode: letters and digits of any script (CJK too) and '_'


@dataclass
class RebalancePlan:
    """A previewed rebalance: the picked ids, counts per language and source, the request, and what fell short."""

    ids: list[str]
    counts: list[dict[str, Any]]
    spec: dict[str, Any]
    shortfall: dict[str, int] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """Return the selected samples per language, for every language of the ratio."""
        totals = dict.fromkeys(self.spec.get("ratio", {}), 0)
        for row in self.counts:
            totals[row["lang"]] = totals.get(row["lang"], 0) + row["selected"]
        return totals

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data: samples, totals, shortfall, counts, spec and ids."""
        return {"samples": len(self.ids), "totals": self.totals(), "shortfall": dict(self.shortfall),
                "counts": [dict(row) for row in self.counts], "spec": dict(self.spec), "ids": list(self.ids)}


@dataclass
class SavedSelection:
    """A named list of sample ids with the spec that made it and its counts."""

    name: str
    spec: dict[str, Any]
    ids: list[str]
    counts: list[dict[str, Any]]
    created_by: str | None
    created_at: str | None


def parse_ratio(text: str) -> dict[str, float]:
    """Parse a language ratio written "zh:en=1:1" or "zh=1,en=1" into weights by language."""
    compact = "".join(str(text).split()).lower()
    if ":" in compact:
        names, sep, values = compact.partition("=")
        langs, weights = names.split(":"), values.split(":")
        if not sep or "," in compact or len(langs) != len(weights):
            raise _ratio_error(f"cannot read the ratio {text!r}")
        pairs = list(zip(langs, weights, strict=True))
    else:
        parts = [part.partition("=") for part in compact.split(",")]
        if not compact or any(not sep for _, sep, _ in parts):
            raise _ratio_error(f"cannot read the ratio {text!r}")
        pairs = [(lang, weight) for lang, _, weight in parts]
    ratio: dict[str, float] = {}
    for lang, weight in pairs:
        if lang in ratio:
            raise _ratio_error(f"the ratio {text!r} names {lang} twice")
        try:
            ratio[lang] = float(weight)
        except ValueError:
            raise _ratio_error(f"the weight {weight!r} of {lang or '?'} is not a number") from None
    return _check_ratio(ratio)


def plan_rebalance(
    store: Store,
    ratio: Mapping[str, float],
    size: int,
    *,
    seed: int = 0,
    source: str | None = None,
    sources: Sequence[str] | None = None,
    fill: bool = False,
) -> RebalancePlan:
    """Pick about `size` active, profiled samples in the ratio's languages, each language's quota split across
    sources in proportion to what each has, with a seeded pick inside each (language, source)."""
    weights = _check_ratio(ratio)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SelectionError(f"the size must be a whole number of at least 1, got {size!r}")
    wanted = sorted({*([source] if source else []), *(sources or [])}) or None
    scope, params = _scope(store, wanted)
    groups = store.query(
        f"SELECT lang, source, count(*) FROM samples WHERE {scope} AND profile_version IS NOT NULL "
        "GROUP BY ALL ORDER BY ALL", params)
    unprofiled = store.query(f"SELECT count(*) FROM samples WHERE {scope} AND profile_version IS NULL", params)[0][0]
    if not groups:
        where = f" from {', '.join(wanted)}" if wanted else ""
        raise SelectionError(f"no profiled samples yet{where}: {unprofiled} active samples wait for the language "
                             "profile; wait for profiling to finish (or run `python -m blossom_studio profile`), "
                             "then rebalance again")
    available = {(lang, src): n for lang, src, n in groups if lang in weights}
    per_lang = {lang: sum(n for (key, _), n in available.items() if key == lang) for lang in weights}
    targets = _apportion(size, weights)
    shortfall = {lang: targets[lang] - per_lang[lang] for lang in weights if targets[lang] > per_lang[lang]}
    takes = _fill(size, weights, targets, per_lang) if fill else _keep_ratio(size, weights, per_lang)
    quotas: dict[tuple[str, str], int] = {}
    for lang in weights:
        strata = {src: n for (key, src), n in available.items() if key == lang}
        if strata:
            quotas.update({(lang, src): n for src, n in _apportion(takes[lang], strata).items()})
    ids = _pick(store, quotas, seed, scope, params)
    counts = [{"lang": lang, "source": src, "available": available[(lang, src)], "selected": quotas[(lang, src)]}
              for lang in weights for (key, src) in sorted(available) if key == lang]
    spec = {"kind": "rebalance", "ratio": weights, "size": size, "seed": seed, "sources": wanted, "fill": fill,
            "targets": targets, "unprofiled": unprofiled}
    return RebalancePlan(ids=ids, counts=counts, spec=spec, shortfall=shortfall)


def save_selection(
    store: Store, name: str, plan: RebalancePlan, *, created_by: str | None = None, overwrite: bool = False
) -> None:
    """Save a rebalance plan's ids under `name`, with its spec, shortfall and counts."""
    if not plan.ids:
        raise SelectionError(f"the rebalance picks no samples (short: {_shortfall_text(plan.shortfall)}); "
                             "there is nothing to save")
    spec = {**plan.spec, "shortfall": dict(plan.shortfall)}
    _write(store, name, spec, list(plan.ids), plan.counts, created_by, overwrite)


def save_ids(
    store: Store,
    name: str,
    ids: Iterable[str],
    spec: Mapping[str, Any],
    *,
    created_by: str | None = None,
    overwrite: bool = False,
) -> None:
    """Save any list of existing sample ids (for example a filter's result) under `name`, in the given order."""
    _check_name(name)
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise SelectionError("a selection needs at least one sample; the list of ids is empty")
    missing = [row[0] for row in store.query(
        "SELECT x FROM unnest(?::VARCHAR[]) AS t(x) WHERE x NOT IN (SELECT id FROM samples)", [unique])]
    if missing:
        raise SelectionError(f"{len(missing)} id(s) are not samples of this database, e.g. {', '.join(missing[:3])}")
    rows = store.query(
        "SELECT lang, source, count(*) FROM samples WHERE id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY ALL ORDER BY ALL NULLS LAST", [unique])
    counts = [{"lang": lang, "source": source, "selected": n} for lang, source, n in rows]
    _write(store, name, dict(spec), unique, counts, created_by, overwrite)


def get_selection(store: Store, name: str) -> SavedSelection | None:
    """Return the saved selection called `name`, or None."""
    rows = store.query(
        "SELECT name, spec, sample_ids, counts, created_by, created_at FROM selections WHERE name = ?", [name])
    if not rows:
        return None
    found, spec, ids, counts, created_by, created_at = rows[0]
    return SavedSelection(name=found, spec=orjson.loads(spec), ids=list(ids), counts=orjson.loads(counts),
                          created_by=created_by, created_at=str(created_at) if created_at else None)


def list_selections(store: Store) -> list[dict[str, Any]]:
    """Return the saved selections, newest first, each with name, samples, spec, created_by and created_at."""
    rows = store.query(
        "SELECT name, len(sample_ids), spec, created_by, created_at FROM selections ORDER BY created_at DESC, name")
    return [{"name": name, "samples": samples, "spec": orjson.loads(spec), "created_by": created_by,
             "created_at": str(created_at) if created_at else None}
            for name, samples, spec, created_by, created_at in rows]


def delete_selection(store: Store, name: str) -> bool:
    """Delete the saved selection called `name`; return whether it existed."""
    with store.write() as cursor:
        return cursor.execute("DELETE FROM selections WHERE name = ?", [name]).fetchall()[0][0] > 0


def _ratio_error(problem: str) -> SelectionError:
    return SelectionError(f"{problem}; write the ratio as {RATIO_FORMS} (languages: {', '.join(PROFILE_LANGS)}; "
                          "weights above 0)")


def _check_ratio(ratio: Mapping[str, float]) -> dict[str, float]:
    if not ratio:
        raise _ratio_error("the ratio names no language")
    checked: dict[str, float] = {}
    for lang, weight in ratio.items():
        if lang not in PROFILE_LANGS:
            raise _ratio_error(f"unknown language {lang!r} in the ratio")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
            raise _ratio_error(f"the weight of {lang} must be a number above 0, got {weight!r}")
        checked[lang] = float(weight)
    return checked


def _check_name(name: str) -> None:
    if not isinstance(name, str) or len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise SelectionError(f"a selection name is 1 to {NAME_MAX} letters, digits (CJK too), '-', '_' or '.', "
                             f"starting with a letter, digit or '_'; got {name!r}")


def _scope(store: Store, sources: list[str] | None) -> tuple[str, list[Any]]:
    """Return the WHERE clause and parameters of the active samples of `sources` (all when None)."""
    if sources is None:
        return "status = 'active'", []
    known = {row[0] for row in store.query("SELECT DISTINCT source FROM samples WHERE status = 'active'")}
    missing = [name for name in sources if name not in known]
    if missing:
        names = sorted(known)
        listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        raise SelectionError(f"no active samples from source(s) {', '.join(missing)}; sources: {listed or 'none'}")
    return "status = 'active' AND list_contains(?, source)", [sources]


def _apportion(total: int, weights: Mapping[str, float | int]) -> dict[str, int]:
    """Split `total` in proportion to `weights` by largest remainder (ties go to the key listed first)."""
    exact = {key: Fraction(weight) for key, weight in weights.items()}
    whole = sum(exact.values())
    shares = {key: total * weight / whole for key, weight in exact.items()}
    result = {key: math.floor(share) for key, share in shares.items()}
    by_remainder = sorted(shares, key=lambda key: shares[key] - result[key], reverse=True)  # sort is stable
    for key in by_remainder[: total - sum(result.values())]:
        result[key] += 1
    return result


def _keep_ratio(size: int, weights: dict[str, float], available: dict[str, int]) -> dict[str, int]:
    """Return the largest allocation of at most `size` that keeps the ratio and fits what each language has."""
    whole = sum(Fraction(weight) for weight in weights.values())
    n = min(size, *(math.floor(available[lang] * whole / Fraction(weight)) for lang, weight in weights.items()))
    while n > 0:
        allocation = _apportion(n, weights)
        if all(allocation[lang] <= available[lang] for lang in weights):
            return allocation
        n -= 1  # rounding gave a language one more than it has
    return dict.fromkeys(weights, 0)


def _fill(size: int, weights: dict[str, float], targets: dict[str, int], available: dict[str, int]) -> dict[str, int]:
    """Return each language's target capped at what it has, topped up to `size` by the languages with spare."""
    takes = {lang: min(targets[lang], available[lang]) for lang in weights}
    while (rest := size - sum(takes.values())) > 0:
        spare = {lang: weight for lang, weight in weights.items() if takes[lang] < available[lang]}
        if not spare:
            break
        for lang, extra in _apportion(rest, spare).items():
            takes[lang] = min(available[lang], takes[lang] + extra)
    return takes


def _pick(store: Store, quotas: dict[tuple[str, str], int], seed: int, scope: str, params: list[Any]) -> list[str]:
    """Return the first `n` ids of each (lang, source) stratum by md5(seed:id), all shuffled by that same hash."""
    chosen = {key: n for key, n in quotas.items() if n > 0}
    if not chosen:
        return []
    keys = list(chosen)
    sql = f"""
        WITH quota AS (
            SELECT unnest(?::VARCHAR[]) AS lang, unnest(?::VARCHAR[]) AS source, unnest(?::BIGINT[]) AS n
        ),
        hashed AS (
            SELECT id, lang, source, md5(?::VARCHAR || id) AS h
            FROM samples WHERE {scope} AND profile_version IS NOT NULL
        ),
        ranked AS (
            SELECT id, lang, source, h, row_number() OVER (PARTITION BY lang, source ORDER BY h, id) AS r
            FROM hashed SEMI JOIN quota USING (lang, source)
        )
        SELECT ranked.id FROM ranked JOIN quota USING (lang, source) WHERE ranked.r <= quota.n ORDER BY h, id
    """
    args = [[lang for lang, _ in keys], [src for _, src in keys], [chosen[key] for key in keys], f"{seed}:", *params]
    return [row[0] for row in store.query(sql, args)]


def _write(store: Store, name: str, spec: dict[str, Any], ids: list[str], counts: list[dict[str, Any]],
           created_by: str | None, overwrite: bool) -> None:
    _check_name(name)
    try:
        spec_json, counts_json = orjson.dumps(spec).decode(), orjson.dumps(counts).decode()
    except TypeError as exc:
        raise SelectionError(f"the selection's spec must be JSON data: {exc}") from None
    with store.write() as cursor:
        exists = cursor.execute("SELECT count(*) FROM selections WHERE name = ?", [name]).fetchall()[0][0]
        if exists and not overwrite:
            raise SelectionError(f"a selection named {name!r} already exists; pick another name or overwrite it "
                                 "(--overwrite)")
        cursor.execute("DELETE FROM selections WHERE name = ?", [name])
        cursor.execute("INSERT INTO selections (name, spec, sample_ids, counts, created_by) VALUES (?, ?, ?, ?, ?)",
                       [name, spec_json, ids, counts_json, created_by])


def _shortfall_text(shortfall: Mapping[str, int]) -> str:
    return ", ".join(f"{lang} {n}" for lang, n in shortfall.items()) or "none"
