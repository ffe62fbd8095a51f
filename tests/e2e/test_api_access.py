"""The HTTP API's authentication, authorization, errors and concurrency, end to end through
FastAPI's TestClient against ``create_app`` on a real SQLite database (DESIGN §1, §7).

The database (a launched campaign, two issues on visits of two teams and businesses, one user per
role) is built once per module; every test, and every hypothesis example, works on its own copy.
Who may do what is written down here in a small table of its own, not taken from
``domain.access``: the tests check the rules, they do not restate them."""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import access
from lookback.bootstrap import App
from tests.e2e import api_site
from tests.e2e.api_site import USERS, Fixture, User, sql
from tests.e2e.test_fieldwork_cli import launched  # the fixture is used by name

__all__ = ["launched"]

PROBLEM = "application/problem+json"
HUGE = 2**70
STAFF = frozenset({"planner", "office", "viewer", "admin"})
EVERYONE = frozenset(USERS)


@pytest.fixture(scope="module")
def fx(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return api_site.prepare(launched, tmp_path_factory.mktemp("api"))


@dataclass
class Api:
    """A TestClient on a private copy of the prepared database."""

    c: TestClient
    lb: App
    db: Path
    fx: Fixture

    def u(self, name: str) -> User:
        return self.fx.users[name]

    def call(self, user: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if user is not None:
            headers.update(self.u(user).headers)
        return self.c.request(method, path, headers=headers, **kw)

    def refusals(self) -> list[tuple[str, str]]:
        return [(str(a), str(e)) for a, e in sql(
            self.db, "SELECT actor, entity FROM event WHERE kind = 'access.refused' ORDER BY seq")]

    def count(self, table: str) -> int:
        return int(sql(self.db, f"SELECT COUNT(*) FROM {table}")[0][0])

    def etag(self, issue: int) -> str:
        r = self.call("admin", "GET", f"/issues/{issue}")
        assert r.status_code == 200, r.text
        return r.headers["etag"]

    def issue_row(self, issue: int) -> tuple[Any, ...]:
        [row] = sql(self.db, "SELECT version, status, due_on, escalation, updated_at FROM issue "
                    "WHERE id = ?", issue)
        return row


@contextmanager
def private_api(fx: Fixture) -> Iterator[Api]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lookback.db"
        api_site.copy(fx.db, db)
        with api_site.client(db, Path(tmp) / "data") as (c, lb):
            yield Api(c, lb, db, fx)


@pytest.fixture
def api(fx: Fixture) -> Iterator[Api]:
    with private_api(fx) as a:
        yield a


def is_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["detail_en"] and body["detail_zh"]
    assert "Traceback" not in r.text and "internal" not in body.get("code", "")
    if code is not None:
        assert body["code"] == code, body
    return body


# --- who may do what: the table -------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One request and who may make it (user names). ``send`` builds the request on an Api."""

    name: str
    allowed: frozenset[str]
    send: Callable[[Api, str], httpx.Response]


def _get(path: Callable[[Fixture], str]) -> Callable[[Api, str], httpx.Response]:
    return lambda a, user: a.call(user, "GET", path(a.fx))


def _interview(visit: str) -> Callable[[Api, str], httpx.Response]:
    def send(a: Api, user: str) -> httpx.Response:
        v = getattr(a.fx, visit)
        return a.call(user, "POST", f"/visits/{v['id']}/interviews", json={
            "role": "director", "name": "张三",
            "answers": [{"item_id": "STAFF-04", "result": "pass"}]})
    return send


def _add_issue(visit: str) -> Callable[[Api, str], httpx.Response]:
    def send(a: Api, user: str) -> httpx.Response:
        v = getattr(a.fx, visit)
        return a.call(user, "POST", f"/visits/{v['id']}/issues", json={"provision": 1,
            "category": "records", "severity": "minor", "description": "进货台账不全"})
    return send


def _rectify(issue: str) -> Callable[[Api, str], httpx.Response]:
    def send(a: Api, user: str) -> httpx.Response:
        i = getattr(a.fx, issue)
        return a.call(user, "POST", f"/issues/{i}/rectification", json={"measures": "已补齐台账"},
                      headers={"If-Match": a.etag(i)})
    return send


def _extend(issue: str) -> Callable[[Api, str], httpx.Response]:
    def send(a: Api, user: str) -> httpx.Response:
        i = getattr(a.fx, issue)
        return a.call(user, "POST", f"/issues/{i}/extensions", json={
            "workdays": 5, "reason": "设备采购周期", "approver": "王主任"},
            headers={"If-Match": a.etag(i)})
    return send


def _upload(issue: str, purpose: str) -> Callable[[Api, str], httpx.Response]:
    def send(a: Api, user: str) -> httpx.Response:
        i = getattr(a.fx, issue)
        return a.call(user, "POST", f"/issues/{i}/evidence", data={"purpose": purpose},
                      files={"file": ("photo.jpg", b"\xff\xd8\xff" + user.encode(),
                                      "image/jpeg")})
    return send


def _complete(visit: str) -> Callable[[Api, str], httpx.Response]:
    return lambda a, user: a.call(user, "POST", f"/visits/{getattr(a.fx, visit)['id']}/complete")


A_READERS = STAFF | {"auditor_a"}
B_READERS = STAFF | {"auditor_b"}

READS = [
    Op("list campaigns", EVERYONE, _get(lambda f: "/campaigns")),
    Op("campaign", EVERYONE, _get(lambda f: "/campaigns/1")),
    Op("campaign metrics", EVERYONE, _get(lambda f: "/campaigns/1/metrics")),
    Op("list issues", EVERYONE, _get(lambda f: "/issues")),
    # A business has no visits to list; an auditor lists their own team's.
    Op("list visits", EVERYONE - {"business_a", "business_b"},
       _get(lambda f: "/campaigns/1/visits")),
    Op("list team B's visits", B_READERS, _get(lambda f: f"/campaigns/1/visits?team={f.team_b}")),
    Op("visit A", A_READERS, _get(lambda f: f"/visits/{f.visit_a['id']}")),
    Op("visit B", B_READERS, _get(lambda f: f"/visits/{f.visit_b['id']}")),
    Op("issue A", A_READERS | {"business_a"}, _get(lambda f: f"/issues/{f.issue_a}")),
    Op("issue B", B_READERS | {"business_b"}, _get(lambda f: f"/issues/{f.issue_b}")),
    Op("issue A's history", A_READERS | {"business_a"},
       _get(lambda f: f"/issues/{f.issue_a}/history")),
    Op("issue B's evidence", B_READERS | {"business_b"},
       _get(lambda f: f"/issues/{f.issue_b}/evidence")),
]
WRITES = [
    Op("interview on visit A", frozenset({"admin", "auditor_a"}), _interview("visit_a")),
    Op("issue on visit B", frozenset({"admin", "auditor_b"}), _add_issue("visit_b")),
    Op("complete visit A", frozenset({"admin", "auditor_a"}), _complete("visit_a")),
    Op("rectify issue A", frozenset({"admin", "business_a"}), _rectify("issue_a")),
    Op("rectify issue B", frozenset({"admin", "business_b"}), _rectify("issue_b")),
    Op("extend issue A", frozenset({"admin", "office"}), _extend("issue_a")),
    Op("finding evidence on issue B", frozenset({"admin", "auditor_b"}),
       _upload("issue_b", "finding")),
    Op("rectification evidence on issue A", frozenset({"admin", "business_a"}),
       _upload("issue_a", "rectification")),
]
OPS = READS + WRITES


def check(a: Api, user: str, op: Op) -> None:
    before = a.refusals()
    events = a.count("event")
    r = op.send(a, user)
    after = a.refusals()
    if user in op.allowed:
        assert 200 <= r.status_code < 300, (user, op.name, r.status_code, r.text)
        assert after == before, (user, op.name)
    else:
        body = is_problem(r, 403, "forbidden")
        assert user in body["detail_en"], body
        # Exactly one refusal, naming the user, and nothing else written.
        assert after == [*before, (f"api:{user}", f"user:{user}")], (user, op.name, after)
        assert a.count("event") == events + 1


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(user=st.sampled_from(USERS), op=st.sampled_from(OPS))
def test_every_user_gets_exactly_what_the_rules_allow(fx: Fixture, user: str, op: Op) -> None:
    with private_api(fx) as a:  # a fresh copy per example: writes never leak between examples
        check(a, user, op)


def test_every_read_for_every_user(api: Api) -> None:
    """All reads × all users on one copy (reads change nothing but the refusal log)."""
    for op in READS:
        for user in USERS:
            check(api, user, op)
    assert len(api.refusals()) == sum(len(EVERYONE - op.allowed) for op in READS)


def test_the_table_is_not_trivial() -> None:
    # Every user but the administrator is both allowed and refused somewhere; every write is
    # refused to most.
    assert all("admin" in op.allowed for op in OPS)
    for user in set(USERS) - {"admin"}:
        assert any(user in op.allowed for op in OPS) and any(user not in op.allowed for op in OPS)
    assert all(len(op.allowed) <= 2 for op in WRITES)


# --- teams --------------------------------------------------------------------------------

def test_another_teams_token_can_neither_read_nor_write_its_visits(api: Api) -> None:
    fx = api.fx
    va = fx.visit_a["id"]
    interviews, issues, events = api.count("interview"), api.count("issue"), api.count("event")
    attempts = [
        api.call("auditor_b", "GET", f"/visits/{va}"),
        api.call("auditor_b", "GET", f"/issues/{fx.issue_a}"),
        api.call("auditor_b", "GET", f"/issues/{fx.issue_a}/history"),
        api.call("auditor_b", "POST", f"/visits/{va}/interviews", json={
            "role": "owner", "name": "李四", "answers": [{"item_id": "x", "result": "fail"}]}),
        api.call("auditor_b", "POST", f"/visits/{va}/issues", json={"provision": 1,
            "category": "records", "severity": "serious", "description": "冒名记录"}),
        api.call("auditor_b", "POST", f"/visits/{va}/complete"),
    ]
    for r in attempts:
        body = is_problem(r, 403, "forbidden")
        assert "auditor_b" in body["detail_en"] and "another team" in body["detail_en"]
    assert (api.count("interview"), api.count("issue")) == (interviews, issues)
    assert api.count("event") == events + len(attempts)
    assert api.refusals()[-len(attempts):] == [("api:auditor_b", "user:auditor_b")] * len(attempts)
    assert api.call("auditor_b", "GET", f"/visits/{va}/../{va}").status_code in (403, 404)

    # The team's own auditor may.
    r = api.call("auditor_a", "POST", f"/visits/{va}/issues", json={"provision": 1,
        "category": "records", "severity": "minor", "description": "台账不全"})
    assert r.status_code == 201, r.text
    assert api.count("issue") == issues + 1


def test_an_auditor_lists_only_their_teams_visits_and_issues(api: Api) -> None:
    fx = api.fx
    for user, team, own, other in (("auditor_a", fx.team_a, fx.issue_a, fx.issue_b),
                                   ("auditor_b", fx.team_b, fx.issue_b, fx.issue_a)):
        listed = api.call(user, "GET", "/campaigns/1/visits").json()
        expected = sql(api.db, "SELECT COUNT(*) FROM visit WHERE campaign_id = 1 AND team_no = ?",
                       team)[0][0]
        assert listed["count"] == expected > 0
        assert {v["team"] for v in listed["items"]} == {team}
        # Asking for their own team explicitly is the same; another team's is refused.
        assert api.call(user, "GET", f"/campaigns/1/visits?team={team}").json() == listed
        issues = api.call(user, "GET", "/issues").json()
        ids = {i["id"] for i in issues["items"]}
        assert own in ids and other not in ids and issues["count"] == len(ids)
        assert api.call(user, "GET", "/issues?campaign=1").json() == issues
    is_problem(api.call("auditor_a", "GET", f"/campaigns/1/visits?team={fx.team_b}"), 403,
               "forbidden")
    # Staff see every team.
    everything = api.call("viewer", "GET", "/campaigns/1/visits").json()
    assert everything["count"] == 12 and len({v["team"] for v in everything["items"]}) == 3
    assert {fx.issue_a, fx.issue_b} <= {i["id"] for i in
                                        api.call("planner", "GET", "/issues").json()["items"]}


def test_a_write_retried_with_the_same_idempotency_key_happens_once(api: Api) -> None:
    """Found: five concurrent identical POST /visits/{id}/issues made five issues, all in one
    rectification order. With an Idempotency-Key the write happens once."""
    from concurrent.futures import ThreadPoolExecutor

    va = api.fx.visit_a["id"]
    body = {"category": "records", "severity": "minor", "description": "台账缺页", "provision": 1}
    before = api.count("issue")

    def post(key: str, payload: dict[str, Any] = body) -> httpx.Response:
        return api.call("auditor_a", "POST", f"/visits/{va}/issues", json=payload,
                        headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: post("retry-1"), range(5)))
    assert {r.status_code for r in answers} <= {201, 409}
    assert api.count("issue") == before + 1
    first = next(r for r in answers if r.status_code == 201)
    again = post("retry-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert api.count("issue") == before + 1
    # The same key with another request is refused; another key is another write.
    is_problem(post("retry-1", {**body, "description": "另一个问题"}), 422,
               "idempotency_key_reused")
    assert post("retry-2").status_code == 201 and api.count("issue") == before + 2
    # Without a key, nothing changes for old clients.
    r = api.call("auditor_a", "POST", f"/visits/{va}/issues", json=body)
    assert r.status_code == 201 and api.count("issue") == before + 3
    is_problem(post("x" * 201), 400, "bad_idempotency_key")


def test_a_flood_of_refusals_costs_a_bounded_number_of_short_rows(api: Api) -> None:
    """Found: 300 requests of GET /issues/1/evidence/<15,000 x "a"> with a garbage token wrote 300
    hash-chained refusal events of 15 KB each. Now: the route template, short fields, and at
    most 60 refusals a minute per token or client, the rest counted in one event."""
    before = api.count("event")
    for _ in range(300):
        r = api.c.get(f"/issues/1/evidence/{'a' * 15_000}",
                      headers={"Authorization": "Bearer lbk_garbage"})
        assert r.status_code == 401
    rows = sql(api.db, f"SELECT kind, payload FROM event ORDER BY seq LIMIT -1 OFFSET {before}")
    assert 0 < len(rows) <= 61
    assert all(len(p) < 600 for _, p in rows)
    payloads = [json.loads(p) for k, p in rows if k == "access.refused"]
    assert {p["action"] for p in payloads} == {"GET /issues/{issue_id}/evidence/{sha256}"}


def test_metrics_name_only_the_overdue_issues_the_caller_may_read(api: Api) -> None:
    """Found: a business user, and an auditor of another team, saw the overdue list of every
    business (USCC, name, category, due date). The counts stay aggregate."""
    fx = api.fx
    api.lb.settings.now = datetime(2030, 1, 1, tzinfo=UTC)  # every issue is past due by then
    everything = api.call("viewer", "GET", "/campaigns/1/metrics").json()
    assert len(everything["overdue"]) >= 2
    usccs = {o["uscc"] for o in everything["overdue"]}
    mine = api.call("business_a", "GET", "/campaigns/1/metrics").json()
    assert {o["uscc"] for o in mine["overdue"]} == {fx.visit_a["uscc"]} & usccs
    assert mine["overdue_count"] == len(mine["overdue"]) < everything["overdue_count"]
    assert mine["issues"] == everything["issues"]  # aggregate counts are the same for all
    team_a = api.call("auditor_a", "GET", "/campaigns/1/metrics").json()["overdue"]
    team_of = dict(sql(api.db, "SELECT i.id, v.team_no FROM issue i JOIN visit v "
                               "ON v.id = i.visit_id"))
    assert team_a and {team_of[o["id"]] for o in team_a} == {fx.team_a}


def test_every_api_list_has_the_one_shape_of_the_cli(api: Api) -> None:
    """items, count (the true total), offset, limit, truncated — as the CLI's --json lists."""
    fx = api.fx
    for path in ("/campaigns", "/campaigns/1/visits", "/issues", "/followups", "/notices",
                 "/supervision/visits", f"/issues/{fx.issue_a}/history",
                 f"/issues/{fx.issue_a}/evidence", f"/issues/{fx.issue_a}/followups"):
        body = api.call("admin", "GET", path).json()
        assert {"items", "count", "offset", "limit", "truncated"} <= set(body), path
    cut = api.call("admin", "GET", "/campaigns/1/visits?limit=5&offset=5").json()
    assert (cut["count"], len(cut["items"]), cut["offset"], cut["limit"], cut["truncated"]) == (
        12, 5, 5, 5, True)


# --- businesses ---------------------------------------------------------------------------

def test_a_business_sees_and_rectifies_only_its_own_issues(api: Api) -> None:
    fx = api.fx
    ua, ub = api.u("business_a"), api.u("business_b")
    mine = api.call("business_a", "GET", "/issues").json()
    assert mine["count"] >= 1 and {i["uscc"] for i in mine["items"]} == {ua.uscc}
    assert fx.issue_a in {i["id"] for i in mine["items"]}
    # Filtering by another business does not widen the view.
    assert api.call("business_a", "GET", f"/issues?business={ub.uscc}").json()["count"] == 0
    is_problem(api.call("business_a", "GET", f"/issues/{fx.issue_b}"), 403, "forbidden")
    is_problem(api.call("business_a", "GET", f"/visits/{fx.visit_a['id']}"), 403, "forbidden")
    is_problem(api.call("business_a", "GET", "/campaigns/1/visits"), 403, "forbidden")

    rects, before_b = api.count("rectification"), api.issue_row(fx.issue_b)
    r = api.call("business_a", "POST", f"/issues/{fx.issue_b}/rectification",
                 json={"measures": "冒名整改"}, headers={"If-Match": api.etag(fx.issue_b)})
    is_problem(r, 403, "forbidden")
    assert api.count("rectification") == rects and api.issue_row(fx.issue_b) == before_b

    r = api.call("business_a", "POST", f"/issues/{fx.issue_a}/rectification",
                 json={"measures": "已补齐进货台账"}, headers={"If-Match": api.etag(fx.issue_a)})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rectification_reported"
    assert api.count("rectification") == rects + 1
    [(by,)] = sql(api.db, "SELECT reported_by FROM rectification WHERE issue_id = ?", fx.issue_a)
    assert by == "api:business_a"


# --- authentication -----------------------------------------------------------------------

def unauthenticated(r: httpx.Response) -> dict[str, Any]:
    body = is_problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    return body


def test_missing_garbage_and_revoked_tokens_get_401(api: Api) -> None:
    fx = api.fx
    path = f"/issues/{fx.issue_a}"
    assert "no API token" in unauthenticated(api.c.get(path))["detail_en"]
    for header in ("Bearer", "Bearer ", "Bearer lbk_garbage", "Bearer " + "x" * 5000,
                   "Basic dXNlcjpwYXNz", fx.users["admin"].token, "Token " + fx.users["admin"].token):
        unauthenticated(api.c.get(path, headers={"Authorization": header}))
    # The token of a user is valid until the user is revoked, then never again.
    u = api.u("auditor_a")
    assert api.call("auditor_a", "GET", path).status_code == 200
    access.revoke_user("auditor_a", actor="test", uow_factory=api.lb.uow_factory(),
                       clock=api.lb.clock)
    refused = len(api.refusals())
    for method, p, kw in (("GET", path, {}), ("GET", "/issues", {}),
                          ("POST", f"/visits/{fx.visit_a['id']}/issues",
                           {"json": {"category": "records", "severity": "minor",
                                     "description": "x"}})):
        body = unauthenticated(api.c.request(method, p, headers=u.headers, **kw))
        # The same answer as a token that never existed (nothing tells that it once worked) ...
        garbage = unauthenticated(api.c.request(method, p, headers={
            "Authorization": "Bearer lbk_garbage"}, **kw))
        assert (body["detail_en"], body["detail_zh"]) == (garbage["detail_en"],
                                                          garbage["detail_zh"])
        assert "revoked" not in body["detail_en"] and "撤销" not in body["detail_zh"]
    assert len(api.refusals()) == refused + 6
    # ... but the event log keeps the difference.
    reasons = [r[0] for r in sql(api.db, "SELECT json_extract(payload, '$.reason') FROM event "
                                 "WHERE kind = 'access.refused' ORDER BY seq DESC LIMIT 6")]
    assert sorted(reasons) == ["revoked token"] * 3 + ["unknown token"] * 3
    # Others are not affected; /health needs no token at all.
    assert api.call("auditor_b", "GET", f"/issues/{fx.issue_b}").status_code == 200
    h = api.c.get("/health")
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["schema_revision"]


def _operations(c: TestClient) -> list[tuple[str, str]]:
    spec = c.get("/openapi.json").json()
    return [(m.upper(), p) for p, item in spec["paths"].items() for m in item
            if m in {"get", "post", "put", "patch", "delete"}]


def test_every_route_but_health_needs_a_valid_token(api: Api) -> None:
    """Every operation in the OpenAPI schema, including routes added later, refuses a request
    without a token or with a bad one (401), whatever the path parameters are."""
    ops = _operations(api.c)
    assert len(ops) >= 17
    revoked = api.u("auditor_a")
    access.revoke_user("auditor_a", actor="test", uow_factory=api.lb.uow_factory(),
                       clock=api.lb.clock)
    checked = 0
    for method, template in ops:
        path = template
        for name in ("campaign_id", "visit_id", "issue_id", "notice_id", "id"):
            path = path.replace("{" + name + "}", "1")
        path = path.replace("{sha256}", "0" * 64)
        if "{" in path:  # a parameter name this test does not know: any number will do
            path = re.sub(r"\{[^}]+\}", "1", path)
        if template == "/health":
            assert api.c.request(method, path).status_code == 200
            continue
        if template == "/auth/login":  # the log-in itself: no token, a name and a password
            r = api.c.post(path, json={"name": "auditor_a", "password": "not-the-password"})
            assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
            continue
        for headers in ({}, {"Authorization": "Bearer lbk_nope"}, revoked.headers):
            unauthenticated(api.c.request(method, path, headers=headers))
        checked += 1
    assert checked == len(ops) - 2


# --- versions: If-Match -------------------------------------------------------------------

def _snapshot(a: Api, issue: int) -> tuple[Any, ...]:
    return (a.issue_row(issue), a.count("rectification"), a.count("event"),
            a.count("extension"), sql(a.db, "SELECT * FROM rectification ORDER BY id"))


def test_a_stale_if_match_changes_nothing(api: Api) -> None:
    fx = api.fx
    i = fx.issue_a
    path = f"/issues/{i}/rectification"
    first = api.etag(i)
    assert first == '"v1"'
    before = _snapshot(api, i)

    # Missing: 428; not an ETag of ours, or another version: 412 — and nothing changed.
    body = is_problem(api.call("business_a", "POST", path, json={"measures": "整改"}), 428,
                      "version_required")
    assert "If-Match" in body["detail_en"]
    for tag in ('"v2"', '"v0"', "v1", "*", '"abc"', '"v99999999999999999999"', 'W/"v7"'):
        is_problem(api.call("business_a", "POST", path, json={"measures": "整改"},
                            headers={"If-Match": tag}), 412, "stale_version")
    assert _snapshot(api, i) == before

    # The right one: 200 and the new ETag, which the next update must use.
    r = api.call("business_a", "POST", path, json={"measures": "已补齐台账"},
                 headers={"If-Match": first})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"v2"' == f'"v{r.json()["version"]}"'
    assert api.etag(i) == '"v2"'
    after = _snapshot(api, i)
    assert after[0][0] == 2 and after[0][1] == "rectification_reported"
    assert after[1] == before[1] + 1

    # The old ETag is now stale, for an extension by the office as well.
    is_problem(api.call("business_a", "POST", path, json={"measures": "再次整改"},
                        headers={"If-Match": first}), 412, "stale_version")
    is_problem(api.call("office", "POST", f"/issues/{i}/extensions",
                        json={"workdays": 3, "reason": "r", "approver": "a"},
                        headers={"If-Match": first}), 412, "stale_version")
    assert _snapshot(api, i) == after
    r = api.call("office", "POST", f"/issues/{i}/extensions",
                 json={"workdays": 3, "reason": "待设备到货", "approver": "王主任"},
                 headers={"If-Match": '"v2"'})
    assert r.status_code == 200 and r.headers["etag"] == '"v3"', r.text
    # A refused user learns nothing about versions: 403 before 428/412.
    is_problem(api.call("business_b", "POST", path, json={"measures": "x"}), 403, "forbidden")


def test_concurrent_updates_with_the_same_etag_one_wins(api: Api) -> None:
    """Several clients rectify the same issue at once with the ETag they all read: exactly one
    succeeds, the others get 412, and exactly one rectification is stored."""
    i = api.fx.issue_a
    tag = api.etag(i)
    n = 6
    barrier = threading.Barrier(n)
    results: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        barrier.wait()
        r = api.call("business_a", "POST", f"/issues/{i}/rectification",
                     json={"measures": f"整改措施{k}"}, headers={"If-Match": tag})
        with lock:
            results.append(r.status_code)
        if r.status_code != 200:
            is_problem(r, 412, "stale_version")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [412] * (n - 1), results
    assert sql(api.db, "SELECT COUNT(*) FROM rectification WHERE issue_id = ?", i) == [(1,)]
    assert api.issue_row(i)[0] == 2


# --- bad input ----------------------------------------------------------------------------

def test_wrong_types_unknown_fields_and_huge_ids_are_4xx_problems(api: Api) -> None:
    fx = api.fx
    va, ia = fx.visit_a["id"], fx.issue_a
    before = (api.count("event") - len(api.refusals()), api.count("issue"),
              api.count("interview"), api.count("rectification"))
    good_interview = {"role": "director", "name": "张三",
                      "answers": [{"item_id": "x", "result": "pass"}]}
    cases: list[tuple[str, str, dict[str, Any], int | tuple[int, ...]]] = [
        ("GET", "/visits/abc", {}, 422),
        ("GET", "/visits/1.5", {}, 422),
        ("GET", f"/visits/{HUGE}", {}, 404),
        ("GET", f"/visits/{-HUGE}", {}, 404),
        ("GET", f"/issues/{HUGE}", {}, 404),
        ("GET", f"/issues/{HUGE}/history", {}, 404),
        ("GET", f"/issues/{HUGE}/evidence", {}, 404),
        ("GET", f"/issues/{HUGE}/evidence/{'0' * 64}", {}, 404),
        ("GET", f"/campaigns/{HUGE}", {}, 404),
        ("GET", f"/campaigns/{HUGE}/metrics", {}, 404),
        ("GET", f"/campaigns/{HUGE}/draw", {}, 404),
        ("POST", f"/campaigns/{HUGE}/draw/verify", {}, 404),
        ("GET", f"/campaigns/{HUGE}/visits", {}, 404),
        ("GET", f"/campaigns/1/visits?team={HUGE}", {}, 422),
        ("GET", f"/campaigns/1/visits?offset={HUGE}", {}, 422),
        ("GET", "/campaigns/1/visits?limit=0", {}, 422),
        ("GET", "/campaigns/1/visits?status=finished", {}, 422),
        ("GET", f"/issues?campaign={HUGE}", {}, 422),
        ("GET", "/issues?campaign=abc", {}, 422),
        ("GET", "/issues?province=abc", {}, 422),
        ("GET", "/issues?overdue=maybe", {}, 422),
        ("POST", f"/visits/{HUGE}/complete", {}, 404),
        ("POST", f"/visits/{HUGE}/interviews", {"json": good_interview}, 404),
        ("POST", f"/visits/{HUGE}/issues", {"json": {"category": "records",
                                                    "severity": "minor", "description": "x"}},
         404),
        ("POST", f"/issues/{HUGE}/rectification", {"json": {"measures": "x"},
                                                   "headers": {"If-Match": '"v1"'}}, 404),
        ("POST", f"/issues/{HUGE}/extensions", {"json": {"workdays": 1, "reason": "r",
                                                        "approver": "a"},
                                               "headers": {"If-Match": '"v1"'}}, 404),
        # Wrong types and shapes.
        ("POST", f"/visits/{va}/interviews", {"json": {**good_interview, "answers": "all fine"}},
         422),
        ("POST", f"/visits/{va}/interviews", {"json": {**good_interview, "role": 5}}, 422),
        ("POST", f"/visits/{va}/interviews", {"json": {**good_interview, "role": "boss"}}, 422),
        ("POST", f"/visits/{va}/interviews", {"json": {**good_interview, "answers": []}}, 422),
        ("POST", f"/visits/{va}/interviews", {"json": [good_interview]}, 422),
        ("POST", f"/visits/{va}/interviews", {"json": None}, 422),
        ("POST", f"/visits/{va}/interviews", {"content": b"{not json",
                                              "headers": {"Content-Type": "application/json"}},
         (400, 422)),
        ("POST", f"/visits/{va}/interviews", {"content": b"\xff\xfe\x00",
                                              "headers": {"Content-Type": "application/json"}},
         (400, 422)),
        ("POST", f"/visits/{va}/interviews", {"content": b"role=director",
                                              "headers": {"Content-Type": "text/plain"}},
         (400, 415, 422)),
        ("POST", f"/visits/{va}/issues", {"json": {"category": "records", "severity": "fatal",
                                                   "description": "x"}}, 422),
        ("POST", f"/visits/{va}/issues", {"json": {"category": "records", "severity": "minor",
                                                   "description": ""}}, 422),
        ("POST", f"/visits/{va}/issues", {"json": {"category": ["records"],
                                                   "severity": "minor", "description": "x"}},
         422),
        ("POST", f"/issues/{ia}/extensions", {"json": {"workdays": "five", "reason": "r",
                                                      "approver": "a"},
                                             "headers": {"If-Match": '"v1"'}}, 422),
        ("POST", f"/issues/{ia}/extensions", {"json": {"workdays": HUGE, "reason": "r",
                                                      "approver": "a"},
                                             "headers": {"If-Match": '"v1"'}}, 422),
        ("POST", f"/issues/{ia}/rectification", {"json": {"measures": 42},
                                                "headers": {"If-Match": '"v1"'}}, 422),
        # Unknown fields (extra="forbid").
        ("POST", f"/visits/{va}/interviews", {"json": {**good_interview, "team": 2}}, 422),
        ("POST", f"/visits/{va}/interviews", {"json": {**good_interview, "answers": [
            {"item_id": "x", "result": "pass", "score": 3}]}}, 422),
        ("POST", f"/issues/{ia}/rectification", {"json": {"measures": "x", "status": "verified"},
                                                "headers": {"If-Match": '"v1"'}}, 422),
        # Evidence: no file, a bad purpose, an unknown sha.
        ("POST", f"/issues/{ia}/evidence", {"data": {"purpose": "finding"}}, 422),
        ("POST", f"/issues/{ia}/evidence", {"data": {"purpose": "selfie"},
                                            "files": {"file": ("a.jpg", b"x")}}, 422),
        ("GET", f"/issues/{ia}/evidence/{'0' * 64}", {}, 404),
        ("GET", f"/issues/{ia}/evidence/..%2F..%2Fetc%2Fpasswd", {}, 404),
        # Unknown routes and methods are problems too.
        ("GET", "/nowhere", {}, 404),
        ("DELETE", f"/issues/{ia}", {}, 405),
    ]
    for method, path, kw, status in cases:
        r = api.call("admin", method, path, **kw)
        expected = status if isinstance(status, tuple) else (status,)
        assert r.status_code in expected, (method, path, r.status_code, r.text)
        is_problem(r, r.status_code)
    # A well-formed interview with an unknown item is a 400 naming it, not a 500.
    r = api.call("admin", "POST", f"/visits/{va}/interviews", json={
        **good_interview, "answers": [{"item_id": "no-such-item", "result": "pass"}]})
    assert 400 <= r.status_code < 500, r.text
    is_problem(r, r.status_code)
    after = (api.count("event") - len(api.refusals()), api.count("issue"),
             api.count("interview"), api.count("rectification"))
    assert after == before  # nothing stored


def test_evidence_quotas_per_issue_and_per_business(api: Api) -> None:
    """Found: one business stored 190 MB in 2 s in ten uploads."""
    ia = api.fx.issue_a
    api.lb.settings.evidence_quota_issue_mb = 1
    api.lb.settings.evidence_quota_business_mb = 2

    def upload(n: int) -> httpx.Response:
        return api.call("auditor_a", "POST", f"/issues/{ia}/evidence",
                        data={"purpose": "finding"},
                        files={"file": (f"p{n}.jpg", bytes([n]) * 800_000, "image/jpeg")})

    assert upload(1).status_code == 201
    before = api.count("evidence")
    body = is_problem(upload(2), 400, "quota_exceeded")
    assert "1 MB" in body["detail_en"] and api.count("evidence") == before
    api.lb.settings.evidence_quota_issue_mb = 100
    assert upload(3).status_code == 201  # 1.6 MB for the business: within its 2 MB
    assert "2 MB" in is_problem(upload(4), 400, "quota_exceeded")["detail_en"]


def test_evidence_filenames_that_name_no_file_get_a_4xx(api: Api) -> None:
    """Found: ``..`` or ``a/..`` gave a 500 (IsADirectoryError), a name over 255 bytes a 500
    (OSError): the name was used as a path. Now it is checked and kept apart from the path."""
    ia = api.fx.issue_a
    before = (api.count("evidence"), api.count("event"))
    for name in ("..", "a/..", ".", "x\x1b[2J.jpg", "照" * 90 + ".jpg"):
        r = api.call("auditor_a", "POST", f"/issues/{ia}/evidence", data={"purpose": "finding"},
                     files={"file": (name, b"\xff\xd8\xffphoto", "image/jpeg")})
        assert is_problem(r, 400, "bad_filename")["detail"].startswith("file")
    assert (api.count("evidence"), api.count("event")) == before
    ok = api.call("auditor_a", "POST", f"/issues/{ia}/evidence", data={"purpose": "finding"},
                  files={"file": ("../../现场照片.jpg", b"\xff\xd8\xffphoto2", "image/jpeg")})
    assert ok.status_code == 201 and ok.json()["filename"] == "现场照片.jpg"


def test_oversize_bodies_and_uploads_get_413(api: Api) -> None:
    fx = api.fx
    va, ia = fx.visit_a["id"], fx.issue_a
    before = (api.count("interview"), api.count("evidence"), api.count("event"))
    big = {"role": "director", "name": "张三",
           "answers": [{"item_id": "x", "result": "pass", "note": "记" * 300}] * 2000}
    payload = json.dumps(big).encode()
    assert len(payload) > 1024 * 1024
    r = api.call("auditor_a", "POST", f"/visits/{va}/interviews", content=payload,
                 headers={"Content-Type": "application/json"})
    assert "MB" in is_problem(r, 413, "too_large")["detail"]

    # Streamed without a Content-Length (chunked): still refused once past the limit.
    def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
        for k in range(0, len(data), size):
            yield data[k:k + size]

    r = api.call("auditor_a", "POST", f"/visits/{va}/interviews", content=chunks(payload),
                 headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    is_problem(r, 413, "too_large")

    # An upload over 20 MB: with a Content-Length (multipart via httpx), and streamed without.
    blob = b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024 + 10)
    r = api.call("auditor_a", "POST", f"/issues/{ia}/evidence", data={"purpose": "finding"},
                 files={"file": ("huge.jpg", blob, "image/jpeg")})
    assert "content-length" in {k.lower() for k in r.request.headers}
    is_problem(r, 413, "too_large")
    boundary = "lookbackboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfinding\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"huge.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    r = api.call("auditor_a", "POST", f"/issues/{ia}/evidence",
                 content=chunks(head + blob + tail, 1 << 20),
                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    is_problem(r, 413, "too_large")
    # A lying Content-Length (declares more than the limit) is refused before reading.
    r = api.call("auditor_a", "POST", f"/visits/{va}/interviews", content=b"{}",
                 headers={"Content-Type": "application/json",
                          "Content-Length": str(2 * 1024 * 1024)})
    assert r.status_code in (400, 413), r.text
    assert (api.count("interview"), api.count("evidence"), api.count("event")) == before

    # Just under the limits is fine.
    small = b"\xff\xd8\xff" + b"\1" * (2 * 1024 * 1024)
    r = api.call("auditor_a", "POST", f"/issues/{ia}/evidence", data={"purpose": "finding"},
                 files={"file": ("ok.jpg", small, "image/jpeg")})
    assert r.status_code == 201 and r.json()["size"] == len(small), r.text
    got = api.call("auditor_a", "GET", f"/issues/{ia}/evidence/{r.json()['sha256']}")
    assert got.status_code == 200 and got.content == small


def test_problem_details_in_chinese_by_default_and_english_on_request(api: Api) -> None:
    fx = api.fx
    path = f"/issues/{fx.issue_b}"
    cases = [
        (lambda h: api.c.get(path, headers=h), 401),
        (lambda h: api.call("auditor_a", "GET", path, headers=h), 403),
        (lambda h: api.call("admin", "GET", f"/issues/{HUGE}", headers=h), 404),
        (lambda h: api.call("admin", "GET", "/issues?province=x", headers=h), 422),
        (lambda h: api.call("business_b", "POST", f"{path}/rectification",
                            json={"measures": "x"}, headers=h), 428),
        (lambda h: api.call("admin", "POST", f"/visits/{fx.visit_a['id']}/interviews",
                            content=b"x" * (1024 * 1024 + 1),
                            headers={**h, "Content-Type": "application/json"}), 413),
    ]
    for send, status in cases:
        zh = is_problem(send({}), status)
        en = is_problem(send({"Accept-Language": "en-GB,en;q=0.9"}), status)
        assert zh["detail"] == zh["detail_zh"] != zh["detail_en"], zh
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh["detail"]), zh
        assert en["detail"] == en["detail_en"] and en["detail"].isascii(), en
        assert zh["code"] == en["code"]
    explicit = is_problem(api.call("admin", "GET", f"/issues/{HUGE}",
                                   headers={"Accept-Language": "zh-CN"}), 404)
    assert explicit["detail"] == explicit["detail_zh"]
