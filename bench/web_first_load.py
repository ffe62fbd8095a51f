"""Benchmark: the field app's first load in a real browser — the HTML, CSS and JS an auditor's
phone downloads from opening the log-in page to seeing their visits, compressed as served —
against the same load uncompressed, in one run.

    python bench/web_first_load.py                  # 2,000 visits: 400 in the auditor's list
    python bench/web_first_load.py --visits 200     # what CI runs (40 in the list)

Setup (not timed): a fresh SQLite database in the work folder with registers and one launched
campaign of --visits visits, as bench/api_load.py prepares it (``_common.launch_campaign``), one
auditor for the first team (`lookback users add bench-team-N --role auditor --team N --campaign C
--json`) given a password with the credentials repository (``uow.credentials.set_password(...,
must_change=False)``, as tests/e2e/web_site.py does; ``web_pages.set_passwords``), then a real
`lookback serve` subprocess on a free port of 127.0.0.1 (the clock of bench/web_pages.py, the
campaign running), waited for until GET /health answers.

The browser: Playwright for Python driving Debian's `chromium` (``shutil.which("chromium")``, or
the binary named by LOOKBACK_CHROMIUM; Playwright never downloads one), headless, --no-sandbox,
a phone's viewport, each load in a fresh browser context (an empty cache, no cookies).

Ours: the first load, gzip as served (Chromium's own Accept-Encoding). Open /app/login, fill the
name and the password, click the button; the form's POST answers 303 to /app/, which answers 303
to /app/visits. Every response of type document, stylesheet or script the page received is
recorded (``requestfinished`` on the context; ``request.sizes()``: responseBodySize +
responseHeadersSize, the bytes on the wire): the log-in page, the POST and the redirect, the
visits page, and the CSS and JS files, which the log-in page fetches and the visits page then
takes from the browser's cache (their URLs carry a fingerprint and are cached for a year). Photos
and other images are not counted (the pages have none). Service workers are blocked in this
context, so the figure is the pages' own requests; the service worker's extra downloads are
measured on their own (below). Printed: the total in KB (1 KB = 1,024 bytes), the per-file
breakdown, and the visits page's share.

Baseline: the same load in another fresh context with the extra HTTP header ``Accept-Encoding:
identity``, so nothing is compressed. Printed: its total and per file, and the ratio baseline /
ours.

Checks: both loads end on /app/visits with every response 200 or 303; the baseline has no
compressed response, and ours has the CSS and JS gzip-compressed. The script exits 1 otherwise.
Goal: ours <= 120 KB; printed met / missed (informational).

The service worker (informational, not part of the first load): in a third fresh context with
service workers allowed, the same log-in; then navigator.serviceWorker.ready, and the wait until
its page cache ("lookback-pages") holds every URL the visits page gave it for the day (the list
in its ``offline-urls`` script: the visits, the look-backs, and the page, finding form and five
interview forms of each of the day's planned visits, ``pages.DAY_VISITS`` of them), or until
neither that cache nor the finished requests have moved for --sw-stall seconds (or --sw-timeout
passed): then the count cached is printed as INCOMPLETE, with the number of the worker's fetches
Chromium refused (net::ERR_INSUFFICIENT_RESOURCES on the console), and the script goes on.
Printed: the bytes the worker fetched (its requests in the context's ``requestfinished``), split
into its install (the shell: /app/offline, /app/queue and the client files, mostly from the
browser's HTTP cache, 0 bytes on the wire) and the day's pages; the navigations it passes through
to the network (/app/, /app/visits) are the first load's and are left out. Chromium reports no
body size for the worker's own script, so /app/sw.js is fetched once more with httpx (gzip) and
its bytes on the wire are used.

Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import add_root_to_path, arg_parser, launch_campaign, lookback, print_json, work_folder
from api_load import USER, free_port, stop_server, wait_healthy
from web_pages import PASSWORD, set_passwords, start_server

GOAL_KB = 120.0
COUNTED = ("document", "stylesheet", "script")
PHONE = {"width": 390, "height": 844}
KB = 1024


@dataclass
class Got:
    """One finished request: what it was and its bytes on the wire."""

    method: str
    path: str  # path and query
    kind: str  # Playwright's resource type
    status: int
    body: int  # responseBodySize: encoded; negative when it came from a cache
    headers: int  # responseHeadersSize
    encoding: str  # the response's Content-Encoding, "" if none
    by_worker: bool  # fetched by the service worker itself

    @property
    def wire(self) -> int:
        return max(0, self.body + self.headers)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path.split('?', 1)[0]}"


def chromium_path() -> str:
    found = os.environ.get("LOOKBACK_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not found:
        sys.exit("no chromium: install Debian's package (`apt-get install chromium`) or set "
                 "LOOKBACK_CHROMIUM")
    return found


def got(request: Any) -> Got:
    """What a finished request came to (asked of the browser while its context is open)."""
    sizes = request.sizes()
    response = request.response()
    u = urlsplit(request.url)
    return Got(request.method, u.path + (f"?{u.query}" if u.query else ""),
               request.resource_type, response.status if response else 0,
               sizes["responseBodySize"], sizes["responseHeadersSize"],
               (response.headers.get("content-encoding", "") if response else ""),
               request.service_worker is not None)


def settle(page: Any, done: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait until ``done()`` (polled every 50 ms); exits after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            sys.exit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        page.wait_for_timeout(50)


def log_in(page: Any, name: str, finished: list[Any]) -> None:
    """The log-in form, as a person fills it; returns once /app/visits has loaded and its
    document's request has finished."""
    page.goto("/app/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/visits", timeout=60_000)
    page.wait_for_load_state("load")
    settle(page, lambda: any(r.resource_type == "document" and urlsplit(r.url).path ==
                             "/app/visits" for r in finished), 30, "/app/visits to finish")


def first_load(browser: Any, base: str, name: str,
               headers: dict[str, str] | None = None) -> tuple[list[Got], int]:
    """The first load in a fresh context with service workers blocked: every finished request,
    and how many visits the page lists."""
    ctx = browser.new_context(base_url=base, viewport=PHONE, locale="zh-CN",
                              service_workers="block", extra_http_headers=headers)
    try:
        finished: list[Any] = []
        ctx.on("requestfinished", lambda r: finished.append(r))
        page = ctx.new_page()
        log_in(page, name, finished)
        page.wait_for_load_state("networkidle")
        listed = page.locator("[data-testid=visit-link]").count()
        return [got(r) for r in finished], listed
    finally:
        ctx.close()


@dataclass
class Worker:
    """What the service worker fetched beyond the first load."""

    ready_s: float  # from opening /app/login to navigator.serviceWorker.ready
    cached_s: float  # from opening /app/login until the day's pages were all cached
    script: int  # /app/sw.js on the wire (httpx, gzip)
    shell: list[Got]
    pages: list[Got]
    want: int  # the day's URLs the visits page gave it
    cached: int  # the entries of its page cache at the end
    refused: int  # fetches Chromium refused (net::ERR_INSUFFICIENT_RESOURCES on the console)

    @property
    def total(self) -> int:
        return self.script + sum(g.wire for g in self.shell + self.pages)


def service_worker(browser: Any, base: str, name: str, timeout_s: float,
                   stall_s: float) -> Worker:
    """Log in with service workers allowed; what the worker fetched to install itself and to
    cache the day's pages. The wait ends when every page is cached, when neither the cache nor
    the finished requests have moved for ``stall_s``, or after ``timeout_s``."""
    import httpx

    ctx = browser.new_context(base_url=base, viewport=PHONE, locale="zh-CN")
    try:
        finished: list[Any] = []
        refused = [0]
        ctx.on("requestfinished", lambda r: finished.append(r))
        ctx.on("console", lambda m: refused.__setitem__(
            0, refused[0] + ("ERR_INSUFFICIENT_RESOURCES" in m.text)))
        page = ctx.new_page()
        t = time.perf_counter()
        log_in(page, name, finished)
        page.evaluate("navigator.serviceWorker.ready.then((r) => !!r.active)")
        ready_s = time.perf_counter() - t
        want = page.evaluate("JSON.parse((document.getElementById('offline-urls') || "
                             "{textContent: '[]'}).textContent).length")
        count_js = "caches.open('lookback-pages').then((c) => c.keys()).then((k) => k.length)"
        last, moved = (-1, -1), time.perf_counter()
        while (cached := page.evaluate(count_js)) < want:
            now = time.perf_counter()
            if (cached, len(finished)) != last:
                last, moved = (cached, len(finished)), now
            elif now - moved > stall_s or now - t > timeout_s:
                break
            page.wait_for_timeout(250)
        cached_s = time.perf_counter() - t
        seen = [-1]

        def quiet() -> bool:  # no request finished for 0.5 s
            n = len(finished)
            if n != seen[0]:
                seen[0] = n
                return False
            return True

        while not quiet():
            page.wait_for_timeout(500)
        cached = page.evaluate(count_js)
        rows = [got(r) for r in finished]
    finally:
        ctx.close()
    # The navigations it passed through are the first load's: for each document of the page,
    # the worker's earliest fetch of the same URL is left out.
    mine = [g for g in rows if g.by_worker and g.kind != "script"]
    for doc in (g for g in rows if not g.by_worker and g.kind == "document"):
        same = next((g for g in mine if g.method == doc.method and g.path == doc.path), None)
        if same is not None:
            mine.remove(same)
    shell = [g for g in mine if g.path.startswith(("/app/static/", "/app/offline", "/app/queue"))]
    pages = [g for g in mine if g not in shell]
    r = httpx.get(base + "/app/sw.js", headers={"Accept-Encoding": "gzip"})
    script_headers = next((g.headers for g in rows if g.by_worker and g.kind == "script"), 0)
    return Worker(ready_s, cached_s, r.num_bytes_downloaded + script_headers, shell, pages,
                  want, cached, refused[0])


# --- the report ---------------------------------------------------------------------------------

def counted(rows: list[Got]) -> list[Got]:
    return [g for g in rows if g.kind in COUNTED and not g.by_worker]


def by_file(rows: list[Got]) -> dict[tuple[str, str], tuple[Got, int, int]]:
    """(method, path) -> (its first response, how many, their bytes on the wire), in order."""
    files: dict[tuple[str, str], tuple[Got, int, int]] = {}
    for g in rows:
        first, n, wire = files.get((g.method, g.path), (g, 0, 0))
        files[(g.method, g.path)] = (first, n + 1, wire + g.wire)
    return files


def kb(n: float) -> str:
    return f"{n / KB:8.1f} KB"


def check(ours: list[Got], base: list[Got]) -> list[str]:
    """What is wrong with the two loads (nothing: an empty list)."""
    wrong = [f"{side}: {g.name} answered {g.status}" for side, rows in (("ours", ours),
                                                                         ("baseline", base))
             for g in rows if g.status not in (200, 303)]
    wrong += [f"baseline: {g.name} came {g.encoding}-encoded" for g in base if g.encoding]
    wrong += [f"ours: {g.name} came uncompressed" for g in ours
              if g.kind in ("stylesheet", "script") and g.encoding != "gzip"]
    for side, rows in (("ours", ours), ("baseline", base)):
        if not any(g.path == "/app/visits" and g.status == 200 for g in rows):
            wrong.append(f"{side}: /app/visits was not loaded")
    return wrong


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--visits", type=int, default=2_000, help="visits to launch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sw-timeout", type=float, default=600.0,
                    help="seconds to wait at most for the service worker to cache the day's "
                         "pages")
    ap.add_argument("--sw-stall", type=float, default=20.0,
                    help="stop waiting for the service worker after this many seconds without "
                         "progress")
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    args = ap.parse_args()
    if args.visits < 1:
        ap.error("--visits must be positive")
    add_root_to_path()
    from playwright.sync_api import sync_playwright

    work = work_folder(args.work_dir, "lookback-bench-web-first-load-")
    db = work / "web.db"
    t = time.perf_counter()
    c = launch_campaign(db, work, title="基准测试：现场应用首次加载", visits=args.visits,
                        businesses=max(6_000, 3 * args.visits), seed=args.seed)
    team = min(v.team_no for v in c.visits)
    name = USER.format(team=team)
    lookback("users", "add", name, "--role", "auditor", "--team", str(team), "--campaign",
             str(c.campaign), db=db, work=work)
    set_passwords(db, work, [name])
    in_team = sum(v.team_no == team for v in c.visits)
    print(f"database ready: campaign {c.campaign} launched with {len(c.visits):,} visits by "
          f"{c.teams} teams; auditor {name} of team {team} ({in_team} visits) with a password; "
          f"setup {time.perf_counter() - t:.1f} s")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(db, work, port)
    chromium = chromium_path()
    try:
        wait_healthy(server, base, work)
        print(f"lookback serve on {base} (pid {server.pid}); browser {chromium}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                ours_all, listed = first_load(browser, base, name)
                base_all, _ = first_load(browser, base, name, {"Accept-Encoding": "identity"})
                worker = service_worker(browser, base, name, args.sw_timeout,
                                        args.sw_stall)
                version = browser.version
            finally:
                browser.close()
    finally:
        exit_code = stop_server(server)

    ours, base_rows = counted(ours_all), counted(base_all)
    ours_b, base_b = sum(g.wire for g in ours), sum(g.wire for g in base_rows)
    ratio = base_b / ours_b if ours_b else 0.0
    goal = ours_b / KB <= GOAL_KB
    wrong = check(ours, base_rows)
    files = by_file(ours)
    plain = by_file(base_rows)

    print(f"\nfirst load (Chromium {version}, fresh context): /app/login, log-in, /app/visits "
          f"listing {listed} visits")
    print(f"  {'file':<48} {'type':<10} {'status':>6} {'requests':>8} {'ours (gzip)':>11} "
          f"{'baseline':>11}")
    for key, (g, n, wire) in files.items():
        b = plain.get(key)
        print(f"  {g.name:<48} {g.kind:<10} {g.status:>6} {n:>8} {kb(wire)} "
              f"{kb(b[2]) if b else '         -'}")
    visits_b = sum(g.wire for g in ours if g.path == "/app/visits")
    assets_b = sum(g.wire for g in ours if g.kind != "document")
    print(f"  {'total':<66} {len(ours):>8} {kb(ours_b)} {kb(base_b)}")
    print("  (a file requested again by the visits page comes from the browser's cache: 0 bytes)")
    print(f"  of which the CSS and JS {kb(assets_b).strip()}, the visits page "
          f"{kb(visits_b).strip()}, the log-in page and redirects "
          f"{kb(ours_b - assets_b - visits_b).strip()}")
    skipped = [g for g in ours_all if g.kind not in COUNTED and not g.by_worker]
    if skipped:
        kinds = ", ".join(sorted({g.kind for g in skipped}))
        print(f"  not counted: {len(skipped)} other responses ({kinds}), "
              f"{kb(sum(g.wire for g in skipped)).strip()}")
    print(f"ours (gzip as served)    {kb(ours_b)}")
    print(f"baseline (identity)      {kb(base_b)}")
    print(f"ratio (baseline / ours)  {ratio:8.1f}")
    print(f"check                    {'OK' if not wrong else 'FAIL'}")
    for w in wrong:
        print(f"  {w}")
    print(f"goal: <= {GOAL_KB:.0f} KB          {'met' if goal else 'MISSED'}   "
          f"({ours_b / KB:.1f} KB)")
    complete = worker.cached >= worker.want
    print(f"service worker (informational, not in the first load): ready {worker.ready_s:.1f} s "
          f"after opening /app/login; {worker.cached:,} of the {worker.want:,} pages given "
          f"cached {worker.cached_s:.1f} s after opening it"
          f"{'' if complete else ' - INCOMPLETE: the wait stopped (no progress, or timed out)'}")
    if worker.refused:
        print(f"  {worker.refused:,} of its fetches refused by Chromium "
              "(net::ERR_INSUFFICIENT_RESOURCES: sw.js sends them all at once)")
    print(f"  its script /app/sw.js   {kb(worker.script)}")
    print(f"  install (shell)         {kb(sum(g.wire for g in worker.shell))}   "
          f"({len(worker.shell)} requests)")
    print(f"  the day's pages         {kb(sum(g.wire for g in worker.pages))}   "
          f"({len(worker.pages)} requests)")
    print(f"  total                   {kb(worker.total)}")
    print(f"server stopped           exit code {exit_code if exit_code is not None else 'killed'}")
    print(f"work folder              {work}")
    print_json({"visits": len(c.visits), "listed": listed, "ours_kb": ours_b / KB,
                "baseline_kb": base_b / KB, "ratio": ratio, "goal_met": goal,
                "files": {g.name: {"kind": g.kind, "requests": n, "ours": wire,
                                   "baseline": plain[key][2] if key in plain else None}
                          for key, (g, n, wire) in files.items()},
                "sw_kb": worker.total / KB, "sw_pages": len(worker.pages),
                "sw_pages_kb": sum(g.wire for g in worker.pages) / KB,
                "sw_shell_kb": sum(g.wire for g in worker.shell) / KB,
                "sw_cached": worker.cached, "sw_want": worker.want,
                "sw_refused": worker.refused, "check_ok": not wrong,
                "server_exit": exit_code})
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
