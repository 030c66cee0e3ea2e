"""Browse the stored samples: pages, search, one sample with its candidates, and the bundled first-run sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from blossom_studio import settings
from blossom_studio.store import Store

PAGE_COLUMNS = ("id", "source", "format", "turns", "prompt", "reference", "candidates")


@dataclass
class SamplePage:
    """One page of samples (rows as tuples in PAGE_COLUMNS order) and the number of samples that match."""

    rows: list[tuple[Any, ...]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages that the matching samples fill (at least 1)."""
        return max(1, -(-self.total // self.page_size))


def _where(search: str | None, source: str | None) -> tuple[str, list[Any]]:
    clauses, params = ["status = 'active'"], []
    if search and search.strip():
        escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("(messages::VARCHAR ILIKE ? ESCAPE '\\' OR coalesce(reference, '') ILIKE ? ESCAPE '\\')")
        params += [f"%{escaped}%"] * 2
    if source:
        clauses.append("source = ?")
        params.append(source)
    return " AND ".join(clauses), params


def page_samples(store: Store, *, page: int = 1, page_size: int = 50, search: str | None = None,
                 source: str | None = None) -> SamplePage:
    """Return one page of samples that match the search text (ILIKE, Chinese or English) and source."""
    where, params = _where(search, source)
    cursor = store.read()
    total = cursor.execute(f"SELECT count(*) FROM samples WHERE {where}", params).fetchall()[0][0]
    page = max(1, min(page, max(1, -(-total // page_size))))
    rows = cursor.execute(
        f"""
        WITH page AS (
            SELECT rowid AS rid, id, source, format, turns, messages, reference FROM samples
            WHERE {where} ORDER BY rowid LIMIT ? OFFSET ?
        )
        SELECT p.id, p.source, p.format, p.turns,
               left((SELECT m->>'content' FROM unnest(CAST(p.messages AS JSON[])) AS t(m)
                     WHERE m->>'role' = 'user' LIMIT 1), 160) AS prompt,
               left(p.reference, 80) AS reference,
               (SELECT count(*) FROM candidates c WHERE c.sample_id = p.id) AS candidates
        FROM page p ORDER BY p.rid
        """,
        [*params, page_size, (page - 1) * page_size],
    ).fetchall()
    return SamplePage(rows=rows, total=total, page=page, page_size=page_size)


def get_sample(store: Store, sample_id: str) -> dict[str, Any] | None:
    """Return a sample with its messages, metadata, reference and candidates, or None if there is none."""
    cursor = store.read()
    rows = cursor.execute(
        "SELECT id, source, source_id, format, messages, metadata, reference, import_id, row_number "
        "FROM samples WHERE id = ?", [sample_id]).fetchall()
    row = rows[0] if rows else None
    if row is None:
        return None
    names = ("id", "source", "source_id", "format", "messages", "metadata", "reference", "import_id", "row_number")
    sample = dict(zip(names, row, strict=True))
    sample["messages"] = orjson.loads(sample["messages"])
    sample["metadata"] = orjson.loads(sample["metadata"])
    candidates = cursor.execute(
        "SELECT id, model, label, message, extra, origin FROM candidates WHERE sample_id = ? ORDER BY position",
        [sample_id]).fetchall()
    sample["candidates"] = [
        {"id": c[0], "model": c[1], "label": c[2], "message": orjson.loads(c[3]),
         "extra": orjson.loads(c[4]) if c[4] else None, "origin": c[5]}
        for c in candidates
    ]
    return sample


def sources(store: Store) -> list[str]:
    """Return the distinct source names, sorted."""
    return [row[0] for row in store.query("SELECT DISTINCT source FROM samples ORDER BY source")]


def ensure_sample_data(store: Store) -> list[Any]:
    """Import the bundled sample in data/sample when the database has never imported anything."""
    from blossom_studio.ingest import import_files

    if store.query("SELECT count(*) FROM imports")[0][0] or store.query("SELECT count(*) FROM samples")[0][0]:
        return []
    files = sorted(settings.SAMPLE_DIR.glob("*.jsonl"))
    return import_files(store, files) if files else []
