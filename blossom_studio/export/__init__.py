"""Export curated sets: the samples whose effective verdict keeps them, in an SFT or preference layout, as JSONL, CSV
or Parquet, with a manifest and a Hugging Face dataset card, optionally pushed to the Hub.

`export(store, request, target)` does it all; `prepare_export` previews (counts and first records) without writing.
Modules: `request` (what is asked, checks), `query` (resolving samples in SQL), `formats` (each layout's record),
`plan` (limit, balance, split, counts), `writer` (staged files, manifest, exports table), `card`, `hub`.
"""

from __future__ import annotations

from pathlib import Path

from blossom_studio.export.hub import HubError, check_push, push_to_hub, upload_plan
from blossom_studio.export.plan import ExportPlan, prepare_export
from blossom_studio.export.query import REASON_HELP, REASONS
from blossom_studio.export.request import (
    FILE_TYPES,
    FORMATS,
    INCLUDABLE,
    ExportError,
    ExportRequest,
    resolve_target,
)
from blossom_studio.export.writer import ExportResult, Progress, check_target, write_export
from blossom_studio.store import Store


def export(store: Store, request: ExportRequest, target: str | Path, *, root: Path | None = None,
           overwrite: bool = False, created_by: str | None = None, progress: Progress | None = None) -> ExportResult:
    """Check the request and the target, then write the export; a refused request writes nothing."""
    request.check()
    folder = resolve_target(target, root)
    check_target(folder, overwrite)
    with prepare_export(store, request) as plan:
        return write_export(store, plan, folder, overwrite=overwrite, created_by=created_by, progress=progress)


def list_exports(store: Store, limit: int = 50) -> list[dict[str, object]]:
    """Return the latest exports, newest first: id, path, format, file type, rows, hub repo, who and when."""
    rows = store.query("SELECT id, path, format, file_type, rows, hub_repo, created_by, created_at FROM exports "
                       "ORDER BY created_at DESC LIMIT ?", [limit])
    keys = ("id", "path", "format", "file_type", "rows", "hub_repo", "created_by", "created_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def record_push(store: Store, export_id: str, repo: str) -> None:
    """Record that an export was pushed to a Hub repository."""
    with store.write() as cursor:
        cursor.execute("UPDATE exports SET hub_repo = ? WHERE id = ?", [repo, export_id])


__all__ = [
    "FILE_TYPES",
    "FORMATS",
    "INCLUDABLE",
    "REASONS",
    "REASON_HELP",
    "ExportError",
    "ExportPlan",
    "ExportRequest",
    "ExportResult",
    "HubError",
    "check_push",
    "check_target",
    "export",
    "list_exports",
    "prepare_export",
    "push_to_hub",
    "record_push",
    "resolve_target",
    "upload_plan",
    "write_export",
]
