"""The Balance tab: language by source and role, lengths, Traditional share, mismatches, top words, rebalancing."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import pandas as pd

from blossom_studio import balance, library
from blossom_studio.store import Store
from blossom_studio.ui.render import candidate_messages, chat_messages
from blossom_studio.ui.studio import Studio

ALL_SOURCES = "(all sources)"
ALL_ROLES = "(every message: sample language)"
ALL_LANGS = "all"
PAGE_SIZE = 25
WORDS_SHOWN = 200
REFRESH_SECONDS = 10
MISMATCH_HEADERS = ["id", "source", "prompt_lang", "response_lang", "prompt"]
TRADITIONAL_HEADERS = ["source", "zh samples", "traditional", "share"]
WORD_HEADERS = ["word", "lang", "count"]
PLAN_HEADERS = ["lang", "source", "available", "selected"]
_NOMINAL = ("source", "lang", "role", "bin")
LANG_COLORS = {"zh": "#e4572e", "en": "#2e86ab", "mixed": "#f6ae2d", "other": "#76b041", "code": "#5c4d7d",
               "unknown": "#9e9e9e", "pending": "#d9d9d9"}


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([[row[name] for name in columns] for row in rows], columns=columns)
    return frame.astype({name: str if name in _NOMINAL else "int64" for name in columns})


def _chosen(value: str | None, everything: str) -> str | None:
    return None if not value or value == everything else value


def _text(value: object) -> str:
    """Text shown as itself in Markdown prose or a toast (which renders HTML): HTML escaped."""
    return html.escape(str(value))


def _code(value: object) -> str:
    """Text for a Markdown code span, which shows it literally: only backticks are replaced."""
    return str(value).replace("`", "'").replace("\n", " ")


def inert(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Escape the messages' text for a Chatbot that renders no Markdown: HTML in model text shows as the text itself.

    Gradio's Chatbot sanitises HTML but still renders the tags it allows (an `<img src=...>` in imported data would
    load), with or without Markdown; escaped text in a Markdown-less Chatbot shows exactly what is stored.
    """
    shown = []
    for message in messages:
        escaped = {**message, "content": html.escape(message["content"], quote=False)}
        if message.get("metadata", {}).get("title"):
            escaped["metadata"] = {**message["metadata"], "title": html.escape(message["metadata"]["title"])}
        shown.append(escaped)
    return shown


def progress_status(store: Store) -> tuple[str, bool]:
    """Return the "profiling n/N" line and whether every sample is profiled and word-counted."""
    progress = balance.profile_progress(store)
    samples, profiled, counted = progress["samples"], progress["profiled"], progress["words_counted"]
    if not samples:
        return "No samples yet: import some in the Library tab.", True
    if profiled < samples:
        return (f"Profiling {profiled:,}/{samples:,} ({profiled / samples:.0%})… · words counted {counted:,}/"
                f"{samples:,} · unprofiled samples show as `pending`; refreshing every {REFRESH_SECONDS} s", False)
    if counted < samples:
        return (f"Profiled {samples:,}/{samples:,} · counting words {counted:,}/{samples:,} "
                f"({counted / samples:.0%})… refreshing every {REFRESH_SECONDS} s", False)
    return f"Profiled {samples:,}/{samples:,} · words counted {counted:,}/{samples:,}", True


def volume_frames(store: Store, role: str | None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Return samples and words by source and language (the sample's, or one role's messages'), rows by role, roles."""
    by_role = balance.balance_rows(store, ["lang", "source", "role"])
    chosen = _chosen(role, ALL_ROLES)
    if chosen is None:
        by_source = _frame(balance.balance_rows(store, ["lang", "source"]), ["source", "lang", "samples", "words"])
    else:
        by_source = _frame([row for row in by_role if row["role"] == chosen], ["source", "lang", "samples", "words"])
    roles = sorted({row["role"] for row in by_role})
    return by_source, _frame(by_role, ["role", "source", "lang", "messages", "words"]), roles


def histogram_frame(store: Store, measure: str) -> pd.DataFrame:
    """Return the samples per language and length bin of the measure."""
    return _frame(balance.length_histogram(store, measure=measure), ["bin", "lang", "samples"])


def traditional_rows(store: Store) -> list[list[Any]]:
    """Return the Traditional share table: source, Chinese samples, Traditional ones, share as a percentage."""
    return [[row["source"], row["zh_samples"], row["traditional"],
             "–" if row["share"] is None else f"{row['share']:.1%}"] for row in balance.traditional_share(store)]


def mismatch_page(store: Store, page: float | None, source: str | None) -> tuple[list[list[Any]], str, int]:
    """Return one page of language mismatches (the last one if the page is past it), a status line and its number."""
    chosen = _chosen(source, ALL_SOURCES)
    current = max(1, int(page or 1))
    rows, total = balance.mismatches(store, limit=PAGE_SIZE, offset=(current - 1) * PAGE_SIZE, source=chosen)
    pages = max(1, -(-total // PAGE_SIZE))
    if current > pages:
        current = pages
        rows, total = balance.mismatches(store, limit=PAGE_SIZE, offset=(current - 1) * PAGE_SIZE, source=chosen)
    table = [[row[name] for name in MISMATCH_HEADERS] for row in rows]
    return table, f"Mismatches: {total:,} · page {current} of {pages}", current


def open_mismatch(store: Store, row: list[Any] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Return the conversation, candidates and a details line of the mismatch table row's sample."""
    if not row:
        return [], [], "Select a row to open its conversation."
    sample = library.get_sample(store, str(row[0]))
    if sample is None:
        return [], [], f"No sample with id `{_code(row[0])}`."
    details = (f"**`{_code(sample['id'])}`** · source `{_code(sample['source'])}` · prompt in "
               f"`{_code(row[2])}`, answer in `{_code(row[3])}`")
    return (inert(chat_messages(sample["messages"], markdown=False)),
            inert(candidate_messages(sample["candidates"], markdown=False)), details)


def word_rows(store: Store, source: str | None, lang: str | None) -> list[list[Any]]:
    """Return the top words of a source (or of all sources) as table rows."""
    rows = balance.top_words(store, source=_chosen(source, ALL_SOURCES), lang=_chosen(lang, ALL_LANGS),
                             limit=WORDS_SHOWN)
    return [[row["word"], row["lang"], row["count"]] for row in rows]


def _warn(message: str) -> str:
    gr.Warning(_text(message))
    return f"⚠️ {_text(message)}"


def _plan(store: Store, ratio_text: str, size: float | None, seed: float | None, source: str | None) -> Any:
    from blossom_studio import selections

    ratio = selections.parse_ratio(ratio_text or "")
    if not size or size < 1:
        raise ValueError("size must be at least 1")
    return selections.plan_rebalance(store, ratio, int(size), seed=int(seed or 0), source=_chosen(source, ALL_SOURCES))


def _describe(plan: Any) -> str:
    parts = [f"{_text(lang)} {count:,}" for lang, count in plan.totals().items()]
    text = f"{len(plan.ids):,} samples: " + " · ".join(parts)
    short = {key: value for key, value in (plan.shortfall or {}).items() if value}
    if short:
        text += " · short of " + ", ".join(f"{_text(key)} by {value:,}" for key, value in short.items())
    return text


def preview_rebalance(store: Store, ratio: str, size: float | None, seed: float | None,
                      source: str | None) -> tuple[list[list[Any]], str]:
    """Plan a rebalanced selection and return its counts per language and source with a summary line."""
    try:
        plan = _plan(store, ratio, size, seed, source)
    except ImportError:
        return [], _warn("rebalancing is not available yet (blossom_studio.selections is missing)")
    except ValueError as exc:
        return [], _warn(str(exc))
    return [[row[name] for name in PLAN_HEADERS] for row in plan.counts], "Preview: " + _describe(plan)


def save_rebalance(store: Store, name: str, ratio: str, size: float | None, seed: float | None,
                   source: str | None, user: str | None = None) -> str:
    """Plan the rebalanced selection again and save it under the name; return a status line."""
    if not (name or "").strip():
        return _warn("give the selection a name first")
    try:
        from blossom_studio import selections

        plan = _plan(store, ratio, size, seed, source)
        selections.save_selection(store, name.strip(), plan, created_by=user, overwrite=False)
    except ImportError:
        return _warn("rebalancing is not available yet (blossom_studio.selections is missing)")
    except ValueError as exc:
        return _warn(str(exc))
    return f"Saved selection `{_code(name.strip())}`: " + _describe(plan)


def build_balance_tab(demo: gr.Blocks, studio: Studio) -> None:
    """Lay out the Balance tab and wire its handlers to the balance library; saving a selection checks the user."""
    store = studio.store
    source_choices = [ALL_SOURCES, *library.sources(store)]
    with gr.Row():
        status = gr.Markdown()
        refresh_button = gr.Button("Refresh", size="sm", scale=0)
    timer = gr.Timer(REFRESH_SECONDS)
    role = gr.Dropdown(label="Language of", choices=[ALL_ROLES], value=ALL_ROLES,
                       info="the sample's language, or the language of one role's messages")
    plot = {"color": "lang", "color_map": LANG_COLORS, "x_label_angle": -30, "height": 320}
    with gr.Row():
        samples_plot = gr.BarPlot(x="source", y="samples", title="Samples by source", **plot)
        words_plot = gr.BarPlot(x="source", y="words", title="Words by source (counted so far)", **plot)
    with gr.Row():
        messages_plot = gr.BarPlot(x="role", y="messages", title="Messages by role", **plot)
        role_words_plot = gr.BarPlot(x="role", y="words", title="Words by role", **plot)
    with gr.Row():
        with gr.Column(scale=3):
            measure = gr.Radio(list(balance.MEASURES), value="chars", label="Length of")
            histogram = gr.BarPlot(x="bin", y="samples", title="Length histogram", sort=balance.bin_labels(),
                                   **plot)
        with gr.Column(scale=2):
            traditional = gr.Dataframe(headers=TRADITIONAL_HEADERS, label="Traditional share of Chinese samples",
                                       datatype="str", interactive=False, max_height=360)
    with gr.Accordion("Language mismatches (answer not in the prompt's language)", open=True):
        with gr.Row():
            mismatch_source = gr.Dropdown(label="Source", choices=source_choices, value=ALL_SOURCES, scale=2)
            mismatch_page_number = gr.Number(label="Page", value=1, precision=0, minimum=1, scale=1)
            previous = gr.Button("← Previous", size="sm", scale=0)
            following = gr.Button("Next →", size="sm", scale=0)
        mismatch_status = gr.Markdown()
        mismatch_table = gr.Dataframe(headers=MISMATCH_HEADERS, datatype="str", interactive=False, wrap=True,
                                      max_height=420, column_widths=["14%", "14%", "10%", "10%", "52%"])
        details = gr.Markdown("Select a row to open its conversation.")
        with gr.Row():
            # Exactly the stored text, inert: no Markdown, escaped HTML (see `inert`), no share or copy buttons.
            plain = {"height": 420, "render_markdown": False, "feedback_options": None, "buttons": []}
            conversation = gr.Chatbot(label="Conversation", scale=3, **plain)
            candidates = gr.Chatbot(label="Candidate answers", scale=2, **plain)
    with gr.Accordion("Most frequent words (templated data such as {{name}} shows up here)", open=True), gr.Row():
        words_source = gr.Dropdown(label="Source", choices=source_choices, value=ALL_SOURCES)
        words_lang = gr.Radio([ALL_LANGS, "zh", "en"], value=ALL_LANGS, label="Words")
        words_table = gr.Dataframe(headers=WORD_HEADERS, datatype="str", interactive=False, max_height=420)
    with gr.Accordion("Rebalance into a selection", open=False):
        with gr.Row():
            ratio = gr.Textbox(label="Ratio", value="zh:en=1:1")
            size = gr.Number(label="Size", value=1000, precision=0, minimum=1)
            seed = gr.Number(label="Seed", value=0, precision=0)
            rebalance_source = gr.Dropdown(label="Source", choices=source_choices, value=ALL_SOURCES)
        preview_button = gr.Button("Preview")
        plan_table = gr.Dataframe(headers=PLAN_HEADERS, datatype="str", interactive=False, max_height=360)
        with gr.Row():
            selection_name = gr.Textbox(label="Selection name", scale=3)
            save_button = gr.Button("Save", variant="primary", scale=1)
        plan_status = gr.Markdown()

    def charts(chosen_role: str) -> tuple[Any, ...]:
        by_source, by_role, _ = volume_frames(store, chosen_role)
        return by_source, by_source, by_role, by_role

    def refresh(chosen_role: str, chosen_measure: str, page: float, source: str, word_source: str,
                word_lang: str) -> tuple[Any, ...]:
        line, complete = progress_status(store)
        by_source, by_role, roles = volume_frames(store, chosen_role)
        table, page_line, current = mismatch_page(store, page, source)
        sources = [ALL_SOURCES, *library.sources(store)]
        return (line, gr.Timer(active=not complete), gr.update(choices=[ALL_ROLES, *roles]), by_source, by_source,
                by_role, by_role, histogram_frame(store, chosen_measure), traditional_rows(store), table, page_line,
                current, word_rows(store, word_source, word_lang), gr.update(choices=sources),
                gr.update(choices=sources), gr.update(choices=sources))

    def step(delta: int) -> Any:
        def handler(page: float, source: str) -> tuple[Any, ...]:
            return mismatch_page(store, (page or 1) + delta, source)
        return handler

    def select(event: gr.SelectData) -> tuple[Any, ...]:
        return open_mismatch(store, event.row_value)

    def save(name: str, text: str, count: float, number: float, source: str, request: gr.Request) -> str:
        return save_rebalance(store, name, text, count, number, source, studio.writer(request))

    refresh_inputs = [role, measure, mismatch_page_number, mismatch_source, words_source, words_lang]
    refresh_outputs = [status, timer, role, samples_plot, words_plot, messages_plot, role_words_plot, histogram,
                       traditional, mismatch_table, mismatch_status, mismatch_page_number, words_table,
                       mismatch_source, words_source, rebalance_source]
    page_outputs = [mismatch_table, mismatch_status, mismatch_page_number]
    gr.on([demo.load, refresh_button.click, timer.tick], refresh, refresh_inputs, refresh_outputs,
          api_name="balance_overview", show_progress="hidden")
    role.change(charts, role, [samples_plot, words_plot, messages_plot, role_words_plot], api_name=False)
    measure.change(lambda chosen: histogram_frame(store, chosen), measure, histogram, api_name=False)
    gr.on([mismatch_source.change, mismatch_page_number.submit],
          lambda page, source: mismatch_page(store, page, source), [mismatch_page_number, mismatch_source],
          page_outputs, api_name="balance_mismatches")
    previous.click(step(-1), [mismatch_page_number, mismatch_source], page_outputs, api_name=False)
    following.click(step(1), [mismatch_page_number, mismatch_source], page_outputs, api_name=False)
    mismatch_table.select(select, None, [conversation, candidates, details], api_name=False)
    gr.on([words_source.change, words_lang.change], lambda source, lang: word_rows(store, source, lang),
          [words_source, words_lang], words_table, api_name="balance_top_words")
    preview_button.click(lambda *args: preview_rebalance(store, *args), [ratio, size, seed, rebalance_source],
                         [plan_table, plan_status], api_name=False)
    save_button.click(save, [selection_name, ratio, size, seed, rebalance_source], plan_status, api_name=False)
