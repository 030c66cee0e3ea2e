"""The studio served for real: first start imports the bundled sample; pages and samples come over HTTP."""

from __future__ import annotations

import html
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from blossom_studio import library
from blossom_studio.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the studio exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the studio did not answer at {url} within {timeout} s")


def test_python_app_py_imports_the_bundled_sample_on_first_start(tmp_path: Path) -> None:
    db = tmp_path / "first.duckdb"
    port = _free_port()
    env = {**os.environ, "BLOSSOM_STUDIO_DB": str(db)}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", process)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "imported the bundled sample" in output
    with open_store(db) as store:
        counts = dict(store.query("SELECT format, count(*) FROM samples GROUP BY format"))
        assert counts == {"blossom": 56, "prompt": 24, "preference": 20}
        assert store.query("SELECT count(*) FROM candidates")[0][0] == 40


@pytest.fixture
def served(store: Store) -> Iterator[tuple[str, Store]]:
    """The studio app served in this process over a store holding the bundled sample."""
    from blossom_studio.ui.app import build_app

    library.ensure_sample_data(store)
    port = _free_port()
    demo = build_app(store)
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", store
    finally:
        demo.close()


def test_pages_and_samples_come_from_duckdb_over_http(served: tuple[str, Store]) -> None:
    from gradio_client import Client

    url, store = served
    client = Client(url, verbose=False)
    table, status, page = client.predict(2, "", "(all sources)", api_name="/page_samples")
    assert page == 2
    assert "100 samples · page 2 of 4" in status
    rows = table["data"]
    assert len(rows) == 25
    expected = [row[0] for row in library.page_samples(store, page=2, page_size=25).rows]
    assert [row[0] for row in rows] == expected

    table, status, _ = client.predict(1, "发票", "(all sources)", api_name="/page_samples")
    found = library.page_samples(store, search="发票").total
    assert f"{found} samples" in status

    pair_id = store.query("SELECT id FROM samples WHERE format = 'preference' ORDER BY row_number LIMIT 1")[0][0]
    conversation, candidates, _reference, details, verdicts, decisions = client.predict(pair_id,
                                                                                        api_name="/open_sample")
    assert conversation[0]["role"] == "user"
    assert [c["metadata"]["title"].split(" · ")[0] for c in candidates] == ["chosen", "rejected"]
    assert pair_id in html.unescape(details)
    assert verdicts == [] and decisions["data"] in ([], [[None] * 5], [["", "", "", "", ""]])

    table, status, page = client.predict(1, "", "(all sources)", "(any)", "(any)", "active", "(any)", "(any)",
                                         api_name="/page_samples")
    assert "100 samples · page 1 of 4" in status


def test_the_tabs_come_in_the_studio_order_and_missing_ones_say_coming_soon(store: Store) -> None:
    import importlib.util

    from blossom_studio.ui import app

    demo = app.build_app(store)
    tabs = [block for block in demo.blocks.values() if type(block).__name__ == "Tab"]
    assert [tab.label for tab in tabs] == ["Library", "Balance", "Synthesize", "Review", "Export", "Models"]
    texts = [block.value for block in demo.blocks.values() if type(block).__name__ == "Markdown"]
    missing = [name for name in ("synthesize_tab", "review_tab", "models_tab")
               if importlib.util.find_spec(f"blossom_studio.ui.{name}") is None]
    assert sum("Coming soon" in str(text) for text in texts) == len(missing)
    assert any("python -m blossom_studio export" in str(text) for text in texts)


def test_the_readme_front_matter_configures_a_space_and_keeps_the_test_command() -> None:
    import gradio
    import yaml

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n", 2)[1])
    assert front["sdk"] == "gradio" and front["sdk_version"] == gradio.__version__
    assert front["app_file"] == "app.py" and (ROOT / front["app_file"]).is_file() and front["pinned"] is False
    assert "hf_oauth" not in front  # sign-in is a choice: without it a Space is read-only, never open for writing
    body = text.split("---\n", 2)[2]
    assert body.lstrip().startswith("# Blossom Studio") and "## Shared studio / Hugging Face Space" in body
    lines = body.splitlines()
    marker = lines.index("<!-- test-command -->")
    assert lines[marker + 2].startswith("pip install -r requirements-dev.txt && python -m pytest")
