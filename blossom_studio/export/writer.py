"""Write a planned export: data files per split, manifest.json and README.md, staged first so that a failure or an
interrupt leaves nothing behind, then recorded in the exports table."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from blossom_studio import __version__
from blossom_studio.export.card import render_card
from blossom_studio.export.plan import ExportPlan
from blossom_studio.export.request import FILE_TYPES, ExportError, data_file_name
from blossom_studio.store import Store

BOM = b"\xef\xbb\xbf"
SPLITS = ("train", "test")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    """A written export: its folder, manifest and the files written (relative paths)."""

    id: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> list[str]:
        """Return every file of the export folder that belongs to it, relative, data files first."""
        return [f["path"] for f in self.manifest["files"]] + ["manifest.json", "README.md"]


def owned_paths(folder: Path) -> list[Path]:
    """Return the files of `folder` an export writes (README.md, manifest.json, data/{train,test}.*) that exist."""
    names = ["README.md", "manifest.json", *(data_file_name(s, t) for s in SPLITS for t in FILE_TYPES)]
    return [folder / name for name in names if (folder / name).exists()]


def check_target(folder: Path, overwrite: bool) -> None:
    """Refuse a folder that is a file, or that holds an earlier export's files when `overwrite` is not set."""
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} is a file; an export goes to a folder (data files, manifest.json, README.md); "
                          "nothing was written")
    existing = owned_paths(folder)
    if existing and not overwrite:
        raise ExportError(f"{existing[0]} already exists; pass --overwrite (or tick Overwrite) to replace the "
                          "export in that folder; nothing was written")


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _copy(plan: ExportPlan, split: str, path: Path) -> None:
    """Write one split's records with DuckDB's COPY (a BOM is put in front of CSV when asked for)."""
    request = plan.request
    options = {"jsonl": "FORMAT json", "csv": "FORMAT csv, HEADER true",
               "parquet": "FORMAT parquet, COMPRESSION zstd"}[request.file_type]
    target = path.with_name(path.name + ".nobom") if request.bom else path
    plan.cursor.execute(f"COPY ({plan.records_sql(split)}) TO {_sql_path(target)} ({options})")
    if request.bom:
        with path.open("wb") as out, target.open("rb") as source:
            out.write(BOM)
            shutil.copyfileobj(source, out, 1 << 20)
        target.unlink()


def build_manifest(plan: ExportPlan, export_id: str, name: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the manifest: the request, the counts, each file's rows and sha256, and the tool version."""
    return {
        "id": export_id,
        "name": name,
        "format": plan.request.format,
        "file_type": plan.request.file_type,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": {"name": "blossom-studio", "version": __version__},
        "request": plan.request.describe(),
        "counts": plan.counts,
        "files": files,
    }


def write_export(store: Store, plan: ExportPlan, folder: Path, *, overwrite: bool = False,
                 created_by: str | None = None, progress: Progress | None = None) -> ExportResult:
    """Write the plan into `folder` (staged beside it, then moved in) and record it; return what was written."""
    folder = folder.resolve()
    check_target(folder, overwrite)
    say = progress or (lambda _message: None)
    export_id = uuid.uuid4().hex[:12]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial-{export_id}"
    try:
        (staging / "data").mkdir(parents=True)
        files = []
        with plan.storage_order():
            for split, rows in plan.counts["splits"].items():
                relative = data_file_name(split, plan.request.file_type)
                say(f"writing {relative} ({rows:,} rows)")
                _copy(plan, split, staging / relative)
                files.append({"split": split, "path": relative, "rows": rows,
                              "bytes": (staging / relative).stat().st_size, "sha256": sha256(staging / relative)})
        manifest = build_manifest(plan, export_id, plan.request.name or folder.name, files)
        (staging / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        (staging / "README.md").write_text(render_card(manifest), encoding="utf-8")
        say("moving the files into place")
        _move_in(staging, folder, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with store.write() as cursor:
        cursor.execute(
            "INSERT INTO exports (id, path, format, file_type, request, counts, files, rows, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [export_id, str(folder), plan.request.format, plan.request.file_type,
             orjson.dumps(manifest["request"]).decode(), orjson.dumps(plan.counts).decode(),
             orjson.dumps(files).decode(), plan.rows, created_by])
    store.checkpoint()
    return ExportResult(export_id, folder, manifest)


def _move_in(staging: Path, folder: Path, overwrite: bool) -> None:
    """Replace the export's own files in `folder` by the staged ones (other files in the folder are left alone)."""
    check_target(folder, overwrite)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for old in owned_paths(folder):
        old.unlink()
    for staged in sorted(staging.rglob("*")):
        if staged.is_file():
            os.replace(staged, folder / staged.relative_to(staging))
