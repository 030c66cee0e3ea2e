"""Plan an export: resolve every selected sample in DuckDB, then apply the limit, the language balance and the split."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from blossom_studio.export.formats import select_list
from blossom_studio.export.query import REASONS, duplicates_sql, resolved_sql, selection_where
from blossom_studio.export.request import ExportError, ExportRequest
from blossom_studio.store import Store

PREVIEW_ROWS = 5


@dataclass
class ExportPlan:
    """A resolved export held in a temporary table of one cursor: what goes out, per split, and what is left out."""

    request: ExportRequest
    cursor: Any
    table: str
    quotas: dict[str, int] | None
    test_rows: int
    counts: dict[str, Any] = field(default_factory=dict)
    stored_in_order: bool = False
    aligned: str | None = None

    def final_sql(self, split: str | None = None) -> str:
        """Return the SELECT of the rows that go out (all columns plus `split`), optionally of one split only."""
        seed = int(self.request.seed)
        quota = ""
        if self.quotas is not None and "*" in self.quotas:
            quota = f"QUALIFY row_number() OVER (ORDER BY pick, id) <= {self.quotas['*']}"
        elif self.quotas is not None:
            cases = " ".join(f"WHEN {lang!r} THEN {count}" for lang, count in self.quotas.items())
            quota = (f"QUALIFY row_number() OVER (PARTITION BY lang ORDER BY pick, id) "
                     f"<= CASE lang {cases} ELSE 0 END")
        kept = f"SELECT * FROM {self.table} WHERE reason IS NULL {quota}"
        if not self.test_rows:
            sql = f"SELECT *, 'train' AS split FROM ({kept})"
        else:
            sql = f"""SELECT * EXCLUDE (test_rank), CASE WHEN test_rank <= {self.test_rows} THEN 'test' ELSE 'train'
                END AS split FROM (SELECT *, row_number() OVER (ORDER BY hash(id, {seed + 1}), id) AS test_rank
                FROM ({kept}))"""
        return sql if split is None else f"SELECT * FROM ({sql}) WHERE split = '{split}'"

    def records_sql(self, split: str, file_type: str | None = None) -> str:
        """Return the SELECT of a split's exported records, in import order, typed for the file type."""
        columns = select_list(self.request.format, file_type or self.request.file_type)
        if self.aligned is not None:  # one scan of samples in storage order, which is import order: no sort
            rows = f"""SELECT s.id, s.source, s.metadata, coalesce(a.messages_out, s.messages) AS messages_out
                FROM samples s POSITIONAL JOIN {self.aligned} a WHERE a.split = '{split}'"""
            return f"SELECT {columns} FROM ({rows})"
        rows = f"""SELECT t.* EXCLUDE (messages_out), coalesce(t.messages_out, s.messages) AS messages_out, s.metadata
            FROM ({self.final_sql(split)}) t JOIN samples s ON s.id = t.id"""
        return f"SELECT {columns} FROM ({rows}) ORDER BY ord"

    @contextmanager
    def storage_order(self) -> Iterator[None]:
        """Within this block, records_sql of an SFT export reads samples in storage order beside a table aligned
        with it row for row, instead of sorting the records, when storage order is import order for every row that
        goes out; a transaction keeps samples as the aligned table saw them."""
        if not self.stored_in_order or self.request.format == "preference" or self.aligned is not None:
            yield
            return
        aligned = f"{self.table}_aligned"
        self.cursor.begin()
        try:
            self.cursor.execute(f"""CREATE TEMP TABLE {aligned} AS
                SELECT t.split, t.messages_out FROM samples s
                LEFT JOIN ({self.final_sql()}) t ON t.id = s.id ORDER BY s.rowid""")
            self.aligned = aligned
            yield
        except BaseException:
            self.cursor.rollback()  # the aligned table goes with the transaction
            raise
        else:
            self.cursor.execute(f"DROP TABLE {aligned}")
            self.cursor.commit()
        finally:
            self.aligned = None

    def preview(self, rows: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
        """Return the first records of the train split as they will be written (JSON values parsed)."""
        sql = f"SELECT to_json(r) FROM ({self.records_sql('train', 'jsonl')} LIMIT {int(rows)}) r"
        return [orjson.loads(row[0]) for row in self.cursor.execute(sql).fetchall()]

    @property
    def rows(self) -> int:
        """The number of records that go out (all splits)."""
        return int(self.counts.get("rows", 0))


def _apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `total` by weight, largest remainders first, so that the parts add up to it."""
    whole = sum(weights.values())
    exact = {lang: total * weight / whole for lang, weight in weights.items()}
    parts = {lang: math.floor(value) for lang, value in exact.items()}
    for lang in sorted(exact, key=lambda key: exact[key] - parts[key], reverse=True)[: total - sum(parts.values())]:
        parts[lang] += 1
    return parts


def _quotas(request: ExportRequest, eligible: dict[str, int]) -> dict[str, int] | None:
    """Return per-language quotas for the balance and limit, or None when every eligible row goes out."""
    if request.balance:
        weights = request.balance
        short = [lang for lang in weights if not eligible.get(lang)]
        if short:
            have = ", ".join(f"{lang} {n}" for lang, n in sorted(eligible.items())) or "none"
            raise ExportError(f"cannot balance {':'.join(weights)}: no exportable {', '.join(short)} samples "
                              f"(exportable by language: {have}); nothing was written")
        most = min(eligible[lang] * sum(weights.values()) / weight for lang, weight in weights.items())
        total = math.floor(most + 1e-9)
        if request.limit is not None:
            total = min(total, request.limit)
        quotas = _apportion(total, weights)
        return {lang: min(quota, eligible[lang]) for lang, quota in quotas.items()}
    if request.limit is not None and request.limit < sum(eligible.values()):
        return {"*": request.limit}
    return None


def _kept(quotas: dict[str, int] | None, eligible: dict[str, int]) -> int:
    """Return how many eligible rows the quotas let through."""
    if quotas is None:
        return sum(eligible.values())
    if "*" in quotas:
        return min(quotas["*"], sum(eligible.values()))
    return sum(min(n, quotas.get(lang, 0)) for lang, n in eligible.items())


def _test_rows(request: ExportRequest, rows: int) -> int:
    size = request.test_size
    if not size:
        return 0
    count = int(size) if size >= 1 else round(rows * size)
    if size < 1 and count == 0 and rows >= 2:
        count = 1
    if count >= rows:
        raise ExportError(f"a test split of {size} leaves no training rows out of {rows}; ask for a smaller test "
                          "size; nothing was written")
    return count


def _group(cursor: Any, sql: str) -> dict[str, int]:
    return {str(key): int(count) for key, count in cursor.execute(sql).fetchall()}


def _check_selection(store: Store, name: str) -> None:
    if not store.query("SELECT 1 FROM selections WHERE name = ?", [name]):
        names = [row[0] for row in store.query("SELECT name FROM selections ORDER BY name")]
        known = f"saved selections: {', '.join(names)}" if names else "no selection is saved yet"
        raise ExportError(f"no saved selection named {name!r}; {known}")


@contextmanager
def prepare_export(store: Store, request: ExportRequest) -> Iterator[ExportPlan]:
    """Resolve the request into a plan (temporary table on this thread's read cursor, dropped on exit)."""
    from blossom_studio.review import effective_relation_sql, revision_map_sql

    request.check()
    if request.selection:
        _check_selection(store, request.selection)
    cursor = store.read()
    where, params = selection_where(request.sources, request.lang, request.selection)
    sql = resolved_sql(where, effective_relation_sql(store, cursor), revision_map_sql(),
                       preference=request.format == "preference", alpaca=request.format == "alpaca",
                       include=request.include, judged_only=request.judged_only,
                       langs=list(request.balance) if request.balance else None, seed=request.seed,
                       dedupe=request.dedupe)
    table = f"export_{uuid.uuid4().hex[:12]}"
    cursor.execute(f"CREATE TEMP TABLE {table} AS {sql}", params)
    try:
        if request.dedupe:
            cursor.execute(duplicates_sql(table, request.format == "preference"))
        plan = ExportPlan(request, cursor, table, None, 0)
        plan.stored_in_order = bool(cursor.execute(f"""SELECT coalesce(bool_and(ord > previous), TRUE) FROM (
            SELECT ord, lag(ord, 1, 0) OVER (ORDER BY stored_at) AS previous FROM {table})""").fetchall()[0][0])
        eligible = _group(cursor, f"SELECT lang, count(*) FROM {table} WHERE reason IS NULL GROUP BY lang")
        plan.quotas = _quotas(request, eligible)
        _count(plan, store, over_quota=sum(eligible.values()) - _kept(plan.quotas, eligible))
        if plan.rows == 0:
            raise ExportError(_empty_message(plan))
        plan.test_rows = _test_rows(request, plan.rows)
        _count_splits(plan)
        yield plan
    finally:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _count(plan: ExportPlan, store: Store, over_quota: int) -> None:
    """Fill the plan's counts: rows by language, source and verdict, what was left out and why (`over_quota`: the
    eligible rows the limit or balance drops), judges and jobs."""
    cursor, table, final = plan.cursor, plan.table, plan.final_sql()
    left_out = _group(cursor, f"SELECT reason, count(*) FROM {table} WHERE reason IS NOT NULL GROUP BY reason")
    if over_quota:
        left_out["over_quota"] = left_out.get("over_quota", 0) + over_quota
    left_out = {reason: left_out[reason] for reason in REASONS if left_out.get(reason)}
    summary = cursor.execute(f"""SELECT count(*), count(*) FILTER (WHERE decided_by = 'human'),
        count(*) FILTER (WHERE overridden), count(*) FILTER (WHERE unprofiled), list(DISTINCT judge ORDER BY judge)
            FILTER (WHERE judge IS NOT NULL), list(DISTINCT job_id ORDER BY job_id) FILTER (WHERE job_id IS NOT NULL)
        FROM ({final})""").fetchall()[0]
    rows, human, overridden, unprofiled, judges, job_ids = summary
    jobs = [{"id": job_id, "name": name, "strategy": strategy} for job_id, name, strategy in store.query(
        "SELECT id, name, strategy FROM jobs WHERE list_contains(?, id) ORDER BY created_at", [job_ids or []])]
    plan.counts.update({
        "rows": int(rows),
        "selected": int(cursor.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]),
        "by_lang": _group(cursor, f"SELECT lang, count(*) FROM ({final}) GROUP BY ALL ORDER BY ALL"),
        "by_source": _group(cursor, f"SELECT source, count(*) FROM ({final}) GROUP BY ALL ORDER BY ALL"),
        "by_verdict": _group(cursor, f"""SELECT CASE WHEN decided_by = 'import' THEN 'none'
            ELSE decided_by || ':' || coalesce(kind, 'decision') END, count(*) FROM ({final}) GROUP BY ALL
            ORDER BY ALL"""),
        "left_out": left_out,
        "human_decisions": int(human),
        "overrides": int(overridden),
        "unprofiled": int(unprofiled),
        "judges": list(judges or []),
        "jobs": jobs,
    })


def _count_splits(plan: ExportPlan) -> None:
    splits = {"train": plan.rows - plan.test_rows}
    if plan.test_rows:
        splits["test"] = plan.test_rows
    plan.counts["splits"] = splits


def _empty_message(plan: ExportPlan) -> str:
    counts = plan.counts
    selected = counts.get("selected", 0)
    if not selected:
        return "the selection is empty: no active sample matches the filters; nothing was written"
    reasons = ", ".join(f"{reason} {n}" for reason, n in counts["left_out"].items())
    return f"nothing to export: all {selected} selected samples are left out ({reasons}); nothing was written"
