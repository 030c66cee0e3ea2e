"""What every tab of the studio shares: the open store, the roster file, the background profiler and who may write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from blossom_studio import settings
from blossom_studio.profile.run import BackgroundProfiler
from blossom_studio.store import Store
from blossom_studio.ui.auth import oauth_username

LOCAL_REVIEWER = "local"
SIGN_IN_FIRST = "Sign in first: this shared studio only accepts changes from signed-in users."


@dataclass
class Studio:
    """The studio's shared state, handed to each tab builder."""

    store: Store
    roster_path: Path = field(default_factory=settings.roster_path)
    profiler: BackgroundProfiler | None = None
    shared: bool = False  # True when users must sign in (BLOSSOM_STUDIO_AUTH or Hugging Face OAuth)
    oauth: bool = False  # True when users sign in with Hugging Face (the user comes from the OAuth session)
    read_only: str | None = None  # why every write is refused (a Space without sign-in), shown to the user
    exports_dir: Path | None = None  # where the Export tab writes; None: settings.exports_dir() beside the database

    def export_root(self) -> Path:
        """Return the folder every export from the studio is written inside (no export may leave it)."""
        return self.exports_dir if self.exports_dir is not None else settings.exports_dir(self.store.path)

    def wake_profiler(self) -> None:
        """Tell the background profiler that new samples have landed."""
        if self.profiler is not None:
            self.profiler.wake()

    def user(self, request: gr.Request | Any | None) -> str | None:
        """Return the signed-in user behind a request (password sign-in or Hugging Face OAuth), or None."""
        if request is None:
            return None
        username = getattr(request, "username", None)
        if not username and self.oauth:
            username = oauth_username(request)
        return str(username) if username else None

    def writer(self, request: gr.Request | Any | None) -> str:
        """Return the name of the user behind a writing request, or refuse it (gr.Error) in shared mode without one."""
        if self.read_only:
            raise gr.Error(self.read_only)
        username = self.user(request)
        if username:
            return username
        if self.shared:
            raise gr.Error(SIGN_IN_FIRST)
        return LOCAL_REVIEWER
