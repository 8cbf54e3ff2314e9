"""A real headless Chromium for tests: Debian's `chromium` driven by Playwright.

Playwright's own browser download is not reachable where the tests run, so the system
browser (`scripts/install` installs it) is launched through `executable_path`, with a fresh
profile per launch. Screenshots go to `artifacts/` (git-ignored), kept after the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TRIAL_CDS_ARTIFACTS", ROOT / "artifacts"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("TRIAL_CDS_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


@contextmanager
def chromium(profile: Path, **context: object) -> Iterator[BrowserContext]:
    """A browser context of a freshly launched Chromium (profile directory `profile`)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (scripts/install installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            **context,  # type: ignore[arg-type]
        )
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
