"""The plain-Alpaca fast path must store exactly what the Alpaca adapter stores, byte for byte, on every read path.

Each test imports the same records twice or more: once with the fast path switched off (every record goes through
AlpacaLayout.convert and the generic hash), and once or more with it on (read line by line, in slices in this
process, in slices in worker processes), and compares every stored column, the candidates and the import report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from blossom_studio.ingest import chunks, import_files
from blossom_studio.ingest.columns import ChunkBuilder
from blossom_studio.ingest.layouts import BY_NAME
from blossom_studio.ingest.layouts.alpaca import AlpacaLayout
from blossom_studio.ingest.prepare import LayoutChooser, content_hash, dumps, plain_content_hash, prepare
from blossom_studio.store import open_store

ALPACA_FILES = ("llama-factory/alpaca_zh_demo.json", "llama-factory/alpaca_en_demo.json", "coig-kun/question.jsonl")

TRICKY: list[dict[str, Any]] = [
    {"instruction": "翻译成英文：你好，世界 😀", "input": "", "output": "Hello, world 😀"},
    {"instruction": "line\u2028separator and\u2029paragraph", "input": "", "output": "kept\u2028as is"},
    {"instruction": "no-break\xa0space, BOM\ufeff inside, e\u0301 combining", "input": "x", "output": "y"},
    {"instruction": "controls \x00\x01\x08\x0c\x1f\x7f and \t\r\n", "input": "", "output": "\x1b[0m"},
    {"instruction": 'quotes " and backslash \\ and slash /', "input": "\\n is not a newline", "output": "\\"},
    {"instruction": "whitespace-only input is not appended", "input": "  \n\t ", "output": "ok"},
    {"instruction": "input appended on a new line", "input": "第二行", "output": "好"},
    {"instruction": "", "input": "an empty instruction with an input is still a prompt", "output": "ok"},
    {"instruction": "no input key at all", "output": "ok"},
    {"output": "keys in another order", "input": "b", "instruction": "a"},
    {"instruction": "an empty answer", "input": "", "output": ""},
    {"instruction": "null input", "input": None, "output": "adapter"},
    {"instruction": "numeric input", "input": 7, "output": "adapter"},
    {"instruction": "numeric output", "input": "", "output": 42},
    {"instruction": 3.5, "input": "", "output": "numeric instruction"},
    {"instruction": "with a system prompt", "input": "", "output": "ok", "system": "你是助手"},
    {"instruction": "with an empty system prompt", "input": "", "output": "ok", "system": " "},
    {"instruction": "with history", "input": "", "output": "ok", "history": [["前一个问题", "前一个回答"]]},
    {"instruction": "with extra fields", "input": "", "output": "ok", "category": "open_qa", "score": 0.5},
    {"instruction": "with an id and a source", "input": "", "output": "ok", "id": 17, "source": "alpaca-gpt4"},
    {"instruction": "   ", "input": "", "output": "a blank prompt is an error"},
    {"instruction": "null output", "input": "", "output": None},
    {"instruction": "a list output is a preference pair", "output": ["chosen", "rejected"]},
    {"instruction": "翻译成英文：你好，世界 😀", "input": "", "output": "Hello, world 😀"},  # a duplicate
]
# Lines as other tools write them: \u escapes, an escaped slash, a surrogate pair, duplicate keys, CRLF.
RAW_LINES = [
    b'{"instruction": "\\u4f60\\u597d \\ud83d\\ude00 http:\\/\\/x", "input": "", "output": "\\u00e9"}',
    b'{"instruction": "first", "instruction": "duplicate key: the last one wins", "output": "ok"}',
    b'{"instruction": "crlf line", "input": "", "output": "ok"}\r',
    b"",
    b'{"instruction": "cut off',
    b'["not", "an", "object"]',
]


def tricky_jsonl() -> bytes:
    lines = [orjson.dumps(record) for record in TRICKY] + RAW_LINES
    return b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n"


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored column that an import writes, in storage order, plus the import reports."""
    with open_store(db) as store:
        return {
            "samples": store.query("SELECT id, source, source_id, type, format, messages::VARCHAR, "
                                   "metadata::VARCHAR, reference, content_hash, row_number, turns, status "
                                   "FROM samples ORDER BY rowid"),
            "candidates": store.query("SELECT id, sample_id, model, label, position, message::VARCHAR, origin, "
                                      "extra::VARCHAR FROM candidates ORDER BY rowid"),
            "imports": store.query("SELECT path, file_type, format, source, records, imported, duplicates, bad, "
                                   "errors::VARCHAR FROM imports ORDER BY started_at"),
        }


def run_import(db: Path, paths: list[Path], **options: Any) -> list[dict[str, Any]]:
    with open_store(db) as store:
        reports = import_files(store, paths, **options)
    return [report.as_dict() | {"import_id": None} for report in reports]


@pytest.fixture
def alpaca_conversions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records that AlpacaLayout.convert saw in this process."""
    seen: list[dict[str, Any]] = []
    convert = AlpacaLayout.convert

    def counting(self: AlpacaLayout, record: dict[str, Any]) -> Any:
        seen.append(record)
        return convert(self, record)

    monkeypatch.setattr(AlpacaLayout, "convert", counting)
    return seen


def compare_read_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[Path],
                       **options: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Import `files` by the adapter and by the fast path on each read path; assert all stored rows are equal."""
    with monkeypatch.context() as patch:
        patch.setattr(LayoutChooser, "plain_alpaca", lambda self, record: None)
        reference_reports = run_import(tmp_path / "adapter.duckdb", files, **options)
    reference = snapshot(tmp_path / "adapter.duckdb")
    assert reference["samples"], "nothing was imported"
    for name, workers in (("lines", None), ("slices", "1"), ("workers", "2")):
        with monkeypatch.context() as patch:
            if workers is not None:
                patch.setattr(chunks, "PARALLEL_MIN_BYTES", 1)
                patch.setattr(chunks, "CHUNK_BYTES", 1 << 10)
                patch.setenv(chunks.WORKERS_ENV, workers)
            reports = run_import(tmp_path / f"{name}.duckdb", files, **options)
        assert reports == reference_reports, name
        assert snapshot(tmp_path / f"{name}.duckdb") == reference, name
    return reference


def test_plain_hash_is_the_generic_hash_of_a_sample_without_extras() -> None:
    for record in TRICKY[:11]:
        layout = BY_NAME["alpaca"]
        sample = layout.convert(record)
        messages_json = dumps(sample.messages)
        assert sample.metadata == {} and sample.reference is None and sample.source_id is None
        assert plain_content_hash(messages_json) == content_hash(sample, messages_json, dumps(sample.metadata), [])


def test_fast_path_rows_equal_adapter_rows_record_by_record() -> None:
    for position, record in enumerate(TRICKY, 1):
        fast, slow = ChunkBuilder(), ChunkBuilder()
        fast_chooser, slow_chooser = LayoutChooser(None), LayoutChooser(None)
        messages = fast_chooser.plain_alpaca(record)
        if messages is None:
            continue
        fast.add_plain(position, messages)
        slow.add(prepare(position, record, slow_chooser))
        assert fast.build().samples.equals(slow.build().samples), record


def test_the_fast_path_takes_only_plain_alpaca_records(alpaca_conversions: list[dict[str, Any]]) -> None:
    chooser = LayoutChooser(None)
    plain = [record for record in TRICKY if chooser.plain_alpaca(record) is not None]
    assert alpaca_conversions == []
    assert len(plain) == 12
    assert all(set(record) <= {"instruction", "input", "output"} for record in plain)
    assert all(isinstance(value, str) for record in plain for value in record.values())
    forced = {name: LayoutChooser(BY_NAME[name]) for name in ("alpaca", "prompt")}
    assert all(forced["alpaca"].plain_alpaca(record) is not None for record in plain)
    assert all(forced["prompt"].plain_alpaca(record) is None for record in plain)


def test_tricky_records_are_stored_identically_on_every_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             alpaca_conversions: list[dict[str, Any]]) -> None:
    path = tmp_path / "tricky.jsonl"
    path.write_bytes(tricky_jsonl())
    stored = compare_read_paths(tmp_path, monkeypatch, [path])
    [report] = stored["imports"]
    assert report[4:8] == (len(TRICKY) + 5, len(TRICKY), 1, 4)  # records, imported, duplicates, bad
    assert {row[4] for row in stored["samples"]} == {"alpaca", "preference"}

    alpaca_conversions.clear()
    run_import(tmp_path / "again.duckdb", [path])
    chooser = LayoutChooser(None)
    assert len(alpaca_conversions) == 11, "only the records that are not plain reach the adapter"
    assert all(chooser.plain_alpaca(record) is None for record in alpaca_conversions)


def test_a_forced_layout_stores_the_same_rows_with_and_without_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tricky.jsonl"
    path.write_bytes(tricky_jsonl())
    for format_name in ("alpaca", "prompt"):
        folder = tmp_path / format_name
        folder.mkdir()
        stored = compare_read_paths(folder, monkeypatch, [path], format_name=format_name)
        assert {row[4] for row in stored["samples"]} == {format_name}


def test_real_alpaca_files_are_stored_identically_on_every_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, realdata: Path) -> None:
    files = []
    for name in ALPACA_FILES:
        records = json.loads((realdata / name).read_text("utf-8"))
        jsonl = tmp_path / (name.replace("/", "-").split(".")[0] + ".jsonl")
        jsonl.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
        files.append(jsonl)
    stored = compare_read_paths(tmp_path, monkeypatch, files)
    assert len(stored["samples"]) > 4900
    assert {row[4] for row in stored["samples"]} == {"alpaca"}


def test_content_imported_by_one_path_is_a_duplicate_on_the_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, realdata: Path) -> None:
    original = realdata / "llama-factory/alpaca_zh_demo.json"
    jsonl = tmp_path / "alpaca_zh_demo.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in json.loads(original.read_text("utf-8"))))
    with open_store(tmp_path / "studio.duckdb") as store:
        monkeypatch.setattr(chunks, "PARALLEL_MIN_BYTES", 1)
        [fast] = import_files(store, [jsonl])
        with monkeypatch.context() as patch:
            patch.setattr(LayoutChooser, "plain_alpaca", lambda self, record: None)
            [slow] = import_files(store, [original])
    assert fast.imported > 900
    assert (slow.imported, slow.duplicates) == (0, fast.imported + fast.duplicates)
