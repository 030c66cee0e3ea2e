"""Assemble the studio's tabs into one Gradio app and serve it."""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from blossom_studio import __version__, library
from blossom_studio.profile.run import BackgroundProfiler
from blossom_studio.store import Store, open_store
from blossom_studio.ui.balance_tab import build_balance_tab
from blossom_studio.ui.library_tab import build_library_tab
from blossom_studio.ui.studio import Studio

TITLE = "Blossom Studio"


def build_app(store: Store, *, profiler: BackgroundProfiler | None = None) -> gr.Blocks:
    """Build the Blocks app over an open store; imports wake the background profiler when there is one."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"## {TITLE}\nCurate Chinese and English fine-tuning data · database `{store.path}` · "
                    f"v{__version__}")
        with gr.Tabs():
            with gr.Tab("Library", id="library"):
                build_library_tab(demo, store, on_import=profiler.wake if profiler is not None else None)
            with gr.Tab("Balance", id="balance"):
                build_balance_tab(demo, store)
    return demo


def serve(db_path: Path, *, host: str | None = None, port: int | None = None) -> None:
    """Open the database (importing the bundled sample on first start) and serve the studio until stopped."""
    store = open_store(db_path)
    for report in library.ensure_sample_data(store):
        print(f"imported the bundled sample {Path(report.file).name}: {report.imported} samples")
    profiler = BackgroundProfiler(store).start()  # profiles samples imported by older versions or the CLI, too
    demo = build_app(store, profiler=profiler)
    port = port or int(os.environ.get("PORT", os.environ.get("GRADIO_SERVER_PORT", "7860")))
    demo.queue(default_concurrency_limit=8).launch(server_name=host, server_port=port, theme=gr.themes.Soft())
