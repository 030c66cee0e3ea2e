"""The whole studio in Debian's chromium: import real data, run a pairwise job on the simulator and watch it through a
reload, review with the keyboard only, see hostile model text stay inert, export the pairs and download them, then
check the rows in the database."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from blossom_studio.store import open_store
from blossom_studio.testing.fake_openai import FakeConfig, fake_server_process
from tests.ui.test_app import ROOT, _free_port, _wait_for

JOB = "browser-pairwise"
EXPORT = "browser-pairs"
ITEMS = 16
PROGRESS_REACHED = """([job, percent]) => {
    const view = document.querySelector('#syn-progress .syn-progress');
    if (view === null || view.dataset.job !== job) return false;
    return percent === null ? Number(view.dataset.done) > 0 : view.dataset.percent === percent;
}"""  # the progress view carries its figures as data attributes
JOB_DONE = """(job) => {
    const view = document.querySelector('#syn-progress .syn-progress');
    return view !== null && view.dataset.job === job && view.dataset.status === 'done';
}"""  # the job closes just after its last item is counted
EDITED = "修改后的回答：the reviewer's own wording."
XSS_PROMPT = 'Explain this snippet <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script>'
XSS_ANSWER = "[click me](javascript:window.__xss=3) and <b>bold</b> <img src=x onerror=\"window.__xss=4\">"


@dataclass
class Served:
    """The studio served by `python app.py` over a temporary database, with the simulator as its roster."""

    url: str
    db: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> str:
        """Stop the studio (it holds the database) and return what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.communicate(timeout=60)[0].decode(errors="replace")


@pytest.fixture
def served(tmp_path: Path, chromium_path: Path) -> Iterator[Served]:
    """Start the simulator (0.4 s per answer, so a job lasts long enough to reload mid-way) and the studio on it."""
    del chromium_path  # requested first: without a browser there is nothing to start
    with fake_server_process(FakeConfig(latency=0.4, seed=7)) as simulator:
        roster = tmp_path / "models.toml"
        roster.write_text("".join(
            f'[models.{name}]\nbase_url = "{simulator}"\nmodel = "{name}"\nmax_concurrency = 2\n\n'
            for name in ("fake-a", "fake-b", "fake-c")))
        port = _free_port()
        env = {**os.environ, "BLOSSOM_STUDIO_DB": str(tmp_path / "studio.duckdb"),
               "BLOSSOM_STUDIO_MODELS": str(roster), "GRADIO_ANALYTICS_ENABLED": "False"}
        env.pop("BLOSSOM_STUDIO_AUTH", None)
        env.pop("BLOSSOM_STUDIO_EXPORTS", None)  # exports go to exports/ beside the database
        env.pop("SPACE_ID", None)
        process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        studio = Served(f"http://127.0.0.1:{port}/", tmp_path / "studio.duckdb", process)
        try:
            _wait_for(studio.url, process)
            yield studio
        finally:
            studio.stop()


def _progress(page: Any) -> dict[str, str]:
    view = page.locator("#syn-progress .syn-progress").first
    view.wait_for()
    return {name: view.get_attribute(f"data-{name}") or "" for name in ("job", "status", "done", "items", "percent")}


def _press_and_wait(page: Any, shown_id: Any, key: str) -> None:
    """Press a shortcut key with the page focused and wait until the Review tab shows another sample."""
    before = shown_id.input_value()
    page.keyboard.press(key)
    page.wait_for_function("([box, before]) => box.value !== before", arg=[shown_id.element_handle(), before])


def _pick(page: Any, elem_id: str, option: str) -> None:
    """Choose an option of a Gradio dropdown the way a user does: open it, then click the option."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    page.locator(f"#{elem_id}").get_by_role("option", name=option, exact=True).click()
    assert box.input_value() == option


def test_the_studio_end_to_end_in_chromium(served: Served, realdata: Path, tmp_path: Path, artifacts: Path,
                                           chromium_path: Path) -> None:
    from playwright import sync_api

    hostile = tmp_path / "hostile.jsonl"
    hostile.write_bytes(orjson.dumps({"prompt": XSS_PROMPT, "completions": [
        {"model": "m-one", "completion": XSS_ANSWER}, {"model": "m-two", "completion": "A plain answer."}]}) + b"\n")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(served.url)

            # Library: import a real file and a hostile one by upload.
            page.get_by_text("Import files").click()
            page.locator("#library-upload input[type=file]").set_input_files(
                [str(realdata / "belle" / "eval_set.json"), str(hostile)])
            page.locator("#library-import").click()
            summary = page.locator("#library-import-summary")
            summary.get_by_text("hostile.jsonl").wait_for(timeout=60_000)
            assert "1000 imported" in summary.inner_text().replace(",", "")
            page.screenshot(path=str(artifacts / "1-library-import.png"), full_page=True)

            # Synthesize: a pairwise job over the first prompts of the real file, roles from the roster.
            page.get_by_role("tab", name="Synthesize").click()
            _pick(page, "syn-source", "eval_set")
            page.locator("#syn-limit input").fill(str(ITEMS))
            _pick(page, "syn-strategy", "pairwise")
            for role, model in (("a", "fake-a"), ("b", "fake-b"), ("c", "fake-c")):
                _pick(page, f"syn-role-{role}", model)
            page.locator("#syn-job-name input, #syn-job-name textarea").first.fill(JOB)
            page.locator("#syn-estimate-button").click()
            page.locator("#syn-estimate").get_by_text(f"{ITEMS}", exact=False).first.wait_for()
            page.locator("#syn-start").click()
            page.wait_for_function(PROGRESS_REACHED, arg=[JOB, None], timeout=60_000)
            before = _progress(page)
            assert before["status"] == "running" and int(before["done"]) < ITEMS, before
            page.screenshot(path=str(artifacts / "2-synthesize-running.png"), full_page=True)

            # A reload mid-job: the job is read from the database, so its progress is still there and goes on.
            page.reload()
            page.get_by_role("tab", name="Synthesize").click()
            page.wait_for_function(PROGRESS_REACHED, arg=[JOB, "100"], timeout=120_000)
            page.wait_for_function(JOB_DONE, arg=JOB, timeout=60_000)
            after = _progress(page)
            assert after["done"] == str(ITEMS) and after["status"] == "done", after
            assert int(after["done"]) > int(before["done"])
            page.screenshot(path=str(artifacts / "3-synthesize-done.png"), full_page=True)

            # Review with the keyboard only: override the judge, accept and undo, edit an answer.
            page.get_by_role("tab", name="Review").click()
            shown_id = page.locator("#review-sample-id input, #review-sample-id textarea").first
            page.wait_for_function("(box) => box.value !== ''", arg=shown_id.element_handle())
            overridden = None
            for _ in range(ITEMS):
                verdict = page.locator("#review-verdict").inner_text()
                if "judge's winner A" in verdict or "judge's winner B" in verdict:
                    overridden, judge_winner = shown_id.input_value(), verdict.split("judge's winner ")[1][0]
                    break
                _press_and_wait(page, shown_id, "j")
            assert overridden is not None, "every judged pair was a tie"
            human_winner = "B" if judge_winner == "A" else "A"
            _press_and_wait(page, shown_id, "1" if human_winner == "A" else "2")  # decides, then shows the next
            status = page.locator("#review-status").inner_text()
            assert f"chose {human_winner}" in status and overridden in status, status
            accepted = shown_id.input_value()
            _press_and_wait(page, shown_id, "a")
            page.keyboard.press("u")
            page.locator("#review-status").get_by_text("undid", exact=False).wait_for()
            page.keyboard.press("e")
            edit_box = page.locator("#review-edit-text textarea")
            assert edit_box.evaluate("(box) => box === document.activeElement"), "e focuses the edit box"
            edited = shown_id.input_value()
            page.keyboard.press("ControlOrMeta+a")
            page.keyboard.type(EDITED)
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            page.locator("#review-status").get_by_text("revision", exact=False).wait_for()
            page.keyboard.press("?")
            page.locator("#review-help-overlay").wait_for()
            page.screenshot(path=str(artifacts / "4-review-keyboard.png"), full_page=True)
            page.keyboard.press("Escape")

            # Hostile model text stays text: in the Library and side by side in Review.
            page.get_by_role("tab", name="Library").click()
            page.locator("#library-search textarea, #library-search input").first.fill("Explain this snippet")
            page.keyboard.press("Enter")
            row = page.locator("#library-table").get_by_text("Explain this snippet", exact=False).filter(
                visible=True).first
            row.wait_for()
            row.click()
            conversation = page.locator("#library-conversation")
            conversation.get_by_text("window.__xss=2", exact=False).first.wait_for()
            hostile_id = page.locator("#library-details code").first.inner_text().strip()
            page.locator("#library-candidates").get_by_text("completion-1 · m-one").click()  # titled: opens on click
            page.locator("#library-candidates").get_by_text("javascript:window.__xss=3", exact=False).first.wait_for()
            page.screenshot(path=str(artifacts / "5-library-hostile.png"), full_page=True)
            page.get_by_role("tab", name="Review").click()
            shown_id.fill(hostile_id)
            shown_id.press("Enter")
            page.locator("#review-answer-a").get_by_text("javascript:window.__xss=3", exact=False).first.wait_for()
            page.locator("#review-prompt").get_by_text("<script>window.__xss=2</script>", exact=False).first.wait_for()
            page.screenshot(path=str(artifacts / "6-review-hostile.png"), full_page=True)
            assert page.evaluate("window.__xss") is None
            assert page.locator("img[src=x]").count() == 0
            assert page.locator("a[href^='javascript' i]").count() == 0
            assert page.locator("b", has_text="bold").count() == 0

            # Export the preference pairs, the reviewer's choice included, and download the zip.
            page.get_by_role("tab", name="Export").click()
            _pick(page, "export-format", "preference")
            page.locator("#export-folder textarea, #export-folder input").first.fill(EXPORT)
            page.locator("#export-preview").click()
            page.locator("#export-summary").get_by_text("selected samples go out", exact=False).wait_for()
            page.locator("#export-run").click()
            page.locator("#export-written").get_by_text("Exported", exact=False).wait_for(timeout=60_000)
            with page.expect_download() as download_info:
                page.locator("#export-download").click()
            archive = tmp_path / "download.zip"
            download_info.value.save_as(archive)
            with zipfile.ZipFile(archive) as opened:
                assert f"{EXPORT}/manifest.json" in opened.namelist()
            page.screenshot(path=str(artifacts / "7-export.png"), full_page=True)
        finally:
            browser.close()
    served.stop()

    # The rows behind what the browser showed (the studio is stopped: it held the database).
    with open_store(served.db) as store:
        states = dict(store.query("SELECT i.state, count(*) FROM job_items i JOIN jobs j ON j.id = i.job_id "
                                  "WHERE j.name = ? GROUP BY ALL", [JOB]))
        assert states == {"done": ITEMS}
        assert store.query("SELECT count(*) FROM verdicts WHERE kind = 'pairwise'")[0][0] == ITEMS
        rows = store.query("SELECT sample_id, reviewer, action, payload FROM decisions ORDER BY seq")
        actions = [(sample, reviewer, action) for sample, reviewer, action, _ in rows]
        assert actions == [(overridden, "local", "choose"), (accepted, "local", "accept"),
                           (accepted, "local", "undo"), (edited, "local", "edit")], actions
        choice, undo, edit = orjson.loads(rows[0][3]), orjson.loads(rows[2][3]), orjson.loads(rows[3][3])
        assert choice["winner"] == human_winner
        accept_id = store.query("SELECT id FROM decisions WHERE action = 'accept'")[0][0]
        assert undo["undoes"] == accept_id
        revision, original, text = store.query(
            "SELECT c.id, c.extra->>'revision_of', c.message->>'content' FROM candidates c WHERE c.origin = 'edit'")[0]
        assert revision == edit["candidate_id"] and text == EDITED
        assert store.query("SELECT count(*) FROM candidates WHERE id = ?", [original])[0][0] == 1, "original kept"
        from blossom_studio import review

        effective = review.effective(store, overridden)
        assert effective is not None and effective.source == "human" and effective.winner == human_winner
        assert effective.disagrees

    manifest = orjson.loads((tmp_path / "exports" / EXPORT / "manifest.json").read_bytes())
    assert manifest["format"] == "preference" and manifest["counts"]["human_decisions"] >= 1, manifest["counts"]
