"""Browsing the library: pages, search in Chinese and English, one sample with its candidates."""

from __future__ import annotations

from pathlib import Path

import orjson

from blossom_studio import library
from blossom_studio.ingest import import_files
from blossom_studio.store import Store


def _write(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_first_start_imports_the_bundled_sample_once(store: Store) -> None:
    reports = library.ensure_sample_data(store)
    assert sum(r.imported for r in reports) == 100
    assert all(r.bad == 0 for r in reports)
    assert library.ensure_sample_data(store) == []


def test_pages_are_bounded_and_clamped(store: Store, tmp_path: Path) -> None:
    records = [{"question": f"问题 {i}", "answer": str(i)} for i in range(60)]
    import_files(store, [_write(tmp_path / "q.jsonl", records)])
    first = library.page_samples(store, page=1, page_size=25)
    assert (first.total, first.pages, len(first.rows)) == (60, 3, 25)
    last = library.page_samples(store, page=99, page_size=25)
    assert last.page == 3 and len(last.rows) == 10
    assert last.rows[-1][4] == "问题 59"


def test_search_matches_chinese_english_and_literal_wildcards(store: Store, tmp_path: Path) -> None:
    records = [{"prompt": "请用Python写一个quick sort函数", "response": "def qs(a): ..."},
               {"prompt": "What is 100% of 5?", "response": "5"},
               {"prompt": "What is 1005?", "response": "a number"}]
    import_files(store, [_write(tmp_path / "s.jsonl", records)])
    assert library.page_samples(store, search="函数").total == 1
    assert library.page_samples(store, search="QUICK SORT").total == 1
    assert library.page_samples(store, search="100%").total == 1
    assert library.page_samples(store, search="nothing like this").total == 0


def test_get_sample_returns_messages_and_labelled_candidates(store: Store, tmp_path: Path) -> None:
    record = {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No.", "chosen_model": "m1", "topic": "greeting"}
    import_files(store, [_write(tmp_path / "p.jsonl", [record])])
    sample_id = library.page_samples(store).rows[0][0]
    sample = library.get_sample(store, sample_id)
    assert sample["messages"] == [{"role": "user", "content": "Say hi"}]
    assert sample["metadata"] == {"topic": "greeting"}
    assert [(c["label"], c["model"], c["message"]["content"]) for c in sample["candidates"]] == [
        ("chosen", "m1", "Hi!"), ("rejected", None, "No.")]
    assert library.get_sample(store, "missing") is None
