"""Who may change a shared studio: password sign-in, Hugging Face OAuth, or nobody on a Space with neither."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any, Literal

from blossom_studio import settings

Mode = Literal["local", "password", "oauth", "read_only"]

READ_ONLY_NOTICE = (
    "🔒 **This Space is read-only: no sign-in is configured**, so nobody can import, run jobs or review here. "
    "To let your team make changes, either add `hf_oauth: true` to the front matter of the Space's README.md "
    "(\"Sign in with Hugging Face\"; `hf_oauth_authorized_org: YOUR_ORG` limits it to your organisation), or add "
    f"a secret `{settings.AUTH_ENV}` = `user:password,user2:password2` in the Space's settings, then restart it."
)
OAUTH_MISSING_NOTICE = (
    "🔒 **This Space is read-only: Hugging Face sign-in is enabled (`hf_oauth: true`) but Gradio's OAuth support is "
    "not installed.** Add `gradio[oauth]` to requirements.txt (it brings authlib and itsdangerous), or set the "
    f"secret `{settings.AUTH_ENV}` = `user:password,...`, and restart the Space."
)

READ_ONLY_ERROR = (f"This Space is read-only: no sign-in is configured. Add hf_oauth: true to the front matter of its "
                   f"README.md, or a secret {settings.AUTH_ENV}=user:password,..., and restart it.")
OAUTH_MISSING_ERROR = (f"This Space is read-only: Hugging Face sign-in needs gradio[oauth] in requirements.txt (or set "
                       f"the secret {settings.AUTH_ENV}=user:password,...).")


@dataclass(frozen=True)
class Access:
    """How users sign in and whether anyone may write, decided once when the studio starts."""

    mode: Mode = "local"
    users: tuple[tuple[str, str], ...] = ()  # (user, password) pairs for Gradio's login page in password mode
    notice: str | None = None  # Markdown shown above the tabs (why writes are refused in read-only mode)
    refusal: str | None = None  # the plain-text error that refuses every write in read-only mode

    @property
    def shared(self) -> bool:
        """Whether the studio serves several people, so that every write needs a signed-in user."""
        return self.mode != "local"


def _oauth_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("authlib", "itsdangerous"))


def decide_access() -> Access:
    """Decide the access mode from the environment: $BLOSSOM_STUDIO_AUTH users, else Space OAuth, else read-only on a
    Space, else local (one trusted user); a malformed $BLOSSOM_STUDIO_AUTH raises settings.SettingsError."""
    users = settings.auth_users()
    if users:
        return Access("password", tuple(users))
    if settings.space_oauth():
        if not _oauth_installed():
            return Access("read_only", notice=OAUTH_MISSING_NOTICE, refusal=OAUTH_MISSING_ERROR)
        return Access("oauth")
    if settings.on_space():
        return Access("read_only", notice=READ_ONLY_NOTICE, refusal=READ_ONLY_ERROR)
    return Access("local")


def oauth_username(request: Any) -> str | None:
    """Return the Hugging Face user name of a request's OAuth session (set by Gradio's /login/callback), or None."""
    underlying = getattr(request, "request", None)
    scope = getattr(underlying, "scope", None)
    session = scope.get("session") if isinstance(scope, dict) else None  # Starlette's SessionMiddleware puts it here
    info = session.get("oauth_info") if isinstance(session, dict) else None
    if not isinstance(info, dict):
        return None
    expires_at = info.get("expires_at")
    if isinstance(expires_at, int | float) and expires_at < time.time():
        return None
    userinfo = info.get("userinfo")
    name = userinfo.get("preferred_username") if isinstance(userinfo, dict) else None
    return str(name) if name else None
