"""The store: one process owns the file, one writer with rollback, a read cursor per thread, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest

import blossom_studio
from blossom_studio.store import Store, StoreError, StoreLockedError, open_store
from blossom_studio.store import migrations as migrations_module

T = TypeVar("T")
PROJECT_DIR = Path(blossom_studio.__file__).resolve().parent.parent


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the project's Python in a second process, with the checkout importable."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("BLOSSOM_STUDIO_DB", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=PROJECT_DIR,
                          timeout=120)


OPEN_IN_CHILD = """
import sys
from blossom_studio.store import StoreLockedError, open_store
try:
    open_store(sys.argv[1], read_only=sys.argv[2] == "ro")
except StoreLockedError as exc:
    print(exc)
    sys.exit(3)
print("opened")
"""


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_second_process_is_told_who_holds_the_file(store: Store, mode: str) -> None:
    result = run_python("-c", OPEN_IN_CHILD, str(store.path), mode)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert f"is open in another process (PID {os.getpid()})" in lines[0]
    assert str(store.path) in lines[0]
    assert "Traceback" not in result.stderr


def test_second_process_cli_gets_one_line_and_exit_code_2(store: Store) -> None:
    result = run_python("-m", "blossom_studio", "--db", str(store.path), "stats")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"is open in another process (PID {os.getpid()})" in lines[0]


def test_cli_json_import_on_a_held_file_prints_no_traceback(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "1+1?", "answer": "2"}\n', encoding="utf-8")
    result = run_python("-m", "blossom_studio", "--db", str(store.path), "import", str(data), "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"(PID {os.getpid()})" in result.stderr


def test_the_file_is_free_again_after_close(tmp_path: Path) -> None:
    path = tmp_path / "studio.duckdb"
    open_store(path).close()
    result = run_python("-c", OPEN_IN_CHILD, str(path), "rw")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "opened"


def test_locked_error_is_a_store_error() -> None:
    assert issubclass(StoreLockedError, StoreError)


def test_open_store_on_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory") as raised:
        open_store(tmp_path)
    assert str(tmp_path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_cli_on_a_directory_exits_2_without_traceback(tmp_path: Path) -> None:
    result = run_python("-m", "blossom_studio", "--db", str(tmp_path), "stats")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "is a directory" in result.stderr


def test_open_store_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100, encoding="utf-8")
    with pytest.raises(StoreError, match="cannot open the studio database"):
        open_store(path)


def test_open_store_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "studio.duckdb"
    with open_store(path) as store:
        assert store.path == path
    assert path.is_file()


# --- the single writer -------------------------------------------------------------------------------------


def make_table(store: Store) -> None:
    with store.write() as cursor:
        cursor.execute("CREATE TABLE t (k INTEGER, v VARCHAR)")
        cursor.execute("INSERT INTO t VALUES (1, 'one')")


def test_a_write_that_raises_is_rolled_back(store: Store) -> None:
    make_table(store)

    with pytest.raises(RuntimeError, match="boom"), store.write() as cursor:
        cursor.execute("INSERT INTO t VALUES (2, 'two')")
        cursor.execute("UPDATE t SET v = 'changed' WHERE k = 1")
        raise RuntimeError("boom")

    assert store.query("SELECT k, v FROM t ORDER BY k") == [(1, "one")]
    with store.write() as cursor:  # the writer is usable again, not stuck in an aborted transaction
        cursor.execute("INSERT INTO t VALUES (3, 'three')")
    assert store.query("SELECT k FROM t ORDER BY k") == [(1,), (3,)]


def test_a_failing_statement_rolls_back_the_whole_write(store: Store) -> None:
    make_table(store)
    with pytest.raises(duckdb.Error), store.write() as cursor:
        cursor.execute("INSERT INTO t VALUES (2, 'two')")
        cursor.execute("INSERT INTO no_such_table VALUES (1)")
    assert store.query("SELECT count(*) FROM t") == [(1,)]


def test_writes_from_many_threads_are_serialised(store: Store) -> None:
    """Read-modify-write of one row from 8 threads: DuckDB would raise conflicts without the single writer."""
    make_table(store)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(25):
                with store.write() as cursor:
                    (value,) = cursor.execute("SELECT CAST(v AS VARCHAR) FROM t WHERE k = 1").fetchone()
                    number = 0 if value == "one" else int(value)
                    cursor.execute("UPDATE t SET v = ? WHERE k = 1", [str(number + 1)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.query("SELECT v FROM t WHERE k = 1") == [("200",)]


# --- read cursors ------------------------------------------------------------------------------------------


def in_thread(function: Callable[[], T]) -> T:
    """Run `function` in a new thread and return its result (re-raising its exception)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:  # re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_each_thread_has_its_own_read_cursor(store: Store) -> None:
    main = store.read()
    assert store.read() is main
    other = in_thread(store.read)
    assert other is not main


def test_a_read_cursor_per_thread_sees_committed_writes(store: Store) -> None:
    make_table(store)
    reader = threading.Event()
    written = threading.Event()
    seen: list[list[tuple]] = []

    def read_twice() -> None:
        seen.append(store.query("SELECT k FROM t ORDER BY k"))
        reader.set()
        written.wait(timeout=10)
        seen.append(store.query("SELECT k FROM t ORDER BY k"))

    thread = threading.Thread(target=read_twice)
    thread.start()
    assert reader.wait(timeout=10)
    with store.write() as cursor:
        cursor.execute("INSERT INTO t VALUES (2, 'two')")
    written.set()
    thread.join()
    assert seen == [[(1,)], [(1,), (2,)]]


def test_readers_do_not_see_a_write_before_it_commits(store: Store) -> None:
    make_table(store)
    with store.write() as cursor:
        cursor.execute("INSERT INTO t VALUES (2, 'two')")
        assert in_thread(lambda: store.query("SELECT count(*) FROM t")) == [(1,)]
        assert store.query("SELECT count(*) FROM t") == [(1,)]  # this thread's reader is not the writer
    assert in_thread(lambda: store.query("SELECT count(*) FROM t")) == [(2,)]


def test_committed_writes_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "studio.duckdb"
    with open_store(path) as store:
        make_table(store)
    with open_store(path) as store:
        assert store.query("SELECT k, v FROM t") == [(1, "one")]


def test_a_failed_migration_releases_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cursor: duckdb.DuckDBPyConnection) -> None:
        raise RuntimeError("migration bug")

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS, ("999_broken", broken)])
    path = tmp_path / "studio.duckdb"
    with pytest.raises(RuntimeError) as raised:
        open_store(path)
    assert raised.value is not None  # the traceback (and whatever it references) is still alive here
    result = run_python("-c", OPEN_IN_CHILD, str(path), "ro")
    assert result.returncode == 0, result.stdout + result.stderr
