"""Folders as import paths: the data files below them, in order, and the source names their files get."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from blossom_studio.ingest import import_files
from blossom_studio.ingest.importer import default_source
from blossom_studio.ingest.paths import expand_paths, is_data_file
from blossom_studio.store import Store


def _chat(text: str) -> bytes:
    return orjson.dumps({"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]})


def _dataset(root: Path) -> Path:
    """A folder as curators get them: shards, a gzipped file, a nested folder, a card and hidden files."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "train-00001-of-00002.jsonl").write_bytes(_chat("second shard") + b"\n")
    (root / "data" / "train-00000-of-00002.jsonl").write_bytes(_chat("first shard") + b"\n")
    (root / "extra").mkdir()
    (root / "extra" / "more.jsonl.gz").write_bytes(gzip.compress(_chat("gzipped") + b"\n"))
    (root / "README.md").write_text("---\nlicense: mit\n---\n# A dataset\n")
    (root / ".cache").mkdir()
    (root / ".cache" / "stale.jsonl").write_bytes(_chat("hidden") + b"\n")
    (root / ".gitattributes").write_text("*.jsonl filter=lfs\n")
    return root


def test_a_folder_expands_to_its_data_files_sorted_without_hidden_ones_or_cards(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "my-set")
    loose = tmp_path / "loose.txt"  # named on its own: imported whatever its name says
    loose.write_bytes(_chat("loose") + b"\n")
    assert expand_paths([root, loose]) == [
        root / "data" / "train-00000-of-00002.jsonl",
        root / "data" / "train-00001-of-00002.jsonl",
        root / "extra" / "more.jsonl.gz",
        loose,
    ]


def test_a_folder_without_data_files_stays_so_that_its_report_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert expand_paths([tmp_path / "empty"]) == [tmp_path / "empty"]


@pytest.mark.parametrize(("name", "expected"), [
    ("a.jsonl", True), ("a.JSONL", True), ("a.ndjson", True), ("a.json.gz", True), ("a.parquet", True),
    ("a.tsv", True), ("a.csv.gz", True), ("README.md", False), ("a.gz", False), ("jsonl", False),
])
def test_data_files_are_known_by_their_ending(name: str, expected: bool) -> None:
    assert is_data_file(Path(name)) is expected


def test_importing_a_folder_is_importing_its_files_one_report_each(store: Store, tmp_path: Path) -> None:
    root = _dataset(tmp_path / "my-set")
    reports = import_files(store, [root])
    assert [Path(report.file).name for report in reports] == [
        "train-00000-of-00002.jsonl", "train-00001-of-00002.jsonl", "more.jsonl.gz"]
    assert [report.imported for report in reports] == [1, 1, 1]
    rows = store.query("SELECT source, messages->>'$[0].content' FROM samples ORDER BY rowid")
    assert rows == [("my-set/train", "first shard"), ("my-set/train", "second shard"), ("more", "gzipped")]


@pytest.mark.parametrize(("path", "source"), [
    ("gsm8k/test.jsonl", "gsm8k/test"),
    ("alpaca_gpt4_zh.json", "alpaca_gpt4_zh"),
    ("ultrafeedback/data/train-00000-of-00003.parquet", "ultrafeedback/train"),
    ("coig-kun/wudao-00002-of-00010.jsonl.gz", "wudao"),
    ("data/test.jsonl", "data/test"),
])
def test_default_sources_drop_shard_numbers_and_name_generic_files_after_their_dataset(path: str, source: str) -> None:
    assert default_source(Path(path)) == source
