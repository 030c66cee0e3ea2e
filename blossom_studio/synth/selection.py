"""Which samples a job works on: filters by source, language and reference, a saved selection, a limit, or a seeded
random sample."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from blossom_studio.profile.language import LANGS as PROFILE_LANGS
from blossom_studio.store import Store

# Until a sample is profiled (profile_version IS NULL), it is Chinese when Han characters are at least a fifth of the
# Han and Latin letters in its user turns (the rule the bundled data's MANIFEST uses), else English.
_USER_TEXT = "array_to_string(json_extract_string(messages, '$[*].content'), ' ')"
LANG_SQL = {
    "zh": f"(length(regexp_replace({_USER_TEXT}, '[^\\p{{Han}}]', '', 'g')) * 4 "
    f">= length(regexp_replace({_USER_TEXT}, '[^A-Za-z]', '', 'g')) "
    f"AND regexp_matches({_USER_TEXT}, '\\p{{Han}}'))",
}
LANG_SQL["en"] = f"NOT {LANG_SQL['zh']}"


class SelectionError(ValueError):
    """A selection that cannot be applied, explained."""


@dataclass(frozen=True)
class Selection:
    """Filters and a size that pick samples; the same selection and seed always pick the same samples."""

    source: str | None = None
    lang: str | None = None
    with_reference: bool | None = None
    with_candidates: bool | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    ids: tuple[str, ...] | None = None
    saved: str | None = None

    def describe(self) -> dict[str, Any]:
        """Return the selection as JSON-ready data, without empty fields."""
        data = asdict(self)
        if self.ids is not None:
            data["ids"] = len(self.ids)
        return {key: value for key, value in data.items() if value is not None}


def select_sample_ids(store: Store, selection: Selection) -> list[str]:
    """Return the ids of the active samples the selection picks, in import order or a saved selection's own order."""
    if selection.lang is not None and selection.lang not in PROFILE_LANGS:
        raise SelectionError(f"language must be zh or en, got {selection.lang!r} "
                             f"(profiled samples can also be {', '.join(PROFILE_LANGS[2:])})")
    for name in ("limit", "sample"):
        value = getattr(selection, name)
        if value is not None and value < 1:
            raise SelectionError(f"--{name} must be at least 1, got {value}")
    where = ["status = 'active'"]
    params: list[Any] = []
    if selection.source is not None:
        where.append("source = ?")
        params.append(selection.source)
    if selection.lang in LANG_SQL:
        where.append(f"(lang = ? OR (profile_version IS NULL AND {LANG_SQL[selection.lang]}))")
        params.append(selection.lang)
    elif selection.lang is not None:
        where.append("lang = ?")
        params.append(selection.lang)
    if selection.with_reference is not None:
        where.append(
            "reference IS NOT NULL AND reference <> ''"
            if selection.with_reference
            else "(reference IS NULL OR reference = '')"
        )
    if selection.with_candidates is not None:
        exists = "EXISTS (SELECT 1 FROM candidates c WHERE c.sample_id = samples.id)"
        where.append(exists if selection.with_candidates else f"NOT {exists}")
    if selection.ids is not None:
        where.append("list_contains(?, id)")
        params.append(list(selection.ids))
    saved = None if selection.saved is None else _saved_ids(store, selection.saved)
    if saved is not None:
        where.append("id IN (SELECT unnest(sample_ids) FROM selections WHERE name = ?)")
        params.append(selection.saved)
    sql = f"SELECT id FROM samples WHERE {' AND '.join(where)} ORDER BY created_at, import_id, row_number, id"
    ids = [row[0] for row in store.query(sql, params)]
    if saved is not None:  # a saved selection keeps its own order
        matched = set(ids)
        ids = [sample_id for sample_id in dict.fromkeys(saved) if sample_id in matched]
    if selection.sample is not None and selection.sample < len(ids):
        picked = set(random.Random(selection.seed).sample(ids, selection.sample))
        ids = [sample_id for sample_id in ids if sample_id in picked]
    if selection.limit is not None:
        ids = ids[: selection.limit]
    return ids


def _saved_ids(store: Store, name: str) -> list[str]:
    rows = store.query("SELECT sample_ids FROM selections WHERE name = ?", [name])
    if rows:
        return list(rows[0][0])
    names = [row[0] for row in store.query("SELECT name FROM selections ORDER BY name")]
    known = f"saved selections: {', '.join(names)}" if names else "none is saved yet (`rebalance --save` saves one)"
    raise SelectionError(f"no saved selection named {name!r}; {known}")
