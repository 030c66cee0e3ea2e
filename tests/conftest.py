"""Shared fixtures: a fresh studio database per test and the real public data beside the checkout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from blossom_studio.store import Store, open_store

REALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A new, migrated studio database in a temporary folder."""
    with open_store(tmp_path / "studio.duckdb") as opened:
        yield opened


@pytest.fixture
def realdata() -> Path:
    """The folder of real public files; skipped when absent, but a failure when CI=true."""
    if not REALDATA.is_dir():
        reason = f"the real public data is not at {REALDATA} (it sits beside the checkout in ../shared/realdata)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return REALDATA


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium_path() -> Path:
    """Debian's chromium for Playwright; skipped where it or Playwright is missing, a failure when CI=true."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        missing.append(f"Debian's chromium at {CHROMIUM} (apt-get install -y chromium fonts-noto-cjk)")
    if missing:
        reason = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder kept after the run (artifacts/<test name>/, or $BLOSSOM_STUDIO_ARTIFACTS) for screenshots."""
    base = Path(os.environ.get("BLOSSOM_STUDIO_ARTIFACTS", ARTIFACTS))
    folder = base / request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
