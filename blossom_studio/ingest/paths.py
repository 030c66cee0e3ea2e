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
        if not path.is_dir():
            expanded.append(path)
            continue
        found = sorted(
            file for file in path.rglob("*")
            if file.is_file() and is_data_file(file)
            and not any(part.startswith(".") for part in file.relative_to(path).parts)
        )
        expanded.extend(found or [path])
    return expanded
