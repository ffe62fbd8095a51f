"""The public check page of a notice, ``GET /verify/{code}``: where the QR code printed on every
newly issued notice points (``LOOKBACK_PUBLIC_URL``), for whoever holds the paper — a business,
a citizen, an inspector — with no log-in.

It says only whether the notice stands: its number, the issuing office, its date, valid (有效)
or void (已作废, with the day), and the addressee masked (``domain.notices.mask_name``; a USCC
is never shown) — nothing of its content, no reasons, no ids. An unknown code is a 404 page that
gives no hint of any other code. Each client address may ask 20 times a minute (a sliding window
in this process; beyond it a 429 page with ``Retry-After``), which with 22 random characters a
code leaves nothing to guess. The answers set no cookie, read none, and are never cached
(``Cache-Control: no-store``). Behind a reverse proxy, run ``lookback serve`` with the proxy's
headers trusted so that the client's address is the caller's, not the proxy's.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain import notices as svc
from lookback.bootstrap import App
from lookback.web.pages import templates

router = APIRouter(include_in_schema=False)

#: Requests per client address within ``WINDOW`` seconds.
LIMIT = 20
WINDOW = 60.0
#: Client addresses remembered before the idle ones are forgotten.
MAX_CLIENTS = 10_000
#: What a code looks like (``secrets.token_urlsafe``); anything else is unknown without a query.
CODE = re.compile(r"[A-Za-z0-9_-]{16,32}")
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
            "Referrer-Policy": "no-referrer"}


class SlidingWindow:
    """At most ``limit`` requests per key in any ``window`` seconds (thread-safe, in memory)."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW,
                 max_keys: int = MAX_CLIENTS) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Count a request of ``key``: 0 when it is allowed, else the seconds until it would be
        (a refused request is not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._forget(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return 0.0

    def _forget(self, now: float) -> None:
        """Drop the keys with no request in the window (all of them if every one is busy)."""
        idle = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]
        for k in idle or list(self._hits):
            del self._hits[k]


_limiter_lock = threading.Lock()


def limiter(request: Request) -> SlidingWindow:
    """The application's limiter (one per app, made on first use)."""
    state = request.app.state
    with _limiter_lock:
        found: SlidingWindow | None = getattr(state, "verify_limiter", None)
        if found is None:
            found = state.verify_limiter = SlidingWindow()
    return found


def _page(request: Request, status: int, **context: Any) -> HTMLResponse:
    headers = dict(NO_STORE)
    if status == 429:
        headers["Retry-After"] = str(context["retry_after"])
    return templates.TemplateResponse(request, "verify.html", {
        "status": status, "check": None, **context}, status_code=status, headers=headers)


@router.get("/verify/{code}", response_class=HTMLResponse)
def verify_page(request: Request, code: str) -> HTMLResponse:
    """A notice's public check: valid or void, and the little else anyone may know."""
    client = request.client.host if request.client else "unknown"
    wait = limiter(request).hit(client)
    if wait > 0:
        return _page(request, 429, retry_after=max(1, math.ceil(wait)))
    found = None
    if CODE.fullmatch(code):
        lb: App = request.app.state.lookback
        found = svc.public_check(code, uow_factory=lb.read_uow_factory())
    if found is None:
        return _page(request, 404)
    return _page(request, 200, check=found)
