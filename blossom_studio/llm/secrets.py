"""Keeping API keys out of messages: what a key looks like, and redaction."""

from __future__ import annotations

import re
from collections.abc import Sequence

SECRET_LIKE = re.compile(r"\b(sk|pk|key|hf|gsk|xai|rk)[-_][A-Za-z0-9_\-]{6,}")
SECRET_PARAM = re.compile(r"(^|_)(api_?key|key|secret|password|authorization|bearer|access_token)$", re.IGNORECASE)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove secrets and anything shaped like an API key from a message."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return SECRET_LIKE.sub(lambda match: f"{match.group(1)}-***", text)


def looks_like_key(text: str) -> bool:
    """True when a string has the shape of an API key rather than of a variable name."""
    return bool(SECRET_LIKE.search(text))
