"""Big JSONL files are prepared in slices (here or in worker processes); the result must equal a line-by-line import."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from blossom_studio.ingest import chunks, import_files
from blossom_studio.ingest.layouts import BY_NAME
from blossom_studio.store import open_store


def _mixed_lines(count: int) -> bytes:
    first = orjson.dumps({"instruction": "第一条", "input": "", "output": "好"})
    out = [b"\xef\xbb\xbf" + first]
    for i in range(1, count):
        if i % 97 == 0:
            out.append(b'{"instruction": "cut off')
        elif i % 89 == 0:
            out.append(b"")
        elif i % 83 == 0:
            out.append(b'{"conversations": [{"from": "robot", "value": "x"}]}')
        elif i % 79 == 0:
            out.append(first)
        elif i % 71 == 0:
            out.append(orjson.dumps({"prompt": f"p{i}", "chosen": "好", "rejected": "差", "chosen_model": "m"}))
        else:
            out.append(orjson.dumps({"question": f"question {i} " + "词" * (i % 40), "answer": str(i)}))
    return b"\n".join(out) + b"\n"


def _snapshot(db: Path) -> tuple[list, list, list]:
    with open_store(db) as store:
        return (store.query("SELECT id, source, format, messages, metadata, reference, row_number, turns "
                            "FROM samples ORDER BY row_number"),
                store.query("SELECT id, sample_id, model, label, message FROM candidates ORDER BY id"),
                store.query("SELECT records, imported, duplicates, bad, errors FROM imports"))


@pytest.mark.parametrize("workers", ["1", "2"], ids=["sliced-in-this-process", "worker-processes"])
def test_sliced_preparation_gives_the_same_rows_as_reading_line_by_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(_mixed_lines(6000))
    with open_store(tmp_path / "one.duckdb") as store:
        [one] = import_files(store, [path])

    monkeypatch.setattr(chunks, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 16 << 10)
    monkeypatch.setenv(chunks.WORKERS_ENV, workers)
    assert chunks.worth_slicing("jsonl", path.stat().st_size)
    assert len(chunks.chunk_bounds(path, path.stat().st_size, chunks.CHUNK_BYTES)) > 10
    with open_store(tmp_path / "many.duckdb") as store:
        [many] = import_files(store, [path])

    assert one.bad > 50 and one.duplicates > 50 and one.candidates > 50
    assert many.as_dict() | {"import_id": None} == one.as_dict() | {"import_id": None}
    assert _snapshot(tmp_path / "many.duckdb") == _snapshot(tmp_path / "one.duckdb")


def test_plain_alpaca_on_two_cores_is_prepared_in_this_process(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_bytes(b"\xef\xbb\xbf" + b"".join(
        orjson.dumps({"instruction": f"q{i}", "input": "", "output": "a"}) + b"\n" for i in range(5000)))
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(_mixed_lines(5000))
    monkeypatch.delenv(chunks.WORKERS_ENV, raising=False)
    for cores, here in ((1, True), (2, True), (3, False), (8, False)):
        monkeypatch.setattr(chunks, "usable_cores", lambda cores=cores: cores)
        assert chunks.prepare_here(alpaca, None) is here
        assert chunks.prepare_here(alpaca, BY_NAME["prompt"]) is False  # another layout: no fast path
        assert chunks.prepare_here(mixed, None) is False
    monkeypatch.setattr(chunks, "usable_cores", lambda: 2)
    monkeypatch.setenv(chunks.WORKERS_ENV, "2")
    assert chunks.prepare_here(alpaca, None) is False
    assert chunks.worker_count() == 2


def test_chunk_bounds_end_on_newlines_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(b'{"question": "%d"}\n' % i for i in range(1000)))
    size = path.stat().st_size
    bounds = chunks.chunk_bounds(path, size, 1000)
    assert bounds[0][0] == 0 and bounds[-1][1] == size
    assert all(a[1] == b[0] for a, b in pairwise(bounds))
    data = path.read_bytes()
    assert all(data[end - 1:end] == b"\n" for _, end in bounds)
