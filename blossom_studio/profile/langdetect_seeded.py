"""Seeded langdetect, loaded on first use, for the Latin text that script counts cannot decide."""

from __future__ import annotations

import threading

# langdetect is sure of a language within a few hundred characters, and its time grows with the text.
MAX_CHARS = 600
MIN_PROBABILITY = 0.9
_lock = threading.Lock()
_loaded = False


def _load() -> None:
    global _loaded
    with _lock:
        if not _loaded:
            from langdetect import DetectorFactory

            DetectorFactory.seed = 0
            _loaded = True


def detect_language(text: str) -> str | None:
    """Return langdetect's best language code (seed 0) when its probability is at least 0.9, else None."""
    if not text.strip():
        return None
    _load()
    from langdetect import detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    try:
        ranked = detect_langs(text[:MAX_CHARS])
    except LangDetectException:
        return None
    best = ranked[0] if ranked else None
    if best is None or best.prob < MIN_PROBABILITY:
        return None
    return str(best.lang).split("-")[0]
