"""Paths and environment variables that configure the studio."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
SAMPLE_DIR = DATA_DIR / "sample"
DEFAULT_DB_PATH = DATA_DIR / "studio.duckdb"

DB_ENV = "BLOSSOM_STUDIO_DB"
AUTH_ENV = "BLOSSOM_STUDIO_AUTH"
SPACE_ID_ENV = "SPACE_ID"  # set by Hugging Face on a Space
OAUTH_CLIENT_ID_ENV = "OAUTH_CLIENT_ID"  # set by Hugging Face on a Space whose README says `hf_oauth: true`
SPACE_STORAGE = Path("/data")  # a Space's persistent storage, when it has some


class SettingsError(ValueError):
    """A malformed environment variable, explained in one line that says how to fix it."""


def on_space() -> bool:
    """Return whether the studio runs on a Hugging Face Space ($SPACE_ID is set)."""
    return bool(os.environ.get(SPACE_ID_ENV))


def space_oauth() -> bool:
    """Return whether "Sign in with Hugging Face" is enabled: on a Space whose front matter says `hf_oauth: true`."""
    return on_space() and bool(os.environ.get(OAUTH_CLIENT_ID_ENV))


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the database path: explicit, $BLOSSOM_STUDIO_DB, /data/studio.duckdb on a Space with persistent
    storage, else data/studio.duckdb."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(DB_ENV)
    if from_env:
        return Path(from_env)
    if on_space() and _writable_dir(SPACE_STORAGE):
        return SPACE_STORAGE / "studio.duckdb"
    return DEFAULT_DB_PATH


def ephemeral_storage(path: Path) -> bool:
    """Return whether the database would be lost when the Space restarts: on a Space and not under /data."""
    if not on_space():
        return False
    resolved = Path(os.path.abspath(path))
    return resolved != SPACE_STORAGE and SPACE_STORAGE not in resolved.parents


def auth_users(value: str | None = None) -> list[tuple[str, str]]:
    """Parse $BLOSSOM_STUDIO_AUTH (or `value`), "user:password,user2:password2", into (user, password) pairs.

    Passwords may hold ':' but not ','; spaces around user names and passwords are dropped. A malformed entry raises
    SettingsError naming the entry by its position (and the user, never the password).
    """
    text = os.environ.get(AUTH_ENV, "") if value is None else value
    if not text.strip():
        return []
    hint = f"write {AUTH_ENV}=user:password,user2:password2"
    users: list[tuple[str, str]] = []
    for number, entry in enumerate(text.split(","), start=1):
        if not entry.strip():
            raise SettingsError(f"{AUTH_ENV} entry {number} is empty; {hint}")
        if ":" not in entry:
            raise SettingsError(f"{AUTH_ENV} entry {number} has no ':'; {hint}")
        user, password = entry.split(":", 1)
        user = user.strip()
        if not user:
            raise SettingsError(f"{AUTH_ENV} entry {number} has no user name before ':'; {hint}")
        if not password.strip():
            raise SettingsError(f"{AUTH_ENV} entry {number} (user {user!r}) has an empty password; {hint}")
        names = [known for known, _ in users]
        if user in names:
            raise SettingsError(f"{AUTH_ENV} names user {user!r} twice (entries {names.index(user) + 1} and {number}); "
                                "give each user one entry")
        users.append((user, password.strip()))
    return users

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

EXPORTS_ENV = "BLOSSOM_STUDIO_EXPORTS"


def exports_dir(db: str | os.PathLike[str] | None = None) -> Path:
    """Return the export folder: $BLOSSOM_STUDIO_EXPORTS, else `exports/` beside the database file."""
    from_env = os.environ.get(EXPORTS_ENV)
    if from_env:
        return Path(from_env)
    return Path(os.path.abspath(db_path(db))).parent / "exports"
