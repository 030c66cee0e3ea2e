"""The `profile` command, and the profiling that follows every import: language profile, then word counts."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any, TextIO

from blossom_studio.profile.run import ProfileRun, profile_everything

RESUME_HINT = "the imported samples are kept; `python -m blossom_studio profile` (or the studio) finishes profiling"


def add_commands(commands: Any) -> None:
    """Register the `profile` command on the CLI's sub-parser collection."""
    profile = commands.add_parser(
        "profile", help="profile the samples that lack it: language per message and sample, then jieba word counts")
    profile.add_argument("--json", action="store_true", help="print the counts as JSON on the last line")


class _PhaseBars:
    """One tqdm bar per profiling phase on stderr, shown only on a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._phase = ""

    def update(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None or phase != self._phase:
            self.close()
            self._phase = phase
            self._bar = tqdm(total=total, unit="sample", file=sys.stderr, leave=False,
                             disable=not sys.stderr.isatty(), desc=phase)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_profiling(store: Any) -> ProfileRun:
    """Profile with progress bars; Ctrl-C stops after the current batch and keeps what was committed."""
    bars = _PhaseBars()
    cancel = threading.Event()
    try:
        return profile_everything(store, progress=bars.update, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        return ProfileRun(0, 0, cancelled=True)
    finally:
        bars.close()


def cmd_profile(args: argparse.Namespace, human: TextIO) -> int:
    """Profile every sample that lacks a profile or word counts and print how many were done."""
    from blossom_studio.cli import EXIT_FAILED, EXIT_OK, _emit_json, _open

    with _open(args) as store:
        result = run_profiling(store)
    if result.cancelled:
        print(f"profiling interrupted; {RESUME_HINT}", file=sys.stderr)
    print(f"{result.profiled:,} samples profiled, {result.counted:,} word-counted", file=human)
    if args.json:
        _emit_json({"profiled": result.profiled, "word_counted": result.counted, "cancelled": result.cancelled})
    return EXIT_FAILED if result.cancelled else EXIT_OK
