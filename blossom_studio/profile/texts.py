"""The texts a profile covers: a sample's messages in order, then its imported candidates by position."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from blossom_studio.synth.templates import content_text

CANDIDATE_ROLE = "candidate"

# The rows each profiling pass reads: one per sample, its messages JSON and its imported candidates' messages.
SAMPLE_TEXTS_SQL = """
    SELECT s.id, s.source, s.messages,
           (SELECT list(c.message ORDER BY c.position) FROM candidates c
            WHERE c.sample_id = s.id AND c.origin = 'import') AS candidates
    FROM samples s
"""


def sample_texts(messages: str | bytes | list[Mapping[str, Any]],
                 candidates: Iterable[str | bytes | Mapping[str, Any]] | None = None) -> list[tuple[str, str]]:
    """Return (role, text) for each message, then ("candidate", text) for each candidate message."""
    parsed = orjson.loads(messages) if isinstance(messages, (str, bytes)) else messages
    entries = [(str(message.get("role") or ""), content_text(message.get("content")))
               for message in parsed if isinstance(message, Mapping)]
    for candidate in candidates or ():
        message = orjson.loads(candidate) if isinstance(candidate, (str, bytes)) else candidate
        if isinstance(message, Mapping):
            entries.append((CANDIDATE_ROLE, content_text(message.get("content"))))
    return entries
