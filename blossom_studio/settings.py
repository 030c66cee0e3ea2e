"""Paths and environment variables that configure the studio."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
SAMPLE_DIR = DATA_DIR / "sample"
DEFAULT_DB_PATH = DATA_DIR / "studio.duckdb"

DB_ENV = "BLOSSOM_STUDIO_DB"


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the database path: the explicit one, else $BLOSSOM_STUDIO_DB, else data/studio.duckdb."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(DB_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_DB_PATH

ROSTER_ENV = "BLOSSOM_STUDIO_MODELS"
DEFAULT_ROSTER_PATH = DATA_DIR / "models.toml"


def roster_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the roster file: the explicit one, else $BLOSSOM_STUDIO_MODELS, else data/models.toml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(ROSTER_ENV)
    return Path(from_env) if from_env else DEFAULT_ROSTER_PATH

CACHE_ENV = "BLOSSOM_STUDIO_CACHE_DIR"


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder for rebuildable caches (jieba's dictionary): explicit, $BLOSSOM_STUDIO_CACHE_DIR, else XDG."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CACHE_ENV)
    if from_env:
        return Path(from_env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "blossom-studio"
