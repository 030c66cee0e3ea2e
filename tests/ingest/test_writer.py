"""The background writer: samples streamed into INSERTs of whole row groups, candidates after, one transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from blossom_studio.ingest import import_files, writer
from blossom_studio.store import Store, open_store


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def _stored(db: Path) -> tuple[list, list]:
    with open_store(db) as store:
        return (store.query("SELECT id, messages::VARCHAR, row_number FROM samples ORDER BY rowid"),
                store.query("SELECT id, sample_id, label, message::VARCHAR FROM candidates ORDER BY rowid"))


def test_many_inserts_store_the_same_rows_in_the_same_order(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    records = [{"prompt": f"问题 {i}", "chosen": f"好 {i}", "rejected": f"差 {i}"} if i % 3 else
               {"instruction": f"指令 {i}", "input": "", "output": f"回答 {i}"} for i in range(200)]
    path = _jsonl(tmp_path / "mixed.jsonl", records)
    with open_store(tmp_path / "one.duckdb") as store:
        [one] = import_files(store, [path])
    monkeypatch.setattr(writer, "MAX_WAITING_CANDIDATES", 5)  # an INSERT per chunk that has candidates
    with open_store(tmp_path / "many.duckdb") as store:
        [many] = import_files(store, [path])
    assert (one.imported, one.candidates) == (200, 266)
    assert many.as_dict() | {"import_id": None} == one.as_dict() | {"import_id": None}
    assert _stored(tmp_path / "many.duckdb") == _stored(tmp_path / "one.duckdb")
    assert [row[2] for row in _stored(tmp_path / "one.duckdb")[0]] == list(range(1, 201))


def test_the_commit_finds_every_row_group_written(store: Store, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is left for the checkpoint to merge and compress again (it once cost 2.2 s per 500,000 records)."""
    monkeypatch.setattr(Store, "checkpoint", lambda self: None)
    count = 2 * writer.ROW_GROUP + 100
    path = tmp_path / "big.jsonl"
    with path.open("wb") as out:
        for i in range(count):
            out.write(b'{"instruction": "q %d", "input": "", "output": "a"}\n' % i)
    [report] = import_files(store, [path])
    assert report.imported == count
    groups = store.query("SELECT row_group_id, sum(count), bool_and(persistent) FROM pragma_storage_info('samples') "
                         "WHERE column_name = 'messages' AND segment_type <> 'VALIDITY' GROUP BY ALL ORDER BY 1")
    assert sum(rows for _, rows, _ in groups) == count
    assert len(groups) == 3
    assert all(written for _, _, written in groups)


def test_a_failing_insert_is_raised_and_rolls_the_file_back(store: Store) -> None:
    samples = pa.table({"x": [1, 2, 3]})
    file_writer = writer.FileWriter(store, "INSERT INTO samples SELECT no_such_column FROM _batch", [], "")
    with pytest.raises(duckdb.Error):
        for _ in range(50):
            file_writer.put(samples, pa.table({"x": pa.array([], type=pa.int64())}))
        file_writer.close(commit=True)
    assert store.query("SELECT count(*) FROM samples") == [(0,)]
    with store.write() as cursor:  # the store is still usable
        cursor.execute("SELECT 1")
