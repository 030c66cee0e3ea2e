"""The Library tab's handlers: filtered pages, a sample with its verdicts and decisions, imports by signed-in users."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import orjson
import pytest

from blossom_studio.ingest import import_files
from blossom_studio.store import Store
from blossom_studio.ui import library_tab
from blossom_studio.ui.studio import Studio

HOSTILE = '<img src=x onerror="window.__xss=1"> 为什么天空是蓝色的？ <b>bold</b>\n```html\n<i>code</i>\n```'
ANSWER = "Rayleigh scattering <script>window.__xss=2</script>"


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


@pytest.fixture
def hostile(store: Store, tmp_path: Path) -> tuple[Store, str]:
    """Three samples, one of them with HTML in its prompt, answers, model name and its judge's rationale."""
    import_files(store, [_write(tmp_path / "h.jsonl", [
        {"prompt": HOSTILE, "chosen": ANSWER, "rejected": "No idea.", "chosen_model": "<b>m</b>"},
        {"prompt": "What is 2+2?", "response": "4"},
        {"prompt": "写一首诗", "response": "春眠不觉晓"}])], source="<b>evil</b>")
    sample_id = store.query("SELECT id FROM samples WHERE format = 'preference'")[0][0]
    chosen, rejected = (row[0] for row in store.query(
        "SELECT id FROM candidates WHERE sample_id = ? ORDER BY position", [sample_id]))
    with store.write() as cursor:
        cursor.execute("UPDATE samples SET lang = CASE WHEN id = ? THEN 'zh' ELSE 'en' END", [sample_id])
        cursor.execute(
            "INSERT INTO verdicts (id, sample_id, kind, judge, candidate_ids, candidates_shown, outcome, rationale, "
            "parse_status, call_keys) VALUES ('v1', ?, 'pairwise', '<i>judge</i>', ?, '[\"A\", \"B\"]', ?, ?, 'ok', "
            "'[]')", [sample_id, orjson.dumps([chosen, rejected]).decode(),
                      orjson.dumps({"winner": "A", "split": False, "chosen": chosen, "rejected": rejected}).decode(),
                      "A explains <img src=y onerror=window.__xss=3> better"])
    return store, sample_id


def test_a_filtered_page_and_its_status_line(hostile: tuple[Store, str]) -> None:
    store, sample_id = hostile
    rows, line, page = library_tab.page_table(store, 1, "", library_tab.ALL_SOURCES)
    assert (line, page, len(rows)) == ("3 samples · page 1 of 1", 1, 3)
    assert rows[0][library_tab.HEADERS.index("prompt")].startswith("<img src=x")  # table cells are plain text
    rows, line, _ = library_tab.page_table(store, 9, "", "<b>evil</b>", "zh", library_tab.ANY, "active",
                                           "pairwise:A", library_tab.ANY)
    assert [row[0] for row in rows] == [sample_id] and line == "1 sample · page 1 of 1"
    assert library_tab.page_table(store, 1, "", library_tab.ALL_SOURCES, verdict="pairwise:B")[1].startswith("0 ")
    rows, line, _ = library_tab.page_table(store, 1, "", None, verdict="nonsense")
    assert rows == [] and line.startswith("⚠️ unknown verdict filter")


def test_an_opened_sample_is_inert_and_shows_verdicts_then_decisions(hostile: tuple[Store, str]) -> None:
    store, sample_id = hostile
    conversation, candidates, reference, details, verdicts, decisions = library_tab.open_sample_view(store, sample_id)
    assert conversation[0]["content"].startswith('&lt;img src=x onerror="window.__xss=1"&gt; 为什么天空是蓝色的？')
    assert "```html\n<i>code</i>\n```" in conversation[0]["content"]  # code keeps its HTML, shown literally
    assert candidates[0]["content"] == "Rayleigh scattering &lt;script&gt;window.__xss=2&lt;/script&gt;"
    assert candidates[0]["metadata"]["title"] == "chosen · &lt;b&gt;m&lt;/b&gt;" and reference == ""
    assert "<b>" not in details and "source <code>&#60;b&#62;evil&#60;&#47;b&#62;</code>" in details
    assert sample_id in html.unescape(details) and "language <code>zh</code>" in details
    assert verdicts[0]["metadata"]["title"].startswith("pairwise · &lt;i&gt;judge&lt;/i&gt; · ok · A vs B")
    assert verdicts[0]["content"].endswith("A explains &lt;img src=y onerror=window.__xss=3&gt; better")
    assert decisions == []
    review = pytest.importorskip("blossom_studio.review")
    assert "**Effective verdict** from judge" in details and "winner <code>A</code>" in details
    review.decide(store, sample_id, "reject", reviewer="ana", note="<b>off</b> topic")
    *_, details, _, decisions = library_tab.open_sample_view(store, sample_id)
    assert "reviewer <code>ana</code>: <code>reject</code>" in details and "overrode the judge" in details
    assert [row[1:3] + row[4:] for row in decisions] == [["ana", "reject", "<b>off</b> topic"]]
    assert library_tab.open_sample_view(store, " missing ")[3] == "No sample with id <code>missing</code>."


def test_effective_line_describes_judge_and_reviewer_verdicts() -> None:
    assert library_tab.effective_line(None) == ""
    line = library_tab.effective_line({"source": "judge", "judge": "j", "kind": "verify", "keep": False,
                                       "winner": None, "disagrees": False, "conflict": False})
    assert line == "**Effective verdict** from judge <code>j</code> (<code>verify</code>) · keep no"
    line = library_tab.effective_line({"source": "human", "reviewer": "ana", "action": "choose", "keep": True,
                                       "winner": "B", "disagrees": True, "conflict": True})
    assert line.endswith("keep yes · winner <code>B</code> · ⚠️ the reviewer overrode the judge · ⚠️ reviewers "
                         "disagree")


def _request(username: str | None) -> gr.Request:
    return gr.Request(request=SimpleNamespace(scope={"type": "http"}), username=username)


def test_imports_need_a_signed_in_user_in_shared_mode(store: Store, tmp_path: Path) -> None:
    woken: list[bool] = []
    shared = Studio(store=store, shared=True)
    shared.wake_profiler = lambda: woken.append(True)  # type: ignore[method-assign]
    upload = _write(tmp_path / "<b>x.jsonl", [{"prompt": "hello", "response": "hi"}, {"oops": 1}])
    with pytest.raises(gr.Error, match="Sign in first"):
        library_tab.run_import(shared, [str(upload)], "team", _request(None))
    assert store.query("SELECT count(*) FROM samples")[0][0] == 0 and woken == []
    summary, sources = library_tab.run_import(shared, [str(upload)], "team", _request("ana"))
    assert store.query("SELECT count(*) FROM samples WHERE source = 'team'")[0][0] == 1 and woken == [True]
    assert summary.startswith("- **<code>&#60;b&#62;x&#46;jsonl</code>** (")
    assert "1 imported, 0 duplicates, 1 bad" in summary and "<b>" not in summary
    assert sources["choices"][-1] == "team"
    local = Studio(store=store)
    assert library_tab.run_import(local, None, "", None)[0] == "Choose one or more files first."


@pytest.fixture
def served(hostile: tuple[Store, str]) -> Iterator[tuple[str, str]]:
    """The studio app served over the hostile samples."""
    from blossom_studio.ui.app import build_app
    from tests.ui.test_app import _free_port

    store, sample_id = hostile
    port = _free_port()
    demo = build_app(store)
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", sample_id
    finally:
        demo.close()


def test_in_chromium_a_verdict_filter_finds_the_sample_which_opens_inert(served: tuple[str, str], artifacts: Path,
                                                                         chromium_path: Path) -> None:
    from playwright import sync_api

    url, _ = served
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(url)
            page.get_by_text("3 samples · page 1 of 1").wait_for()
            page.get_by_label("Verdict").click()
            page.get_by_role("option", name="pairwise: A wins").click()
            page.get_by_text("1 sample · page 1 of 1").wait_for()
            page.get_by_text("为什么天空是蓝色的").filter(visible=True).first.click()
            page.get_by_text("pairwise · <i>judge</i> · ok · A vs B").click()  # a titled message opens when clicked
            page.get_by_text("chosen · <b>m</b>").click()
            page.get_by_text("A explains <img src=y onerror=window.__xss=3> better").wait_for()
            page.get_by_text("Rayleigh scattering <script>window.__xss=2</script>").wait_for()
            shown = "\n".join(page.locator(".message").all_inner_texts())
            assert '<img src=x onerror="window.__xss=1"> 为什么天空是蓝色的？ <b>bold</b>' in shown
            assert "Rayleigh scattering <script>window.__xss=2</script>" in shown
            assert page.locator(".message pre code", has_text="<i>code</i>").count() == 1
            assert page.locator(".message img, .message script").count() == 0
            assert page.locator("b", has_text="bold").count() == 0 and page.locator("b", has_text="evil").count() == 0
            assert page.evaluate("window.__xss") is None
        finally:
            if browser.contexts and browser.contexts[0].pages:
                browser.contexts[0].pages[0].screenshot(path=str(artifacts / "library-tab.png"), full_page=True)
            browser.close()
