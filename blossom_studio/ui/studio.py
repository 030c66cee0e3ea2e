"""What every tab of the studio shares: the open store, the roster file, the background profiler and who may write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from blossom_studio import settings
from blossom_studio.profile.run import BackgroundProfiler
from blossom_studio.store import Store

LOCAL_REVIEWER = "local"


@dataclass
class Studio:
    """The studio's shared state, handed to each tab builder."""

    store: Store
    roster_path: Path = field(default_factory=settings.roster_path)
    profiler: BackgroundProfiler | None = None
    shared: bool = False  # True when users must sign in (BLOSSOM_STUDIO_AUTH or Hugging Face OAuth)

    def wake_profiler(self) -> None:
        """Tell the background profiler that new samples have landed."""
        if self.profiler is not None:
            self.profiler.wake()

    def writer(self, request: gr.Request | None) -> str:
        """Return the name of the user behind a writing request, or refuse it (gr.Error) in shared mode without one."""
        username = getattr(request, "username", None) if request is not None else None
        if username:
            return str(username)
        if self.shared:
            raise gr.Error("Sign in first: this shared studio only accepts changes from signed-in users.")
        return LOCAL_REVIEWER
