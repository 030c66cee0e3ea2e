"""Inert rendering: model and imported text shows literally in Gradio's Chatbot, with Markdown, code and LaTeX kept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from blossom_studio.ui.render import (
    LATEX_DELIMITERS,
    candidate_messages,
    chat_messages,
    inert_markdown,
    inline_code,
    verdict_messages,
)

XSS = "window.__xss=1"
PAYLOADS = [
    f"<script>{XSS}</script>",
    f"<img src=x onerror={XSS}>",
    "<img src=https://tracker.example/pixel.png>",
    "<b>bold tag</b> and <iframe src=https://evil.example></iframe>",
    f'<a href="javascript:{XSS}">html link</a>',
    f"[md link](javascript:{XSS})",
    f"[spaced]( JaVaScRiPt:{XSS})",
    f"[next line](\njavascript:{XSS})",
    "[vb](vbscript:msgbox(1)) [data](data:text/html;base64,PHNjcmlwdD4=)",
    f"[ref link][r]\n\n[r]: javascript:{XSS}",
    "![remote image](https://tracker.example/md.png) and ![ref image][i]\n\n[i]: https://tracker.example/ref.png",
    "&lt;img src=x onerror=1&gt; is an escaped tag",
    "\\`<img src=x onerror=1>` after an escaped backtick",
    f"<svg onload={XSS}></svg><math><mi xlink:href=javascript:{XSS}>x</mi></math>",
]


def _outside_code(markdown: str) -> str:
    """The Markdown with the code render.py emits removed: its fenced blocks, <code> and <pre> elements."""
    without_fences = re.sub(r"(?ms)^(`{3,})[\w+#.-]*\n.*?^\1$", "", markdown)
    return re.sub(r"<pre><code[^>]*>.*?</code></pre>|<code>.*?</code>", "", without_fences, flags=re.S)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_unsafe_links_and_images_are_inert_outside_code(payload: str) -> None:
    shown = inert_markdown(payload)
    prose = _outside_code(shown)
    assert "<" not in prose, shown
    assert "![" not in prose, shown
    assert not re.search(r"\]\(\s*(javascript|vbscript|data):", prose, re.I), shown
    assert not re.search(r"\]:\s*(javascript|vbscript|data):", prose, re.I), shown
    code = re.findall(r"<code>(.*?)</code>", shown, re.S)
    assert all("<" not in part and "`" not in part for part in code)


def test_text_shows_literally_and_markdown_still_works() -> None:
    assert inert_markdown("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert inert_markdown("**bold** _it_ # not a heading\n# heading\n- item\n> quote") == (
        "**bold** _it_ # not a heading\n# heading\n- item\n> quote")
    assert inert_markdown("[docs](https://example.org)") == "[docs](https://example.org)"
    assert inert_markdown("![img](https://x.example/a.png)") == "!&#91;img](https://x.example/a.png)"
    assert inert_markdown("[x](javascript:alert(1))") == "[x]&#40;javascript:alert(1))"
    assert inert_markdown("line one\r\nline two") == "line one\nline two"
    # Blockquote markers stay; other > are escaped, so an autolink or a bare URL cannot swallow them.
    assert inert_markdown("> a>b\n> > c `d`> e\n<https://x.example/a>") == (
        "> a&gt;b\n> > c <code>d</code>&gt; e\n&lt;https://x.example/a&gt;")


def test_code_blocks_keep_html_literally_and_highlighting() -> None:
    shown = inert_markdown("Use this:\n```html\n<div class=\"x\">hi & bye</div>\n```\nthen <b>done</b>.")
    assert shown == 'Use this:\n\n```html\n<div class="x">hi & bye</div>\n```\n\nthen &lt;b&gt;done&lt;/b&gt;.'
    assert inert_markdown("~~~\n<div>\n~~~") == "```\n<div>\n```"
    assert inert_markdown("````md\n```\n<div>\n```\n````") == "````md\n```\n<div>\n```\n````"
    assert inert_markdown("```python\nunclosed <tag>") == "```python\nunclosed <tag>\n```"
    assert inert_markdown("```mermaid\ngraph TD; A-->B\n```") == "```\ngraph TD; A-->B\n```"  # no diagram HTML
    # A fence inside a list item is re-emitted at the margin, where nothing can end it early.
    assert inert_markdown("1. step\n   ```py\n   if a < b:\n       pass\n   ```\n2. next") == (
        "1. step\n\n```py\nif a < b:\n    pass\n```\n\n2. next")
    # Backticks in a backtick fence's info string make it prose, as in CommonMark.
    assert inert_markdown("``` a`b\n<i>x</i>") == "``` a`b\n&lt;i&gt;x&lt;/i&gt;"


def test_code_with_latex_delimiters_is_shown_as_entities_so_no_formula_can_span_out_of_it() -> None:
    attack = "$$ x\n```\n$$ <img src=x onerror=1>\n```"
    shown = inert_markdown(attack)
    assert shown == "$$ x\n\n<pre><code>&#36;&#36; &#60;img src&#61;x onerror&#61;1&#62;</code></pre>"
    indented = inert_markdown("```sh\n  echo \\(x\\)\n```")
    assert indented == ('<pre><code class="language-sh">&#32;&#32;echo &#92;&#40;x&#92;&#41;</code></pre>')


def test_inline_code_is_an_element_whose_punctuation_is_entities() -> None:
    assert inert_markdown("call `f(<x>)` now") == "call <code>f&#40;&#60;x&#62;&#41;</code> now"
    assert inert_markdown("``a`b`` and ` spaced `") == "<code>a&#96;b</code> and <code>spaced</code>"
    assert inert_markdown("`__init__` and `$$`") == "<code>&#95;&#95;init&#95;&#95;</code> and <code>&#36;&#36;</code>"
    assert inert_markdown("an `unclosed <b> span") == "an `unclosed &lt;b&gt; span"
    assert inline_code("<b>m</b>") == "<code>&#60;b&#62;m&#60;&#47;b&#62;</code>"


def test_latex_survives_for_the_chatbot_delimiters() -> None:
    assert inert_markdown("$$\\frac{a}{b} < 1$$ and \\(x^2\\)") == "$$\\frac{a}{b} &lt; 1$$ and \\(x^2\\)"
    assert [d["left"] for d in LATEX_DELIMITERS] == ["$$", "\\(", "\\["]


def test_messages_candidates_and_verdicts_are_inert_titles_included() -> None:
    messages = chat_messages([{"role": "system", "content": "<b>sys</b>"}, {"role": "user", "content": "<i>q</i>"},
                              {"role": "tool", "content": {"x": "<y>"}}])
    assert messages[0] == {"role": "user", "content": "&lt;b&gt;sys&lt;/b&gt;", "metadata": {"title": "system"}}
    assert messages[1] == {"role": "user", "content": "&lt;i&gt;q&lt;/i&gt;"}
    assert messages[2]["content"] == '```json\n{\n  "x": "<y>"\n}\n```' and messages[2]["role"] == "assistant"
    assert chat_messages([{"role": "user", "content": "<i>q</i>"}], markdown=False) == [
        {"role": "user", "content": "<i>q</i>"}]
    candidates = candidate_messages([{"label": "A", "model": "<b>m</b>", "message": {"content": "<img src=x>"}}])
    assert candidates == [{"role": "assistant", "content": "&lt;img src=x&gt;",
                           "metadata": {"title": "A · &lt;b&gt;m&lt;/b&gt;", "status": "done"}}]
    verdicts = verdict_messages([
        {"kind": "pairwise", "judge": "<j>", "parse_status": "ok", "candidates": ["A", "B"],
         "outcome": {"winner": "A"}, "rationale": "A is <u>better</u>"},
        {"kind": "verify", "judge": "rule", "parse_status": "failed", "candidates": [], "outcome": None,
         "rationale": None}])
    assert verdicts[0]["metadata"]["title"] == "pairwise · &lt;j&gt; · ok · A vs B"
    assert verdicts[0]["content"] == '```json\n{\n  "winner": "A"\n}\n```\n\n\nA is &lt;u&gt;better&lt;/u&gt;'
    assert "parse failure" in verdicts[1]["content"]


@pytest.fixture
def chatbot_page() -> Any:
    """A Gradio app with one Chatbot (the studio's LaTeX delimiters) showing every payload through chat_messages."""
    from tests.ui.test_app import _free_port

    samples = [*PAYLOADS, "Code:\n```html\n<div>inside code</div>\n```", "Inline `<span>tag</span>` code",
               "Math $$\\frac{1}{2} < 1$$ done", "Regex:\n```\n\\(a|b\\) <img src=y onerror=window.__xss=2>\n```"]
    messages = chat_messages([{"role": "assistant", "content": text} for text in samples])
    with gr.Blocks() as demo:
        gr.Chatbot(value=messages, latex_delimiters=LATEX_DELIMITERS, height=4000, feedback_options=None)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_in_chromium_the_payloads_render_as_text_and_load_nothing(chatbot_page: str, chromium_path: Path,
                                                                  artifacts: Path) -> None:
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 4200})
            remote: list[str] = []
            page.on("request", lambda request: remote.append(request.url)
                    if not request.url.startswith(chatbot_page) else None)
            page.goto(chatbot_page)
            page.get_by_text("<div>inside code</div>").wait_for()
            page.locator(".katex").first.wait_for()  # LaTeX still renders
            page.screenshot(path=str(artifacts / "render.png"), full_page=True)
            text = "\n".join(page.locator(".message").all_inner_texts())
            for literal in (f"<script>{XSS}</script>", f"<img src=x onerror={XSS}>", "<b>bold tag</b>",
                            f"[md link](javascript:{XSS})", "![remote image](https://tracker.example/md.png)",
                            "&lt;img src=x onerror=1&gt; is an escaped tag", "<span>tag</span>",
                            "<img src=y onerror=window.__xss=2>"):
                assert literal in text, literal
            embedded = ".message img, .message script, .message iframe, .message math:not(.katex-mathml math)"
            assert page.locator(embedded).count() == 0  # KaTeX's own MathML aside
            assert page.locator(".message svg[onload], .message [onerror]").count() == 0  # Gradio's own icons only
            assert page.locator(".message b", has_text="bold tag").count() == 0
            hrefs = page.locator(".message a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
            assert not [href for href in hrefs if re.match(r"\s*(javascript|vbscript|data):", href or "", re.I)]
            assert page.locator(".message pre code", has_text="<div>inside code</div>").count() == 1
            assert page.evaluate("window.__xss") is None
            assert not [url for url in remote if "example" in url], remote
        finally:
            browser.close()
