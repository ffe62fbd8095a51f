"""Schemathesis over the API's own OpenAPI schema (DESIGN §7: bad input gets a 4xx, never a 500;
every route but /health needs a token).

Every operation the app serves, including routes added later, is called with generated valid and
invalid input, as an administrator (so requests reach the handlers), on a real SQLite database
with a launched campaign, issues and users (see ``api_site``). Checked: no server error, and an
operation that succeeds with the token refuses the same request without it or with a wrong one
(``ignored_auth``). Kept small (a few examples per operation) so the file runs in well under two
minutes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth, not_a_server_error

from lookback.api.app import create_app
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e import api_site
from tests.e2e.api_site import Fixture
from tests.e2e.test_fieldwork_cli import NOW, launched  # the fixture is used by name

__all__ = ["launched"]

# Examples per operation (and per phase); LOOKBACK_SCHEMA_EXAMPLES=200 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("LOOKBACK_SCHEMA_EXAMPLES", "20"))


# The schema is read from the app itself, at import: that needs no database (the App connects on
# first use). The module fixture below then points the same app at the prepared database.
# (``schemathesis.pytest.from_fixture`` would defer all of it, but does not work with pytest 9.)
APP = create_app(bootstrap(Settings(database_url="sqlite:///unused-until-wired.db",
                                    data_dir=Path("unused-until-wired"))))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def fx(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    fx = api_site.prepare(launched, tmp_path_factory.mktemp("schema"))
    lb = bootstrap(Settings(database_url=f"sqlite:///{fx.db}", data_dir=fx.db.parent / "data",
                            now=NOW))
    placeholder, APP.state.lookback = APP.state.lookback, lb
    try:
        with TestClient(APP, raise_server_exceptions=False) as c:
            # One evidence file, so that listing and downloading evidence find something.
            r = c.post(f"/issues/{fx.issue_a}/evidence", headers=fx.users["auditor_a"].headers,
                       data={"purpose": "finding"}, files={"file": ("p.jpg", b"\xff\xd8\xffok")})
            assert r.status_code == 201, r.text
        yield fx
    finally:
        APP.state.lookback = placeholder
        lb.close()


@pytest.fixture(scope="module")
def seen() -> dict[str, list[int]]:
    """Status codes per operation, for the summary test below."""
    return {}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_auth_is_enforced(case: Any, fx: Fixture,
                                               seen: dict[str, list[int]]) -> None:
    headers = {**fx.users["admin"].headers}
    response = case.call_and_validate(headers=headers, checks=[not_a_server_error, ignored_auth])
    seen.setdefault(case.operation.label, []).append(response.status_code)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json"), (
            case.method, case.formatted_path, response.status_code, response.headers)


def test_the_run_reached_the_handlers(seen: dict[str, list[int]]) -> None:
    """The admin token got through: most operations answered 2xx at least once (a run that
    only ever saw 401 or 422 would prove little)."""
    if not seen:
        pytest.skip("the schemathesis run above was not selected")
    ok = sorted(op for op, codes in seen.items() if any(200 <= c < 300 for c in codes))
    assert len(ok) >= len(seen) // 2, seen
    assert not any(c >= 500 for codes in seen.values() for c in codes)


def test_every_route_but_health_declares_the_token() -> None:
    """What ``ignored_auth`` checks against: the bearer scheme on every operation, new routes
    included, and none on /health and /auth/login (the log-in itself)."""
    spec = APP.openapi()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert len(spec["paths"]) >= 15
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path in ("/health", "/auth/login"):
                assert not op.get("security"), path
            else:
                assert op.get("security") == [{"HTTPBearer": []}], (method, path)
