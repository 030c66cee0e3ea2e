"""Assemble the studio's tabs into one Gradio app and serve it, alone or shared (sign-in, Hugging Face Spaces)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from blossom_studio import __version__, library, settings
from blossom_studio.profile.run import BackgroundProfiler
from blossom_studio.store import Store, open_store
from blossom_studio.ui.auth import Access, decide_access
from blossom_studio.ui.balance_tab import build_balance_tab
from blossom_studio.ui.export_tab import build_export_tab
from blossom_studio.ui.library_tab import build_library_tab
from blossom_studio.ui.models_tab import build_models_tab
from blossom_studio.ui.render import inline_code
from blossom_studio.ui.review_tab import build_review_tab
from blossom_studio.ui.studio import Studio
from blossom_studio.ui.synthesize_tab import build_synthesize_tab

TITLE = "Blossom Studio"
TABS = (("Library", "library"), ("Balance", "balance"), ("Synthesize", "synthesize"), ("Review", "review"),
        ("Export", "export"), ("Models", "models"))
LOGIN_MESSAGE = (f"Blossom Studio is shared: sign in with the user name and password your team set in "
                 f"{settings.AUTH_ENV}.")


def ephemeral_notice(store: Store) -> str | None:
    """Return the warning shown on a Space whose database is not in persistent storage (/data), else None."""
    if not settings.ephemeral_storage(store.path):
        return None
    return (f"⚠️ **The database {inline_code(store.path)} is in this Space's ephemeral storage: everything imported, "
            f"generated or reviewed is lost when the Space restarts.** Enable persistent storage in the Space's "
            f"settings (the studio then uses {inline_code('/data/studio.duckdb')}), or set "
            f"{inline_code(settings.DB_ENV + '=/data/studio.duckdb')}.")


def _builders() -> dict[str, Callable[[gr.Blocks, Studio], object]]:
    return {
        "library": build_library_tab,
        "balance": build_balance_tab,
        "synthesize": build_synthesize_tab,
        "review": build_review_tab,
        "export": build_export_tab,
        "models": build_models_tab,
    }


def build_studio(studio: Studio, access: Access | None = None) -> gr.Blocks:
    """Build the Blocks app for a studio: header, sign-in and storage notices, then the tabs in the order of TABS."""
    access = access or Access()
    builders = _builders()
    with gr.Blocks(title=TITLE) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(f"## {TITLE}\nCurate Chinese and English fine-tuning data · database "
                        f"{inline_code(studio.store.path)} · v{__version__}")
            if access.mode == "oauth":
                gr.LoginButton(size="sm", scale=0, min_width=220)
        for notice in (access.notice, ephemeral_notice(studio.store)):
            if notice:
                gr.Markdown(notice, elem_classes=["studio-notice"])
        if access.mode in ("password", "oauth"):
            who = gr.Markdown()

            def signed_in(request: gr.Request) -> str:
                user = studio.user(request)
                if user is None:
                    return "Not signed in: you can browse, but changes need **Sign in with Hugging Face** (above)."
                logout = " · [Log out](logout)" if access.mode == "password" else ""
                return f"Signed in as {inline_code(user)}{logout}"

            demo.load(signed_in, None, who, api_name=False)
        with gr.Tabs():
            for label, tab_id in TABS:
                with gr.Tab(label, id=tab_id):
                    builders[tab_id](demo, studio)
    return demo


def build_app(store: Store, *, profiler: BackgroundProfiler | None = None, access: Access | None = None) -> gr.Blocks:
    """Build the Blocks app over an open store; imports wake the background profiler when there is one."""
    access = access or Access()
    studio = Studio(store=store, profiler=profiler, shared=access.shared, oauth=access.mode == "oauth",
                    read_only=access.refusal)
    return build_studio(studio, access)


def serve(db_path: Path, *, host: str | None = None, port: int | None = None) -> None:
    """Open the database (importing the bundled sample on first start) and serve the studio until stopped.

    $BLOSSOM_STUDIO_AUTH turns on Gradio's password sign-in; on a Hugging Face Space, OAuth (`hf_oauth: true`) turns on
    "Sign in with Hugging Face", and a Space with neither is read-only (see auth.decide_access).
    """
    access = decide_access()  # a malformed BLOSSOM_STUDIO_AUTH fails here, before the database is opened
    store = open_store(db_path)
    for report in library.ensure_sample_data(store):
        print(f"imported the bundled sample {Path(report.file).name}: {report.imported} samples")
    profiler = BackgroundProfiler(store).start()  # profiles samples imported by older versions or the CLI, too
    demo = build_app(store, profiler=profiler, access=access)
    print(f"access: {access.mode}" + (f" ({len(access.users)} users)" if access.users else ""))
    if host is None and settings.on_space():
        host = "0.0.0.0"  # a Space reaches the app through its proxy
    port = port or int(os.environ.get("PORT", os.environ.get("GRADIO_SERVER_PORT", "7860")))
    demo.queue(default_concurrency_limit=8).launch(
        server_name=host, server_port=port, theme=gr.themes.Soft(),
        auth=list(access.users) or None, auth_message=LOGIN_MESSAGE if access.users else None)
