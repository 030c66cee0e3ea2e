"""The Library tab: import files, page through samples server-side with search and filters, and open a sample."""

from __future__ import annotations

from typing import Any

import gradio as gr
import orjson

from blossom_studio import library
from blossom_studio.store import Store
from blossom_studio.ui.render import (
    LATEX_DELIMITERS,
    candidate_messages,
    chat_messages,
    inert_markdown,
    inline_code,
    verdict_messages,
)
from blossom_studio.ui.studio import Studio

PAGE_SIZE = 25
HEADERS = ["id", "source", "format", "turns", "prompt", "reference", "candidates", "lang", "verdicts"]
DECISION_HEADERS = ["time", "reviewer", "action", "what", "note"]
ALL_SOURCES = "(all sources)"
ANY = "(any)"
NO_SAMPLE = "Select a row to open its conversation."


def _chosen(value: str | None, everything: str = ANY) -> str | None:
    return None if not value or value == everything else value


def page_table(store: Store, page: float | None, search: str | None, source: str | None, lang: str | None = ANY,
               flag: str | None = ANY, status: str | None = "active", verdict: str | None = ANY,
               review: str | None = ANY) -> tuple[list[list[Any]], str, int]:
    """Return one page of the filtered samples as table rows, a status line and the page shown."""
    try:
        result = library.page_samples(
            store, page=int(page or 1), page_size=PAGE_SIZE, search=search, source=_chosen(source, ALL_SOURCES),
            lang=_chosen(lang), flag=_chosen(flag), status=_chosen(status), verdict=_chosen(verdict),
            review=_chosen(review))
    except library.LibraryError as exc:
        gr.Warning(inert_markdown(str(exc)))
        return [], f"⚠️ {inert_markdown(str(exc))}", 1
    status_line = f"{result.total:,} sample{'' if result.total == 1 else 's'} · page {result.page} of {result.pages}"
    return [list(row) for row in result.rows], status_line, result.page


def _yes(value: Any) -> str:
    return "–" if value is None else ("yes" if value else "no")


def effective_line(effective: dict[str, Any] | None) -> str:
    """Describe a sample's effective verdict in one Markdown line (empty when it has none)."""
    if not effective:
        return ""
    if effective.get("source") == "human":
        origin = f"reviewer {inline_code(effective.get('reviewer'))}: {inline_code(effective.get('action'))}"
    else:
        origin = f"judge {inline_code(effective.get('judge'))} ({inline_code(effective.get('kind'))})"
    parts = [f"**Effective verdict** from {origin}", f"keep {_yes(effective.get('keep'))}"]
    if effective.get("winner") is not None:
        parts.append(f"winner {inline_code(effective['winner'])}")
    if effective.get("disagrees"):
        parts.append("⚠️ the reviewer overrode the judge")
    if effective.get("conflict"):
        parts.append("⚠️ reviewers disagree")
    return " · ".join(parts)


def _details(sample: dict[str, Any], effective: dict[str, Any] | None) -> str:
    facts = [f"**{inline_code(sample['id'])}**", f"source {inline_code(sample['source'])}",
             f"layout {inline_code(sample['format'])}", f"row {sample['row_number']}",
             f"status {inline_code(sample['status'])}"]
    if sample["source_id"]:
        facts.append(f"original id {inline_code(sample['source_id'])}")
    lang = sample["lang"] or "pending"
    language = f"language {inline_code(lang)}"
    if sample["prompt_lang"] or sample["response_lang"]:
        language += (f" (prompt {inline_code(sample['prompt_lang'] or '–')}, "
                     f"answer {inline_code(sample['response_lang'] or '–')})")
    if sample["lang_mismatch"]:
        language += " · ⚠️ answer not in the prompt's language"
    if sample["traditional"]:
        language += " · Traditional characters"
    lines = [" · ".join(facts), language]
    if effective:
        lines.append(effective_line(effective))
    if sample["metadata"]:
        meta = orjson.dumps(sample["metadata"], option=orjson.OPT_INDENT_2).decode()
        lines.append("**Metadata**\n\n" + inert_markdown(f"```json\n{meta}\n```"))
    return "\n\n".join(lines)


def decision_rows(decisions: list[dict[str, Any]]) -> list[list[Any]]:
    """Return a sample's decisions as table rows (time, reviewer, action, what it did, note), oldest first."""
    return [[str(d["created_at"])[:19], d["reviewer"], d["action"] + (" (undone)" if d["undone"] else ""),
             d["description"], d["note"] or ""] for d in decisions]


def open_sample_view(store: Store, sample_id: str) -> tuple[Any, ...]:
    """Return what the sample view shows: conversation, candidates, reference, details, verdicts and decisions."""
    sample = library.get_sample(store, sample_id.strip())
    if sample is None:
        return [], [], "", f"No sample with id {inline_code(sample_id.strip())}.", [], []
    effective = library.effective_verdict(store, sample["id"])
    return (chat_messages(sample["messages"]), candidate_messages(sample["candidates"]), sample["reference"] or "",
            _details(sample, effective), verdict_messages(library.sample_verdicts(store, sample["id"])),
            decision_rows(library.sample_decisions(store, sample["id"])))


def import_summary(reports: list[Any]) -> str:
    """Return the import summary as Markdown: one line per file with its counts, then its first errors."""
    lines = []
    for report in reports:
        name = inline_code(report.file.rsplit("/", 1)[-1])
        if report.error:
            lines.append(f"- **{name}**: {inert_markdown(report.error.rsplit(': ', 1)[-1])}")
            continue
        lines.append(f"- **{name}** ({report.format}, {report.file_type}): {report.records:,} records, "
                     f"{report.imported:,} imported, {report.duplicates:,} duplicates, {report.bad:,} bad")
        lines += [f"  - {e['where']} {e['line']}: {inert_markdown(str(e['reason']))}" for e in report.errors[:10]]
        if report.bad > 10:
            lines.append(f"  - … and {report.bad - 10:,} more bad records (the CLI's `import --json` lists 100)")
    return "\n".join(lines)


def run_import(studio: Studio, files: list[str] | None, name: str | None,
               request: gr.Request | None) -> tuple[Any, ...]:
    """Import uploaded files for a signed-in writer (refused otherwise) and return the summary and new sources."""
    from blossom_studio.ingest import import_files

    studio.writer(request)  # in shared mode only a signed-in user may import; raises gr.Error otherwise
    if not files:
        return "Choose one or more files first.", gr.update()
    reports = import_files(studio.store, files, source=(name or "").strip() or None)
    if any(report.imported for report in reports):
        studio.wake_profiler()  # the language profile and word counts follow in the background
    return import_summary(reports), gr.update(choices=[ALL_SOURCES, *library.sources(studio.store)])


def _choices(values: list[str] | tuple[str, ...], any_label: str) -> list[tuple[str, str]]:
    return [(any_label, ANY), *((value, value) for value in values)]


def _labelled(filters: dict[str, tuple[str, str]], any_label: str) -> list[tuple[str, str]]:
    return [(any_label, ANY), *((label, key) for key, (label, _) in filters.items())]


def build_library_tab(demo: gr.Blocks, studio: Studio) -> None:
    """Lay out the Library tab and wire its handlers to the library API (imports go through the writer check)."""
    store = studio.store
    review_ready = library.review_available()
    with gr.Row():
        search = gr.Textbox(label="Search (Chinese or English)", placeholder="e.g. 函数 or quick sort", scale=3,
                            elem_id="library-search")
        source = gr.Dropdown(label="Source", choices=[ALL_SOURCES, *library.sources(store)], value=ALL_SOURCES,
                             scale=2, elem_id="library-source")
        page = gr.Number(label="Page", value=1, precision=0, minimum=1, scale=1)
    with gr.Row():
        lang = gr.Dropdown(label="Language", choices=_choices(library.LANGS, "any language"), value=ANY)
        flag = gr.Dropdown(label="Flag", choices=_choices(library.quality_flags(), "any flag"), value=ANY,
                           info="rule filters (a rules job) and the language profile")
        status = gr.Dropdown(label="Status", choices=_choices(library.statuses(store) or ["active"], "any status"),
                             value="active")
        verdict = gr.Dropdown(label="Verdict", value=ANY, choices=_labelled(library.VERDICT_FILTERS, "any verdict"))
        review = gr.Dropdown(label="Judge vs reviewer", value=ANY, interactive=review_ready,
                             choices=_labelled(library.REVIEW_FILTERS, "any"),
                             info=None if review_ready else "needs the Review module")
    with gr.Row():
        previous = gr.Button("← Previous", size="sm", scale=0)
        status_line = gr.Markdown()
        following = gr.Button("Next →", size="sm", scale=0)
    table = gr.Dataframe(headers=HEADERS, datatype="str", interactive=False, wrap=True, max_height=520,
                         column_widths=["11%", "10%", "8%", "5%", "36%", "12%", "6%", "6%", "6%"],
                         elem_id="library-table")
    with gr.Row():
        with gr.Column(scale=3):
            # No copy or share buttons: they would copy the escaped Markdown, or post private data to the Hub.
            conversation = gr.Chatbot(label="Conversation", height=460, latex_delimiters=LATEX_DELIMITERS,
                                      feedback_options=None, buttons=[], elem_id="library-conversation")
        with gr.Column(scale=2):
            details = gr.Markdown(NO_SAMPLE, elem_id="library-details")
            reference = gr.Textbox(label="Reference answer", lines=3, interactive=False)
            candidates = gr.Chatbot(label="Candidate answers", height=300, latex_delimiters=LATEX_DELIMITERS,
                                    feedback_options=None, buttons=[], elem_id="library-candidates")
    with gr.Row():
        verdicts = gr.Chatbot(label="Verdicts (kind · judge · parse status)", height=300,
                              latex_delimiters=LATEX_DELIMITERS, feedback_options=None, buttons=[], scale=3)
        decisions = gr.Dataframe(headers=DECISION_HEADERS, datatype="str", interactive=False, wrap=True,
                                 label="Review decisions (oldest first)", max_height=300, scale=2)
    with gr.Accordion("Import files", open=False):
        uploads = gr.File(label="JSON, JSONL, CSV/TSV, Parquet, gzip", file_count="multiple", type="filepath",
                          elem_id="library-upload")
        import_source = gr.Textbox(label="Source name (optional)", elem_id="library-import-source")
        import_button = gr.Button("Import", variant="primary", elem_id="library-import")
        summary = gr.Markdown(elem_id="library-import-summary")

    def refresh(*values: Any) -> tuple[Any, ...]:
        return page_table(store, *values)

    def step(delta: int) -> Any:
        def handler(page_number: float, *values: Any) -> tuple[Any, ...]:
            return page_table(store, (page_number or 1) + delta, *values)
        return handler

    def first_page(*values: Any) -> tuple[Any, ...]:
        return page_table(store, 1, *values)

    def open_sample(sample_id: str) -> tuple[Any, ...]:
        return open_sample_view(store, sample_id or "")

    def select(event: gr.SelectData) -> tuple[Any, ...]:
        row = event.row_value or []
        return open_sample_view(store, str(row[0])) if row else ([], [], "", NO_SAMPLE, [], [])

    def upload(files: list[str] | None, name: str, request: gr.Request) -> tuple[Any, ...]:
        return run_import(studio, files, name, request)

    filters = [search, source, lang, flag, status, verdict, review]
    inputs = [page, *filters]
    outputs = [table, status_line, page]
    sample_outputs = [conversation, candidates, reference, details, verdicts, decisions]
    gr.on([search.submit, page.submit], refresh, inputs, outputs, api_name="page_samples")
    gr.on([source.input, lang.input, flag.input, status.input, verdict.input, review.input], first_page, filters,
          outputs, api_name=False)  # a new filter starts at page 1
    previous.click(step(-1), inputs, outputs, api_name=False)
    following.click(step(1), inputs, outputs, api_name=False)
    table.select(select, None, sample_outputs, api_name=False)
    opened_id = gr.Textbox(visible=False)
    opened_id.submit(open_sample, opened_id, sample_outputs, api_name="open_sample")
    import_button.click(upload, [uploads, import_source], [summary, source], api_name=False).success(
        refresh, inputs, outputs, api_name=False)
    demo.load(refresh, inputs, outputs, api_name=False)
