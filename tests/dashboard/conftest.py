"""Fixtures of the dashboard tests: Debian's Chromium driven by Playwright.

Playwright's async API needs asyncio and its sync API must not run inside a trio loop,
so the browser tests are plain (not async) functions using the sync API; the page's
server runs in a subprocess. Playwright's own browser download cannot work here: the
tests launch the Chromium on PATH (``.ci/run`` installs Debian's).
"""

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require

CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # no traffic of its own beside the page's (updates, sync, metrics)
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``BrowserContext`` with a fresh user-data
    folder), shared by a module's browser tests; skipped with the reason where
    Chromium or Playwright is missing (a failure under MOALAB_TESTS_STRICT=1)."""
    chromium = shutil.which("chromium")
    require(chromium is not None and importlib.util.find_spec("playwright") is not None,
            "the browser tests need Chromium on PATH (Debian: apt-get install chromium) and "
            "Playwright (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="moalab-chromium-") as profile, \
            sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new page with no cookies (no token yet); its console errors fail the test."""
    browser.clear_cookies()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        page.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"
