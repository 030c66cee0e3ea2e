"""Profiling everything, in the foreground with phases, or on the background thread the studio polls."""

from __future__ import annotations

import time
from pathlib import Path

from blossom_studio.ingest import import_files
from blossom_studio.profile.run import LANGUAGE, WORDS, BackgroundProfiler, profile_everything
from blossom_studio.store import Store


def test_profile_everything_runs_both_phases(store: Store, realdata: Path) -> None:
    import_files(store, [realdata / "llama-factory/v1_sft_demo.jsonl"])
    phases: list[str] = []
    result = profile_everything(store, progress=lambda phase, done, total: phases.append(phase))
    assert (result.profiled, result.counted, result.cancelled) == (499, 499, False)  # 500 records, one duplicate
    assert phases.index(LANGUAGE) < phases.index(WORDS)
    assert store.query("SELECT count(*) FROM samples WHERE lang IS NULL OR words IS NULL")[0][0] == 0


def test_the_background_profiler_catches_up_after_each_import(store: Store, realdata: Path) -> None:
    profiler = BackgroundProfiler(store).start()
    try:
        import_files(store, [realdata / "gsm8k/test.jsonl"])
        profiler.wake()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = store.query("SELECT count(*) FROM samples WHERE words IS NULL")[0][0]
            if left == 0 and profiler.status().phase == "idle":
                break
            time.sleep(0.1)
        assert store.query("SELECT count(*), count(words) FROM samples")[0] == (1319, 1319)
        assert profiler.status().error is None
    finally:
        profiler.stop()
