"""Importer behaviour that spans records: layout detection per record, batching, and the content hash."""

from __future__ import annotations

from pathlib import Path

import orjson

from blossom_studio.ingest import import_files
from blossom_studio.ingest import importer as importer_module
from blossom_studio.store import Store


def _jsonl(path: Path, *records: dict) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_detection_looks_at_values_not_only_keys(store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "mixed.jsonl",
                  {"id": 1, "type": "note", "metadata": None, "messages": [{"role": "user", "content": "a"}]},
                  {"id": 2, "type": "chat", "metadata": {"source": "x"},
                   "messages": [{"role": "user", "content": "b"}]})
    [report] = import_files(store, [path])
    assert report.bad == 0
    rows = store.query("SELECT source_id, format, source FROM samples ORDER BY row_number")
    assert rows == [("1", "openai", "mixed"), ("2", "blossom", "x")]


def test_batches_larger_than_one_flush_keep_order_and_candidates(store: Store, tmp_path: Path,
                                                                 monkeypatch) -> None:
    monkeypatch.setattr(importer_module, "BATCH_SIZE", 7)
    records = [{"prompt": f"问题 {i}", "chosen": f"好 {i}", "rejected": f"差 {i}"} for i in range(50)]
    [report] = import_files(store, [_jsonl(tmp_path / "pairs.jsonl", *records)])
    assert (report.imported, report.candidates) == (50, 100)
    prompts = store.query("SELECT messages->>'$[0].content' FROM samples ORDER BY row_number")
    assert [p[0] for p in prompts] == [f"问题 {i}" for i in range(50)]
    assert store.query("SELECT count(*) FROM candidates c JOIN samples s ON s.id = c.sample_id")[0][0] == 100


def test_same_conversation_with_other_metadata_is_kept_but_a_true_repeat_is_not(store: Store, tmp_path: Path) -> None:
    base = {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]}
    path = _jsonl(tmp_path / "dups.jsonl",
                  {**base, "country": "cn"}, {**base, "country": "sg"}, {**base, "country": "cn"})
    [report] = import_files(store, [path])
    assert (report.imported, report.duplicates) == (2, 1)


def test_a_forced_layout_says_which_fields_it_looked_for(store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "other.jsonl", {"foo": 1}, {"question": "ok?"})
    [report] = import_files(store, [path], format_name="prompt")
    assert (report.imported, report.bad) == (1, 1)
    assert report.errors[0]["line"] == 1
    assert report.errors[0]["reason"].startswith("field 'prompt': missing; looked for prompt, question, problem")
