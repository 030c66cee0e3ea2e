"""Written exports: round trips through the importer, DuckDB, Polars and `datasets`, the manifest, the card, and
refused requests that write nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pytest
import yaml

from blossom_studio.export import ExportError, ExportPlan, ExportRequest, export, list_exports, prepare_export
from blossom_studio.ingest import import_files
from blossom_studio.store import Store, open_store
from tests.review.helpers import add_sample, pairwise

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
REAL_FILES = ["blossomdata/chat.jsonl", "llama-factory/v1_sft_demo.jsonl", "llama-factory/dpo_zh_demo.json",
              "llama-factory/glaive_toolcall_zh_demo.json", "fastchat/dummy_conversation.json",
              "llama-factory/alpaca_zh_demo.json"]


def messages_by_id(store: Store) -> dict[str, list[dict[str, object]]]:
    rows = store.query("SELECT id, messages FROM samples")
    return {sample_id: orjson.loads(messages) for sample_id, messages in rows}


def test_blossom_export_reimports_to_identical_messages(store: Store, realdata: Path, tmp_path: Path) -> None:
    import_files(store, [realdata / name for name in REAL_FILES])
    result = export(store, ExportRequest(format="blossom"), tmp_path / "out")
    exported = [json.loads(line) for line in (result.folder / "data/train.jsonl").read_text("utf-8").splitlines()]
    assert all(set(r) == {"id", "type", "metadata", "messages"} and r["type"] == "chat" for r in exported)
    original = messages_by_id(store)
    with open_store(tmp_path / "again.duckdb") as again:
        (report,) = import_files(again, [result.folder / "data/train.jsonl"])
        assert (report.format, report.bad) == ("blossom", 0), report.errors[:3]
        rows = again.query("SELECT source_id, source, messages FROM samples")
    assert len(rows) == len(exported) == result.manifest["counts"]["rows"]
    compared = 0
    for source_id, _source, messages in rows:
        if original[source_id][-1]["role"] == "assistant":  # as imported; the others end with a chosen candidate
            assert orjson.loads(messages) == original[source_id]
            compared += 1
    assert compared > 2000
    sources = {row[1] for row in rows}
    assert sources == set(result.manifest["counts"]["by_source"])


def test_preference_export_reads_back_with_duckdb_and_polars(store: Store, realdata: Path, tmp_path: Path) -> None:
    import_files(store, [realdata / "llama-factory/dpo_zh_demo.json"])
    for sample_id, in store.query("SELECT id FROM samples ORDER BY id LIMIT 5"):
        review_tie(store, sample_id)
    for file_type in ("jsonl", "parquet"):
        result = export(store, ExportRequest(format="preference", file_type=file_type), tmp_path / file_type)
        path = result.folder / f"data/train.{file_type}"
        table = pl.read_ndjson(path) if file_type == "jsonl" else pl.read_parquet(path)
        assert table.columns == ["id", "source", "prompt", "chosen", "rejected", "chosen_rating", "rejected_rating",
                                 "chosen_model", "rejected_model", "judge", "margin", "decided_by"]
        assert table.height == result.manifest["counts"]["rows"] == store.query(
            "SELECT count(*) FROM samples")[0][0] - 5
        assert result.manifest["counts"]["left_out"] == {"tie": 5}
        rows = duckdb.sql(f"SELECT chosen, rejected, prompt FROM '{path}'").fetchall()
        for chosen, rejected, prompt in rows:
            chosen, rejected = (json.loads(x) if isinstance(x, str) else x for x in (chosen, rejected))
            assert chosen[:-1] == rejected[:-1] and chosen[-1] != rejected[-1]
            assert chosen[-1]["role"] == "assistant" and prompt == [m for m in chosen if m["role"] == "user"][-1][
                "content"]


def test_preference_export_reimports_to_the_same_pairs(store: Store, realdata: Path, tmp_path: Path) -> None:
    import_files(store, [realdata / "llama-factory/dpo_zh_demo.json"])
    result = export(store, ExportRequest(format="preference"), tmp_path / "pairs")

    def pairs(db: Store) -> set[tuple[bytes, bytes, bytes]]:
        rows = db.query("SELECT s.messages, c.label, c.message FROM samples s JOIN candidates c ON c.sample_id = s.id "
                        "ORDER BY s.id, c.label")
        by_prompt: dict[str, dict[str, str]] = {}
        for messages, label, message in rows:
            by_prompt.setdefault(messages, {})[label] = message
        return {(orjson.dumps(orjson.loads(p)), orjson.dumps(orjson.loads(a["chosen"])),
                 orjson.dumps(orjson.loads(a["rejected"]))) for p, a in by_prompt.items()}

    with open_store(tmp_path / "again.duckdb") as again:
        (report,) = import_files(again, [result.folder / "data/train.jsonl"])
        assert (report.imported, report.bad) == (result.manifest["counts"]["rows"], 0), report.errors[:3]
        with_system = again.query("SELECT count(*) FROM samples WHERE json_array_length(messages) > 1")[0][0]
        assert with_system > 0 and pairs(again) == pairs(store)  # prompts longer than `prompt`'s one user turn


def review_tie(store: Store, sample_id: str) -> None:
    """A reviewer calls the imported pair a tie: it must never be exported as a pair."""
    from blossom_studio import review

    review.decide(store, sample_id, "tie", reviewer="alice")


@pytest.mark.parametrize("format_name", ["blossom", "openai", "sharegpt", "alpaca", "preference"])
def test_exports_load_with_datasets(store: Store, tmp_path: Path, format_name: str) -> None:
    datasets = pytest.importorskip("datasets", reason="datasets is a dev dependency (requirements-dev.txt)")
    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    result = export(store, ExportRequest(format=format_name, test_size=0.2), tmp_path / format_name)
    files = {f["split"]: str(result.folder / f["path"]) for f in result.manifest["files"]}
    loaded = datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path / "hf-cache"))
    assert {split: loaded[split].num_rows for split in loaded} == result.manifest["counts"]["splits"]
    first = loaded["train"][0]
    expected = {"blossom": "messages", "openai": "messages", "sharegpt": "conversations", "alpaca": "instruction",
                "preference": "chosen"}[format_name]
    assert first[expected]


def test_csv_has_a_bom_and_json_cells_and_parquet_has_typed_messages(store: Store, tmp_path: Path) -> None:
    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    csv = export(store, ExportRequest(format="blossom", file_type="csv", bom=True), tmp_path / "csv")
    raw = (csv.folder / "data/train.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,type,metadata,messages")
    table = pl.read_csv(raw[3:])
    assert any("\u4e00" <= ch <= "\u9fff" for ch in table["messages"][0] + table["messages"][1] + "".join(
        table["messages"].to_list()))
    assert json.loads(table["messages"][0])[0]["role"] in ("user", "system")
    parquet = export(store, ExportRequest(format="sharegpt", file_type="parquet"), tmp_path / "parquet")
    schema = pl.read_parquet_schema(parquet.folder / "data/train.parquet")
    assert schema["conversations"] == pl.List(pl.Struct({"from": pl.String, "value": pl.String}))


def test_manifest_card_and_exports_row_agree_with_the_files(store: Store, tmp_path: Path) -> None:
    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    result = export(store, ExportRequest(format="blossom", balance={"zh": 1, "en": 1}, test_size=0.1,
                                         license="cc-by-4.0"), tmp_path / "set", created_by="alice")
    manifest = json.loads((result.folder / "manifest.json").read_text("utf-8"))
    assert manifest == json.loads(orjson.dumps(result.manifest))
    for entry in manifest["files"]:
        data = (result.folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and data.count(b"\n") == entry["rows"]
    counts = manifest["counts"]
    assert counts["by_lang"]["zh"] == counts["by_lang"]["en"] and sum(counts["splits"].values()) == counts["rows"]
    assert manifest["tool"]["name"] == "blossom-studio" and manifest["request"]["balance"] == {"zh": 1, "en": 1}
    card = (result.folder / "README.md").read_text("utf-8")
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "cc-by-4.0" and header["language"] == ["en", "zh"]
    assert header["task_categories"] == ["text-generation"]
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": "data/train.jsonl"},
                                                  {"split": "test", "path": "data/test.jsonl"}]
    assert all(entry["sha256"] in card for entry in manifest["files"])
    (row,) = list_exports(store)
    assert (row["id"], row["rows"], row["created_by"], row["path"]) == (
        manifest["id"], counts["rows"], "alice", str(result.folder))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_refused_requests_write_nothing(store: Store, tmp_path: Path) -> None:
    add_sample(store, "s1")
    pairwise(store, "s1", "A")
    root = tmp_path / "exports"
    first = export(store, ExportRequest(format="preference"), "pairs", root=root)
    before = snapshot(tmp_path)

    with pytest.raises(ExportError, match=r"README\.md already exists; pass --overwrite"):
        export(store, ExportRequest(format="blossom"), "pairs", root=root)
    for outside in ("../escaped", str(tmp_path / "elsewhere"), "/tmp/blossom-escape", "a/../../b"):
        with pytest.raises(ExportError, match="outside the export folder"):
            export(store, ExportRequest(format="blossom"), outside, root=root)
    with pytest.raises(ExportError, match="the selection is empty"):
        export(store, ExportRequest(format="blossom", sources=("nobody",)), "empty", root=root)
    with pytest.raises(ExportError, match="control character"):
        export(store, ExportRequest(format="blossom"), "bad\x00name", root=root)
    with pytest.raises(ExportError, match="unknown format"):
        export(store, ExportRequest(format="jsonl"), "bad", root=root)
    assert snapshot(tmp_path) == before
    assert not Path("/tmp/blossom-escape").exists()
    assert len(list_exports(store)) == 1

    again = export(store, ExportRequest(format="blossom", file_type="csv"), "pairs", root=root, overwrite=True)
    assert sorted(snapshot(again.folder)) == ["README.md", "data/train.csv", "manifest.json"]
    assert again.folder == first.folder


@pytest.mark.parametrize("format_name", ["blossom", "openai", "sharegpt", "alpaca"])
def test_records_read_in_storage_order_are_the_sorted_records(store: Store, tmp_path: Path, format_name: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    for index in range(3):
        add_sample(store, f"judged{index}")
        pairwise(store, f"judged{index}", "B")
    request = ExportRequest(format=format_name, test_size=0.25)
    with prepare_export(store, request) as plan:
        assert plan.stored_in_order
    scanned = export(store, request, tmp_path / "scanned")
    monkeypatch.setattr(ExportPlan, "storage_order", lambda _plan: contextlib.nullcontext())  # sort the records
    sorted_ = export(store, request, tmp_path / "sorted")
    assert [f["sha256"] for f in scanned.manifest["files"]] == [f["sha256"] for f in sorted_.manifest["files"]]
    written = b"".join((scanned.folder / f["path"]).read_bytes() for f in scanned.manifest["files"])
    assert all(f"answer 1 to judged{index}".encode() in written for index in range(3))


def test_samples_stored_out_of_import_order_are_sorted(store: Store, tmp_path: Path) -> None:
    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    (last,) = store.query("SELECT id FROM samples ORDER BY rowid DESC LIMIT 1")[0]
    with store.write() as cursor:  # now the first sample in import order, though stored last
        cursor.execute("UPDATE samples SET created_at = created_at - INTERVAL 1 DAY WHERE id = ?", [last])
    request = ExportRequest(format="blossom")
    with prepare_export(store, request) as plan:
        assert not plan.stored_in_order
    result = export(store, request, tmp_path / "out")
    lines = (result.folder / "data/train.jsonl").read_text("utf-8").splitlines()
    expected = [row[0] for row in store.query(
        "SELECT id FROM samples ORDER BY created_at, import_id, row_number, id")]
    assert [json.loads(line)["id"] for line in lines] == [i for i in expected if i in {
        json.loads(line)["id"] for line in lines}]
    assert json.loads(lines[0])["id"] == last


def test_a_failed_copy_reports_its_own_error_and_the_next_export_works(store: Store, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from blossom_studio.export import writer

    import_files(store, sorted(SAMPLE.glob("*.jsonl")))
    monkeypatch.setattr(writer, "_sql_path", lambda path: f"'{tmp_path}/missing/dir/{path.name}'")
    with pytest.raises(duckdb.IOException, match="missing/dir"):
        export(store, ExportRequest(format="blossom"), tmp_path / "failed")
    assert not (tmp_path / "failed").exists() and not list(tmp_path.glob(".failed*"))
    monkeypatch.undo()
    result = export(store, ExportRequest(format="blossom"), tmp_path / "out")
    assert result.manifest["counts"]["rows"] > 0
    assert store.read().execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [(0,)]
