"""Upload an export folder to a Hugging Face dataset repository with huggingface_hub and $HF_TOKEN."""

from __future__ import annotations

import os
import re
from pathlib import Path

from blossom_studio.export.writer import owned_paths

TOKEN_ENV = "HF_TOKEN"
REPO = re.compile(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*")


class HubError(RuntimeError):
    """An upload that could not be made: no token, a bad repository name, offline, or refused by the Hub."""


def upload_plan(folder: Path) -> list[str]:
    """Return the repository paths an upload of `folder` creates: the export's own files, data files first."""
    paths = [path.relative_to(folder).as_posix() for path in owned_paths(folder)]
    return sorted(paths, key=lambda path: (not path.startswith("data/"), path))


def check_push(repo: str) -> str:
    """Return the token for a push to `repo`, or raise HubError (bad name, no $HF_TOKEN) before anything is written."""
    if not REPO.fullmatch(repo):
        raise HubError(f"{repo!r} is not a dataset repository id; write it as OWNER/NAME, e.g. my-team/blossom-zh-en")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise HubError(f"${TOKEN_ENV} is not set: create a write token at https://huggingface.co/settings/tokens and "
                       f"export {TOKEN_ENV}=... before --push-to-hub")
    return token


def push_to_hub(folder: Path, repo: str, *, private: bool = True) -> str:
    """Create the dataset repository if needed and upload the export's files; return the repository URL."""
    token = check_push(repo)
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder, allow_patterns=upload_plan(folder),
                          commit_message=f"Blossom Studio export {folder.name}")
    except Exception as exc:  # huggingface_hub raises HTTP, connection and validation errors of many types
        message = str(exc).replace(token, "***").splitlines()[0] if str(exc) else type(exc).__name__
        if _offline(exc):
            raise HubError(f"could not reach the Hugging Face Hub ({message}); the export is kept in {folder}; "
                           "push it later with --push-to-hub when online") from None
        raise HubError(f"the Hub refused the upload to {repo}: {message}; the export is kept in {folder}") from None
    return f"https://huggingface.co/datasets/{repo}"


def _offline(exc: BaseException) -> bool:
    """Return whether an error (or its causes) is a network failure rather than a refusal."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if isinstance(seen, (ConnectionError, TimeoutError, OSError)) or "Connect" in name or "Timeout" in name:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
