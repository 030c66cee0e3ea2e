"""Which samples a job works on: filters by source, language and reference, a limit, or a seeded random sample."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from blossom_studio.store import Store

# Until the language profile exists as columns, a sample is Chinese when Han characters are at least a fifth of the
# Han and Latin letters in its user turns (the rule the bundled data's MANIFEST uses).
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

    def describe(self) -> dict[str, Any]:
        """Return the selection as JSON-ready data, without empty fields."""
        data = asdict(self)
        if self.ids is not None:
            data["ids"] = len(self.ids)
        return {key: value for key, value in data.items() if value is not None}


def select_sample_ids(store: Store, selection: Selection) -> list[str]:
    """Return the ids of the active samples the selection picks, in a stable order."""
    if selection.lang is not None and selection.lang not in LANG_SQL:
        raise SelectionError(f"language must be zh or en, got {selection.lang!r}")
    for name in ("limit", "sample"):
        value = getattr(selection, name)
        if value is not None and value < 1:
            raise SelectionError(f"--{name} must be at least 1, got {value}")
    where = ["status = 'active'"]
    params: list[Any] = []
    if selection.source is not None:
        where.append("source = ?")
        params.append(selection.source)
    if selection.lang is not None:
        where.append(LANG_SQL[selection.lang])
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
    sql = f"SELECT id FROM samples WHERE {' AND '.join(where)} ORDER BY created_at, import_id, row_number, id"
    ids = [row[0] for row in store.query(sql, params)]
    if selection.sample is not None and selection.sample < len(ids):
        picked = set(random.Random(selection.seed).sample(ids, selection.sample))
        ids = [sample_id for sample_id in ids if sample_id in picked]
    if selection.limit is not None:
        ids = ids[: selection.limit]
    return ids
