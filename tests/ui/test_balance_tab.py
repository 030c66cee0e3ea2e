"""The Balance tab's handlers over a real store: what the charts, tables and rebalance section receive."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import gradio as gr
import orjson
import pandas as pd
import pytest

from blossom_studio import balance, library
from blossom_studio.ingest import import_files
from blossom_studio.store import Store
from blossom_studio.ui import balance_tab
from blossom_studio.ui.app import build_app
from blossom_studio.ui.render import chat_messages
from tests.test_balance import expected_rows, fake_profile, fake_word_counts, import_real

DEFAULTS = (balance_tab.ALL_ROLES, "chars", 1, balance_tab.ALL_SOURCES, balance_tab.ALL_SOURCES, balance_tab.ALL_LANGS)


@pytest.fixture
def profiled(store: Store, realdata: Path) -> tuple[Store, list[dict[str, Any]]]:
    import_real(store, realdata)
    samples = fake_profile(store)
    fake_word_counts(store, samples)
    return store, samples


def _function(demo: gr.Blocks, api_name: str) -> Any:
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def _sums(frame: pd.DataFrame, key: str, measure: str) -> dict[tuple[str, str], int]:
    return {(row[key], row["lang"]): int(row[measure]) for _, row in frame.iterrows()}


def test_the_balance_tab_comes_after_library(store: Store) -> None:
    demo = build_app(store)
    tabs = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs[:2] == ["Library", "Balance"]
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"balance_overview", "balance_mismatches", "balance_top_words"} <= names


def test_load_fills_every_chart_and_table(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    demo = build_app(store)
    overview = _function(demo, "balance_overview")
    values = overview.fn(*DEFAULTS)
    assert len(values) == len(overview.outputs)
    by_name = dict(zip([id(block) for block in overview.outputs], values, strict=True))
    status, timer, roles, samples_frame, words_frame, messages_frame, role_words, histogram, traditional, table, \
        page_line, page, words, *_ = values
    progress = balance.profile_progress(store)
    assert f"Profiling {progress['profiled']:,}/{progress['samples']:,}" in status
    assert isinstance(timer, gr.Timer) and timer.active is True, "the page keeps refreshing while profiling runs"
    assert balance_tab.ALL_ROLES in roles["choices"] and "candidate" in roles["choices"]
    expected = expected_rows(samples, ["lang", "source"])
    assert _sums(samples_frame, "source", "samples") == {(r["source"], r["lang"]): r["samples"] for r in expected}
    assert _sums(words_frame, "source", "words") == {(r["source"], r["lang"]): r["words"] for r in expected}
    by_role = expected_rows(samples, ["lang", "source", "role"])
    assert messages_frame.groupby(["role", "lang"])["messages"].sum().to_dict() == {
        key: sum(r["messages"] for r in by_role if (r["role"], r["lang"]) == key)
        for key in {(r["role"], r["lang"]) for r in by_role}}
    assert role_words is messages_frame
    assert histogram["samples"].sum() == sum(1 for s in samples if s["active"] and s["profile"])
    assert [row[0] for row in traditional] == sorted({s["source"] for s in samples if s["active"]})
    _, total = balance.mismatches(store)
    assert page_line == f"Mismatches: {total:,} · page 1 of {-(-total // balance_tab.PAGE_SIZE)}" and page == 1
    assert [row[0] for row in table] == [row["id"] for row in balance.mismatches(store, limit=25)[0]]
    assert words[0] == [balance.top_words(store, limit=1)[0][key] for key in ("word", "lang", "count")]
    for block in overview.outputs:  # Gradio accepts every value as it would send it to the browser
        value = by_name[id(block)]
        if not isinstance(value, dict | gr.Timer):
            block.postprocess(value)


def test_the_role_selector_shows_one_roles_message_language(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, samples = profiled
    by_source, _, roles = balance_tab.volume_frames(store, "assistant")
    expected = [r for r in expected_rows(samples, ["lang", "source", "role"]) if r["role"] == "assistant"]
    assert _sums(by_source, "source", "samples") == {(r["source"], r["lang"]): r["samples"] for r in expected}
    assert {"user", "assistant", "pending"} <= set(roles)


def test_histogram_follows_the_measure(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = profiled
    frame = balance_tab.histogram_frame(store, "words")
    rows = balance.length_histogram(store, measure="words")
    assert frame.to_dict("records") == [{"bin": r["bin"], "lang": r["lang"], "samples": r["samples"]} for r in rows]
    assert set(frame["bin"]) <= set(balance.bin_labels())


def test_a_finished_profile_stops_the_timer(store: Store, tmp_path: Path) -> None:
    assert balance_tab.progress_status(store) == ("No samples yet: import some in the Library tab.", True)
    path = tmp_path / "two.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"prompt": p, "response": "ok"}) + b"\n" for p in ("一", "two")))
    import_files(store, [path])
    line, complete = balance_tab.progress_status(store)
    assert line.startswith("Profiling 0/2 (0%)… · words counted 0/2") and not complete
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET lang = 'en', chars = 3, profile_version = 1")
    assert balance_tab.progress_status(store) == ("Profiled 2/2 · counting words 0/2 (0%)… refreshing every "
                                                  f"{balance_tab.REFRESH_SECONDS} s", False)
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET words = 1")
    line, complete = balance_tab.progress_status(store)
    assert complete and line == "Profiled 2/2 · words counted 2/2"
    values = _function(build_app(store), "balance_overview").fn(*DEFAULTS)
    assert values[1].active is False


def test_selecting_a_mismatch_opens_it_inert(store: Store, tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> 用中文回答"
    path = tmp_path / "x.jsonl"
    path.write_bytes(orjson.dumps({"prompt": hostile, "response": "An English answer"}) + b"\n")
    import_files(store, [path], source="<b>evil</b>")
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET lang = 'mixed', prompt_lang = 'zh', response_lang = 'en', "
                       "lang_mismatch = true, profile_version = 1")
    rows, line, page = balance_tab.mismatch_page(store, 1, balance_tab.ALL_SOURCES)
    assert page == 1 and line == "Mismatches: 1 · page 1 of 1" and rows[0][4] == hostile
    conversation, candidates, details = balance_tab.open_mismatch(store, rows[0])
    sample = library.get_sample(store, rows[0][0])
    assert conversation == balance_tab.inert(chat_messages(sample["messages"], markdown=False)) and candidates == []
    assert conversation[0]["content"].startswith("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)")
    assert "source `<b>evil</b>`" in details, "inside a code span Markdown shows the name literally"
    assert "`zh`" in details and "`en`" in details
    assert balance_tab.open_mismatch(store, None)[2].startswith("Select a row")
    assert balance_tab.open_mismatch(store, ["nope", "", "", "", ""])[2] == "No sample with id `nope`."
    demo = build_app(store)
    tables = [b for b in demo.blocks.values()
              if isinstance(b, gr.Dataframe) and b.headers == balance_tab.MISMATCH_HEADERS]
    assert tables and tables[0].datatype == "str", "mismatch cells render as plain text"
    chatbots = [b for b in demo.blocks.values() if isinstance(b, gr.Chatbot) and b.label in (
        "Conversation", "Candidate answers") and not b.render_markdown]
    assert len(chatbots) == 2 and all(b.sanitize_html and not b.buttons for b in chatbots)


def test_inert_escapes_text_and_titles_only() -> None:
    shown = balance_tab.inert([{"role": "user", "content": "a < b & <b>c</b>"},
                               {"role": "assistant", "content": "x", "metadata": {"title": "A · <i>m</i>",
                                                                                  "status": "done"}}])
    assert shown == [{"role": "user", "content": "a &lt; b &amp; &lt;b&gt;c&lt;/b&gt;"},
                     {"role": "assistant", "content": "x", "metadata": {"title": "A · &lt;i&gt;m&lt;/i&gt;",
                                                                         "status": "done"}}]


def test_mismatch_pages_clamp_and_filter(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = profiled
    _, total = balance.mismatches(store)
    pages = -(-total // balance_tab.PAGE_SIZE)
    rows, line, page = balance_tab.mismatch_page(store, 99, balance_tab.ALL_SOURCES)
    assert page == pages and line.endswith(f"page {pages} of {pages}")
    assert len(rows) == total - (pages - 1) * balance_tab.PAGE_SIZE
    source = rows[0][1]
    only, _, _ = balance_tab.mismatch_page(store, 1, source)
    assert {row[1] for row in only} == {source}
    assert balance_tab.mismatch_page(store, 1, "no-such-source") == ([], "Mismatches: 0 · page 1 of 1", 1)


def test_top_words_by_source_and_language(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = profiled
    rows = balance_tab.word_rows(store, "v1_sft_demo", "en")
    assert "{{name}}" in [row[0] for row in rows]
    assert {row[1] for row in rows} == {"en"} and len(rows) == balance_tab.WORDS_SHOWN
    zh = balance_tab.word_rows(store, "dpo_zh_demo", "zh")
    assert zh == [[r["word"], "zh", r["count"]] for r in balance.top_words(store, source="dpo_zh_demo", lang="zh",
                                                                             limit=balance_tab.WORDS_SHOWN)]


class FakePlan:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.counts = [{"lang": "zh", "source": "a", "available": 5, "selected": 2},
                       {"lang": "en", "source": "b", "available": 1, "selected": 1}]
        self.spec = {"ratio": {"zh": 1.0, "en": 1.0}}
        self.shortfall = {"en": 1}

    def totals(self) -> dict[str, int]:
        return {"zh": 2, "en": 1}


@pytest.fixture
def fake_selections(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in for blossom_studio.selections with the agreed API, recording its calls."""
    calls: dict[str, Any] = {}
    module = types.ModuleType("blossom_studio.selections")

    def parse_ratio(text: str) -> dict[str, float]:
        if text != "zh:en=1:1":
            raise ValueError(f"cannot read the ratio {text!r} <here>")
        return {"zh": 1.0, "en": 1.0}

    def plan_rebalance(store: Store, ratio: dict[str, float], size: int, *, seed: int = 0,
                       source: str | None = None) -> FakePlan:
        calls["plan"] = (ratio, size, seed, source)
        return FakePlan(["x", "y", "z"])

    def save_selection(store: Store, name: str, plan: FakePlan, *, created_by: str | None = None,
                       overwrite: bool = False) -> None:
        if name == "taken":
            raise ValueError("a selection named 'taken' already exists")
        calls["save"] = (name, plan.ids, created_by, overwrite)

    module.parse_ratio, module.plan_rebalance, module.save_selection = parse_ratio, plan_rebalance, save_selection
    monkeypatch.setitem(sys.modules, "blossom_studio.selections", module)
    monkeypatch.setattr(sys.modules["blossom_studio"], "selections", module, raising=False)
    return calls


def test_rebalance_preview_and_save_call_the_selections_api(store: Store, fake_selections: dict[str, Any]) -> None:
    rows, line = balance_tab.preview_rebalance(store, "zh:en=1:1", 3, 7, "a")
    assert rows == [["zh", "a", 5, 2], ["en", "b", 1, 1]]
    assert line == "Preview: 3 samples: zh 2 · en 1 · short of en by 1"
    assert fake_selections["plan"] == ({"zh": 1.0, "en": 1.0}, 3, 7, "a")
    balance_tab.preview_rebalance(store, "zh:en=1:1", 3, None, balance_tab.ALL_SOURCES)
    assert fake_selections["plan"][2:] == (0, None)
    assert balance_tab.save_rebalance(store, " mine ", "zh:en=1:1", 3, 7, "a", "ana").startswith(
        "Saved selection `mine`: 3 samples")
    assert fake_selections["save"] == ("mine", ["x", "y", "z"], "ana", False)


def test_rebalance_errors_are_warnings_with_escaped_text(store: Store, fake_selections: dict[str, Any]) -> None:
    with pytest.warns(UserWarning, match="cannot read the ratio"):
        rows, line = balance_tab.preview_rebalance(store, "zh=abc", 10, 0, None)
    assert rows == [] and "&lt;here&gt;" in line and "<here>" not in line
    with pytest.warns(UserWarning, match="size must be at least 1"):
        balance_tab.preview_rebalance(store, "zh:en=1:1", 0, 0, None)
    with pytest.warns(UserWarning, match="already exists"):
        assert "already exists" in balance_tab.save_rebalance(store, "taken", "zh:en=1:1", 3, 0, None)
    with pytest.warns(UserWarning, match="name first"):
        balance_tab.save_rebalance(store, "  ", "zh:en=1:1", 3, 0, None)
    assert "save" not in fake_selections


def test_rebalance_without_the_selections_module(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "blossom_studio.selections", None)
    monkeypatch.delattr(sys.modules["blossom_studio"], "selections", raising=False)
    with pytest.warns(UserWarning, match="not available yet"):
        rows, line = balance_tab.preview_rebalance(store, "zh:en=1:1", 10, 0, None)
    assert rows == [] and "not available yet" in line


def test_rebalance_with_the_real_selections_module(profiled: tuple[Store, list[dict[str, Any]]]) -> None:
    selections = pytest.importorskip("blossom_studio.selections")
    store, _ = profiled
    rows, line = balance_tab.preview_rebalance(store, "zh:en=1:1", 100, 1, balance_tab.ALL_SOURCES)
    assert line.startswith("Preview: 100 samples: zh 50 · en 50"), line
    assert sum(row[3] for row in rows) == 100 and {row[0] for row in rows} == {"zh", "en"}
    assert balance_tab.save_rebalance(store, "half-half", "zh:en=1:1", 100, 1, balance_tab.ALL_SOURCES,
                                      "ana").startswith("Saved selection `half-half`: 100 samples")
    saved = selections.get_selection(store, "half-half")
    assert saved is not None and len(saved.ids) == 100 and saved.created_by == "ana"


HOSTILE_PROMPT = '<img src=x onerror="window.__xss=1"> 请用中文回答 <b>bold</b>\n```html\n<i>code</i>\n```'


@pytest.fixture
def served_hostile(store: Store, tmp_path: Path) -> Any:
    """The studio served over one mismatched sample whose texts, source and model name hold HTML."""
    from tests.ui.test_app import _free_port

    path = tmp_path / "hostile.jsonl"
    path.write_bytes(orjson.dumps({"prompt": HOSTILE_PROMPT, "completions": [
        {"model": "<b>m</b>", "completion": "An English answer <img src=y onerror=\"window.__xss=2\">"}]}) + b"\n")
    import_files(store, [path], source="<b>evil</b>")
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET lang = 'mixed', prompt_lang = 'zh', response_lang = 'en', "
                       "lang_mismatch = true, traditional = false, chars = 90, words = 12, zh_chars = 6, en_words = 8, "
                       "message_roles = ['user', 'candidate'], message_langs = ['zh', 'en'], "
                       "message_chars = [60, 30], message_words = [6, 6], profile_version = 1")
    port = _free_port()
    demo = build_app(store)
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_in_chromium_a_mismatch_opens_as_inert_text(served_hostile: str, artifacts: Path, chromium_path: Path) -> None:
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(served_hostile)
            page.get_by_role("tab", name="Balance").click()
            page.get_by_text("Profiled 1/1 · words counted 1/1").wait_for()
            page.get_by_text("Mismatches: 1 · page 1 of 1").wait_for()
            for title in ("Samples by source", "Words by source (counted so far)", "Messages by role",
                          "Length histogram"):
                page.get_by_text(title, exact=True).first.wait_for()  # charts draw after the data arrives
            page.get_by_text("请用中文回答").filter(visible=True).first.click()
            details = page.get_by_text("prompt in zh, answer in en")
            details.wait_for()
            assert "source <b>evil</b>" in details.inner_text()
            page.get_by_text("completion-1 · <b>m</b>").click()  # a titled candidate opens when clicked
            page.get_by_text('An English answer <img src=y onerror="window.__xss=2">').wait_for()
            page.screenshot(path=str(artifacts / "balance-tab.png"), full_page=True)
            shown = page.locator(".message").all_inner_texts()
            assert any('<img src=x onerror="window.__xss=1"> 请用中文回答 <b>bold</b>' in text for text in shown)
            assert any("```html" in text and "<i>code</i>" in text for text in shown), "shown as stored"
            assert page.evaluate("window.__xss") is None
            assert page.locator("img[src=x], img[src=y]").count() == 0
            assert page.locator("b", has_text="bold").count() == 0
            assert page.locator("b", has_text="evil").count() == 0
            assert page.locator("b", has_text="m").count() == 0
        finally:
            browser.close()
