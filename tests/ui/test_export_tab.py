"""The Export tab's handlers over a real store holding the bundled sample: preview writes nothing, export writes inside
the export folder only and offers a zip of exactly its files, bad input is explained, and shared mode refuses
writes without a signed-in user."""

from __future__ import annotations

import hashlib
import html
import inspect
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import gradio as gr
import orjson
import pytest

from blossom_studio import settings
from blossom_studio.export import ExportRequest, list_exports, prepare_export
from blossom_studio.ingest import import_files
from blossom_studio.selections import save_ids
from blossom_studio.store import Store
from blossom_studio.ui import export_tab as tab
from blossom_studio.ui.studio import SIGN_IN_FIRST, Studio

USER = gr.Request(username="ann")


def build(studio: Studio) -> gr.Blocks:
    with gr.Blocks() as demo, gr.Tabs(), gr.Tab("Export", id="export"):
        tab.build_export_tab(demo, studio)
    return demo


def handler(demo: gr.Blocks, api_name: str) -> Any:
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def named(demo: gr.Blocks, function: str) -> Any:
    return next(fn for fn in demo.fns.values() if fn.fn is not None and fn.fn.__name__ == function)


def files_under(folder: Path) -> set[Path]:
    """Every file below `folder`, except the database's own."""
    return {path for path in folder.rglob("*") if path.is_file() and not path.name.startswith("studio.duckdb")}


@pytest.fixture
def studio(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Studio:
    """A local studio over the bundled sample, exporting into tmp_path/exports, its zips made in tmp_path/temp."""
    reports = import_files(store, sorted(settings.SAMPLE_DIR.glob("*.jsonl")))
    assert sum(report.imported for report in reports) == 100
    (tmp_path / "temp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    return Studio(store, roster_path=tmp_path / "models.toml", exports_dir=tmp_path / "exports")


def test_the_tab_registers_its_api_names_with_named_parameters(studio: Studio) -> None:
    demo = build(studio)
    assert {"export_choices", "export_preview", "export_run", "export_history"} <= {
        fn.api_name for fn in demo.fns.values()}
    run = handler(demo, "export_run")
    assert list(inspect.signature(run.fn).parameters) == [*tab.FORM_FIELDS, "request", "progress"]
    assert len(run.inputs) == len(tab.FORM_FIELDS)
    assert list(inspect.signature(handler(demo, "export_preview").fn).parameters) == list(tab.FORM_FIELDS)
    assert set(tab.FORMAT_HELP) == set(tab.FORMATS) and set(tab.INCLUDE_LABELS) == set(tab.INCLUDABLE)
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"export-source", "export-lang", "export-saved", "export-format", "export-format-help", "export-type",
            "export-bom", "export-include", "export-judged-only", "export-balance", "export-limit", "export-dedupe",
            "export-test-size", "export-seed", "export-license", "export-folder", "export-overwrite",
            "export-preview", "export-run", "export-download", "export-summary", "export-breakdown",
            "export-records", "export-written", "export-history"} <= ids


def test_choices_offer_the_sources_and_saved_selections(studio: Studio) -> None:
    ids = [row[0] for row in studio.store.query("SELECT id FROM samples ORDER BY row_number LIMIT 3")]
    save_ids(studio.store, "three", ids, {"how": "test"})
    sources, saved = handler(build(studio), "export_choices").fn()
    assert sources["choices"] == ["studio-sample", "studio-sample-math", "studio-sample-pairs"]
    assert saved["choices"] == [tab.NO_SAVED, "three"]


def test_preview_shows_the_counts_and_first_records_and_writes_nothing(studio: Studio, tmp_path: Path) -> None:
    before = files_under(tmp_path)
    summary, rows, records = handler(build(studio), "export_preview").fn(
        *tab.form_values(test_size=0.1, folder="first"))
    with prepare_export(studio.store, ExportRequest(test_size=0.1)) as plan:
        counts, expected = plan.counts, plan.preview(tab.PREVIEW_ROWS)
    assert counts["rows"] == 76 and counts["splits"] == {"train": 68, "test": 8}
    assert "76 of 100 selected samples go out" in summary and "train 68, test 8" in summary
    assert "Export goes to" in summary
    table = {(what, value): (n, meaning) for what, value, n, meaning in rows}
    assert table[("split", "train")][0] == 68 and table[("split", "test")][0] == 8
    assert {value: n for (what, value), (n, _) in table.items() if what == "language"} == counts["by_lang"]
    assert {value: n for (what, value), (n, _) in table.items() if what == "source"} == counts["by_source"]
    assert table[("verdict", "none")][0] == 76
    assert table[("left out", "no_answer")] == (24, tab.REASON_HELP["no_answer"])
    assert orjson.loads(records) == expected and len(expected) == tab.PREVIEW_ROWS
    assert files_under(tmp_path) == before and not (tmp_path / "exports").exists()
    assert list_exports(studio.store) == []


def test_preview_of_a_preference_export_and_a_balance(studio: Studio) -> None:
    preview = handler(build(studio), "export_preview").fn
    summary, rows, records = preview(*tab.form_values(format="preference", balance="zh:en=1:1", limit=6))
    assert "6 of 100 selected samples go out" in summary and "en 3, zh 3" in summary
    assert all({"prompt", "chosen", "rejected"} <= set(record) for record in orjson.loads(records))
    assert ["left out", "over_quota", 14, tab.REASON_HELP["over_quota"]] in rows
    assert "Name a folder" in summary


def test_export_writes_inside_the_export_folder_and_offers_a_zip_of_its_files(studio: Studio, tmp_path: Path) -> None:
    demo = build(studio)
    written, download = handler(demo, "export_run").fn(*tab.form_values(test_size=0.1, folder="team/curated"), USER)
    folder = tmp_path / "exports" / "team" / "curated"
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert [(f["path"], f["rows"]) for f in manifest["files"]] == [("data/train.jsonl", 68), ("data/test.jsonl", 8)]
    assert "Exported 76 records" in written
    for file in manifest["files"]:
        assert hashlib.sha256((folder / file["path"]).read_bytes()).hexdigest() == file["sha256"]
        assert file["sha256"] in written
    assert download["visible"] is True and download["label"] == "Download curated.zip"
    archive = Path(download["value"])
    assert archive.is_relative_to(tmp_path / "temp"), "the zip is a temporary file Gradio may serve"
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        assert names == [f"curated/{name}" for name in
                         ("data/train.jsonl", "data/test.jsonl", "manifest.json", "README.md")]
        for name in names:
            assert opened.read(name) == (folder / name.split("/", 1)[1]).read_bytes()
    history = handler(demo, "export_history").fn()
    assert history == [[history[0][0], "team/curated", "blossom", "jsonl", 76, "ann", ""]]
    handler(demo, "export_history").outputs[0].postprocess(history)


def test_csv_with_a_bom_and_parquet_through_the_tab(studio: Studio, tmp_path: Path) -> None:
    run = handler(build(studio), "export_run").fn
    _, download = run(*tab.form_values(format="openai", file_type="csv", bom=True, folder="csv"), USER)
    assert (tmp_path / "exports" / "csv" / "data" / "train.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert download["visible"] is True
    _, download = run(*tab.form_values(format="sharegpt", file_type="parquet", folder="pq", limit=10), USER)
    assert (tmp_path / "exports" / "pq" / "data" / "train.parquet").read_bytes()[:4] == b"PAR1"
    with pytest.warns(UserWarning, match="byte order mark"):
        message, download = run(*tab.form_values(bom=True, folder="bom-jsonl"), USER)
    assert message.startswith("⚠️ Not exported") and download["visible"] is False


@pytest.mark.parametrize("name", ["../escape", "ABSOLUTE", "/tmp", ".", "team/../../escape"])
def test_a_folder_outside_the_export_folder_is_refused_and_nothing_is_written(studio: Studio, tmp_path: Path,
                                                                              name: str) -> None:
    name = str(tmp_path / "outside") if name == "ABSOLUTE" else name
    before = files_under(tmp_path)
    demo = build(studio)
    with pytest.warns(UserWarning, match="outside the export folder"):
        message, download = handler(demo, "export_run").fn(*tab.form_values(folder=name), USER)
    assert message.startswith("⚠️ Not exported") and "outside the export folder" in message
    assert download == gr.update(value=None, visible=False)
    assert files_under(tmp_path) == before
    assert not (tmp_path / "escape").exists() and not (tmp_path / "outside").exists()
    assert list_exports(studio.store) == []
    summary, _, _ = handler(demo, "export_preview").fn(*tab.form_values(folder=name))
    assert "Export would be refused" in summary and "outside the export folder" in summary


def test_an_existing_export_is_kept_unless_overwrite_is_ticked(studio: Studio, tmp_path: Path) -> None:
    demo = build(studio)
    run = handler(demo, "export_run").fn
    run(*tab.form_values(folder="set"), USER)
    manifest = tmp_path / "exports" / "set" / "manifest.json"
    first = orjson.loads(manifest.read_bytes())["id"]
    with pytest.warns(UserWarning, match="already exists"):
        message, download = run(*tab.form_values(folder="set", limit=5), USER)
    assert "tick Overwrite" in message and download["visible"] is False
    assert orjson.loads(manifest.read_bytes())["id"] == first
    summary, _, _ = handler(demo, "export_preview").fn(*tab.form_values(folder="set"))
    assert "Export would be refused" in summary
    message, download = run(*tab.form_values(folder="set", limit=5, overwrite=True), USER)
    assert "Exported 5 records" in message and download["visible"] is True
    assert orjson.loads(manifest.read_bytes())["id"] != first
    assert [row[1] for row in handler(demo, "export_history").fn()] == ["set", "set"]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"balance": "zh:en=1"}, "cannot read the ratio"),
    ({"balance": "zh:fr=1:1"}, "unknown language"),
    ({"balance": "zh:code=1:1"}, "no exportable code samples"),
    ({"sources": ["no-such-source"]}, "the selection is empty"),
    ({"lang": "code"}, "the selection is empty"),
    ({"saved": "nope"}, "no saved selection named"),
    ({"test_size": 76}, "leaves no training rows"),
    ({"limit": "many"}, "must be a number"),
    ({"seed": 10**20}, "too large"),
    ({"license": "Not A License"}, "not a Hugging Face license id"),
    ({"format": "markdown"}, "unknown format"),
])
def test_bad_input_is_explained_and_writes_nothing(studio: Studio, tmp_path: Path, fields: dict[str, Any],
                                                   expected: str) -> None:
    demo = build(studio)
    with pytest.warns(UserWarning, match=expected):
        summary, rows, records = handler(demo, "export_preview").fn(*tab.form_values(**fields))
    assert summary.startswith("⚠️") and expected in summary and rows == [] and records == ""
    with pytest.warns(UserWarning, match=expected):
        message, download = handler(demo, "export_run").fn(*tab.form_values(folder="bad", **fields), USER)
    assert message.startswith("⚠️ Not exported") and download["visible"] is False
    assert not (tmp_path / "exports").exists() and list_exports(studio.store) == []


@pytest.mark.parametrize(("name", "expected"), [("  ", "name the export folder"), ("a\x00b", "control character")])
def test_an_empty_or_unusable_folder_name_is_refused(studio: Studio, tmp_path: Path, name: str, expected: str) -> None:
    with pytest.warns(UserWarning, match=expected):
        message, _ = handler(build(studio), "export_run").fn(*tab.form_values(folder=name), USER)
    assert expected in message and not (tmp_path / "exports").exists()


def test_read_only_and_signed_out_studios_refuse_to_export(studio: Studio, tmp_path: Path) -> None:
    values = tab.form_values(folder="nope")
    shared = Studio(studio.store, shared=True, exports_dir=studio.exports_dir)
    for request in (None, gr.Request()):
        with pytest.raises(gr.Error, match=SIGN_IN_FIRST.split(":")[0]):
            handler(build(shared), "export_run").fn(*values, request)
    read_only = Studio(studio.store, read_only="This Space is read-only.", exports_dir=studio.exports_dir)
    with pytest.raises(gr.Error, match="read-only"):
        handler(build(read_only), "export_run").fn(*values, USER)
    assert not (tmp_path / "exports").exists() and list_exports(studio.store) == []
    summary, _, _ = handler(build(read_only), "export_preview").fn(*values)
    assert "76 of 100" in summary, "a preview reads only, so anyone may look"
    handler(build(shared), "export_run").fn(*values, USER)
    assert list_exports(studio.store)[0]["created_by"] == "ann"


def test_format_help_and_the_bom_checkbox_follow_the_choices(studio: Studio) -> None:
    demo = build(studio)
    assert "conversations" in named(demo, "on_format").fn("sharegpt")
    assert tab.format_help("preference").startswith("**preference**")
    assert named(demo, "on_file_type").fn("csv") == gr.update(interactive=True)
    assert named(demo, "on_file_type").fn("jsonl") == gr.update(interactive=False, value=False)


def test_hostile_text_stays_text(studio: Studio, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.jsonl"
    payload = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script>'
    hostile.write_bytes(orjson.dumps({"prompt": payload, "response": payload}) + b"\n")
    import_files(studio.store, [hostile], source="<b>evil</b>")
    summary, rows, records = handler(build(studio), "export_preview").fn(
        *tab.form_values(sources=["<b>evil</b>"], folder="<i>x</i>"))
    assert "<img" not in summary and "<i>" not in summary and "<b>" not in summary
    assert ["source", "<b>evil</b>", 1, ""] in rows, "Dataframe cells are plain text"
    assert orjson.loads(records)[0]["messages"][0]["content"] == payload, "records are JSON text in a Code block"


def test_the_tab_builds_inside_the_studio_app(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blossom_studio.ui.app import build_app

    monkeypatch.setenv(settings.EXPORTS_ENV, str(tmp_path / "elsewhere"))
    assert Studio(store).export_root() == tmp_path / "elsewhere"
    monkeypatch.delenv(settings.EXPORTS_ENV)
    assert Studio(store).export_root() == tmp_path / "exports", "exports/ beside the database"
    demo = build_app(store)
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"export_preview", "export_run", "export_history", "export_choices"} <= names
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"export-run", "export-preview", "export-download", "export-history"} <= ids
    texts = [str(block.value) for block in demo.blocks.values() if type(block).__name__ == "Markdown"]
    assert any(f"<code>{tmp_path / 'exports'}</code>" in html.unescape(text) for text in texts)


def test_served_an_export_over_gradio_client_comes_back_as_a_downloadable_zip(studio: Studio) -> None:
    from gradio_client import Client

    from tests.ui.test_app import _free_port

    demo = build(studio)
    port = _free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        fields = dict(zip(tab.FORM_FIELDS, tab.form_values(folder="served", balance="zh:en=1:1"), strict=True))
        written, download = client.predict(**fields, api_name="/export_run")
        assert "Exported 76 records" in html.unescape(written) and download["visible"] is True
        with zipfile.ZipFile(download["value"]) as opened:  # Gradio's cached copy, which it serves
            assert opened.namelist() == ["served/data/train.jsonl", "served/manifest.json", "served/README.md"]
        refused, download = client.predict(**{**fields, "folder": "../served"}, api_name="/export_run")
        assert "outside the export folder" in refused and download["visible"] is False
        assert client.predict(api_name="/export_history")["data"][0][1:5] == ["served", "blossom", "jsonl", 76]
    finally:
        demo.close()
