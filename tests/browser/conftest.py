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


@pytest.fixture
def context(chromium: Any, server: web_site.Server,
            request: pytest.FixtureRequest) -> Iterator[Any]:
    """A phone (390×844, Chinese) on the test server, downloads accepted; its default timeout
    is the test module's ``TIMEOUT_MS`` (15 s unless the module sets one)."""
    ctx = chromium.new_context(viewport=PHONE, base_url=server.url, locale="zh-CN",
                               accept_downloads=True)
    ctx.set_default_timeout(getattr(request.module, "TIMEOUT_MS", 15_000))
    yield ctx
    ctx.close()


def log_in(page: Any, name: str, next: str | None = None) -> None:
    """Through the log-in form, to ``next`` (or the user's home page); the page then shows who
    is logged in."""
    page.goto("/app/login" + (f"?next={next}" if next else ""))
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', web_site.PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"**{next}" if next else "**/app/**")
    assert name in page.inner_text('[data-testid="who"]')


def fits(page: Any, width: int = PHONE["width"]) -> None:
    """Nothing but the wide tables' own scroll boxes is wider than the screen."""
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide on a {width} px screen"


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
