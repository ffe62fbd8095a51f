"""Browser tests: Playwright for Python driving Debian's `chromium` (the bootstrap installs it;
Playwright is given its path and never downloads a browser), against a real `lookback serve`.

``LOOKBACK_CHROMIUM`` names another Chromium binary. Screenshots go to
``tests/browser/artifacts/`` (kept by CI as the run's artifacts)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import web_site
from tests.e2e.api_site import Fixture
from tests.e2e.test_fieldwork_cli import launched
from tests.e2e.test_remote_cli import free_port

__all__ = ["launched"]

ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str:
    found = os.environ.get("LOOKBACK_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not found:
        raise RuntimeError("no chromium: install Debian's package (`apt-get install chromium`, "
                           "which scripts/bootstrap.sh does) or set LOOKBACK_CHROMIUM")
    return found


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event
    loop running in this thread while it is open, and the tests after these (Prefect flows
    called synchronously) must not find one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(),
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return web_site.prepare(launched, tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(site: Fixture) -> Iterator[web_site.Server]:
    s = web_site.Server(site, free_port())
    s.start()
    yield s
    s.stop()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
