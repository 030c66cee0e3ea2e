"""Run the language profile and then the word counts over every sample that lacks them, in the foreground or on a
background thread that the UI polls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from blossom_studio.store import Store

PhaseProgress = Callable[[str, int, int], None]
LANGUAGE, WORDS = "language profile", "word counts"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileRun:
    """How many samples one run profiled and counted the words of, and whether it was cancelled."""

    profiled: int
    counted: int
    cancelled: bool


def profile_everything(store: Store, *, progress: PhaseProgress | None = None,
                       cancel: threading.Event | None = None) -> ProfileRun:
    """Profile the samples that need it, then count their words; a cancel keeps every committed batch."""
    from blossom_studio.profile.backfill import profile_pending
    from blossom_studio.profile.word_stats import count_pending_words

    def phase(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(name, done, total))

    profiled = profile_pending(store, progress=phase(LANGUAGE), cancel=cancel)
    counted = 0
    if cancel is None or not cancel.is_set():
        counted = count_pending_words(store, progress=phase(WORDS), cancel=cancel)
    return ProfileRun(profiled, counted, cancel is not None and cancel.is_set())


@dataclass
class ProfileStatus:
    """What the background profiler is doing: its phase, done of total, and the last error."""

    phase: str = "idle"
    done: int = 0
    total: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the status as JSON-ready data."""
        return asdict(self)


class BackgroundProfiler:
    """Profiles new samples on a daemon thread each time it is woken (at start and after every import)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status = ProfileStatus()
        self._thread = threading.Thread(target=self._run, name="blossom-profiler", daemon=True)

    def start(self) -> BackgroundProfiler:
        """Start the thread and profile what is pending now."""
        self._thread.start()
        self.wake()
        return self

    def wake(self) -> None:
        """Ask for another run (after an import); runs coalesce."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the current run between batches and end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def status(self) -> ProfileStatus:
        """Return a copy of the current status."""
        with self._lock:
            return ProfileStatus(**asdict(self._status))

    def _set(self, phase: str, done: int = 0, total: int = 0, error: str | None = None) -> None:
        with self._lock:
            self._status = ProfileStatus(phase, done, total, error)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                profile_everything(self._store, progress=self._set, cancel=self._stop)
                self._set("idle")
            except Exception as exc:  # kept for the UI; the next wake tries again
                log.exception("background profiling failed")
                self._set("failed", error=f"{type(exc).__name__}: {exc}")
