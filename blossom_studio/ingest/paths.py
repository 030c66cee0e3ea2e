"""Paths to import: files as given, folders expanded to the data files below them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
"""Endings of the files a folder contributes (each optionally followed by .gz); a file named on its own is imported
whatever its name, because its content, not its name, decides how it is read."""


def is_data_file(path: Path) -> bool:
    """True when the file's name ends in one of DATA_SUFFIXES, optionally followed by .gz."""
    return path.name.lower().removesuffix(".gz").endswith(DATA_SUFFIXES)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Return the files to import: each file as given, each folder replaced by the data files below it (sorted,
    hidden files and folders left out); a folder with none stays, so that its report says so."""
    expanded: list[Path] = []
    for given in paths:
        path = Path(given)
        expanded.extend((_data_files(path) or [path]) if path.is_dir() else [path])
    return expanded


def _data_files(folder: Path) -> list[Path]:
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]  # never walks .git or .cache
        found.extend(Path(root, name) for name in files if not name.startswith(".") and is_data_file(Path(name)))
    return sorted(found)
