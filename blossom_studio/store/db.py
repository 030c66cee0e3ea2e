"""Open the studio's DuckDB file, apply migrations, and hand out the single writer and read cursors."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from blossom_studio.store.migrations import apply_migrations

_LOCK_PID = re.compile(r"\(PID (\d+)\)")


class StoreError(Exception):
    """A database problem explained in one line for the user."""


class StoreLockedError(StoreError):
    """Another process holds the database file."""


class Store:
    """A DuckDB database with one serialised writer and a read cursor per thread."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.path = path
        self._connection = connection
        self._write_lock = threading.RLock()
        self._writer = connection.cursor()
        self._local = threading.local()
        self._closed = False

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the writer cursor inside one transaction; commit on success, roll back on any error."""
        with self._write_lock:
            cursor = self._writer
            cursor.begin()
            try:
                yield cursor
            except BaseException:
                cursor.rollback()
                raise
            cursor.commit()

    def read(self) -> duckdb.DuckDBPyConnection:
        """Return this thread's read cursor (it sees every committed write)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connection.cursor()
            self._local.cursor = cursor
        return cursor

    def query(self, sql: str, params: list | tuple | None = None) -> list[tuple]:
        """Run a read-only query on this thread's cursor and return all rows."""
        return self.read().execute(sql, params or []).fetchall()

    def checkpoint(self) -> None:
        """Flush the write-ahead log into the database file, unless another thread's transaction is open then."""
        with self._write_lock:
            try:
                self._writer.execute("CHECKPOINT")
            except duckdb.Error as exc:
                if "CHECKPOINT" not in str(exc):
                    raise
                # Another thread's transaction is open; DuckDB checkpoints on its own once the log grows.

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, *, read_only: bool = False) -> Store:
    """Open (creating if needed) the studio database at `path` and bring its schema up to date."""
    db_file = Path(path)
    if db_file.is_dir():
        raise StoreError(f"the studio database path {db_file} is a directory; give a file path")
    if not read_only:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        connection = duckdb.connect(str(db_file), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            match = _LOCK_PID.search(message)
            holder = f" (PID {match.group(1)})" if match else ""
            raise StoreLockedError(
                f"the studio database {db_file} is open in another process{holder}; "
                "close that process or use another file with --db"
            ) from None
        raise StoreError(f"cannot open the studio database {db_file}: {message}") from None
    except duckdb.Error as exc:
        raise StoreError(f"cannot open the studio database {db_file}: {exc}") from None
    store = Store(connection, db_file)
    if not read_only:
        try:
            apply_migrations(store)
        except BaseException:
            store.close()
            raise
    return store
