"""The office console: the pages office staff (planner, office, viewer, admin users) work from,
under ``/app/office/`` — the territory at a glance, campaigns, notices, imports and look-backs.

Same stack and log-in as the field app (``lookback.web.pages``): Jinja2 pages rendered on the
server, htmx for the parts that change in place, every page limited to the logged-in office's
territory by the rules of ``domain.access`` (through ``lookback.scope`` and the API's guard).

Unlike the field app, the console writes from its own forms (an office works online): each form
is sent by htmx with the session's ``X-CSRF-Token`` and a fresh ``Idempotency-Key`` header
(``templates/console/macros.html``), so a form sent twice does its work once, and answers with
the part of the page that changed (never a redirect: a replayed answer is the same answer).

Each area is its own module with its own router, words and templates (``console/<area>_*.html``):

- ``dashboard``: headline figures, sub-regions, weekly trends, drill-down to an issue;
- ``campaigns``: list, create from a plan, launch with progress, draw, teams, metrics, close;
- ``notices``: the register, issuing a batch, download, void, verify, the public check page;
- ``imports``: register uploads with counts and a reject report;
- ``lookbacks``: pending, open and late look-backs, and the scheduler's status.
"""

from __future__ import annotations

from fastapi import APIRouter

from lookback.web.console import campaigns, dashboard, imports, lookbacks, notices

router = APIRouter(include_in_schema=False)
for _area in (dashboard, campaigns, notices, imports, lookbacks):
    router.include_router(_area.router)
