"""The Library tab: import files, page through samples server-side, search, and open a conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import orjson

from blossom_studio import library
from blossom_studio.store import Store
from blossom_studio.ui.render import LATEX_DELIMITERS, candidate_messages, chat_messages

PAGE_SIZE = 25
HEADERS = ["id", "source", "format", "turns", "prompt", "reference", "candidates"]
ALL_SOURCES = "(all sources)"


def _page(store: Store, page: float, search: str, source: str) -> tuple[list[list[Any]], str, int]:
    chosen = None if not source or source == ALL_SOURCES else source
    result = library.page_samples(store, page=int(page or 1), page_size=PAGE_SIZE, search=search, source=chosen)
    status = f"{result.total:,} samples · page {result.page} of {result.pages}"
    return [list(row) for row in result.rows], status, result.page


def _open_sample(store: Store, sample_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, str]:
    sample = library.get_sample(store, sample_id)
    if sample is None:
        return [], [], "", f"No sample with id `{sample_id}`."
    reference = sample["reference"] or ""
    facts = (f"**{sample['id']}** · source `{sample['source']}` · layout `{sample['format']}`"
             f" · row {sample['row_number']}" + (f" · original id `{sample['source_id']}`" if sample["source_id"]
                                                  else ""))
    meta = orjson.dumps(sample["metadata"], option=orjson.OPT_INDENT_2).decode() if sample["metadata"] else ""
    details = facts + (f"\n\n**Metadata**\n```json\n{meta}\n```" if meta else "")
    return chat_messages(sample["messages"]), candidate_messages(sample["candidates"]), reference, details


def build_library_tab(demo: gr.Blocks, store: Store, *, on_import: Callable[[], None] | None = None) -> None:
    """Lay out the Library tab and wire its handlers to the library API; `on_import` runs after new samples land."""
    with gr.Row():
        search = gr.Textbox(label="Search (Chinese or English)", placeholder="e.g. 函数 or quick sort", scale=3)
        source = gr.Dropdown(label="Source", choices=[ALL_SOURCES, *library.sources(store)], value=ALL_SOURCES,
                             scale=2)
        page = gr.Number(label="Page", value=1, precision=0, minimum=1, scale=1)
    with gr.Row():
        previous = gr.Button("← Previous", size="sm")
        status = gr.Markdown()
        following = gr.Button("Next →", size="sm")
    table = gr.Dataframe(headers=HEADERS, datatype="str", interactive=False, wrap=True, max_height=520,
                         column_widths=["12%", "12%", "9%", "6%", "41%", "12%", "8%"])
    with gr.Row():
        with gr.Column(scale=3):
            conversation = gr.Chatbot(label="Conversation", height=460, latex_delimiters=LATEX_DELIMITERS,
                                      feedback_options=None, buttons=["copy"])
        with gr.Column(scale=2):
            details = gr.Markdown("Select a row to open its conversation.")
            reference = gr.Textbox(label="Reference answer", lines=3, interactive=False)
            candidates = gr.Chatbot(label="Candidate answers", height=300, latex_delimiters=LATEX_DELIMITERS,
                                    feedback_options=None)
    with gr.Accordion("Import files", open=False):
        uploads = gr.File(label="JSON, JSONL, CSV/TSV, Parquet, gzip", file_count="multiple", type="filepath")
        import_source = gr.Textbox(label="Source name (optional)")
        import_button = gr.Button("Import", variant="primary")
        import_summary = gr.Markdown()

    def refresh(page_number: float, text: str, chosen: str) -> tuple[Any, ...]:
        rows, message, current = _page(store, page_number, text, chosen)
        return rows, message, current

    def previous_page(page_number: float, text: str, chosen: str) -> tuple[Any, ...]:
        return refresh((page_number or 1) - 1, text, chosen)

    def next_page(page_number: float, text: str, chosen: str) -> tuple[Any, ...]:
        return refresh((page_number or 1) + 1, text, chosen)

    def open_sample(sample_id: str) -> tuple[Any, ...]:
        return _open_sample(store, sample_id.strip())

    def select(event: gr.SelectData) -> tuple[Any, ...]:
        row = event.row_value or []
        return _open_sample(store, str(row[0])) if row else ([], [], "", "")

    def run_import(files: list[str] | None, name: str) -> tuple[Any, ...]:
        from blossom_studio.ingest import import_files

        if not files:
            return "Choose one or more files first.", gr.update()
        reports = import_files(store, files, source=name.strip() or None)
        if on_import is not None and any(report.imported for report in reports):
            on_import()  # the language profile and word counts follow in the background
        lines = []
        for report in reports:
            file_name = report.file.rsplit("/", 1)[-1]
            if report.error:
                lines.append(f"- **{file_name}**: {report.error.rsplit(': ', 1)[-1]}")
                continue
            lines.append(f"- **{file_name}** ({report.format}, {report.file_type}): {report.records} records, "
                         f"{report.imported} imported, {report.duplicates} duplicates, {report.bad} bad")
            lines += [f"  - {e['where']} {e['line']}: {e['reason']}" for e in report.errors[:10]]
        return "\n".join(lines), gr.update(choices=[ALL_SOURCES, *library.sources(store)])

    inputs = [page, search, source]
    outputs = [table, status, page]
    sample_outputs = [conversation, candidates, reference, details]
    gr.on([search.submit, source.change, page.submit], refresh, inputs, outputs, api_name="page_samples")
    previous.click(previous_page, inputs, outputs, api_name=False)
    following.click(next_page, inputs, outputs, api_name=False)
    table.select(select, None, sample_outputs, api_name=False)
    opened_id = gr.Textbox(visible=False)
    opened_id.submit(open_sample, opened_id, sample_outputs, api_name="open_sample")
    import_button.click(run_import, [uploads, import_source], [import_summary, source], api_name=False).then(
        refresh, inputs, outputs, api_name=False)
    demo.load(refresh, inputs, outputs, api_name=False)
