"""The Export tab: pick samples and a layout, preview what goes out, write it inside the export folder, download it.

Each sample goes out with its **effective verdict** (its latest review decision, else its judge verdict), so what is
accepted or overridden in the Review tab is what gets exported. Every export is a folder *inside* the studio's export
folder (`Studio.export_root()`: $BLOSSOM_STUDIO_EXPORTS, else `exports/` beside the database): the folder name is
resolved against it with `root=`, so `../x` or `/tmp/x` is refused, shared studio or not.

Element ids (for browser tests):

- samples: `export-source` (several sources; none: all), `export-lang`, `export-saved`, `export-refresh`
- layout: `export-format`, `export-format-help`, `export-type`, `export-bom` (CSV only), `export-license`
- what goes out: `export-include`, `export-judged-only`, `export-dedupe`, `export-balance`, `export-limit`,
  `export-test-size`, `export-seed`
- folder: `export-folder`, `export-overwrite`
- actions and results: `export-preview`, `export-run`, `export-download` (hidden until an export is written),
  `export-summary`, `export-breakdown` (counts table), `export-records` (the first records as JSON),
  `export-written`, `export-history-refresh`, `export-history` (past exports)

API names (gradio_client): `export_choices`, `export_preview`, `export_run`, `export_history`. Only `export_run`
writes, and it checks the user on the server first (`Studio.writer`). Model and user text reaches the page as JSON
in a Code block, in Dataframes, or escaped in Markdown; never as HTML.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import orjson

from blossom_studio import library
from blossom_studio.export import (
    FILE_TYPES,
    FORMATS,
    INCLUDABLE,
    REASON_HELP,
    ExportError,
    ExportRequest,
    ExportResult,
    export,
    list_exports,
    prepare_export,
)
from blossom_studio.export.request import resolve_target
from blossom_studio.export.writer import check_target
from blossom_studio.profile.language import LANGS
from blossom_studio.selections import list_selections, parse_ratio
from blossom_studio.ui.render import inline_code
from blossom_studio.ui.studio import Studio

ANY_LANG = "any"
NO_SAVED = "(none)"
PREVIEW_ROWS = 5
HISTORY_LIMIT = 50
LARGEST = 2**63
"""Whole numbers (limit, seed) must stay below this: the manifest and the exports table keep 64-bit integers."""
ZIP_TTL = 3600.0
"""Seconds a download zip is kept in the temporary folder (Gradio copies it into its cache when it is returned)."""
BREAKDOWN_HEADERS = ["what", "value", "rows", "meaning"]
HISTORY_HEADERS = ["created", "folder", "format", "type", "rows", "by", "hub"]

FORMAT_HELP = {
    "blossom": "BlossomData chat records `{id, type, metadata, messages}`, reasoning kept: the studio's own layout.",
    "openai": "`{messages}` as OpenAI-style chat fine-tuning reads it (`reasoning_content` dropped).",
    "sharegpt": "`{id, conversations: [{from, value}]}` with human/gpt turns (LLaMA-Factory, FastChat, Axolotl).",
    "alpaca": "`{instruction, input, output, system, history}` (LLaMA-Factory's Alpaca); needs alternating turns.",
    "preference": "Chosen/rejected pairs `{prompt, chosen, rejected, ratings, models, judge}` (Tulu 3, "
                  "UltraFeedback-binarized) for DPO-style training.",
}
INCLUDE_LABELS = {
    "rejected": "rejected (the effective verdict drops them)",
    "unparsed": "unparsed (the judge's output could not be read)",
    "flagged": "flagged (a rule flagged the conversation or answer)",
}
FORM_FIELDS = ("sources", "lang", "saved", "format", "file_type", "bom", "include", "judged_only", "balance", "limit",
               "dedupe", "test_size", "seed", "license", "folder", "overwrite")
"""The Export form's inputs in the order the preview and export handlers take them."""
INTRO = """Write the curated set: the samples whose **effective verdict** keeps them (a reviewer's latest decision,
else the judge's verdict), in an SFT or preference layout, with `manifest.json` (request, counts, sha256 of each file)
and `README.md` (a Hugging Face dataset card). **Preview** writes nothing. The same export from the command line:
`python -m blossom_studio export --format blossom --to FOLDER [--balance zh:en=1:1] [--limit N]`."""


def _text(value: object) -> str:
    """Text shown as itself in Markdown prose or a toast (which renders HTML): HTML escaped."""
    return html.escape(str(value))


def _whole(value: Any, what: str) -> int | None:
    """A whole number from a Number box, None when empty or zero."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExportError(f"the {what} must be a number, got {value!r}") from None
    if not number.is_integer():
        raise ExportError(f"the {what} must be a whole number, got {value!r}")
    if abs(number) >= LARGEST:
        raise ExportError(f"the {what} is too large, got {value!r}")
    return int(number) or None


def _number(value: Any, what: str) -> float:
    """A number from a Number box, 0 when empty."""
    if value is None or value == "":
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ExportError(f"the {what} must be a number, got {value!r}") from None


def _names(value: Any) -> tuple[str, ...]:
    """The values of a multiselect (a list, or one string from an API caller), blanks dropped."""
    if value is None or value == "":
        return ()
    values = [value] if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in values if str(item).strip())


@dataclass(frozen=True)
class ExportForm:
    """The Export form's values: which samples, the layout and file, what goes out, and the target folder."""

    sources: tuple[str, ...] = ()
    lang: str | None = None
    saved: str | None = None
    format: str = "blossom"
    file_type: str = "jsonl"
    bom: bool = False
    include: tuple[str, ...] = ()
    judged_only: bool = False
    balance: str = ""
    limit: int | None = None
    dedupe: bool = True
    test_size: float = 0.0
    seed: int = 0
    license: str = "other"
    folder: str = ""
    overwrite: bool = False

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> ExportForm:
        """Read the form from its values by FORM_FIELDS name; a malformed number raises ExportError."""
        return cls(
            sources=_names(data["sources"]),
            lang=None if data["lang"] in (None, "", ANY_LANG) else str(data["lang"]),
            saved=None if data["saved"] in (None, "", NO_SAVED) else str(data["saved"]),
            format=str(data["format"] or "blossom"),
            file_type=str(data["file_type"] or "jsonl"),
            bom=bool(data["bom"]),
            include=_names(data["include"]),
            judged_only=bool(data["judged_only"]),
            balance=str(data["balance"] or "").strip(),
            limit=_whole(data["limit"], "limit"),
            dedupe=bool(data["dedupe"]),
            test_size=_number(data["test_size"], "test size"),
            seed=_whole(data["seed"], "seed") or 0,
            license=str(data["license"] or "").strip() or "other",
            folder=str(data["folder"] or "").strip(),  # resolve_target refuses names outside or unusable
            overwrite=bool(data["overwrite"]),
        )

    def request(self) -> ExportRequest:
        """Return the export request, checked; an unreadable balance or a bad field raises ExportError."""
        try:
            balance = parse_ratio(self.balance) if self.balance else None
        except ValueError as exc:  # SelectionError: the ratio's own explanation
            raise ExportError(str(exc)) from None
        request = ExportRequest(format=self.format, file_type=self.file_type, sources=self.sources, lang=self.lang,
                                selection=self.saved, include=self.include, judged_only=self.judged_only,
                                balance=balance, limit=self.limit, dedupe=self.dedupe, test_size=self.test_size,
                                seed=self.seed, bom=self.bom, license=self.license)
        request.check()
        return request


def form_values(**fields: Any) -> list[Any]:
    """Return the form's input values in FORM_FIELDS order, defaults filled in (`format="openai"`, `folder="x"`)."""
    defaults: dict[str, Any] = {"sources": [], "lang": ANY_LANG, "saved": NO_SAVED, "format": "blossom",
                                "file_type": "jsonl", "bom": False, "include": [], "judged_only": False,
                                "balance": "", "limit": None, "dedupe": True, "test_size": 0, "seed": 0,
                                "license": "other", "folder": "", "overwrite": False}
    unknown = set(fields) - set(FORM_FIELDS)
    if unknown:
        raise TypeError(f"unknown form field(s): {', '.join(sorted(unknown))}")
    return [fields.get(name, defaults[name]) for name in FORM_FIELDS]


def format_help(name: str) -> str:
    """Return the one-line Markdown explanation of an export format."""
    return f"**{_text(name)}**: {FORMAT_HELP.get(name, 'unknown format')}"


def _verdict_meaning(key: str) -> str:
    decided_by, _, kind = key.partition(":")
    if decided_by == "human":
        return "decided by a reviewer (the latest decision wins over the judge)"
    if decided_by == "judge":
        return f"the judge's {kind} verdict"
    return "no verdict or decision: exported as imported" if key == "none" else ""


def breakdown_rows(counts: Mapping[str, Any]) -> list[list[Any]]:
    """Return the counts as table rows (BREAKDOWN_HEADERS): splits, languages, sources, verdicts, what is left out."""
    rows: list[list[Any]] = [["split", split, n, ""] for split, n in counts.get("splits", {}).items()]
    rows += [["language", lang, n, ""] for lang, n in counts.get("by_lang", {}).items()]
    rows += [["source", source, n, ""] for source, n in counts.get("by_source", {}).items()]
    rows += [["verdict", key, n, _verdict_meaning(key)] for key, n in counts.get("by_verdict", {}).items()]
    rows += [["left out", reason, n, REASON_HELP.get(reason, "")] for reason, n in counts.get("left_out", {}).items()]
    return rows


def summary_markdown(counts: Mapping[str, Any], request: ExportRequest) -> str:
    """Return the preview's headline as Markdown: how many go out of how many, per split and language, and who
    decided."""
    splits = ", ".join(f"{_text(split)} {n:,}" for split, n in counts.get("splits", {}).items())
    langs = ", ".join(f"{_text(lang)} {n:,}" for lang, n in counts.get("by_lang", {}).items())
    lines = [f"**{counts.get('rows', 0):,} of {counts.get('selected', 0):,} selected samples go out** "
             f"({splits}; {langs}) as {inline_code(request.format)} {inline_code(request.file_type)}"]
    left_out = counts.get("left_out", {})
    if left_out:
        lines.append("Left out: " + ", ".join(f"{_text(reason)} {n:,}" for reason, n in left_out.items())
                     + " (the table below says why)")
    if counts.get("human_decisions"):
        lines.append(f"Decided by a person: {counts['human_decisions']:,} (overriding the judge: "
                     f"{counts.get('overrides', 0):,})")
    if counts.get("unprofiled"):
        lines.append(f"{counts['unprofiled']:,} not profiled yet: their language is guessed from the share of Chinese "
                     "characters until the profiler reaches them.")
    if counts.get("judges"):
        lines.append("Judges: " + ", ".join(inline_code(judge) for judge in counts["judges"]))
    if counts.get("jobs"):
        lines.append("Jobs: " + ", ".join(f"{inline_code(job.get('name'))} ({_text(job.get('strategy'))})"
                                          for job in counts["jobs"]))
    return "\n\n".join(lines)


def records_json(records: Sequence[Mapping[str, Any]]) -> str:
    """Return records as indented JSON text (non-ASCII kept) for a Code block."""
    return orjson.dumps(list(records), option=orjson.OPT_INDENT_2).decode()


def target_note(studio: Studio, form: ExportForm) -> str:
    """Return where the export would go, or why that folder would be refused (Markdown; checks only, writes nothing)."""
    root = studio.export_root()
    if not form.folder:
        return f"Name a folder to export into (inside {inline_code(root)})."
    try:
        folder = resolve_target(form.folder, root)
        check_target(folder, form.overwrite)
    except ExportError as exc:
        return f"⚠️ Export would be refused: {_text(exc)}"
    return f"Export goes to {inline_code(folder)}."


def preview(studio: Studio, form: ExportForm) -> tuple[str, list[list[Any]], str]:
    """Return the counts (summary and table) and the first records as JSON, writing nothing; a bad request warns."""
    try:
        request = form.request()
        with prepare_export(studio.store, request) as plan:
            counts, records = dict(plan.counts), plan.preview(PREVIEW_ROWS)
    except ExportError as exc:
        message = _text(exc)
        gr.Warning(message)
        return f"⚠️ {message}", [], ""
    note = target_note(studio, form)
    return f"{summary_markdown(counts, request)}\n\n{note}", breakdown_rows(counts), records_json(records)


_zips_lock = threading.Lock()
_zips: list[tuple[float, Path]] = []
"""The temporary folders of the download zips made by this process, with when they were made."""


def _forget_old_zips(now: float) -> None:
    with _zips_lock:
        keep = []
        for made, folder in _zips:
            if now - made > ZIP_TTL:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                keep.append((made, folder))
        _zips[:] = keep


def zip_export(result: ExportResult) -> Path:
    """Zip an export's files (under a folder of its name) into a new temporary folder; return the zip's path."""
    now = time.time()
    _forget_old_zips(now)
    temp = Path(tempfile.mkdtemp(prefix="blossom-export-"))
    with _zips_lock:
        _zips.append((now, temp))
    target = temp / f"{result.folder.name}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in result.files:
            archive.write(result.folder / relative, f"{result.folder.name}/{relative}")
    return target


def written_markdown(result: ExportResult) -> str:
    """Return what an export wrote as Markdown: the folder, each data file with rows, bytes and sha256."""
    manifest = result.manifest
    rows = sum(int(file["rows"]) for file in manifest["files"])
    lines = [f"**Exported {rows:,} records** to {inline_code(result.folder)} (export {inline_code(result.id)}):", ""]
    lines += [f"- {inline_code(file['path'])}: {int(file['rows']):,} rows, {int(file['bytes']):,} bytes, sha256 "
              f"{inline_code(file['sha256'])}" for file in manifest["files"]]
    lines.append(f"- {inline_code('manifest.json')} (the request, counts and checksums) and {inline_code('README.md')} "
                 "(the dataset card)")
    return "\n".join(lines)


Say = Callable[[float, str], None]


def run_export(studio: Studio, form: ExportForm, user: str, say: Say | None = None) -> tuple[str, Path | None]:
    """Write the export for `user` inside the export folder and zip it; return a Markdown report and the zip (None
    when the export is refused, and then nothing was written, or when the zip could not be made)."""
    report = say or (lambda _fraction, _message: None)
    steps = iter((0.3, 0.5, 0.7, 0.8, 0.85))
    report(0.05, "resolving the samples")
    try:
        request = form.request()
        result = export(studio.store, request, form.folder, root=studio.export_root(), overwrite=form.overwrite,
                        created_by=user, progress=lambda message: report(next(steps, 0.85), message))
    except ExportError as exc:
        message = _text(exc)
        gr.Warning(message)
        return f"⚠️ Not exported: {message}", None
    except OSError as exc:
        message = _text(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        gr.Warning(message)
        return f"⚠️ Not exported: {message}", None
    report(0.9, "zipping the files for the download")
    written = written_markdown(result)
    try:
        archive = zip_export(result)
    except OSError as exc:
        return f"{written}\n\n⚠️ The zip for the download could not be made: {_text(exc)}", None
    return written, archive


def history_rows(studio: Studio) -> list[list[Any]]:
    """Return the past exports, newest first, as table rows (HISTORY_HEADERS); folders inside the export folder are
    shown relative to it."""
    root = studio.export_root().resolve()
    rows = []
    for item in list_exports(studio.store, HISTORY_LIMIT):
        path = Path(str(item["path"]))
        shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        rows.append([str(item["created_at"] or "")[:19], shown, item["format"], item["file_type"], item["rows"],
                     item["created_by"] or "", item["hub_repo"] or ""])
    return rows


def choices(studio: Studio) -> tuple[Any, Any]:
    """Return the source and saved-selection dropdown updates."""
    saved = [NO_SAVED, *(row["name"] for row in list_selections(studio.store))]
    return gr.update(choices=library.sources(studio.store)), gr.update(choices=saved)


def build_export_tab(demo: gr.Blocks, studio: Studio) -> None:
    """Lay out the Export tab and wire its handlers to the export API (writing goes through the writer check)."""
    from gradio.context import Context

    tab = Context.block
    root = studio.export_root()
    gr.Markdown(INTRO + f"\n\nExports are folders inside {inline_code(root)}.")
    dynamic = {"allow_custom_value": True}  # choices from the database: API callers may pass any; handlers check
    with gr.Accordion("1 · Samples", open=True), gr.Row():
        sources = gr.Dropdown(library.sources(studio.store), value=[], multiselect=True, label="Sources",
                              info="none chosen: every source", elem_id="export-source", scale=3, **dynamic)
        lang = gr.Dropdown([ANY_LANG, *LANGS], value=ANY_LANG, label="Language", elem_id="export-lang", scale=1)
        saved = gr.Dropdown([NO_SAVED], value=NO_SAVED, label="Saved selection", elem_id="export-saved", scale=2,
                            info="from Balance → Rebalance, or the CLI", **dynamic)
        refresh = gr.Button("↻", size="sm", scale=0, elem_id="export-refresh")
    with gr.Accordion("2 · Layout and file", open=True):
        with gr.Row():
            layout = gr.Dropdown(list(FORMATS), value="blossom", label="Format", elem_id="export-format", scale=1)
            layout_help = gr.Markdown(format_help("blossom"), elem_id="export-format-help")
        with gr.Row():
            file_type = gr.Radio(list(FILE_TYPES), value="jsonl", label="File type", elem_id="export-type")
            bom = gr.Checkbox(False, label="UTF-8 byte order mark (CSV only: Excel then shows Chinese)",
                              interactive=False, elem_id="export-bom")
            license_id = gr.Textbox("other", label="License", elem_id="export-license",
                                    info="for the dataset card: a Hugging Face id such as apache-2.0, cc-by-4.0, mit")
    with gr.Accordion("3 · What goes out", open=True):
        with gr.Row():
            include = gr.CheckboxGroup([(INCLUDE_LABELS.get(name, name), name) for name in INCLUDABLE], value=[],
                                       label="Also export what is left out by default", elem_id="export-include")
            judged_only = gr.Checkbox(False, label="Judged only", elem_id="export-judged-only",
                                      info="leave out samples without a judge verdict or a review decision")
            dedupe = gr.Checkbox(True, label="Drop duplicates", elem_id="export-dedupe",
                                 info="samples whose exported messages are identical go out once")
        with gr.Row():
            balance = gr.Textbox("", label="Language balance", placeholder="e.g. zh:en=1:1 (empty: no balance)",
                                 elem_id="export-balance")
            limit = gr.Number(None, label="Limit", precision=0, minimum=0, elem_id="export-limit",
                              info="at most N records, a seeded pick (0: all)")
            test_size = gr.Number(0, label="Test split", minimum=0, elem_id="export-test-size",
                                  info="a fraction (0.05) or a number of records (500); 0: none")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="export-seed", info="of the limit, balance, split")
    with gr.Accordion("4 · Folder", open=True), gr.Row():
        folder = gr.Textbox(label="Folder name", placeholder="e.g. curated-zh-en", elem_id="export-folder", scale=3,
                            info=f"a name inside {root} (subfolders with /)")
        overwrite = gr.Checkbox(False, label="Overwrite an earlier export in this folder", elem_id="export-overwrite",
                                scale=1)
    with gr.Row():
        preview_button = gr.Button("Preview", elem_id="export-preview", scale=0)
        export_button = gr.Button("Export", variant="primary", elem_id="export-run", scale=0)
        download = gr.DownloadButton("Download", visible=False, elem_id="export-download", scale=0, min_width=280)
    written = gr.Markdown(elem_id="export-written")
    summary = gr.Markdown(elem_id="export-summary")
    breakdown = gr.Dataframe(headers=BREAKDOWN_HEADERS, datatype=["str", "str", "number", "str"], interactive=False,
                             wrap=True, max_height=360, label="Counts", elem_id="export-breakdown")
    records = gr.Code(language="json", label=f"First {PREVIEW_ROWS} records, as they will be written",
                      interactive=False, max_lines=40, elem_id="export-records")
    with gr.Accordion("Past exports", open=True):
        with gr.Row():
            history_refresh = gr.Button("↻", size="sm", scale=0, elem_id="export-history-refresh")
        history = gr.Dataframe(headers=HISTORY_HEADERS, datatype=["str", "str", "str", "str", "number", "str", "str"],
                               interactive=False, wrap=True, max_height=360, label="Exports (newest first)",
                               elem_id="export-history")

    form_inputs = [sources, lang, saved, layout, file_type, bom, include, judged_only, balance, limit, dedupe,
                   test_size, seed, license_id, folder, overwrite]

    # Handlers name every input, so that gradio_client callers see named parameters (FORM_FIELDS).
    def on_preview(sources: list[str], lang: str, saved: str, format: str, file_type: str, bom: bool,
                   include: list[str], judged_only: bool, balance: str, limit: float | None, dedupe: bool,
                   test_size: float | None, seed: float | None, license: str, folder: str,
                   overwrite: bool) -> tuple[str, list[list[Any]], str]:
        try:
            form = ExportForm.from_fields(locals())
        except ExportError as exc:
            gr.Warning(_text(exc))
            return f"⚠️ {_text(exc)}", [], ""
        return preview(studio, form)

    def on_export(sources: list[str], lang: str, saved: str, format: str, file_type: str, bom: bool,
                  include: list[str], judged_only: bool, balance: str, limit: float | None, dedupe: bool,
                  test_size: float | None, seed: float | None, license: str, folder: str, overwrite: bool,
                  request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple[str, Any]:  # noqa: B008
        fields = dict(locals())
        user = studio.writer(request)  # read-only or signed-out in a shared studio: gr.Error, nothing written
        try:
            form = ExportForm.from_fields(fields)
        except ExportError as exc:
            gr.Warning(_text(exc))
            return f"⚠️ Not exported: {_text(exc)}", gr.update(value=None, visible=False)
        message, archive = run_export(studio, form, user, lambda fraction, text: progress(fraction, desc=text))
        if archive is None:
            return message, gr.update(value=None, visible=False)
        return message, gr.update(value=str(archive), visible=True, label=f"Download {archive.name}")

    def on_history() -> list[list[Any]]:
        return history_rows(studio)

    def on_choices() -> tuple[Any, Any]:
        return choices(studio)

    def on_format(format: str) -> str:
        return format_help(format)

    def on_file_type(file_type: str) -> Any:
        return gr.update(interactive=True) if file_type == "csv" else gr.update(interactive=False, value=False)

    load_triggers = [demo.load, refresh.click]
    history_triggers = [demo.load, history_refresh.click]
    if isinstance(tab, gr.Tab):
        load_triggers.append(tab.select)
        history_triggers.append(tab.select)
    gr.on(load_triggers, on_choices, None, [sources, saved], api_name="export_choices", show_progress="hidden")
    gr.on(history_triggers, on_history, None, history, api_name="export_history", show_progress="hidden")
    layout.change(on_format, layout, layout_help, api_name=False, show_progress="hidden")
    file_type.change(on_file_type, file_type, bom, api_name=False, show_progress="hidden")
    preview_button.click(on_preview, form_inputs, [summary, breakdown, records], api_name="export_preview")
    # One export at a time: two at once into the same folder would race for it.
    export_button.click(on_export, form_inputs, [written, download], api_name="export_run",
                        concurrency_limit=1, concurrency_id="export-run").then(
        on_history, None, history, api_name=False, show_progress="hidden")
