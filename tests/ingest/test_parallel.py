"""Large JSONL files are prepared in worker processes; the result must equal the one-process import exactly."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from blossom_studio.ingest import import_files, parallel
from blossom_studio.store import open_store


def _lines(count: int) -> bytes:
    out = [b"\xef\xbb\xbf" + orjson.dumps({"instruction": "第一条", "input": "", "output": "好"})]
    for i in range(1, count):
        if i % 97 == 0:
            out.append(b'{"instruction": "cut off')
        elif i % 89 == 0:
            out.append(b"")
        elif i % 83 == 0:
            out.append(b'{"conversations": [{"from": "robot", "value": "x"}]}')
        elif i % 79 == 0:
            out.append(orjson.dumps({"instruction": "第一条", "input": "", "output": "好"}))
        else:
            out.append(orjson.dumps({"question": f"question {i} " + "词" * (i % 40), "answer": str(i)}))
    return b"\n".join(out) + b"\n"


def _snapshot(db: Path) -> tuple[list, list]:
    with open_store(db) as store:
        samples = store.query("SELECT id, source, format, messages, metadata, reference, row_number, turns "
                              "FROM samples ORDER BY row_number")
        errors = store.query("SELECT records, imported, duplicates, bad, errors FROM imports")
    return samples, errors


@pytest.mark.skipif(parallel.worker_count() < 2, reason="parallel preparation needs at least two cores")
def test_parallel_import_equals_sequential_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(_lines(6000))

    with open_store(tmp_path / "one.duckdb") as store:
        [sequential] = import_files(store, [path])
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 16 << 10)
    assert parallel.worth_parallel("jsonl", path.stat().st_size)
    assert len(parallel._chunk_bounds(path, path.stat().st_size)) > 10
    with open_store(tmp_path / "many.duckdb") as store:
        [parallel_report] = import_files(store, [path])

    assert sequential.bad > 50 and sequential.duplicates > 50
    assert parallel_report.as_dict() | {"import_id": None} == sequential.as_dict() | {"import_id": None}
    assert _snapshot(tmp_path / "many.duckdb") == _snapshot(tmp_path / "one.duckdb")
