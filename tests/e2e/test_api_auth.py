"""People log in through the API: a one-time password changed at the first log-in, a session
cookie or a short-lived token, log-out on the server, lockout with back-off after repeated
failures, a reset by an administrator, expiry — and every step an event."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lookback.api.app import create_app
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e.test_fieldwork_cli import run

NOW = "2026-05-01T08:00:00+08:00"
GOOD = "川菜馆后厨-每周排查-2026"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    base = ["--db", str(tmp_path / "lb.db"), "--data-dir", str(tmp_path / "data"), "--now", NOW]
    run(*base, "init")
    out = json.loads(run(*base, "--json", "users", "add", "wang", "--role", "office"))
    assert out["token"].startswith("lbk_") and len(out["initial_password"]) == 16
    yield tmp_path, out["initial_password"]


def client(folder: Path, now: str = NOW) -> TestClient:
    lb = bootstrap(Settings(database_url=f"sqlite:///{folder / 'lb.db'}",
                            data_dir=folder / "data", now=now))
    return TestClient(create_app(lb), raise_server_exceptions=False,
                      base_url="https://testserver")


def events(folder: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(folder / "lb.db") as conn:
        rows = conn.execute("SELECT kind, entity FROM event WHERE kind LIKE 'auth.%' "
                            "ORDER BY seq").fetchall()
    conn.close()
    return rows


def csrf(c: Any) -> dict[str, str]:
    """The anti-forgery header a page of this client's session sends with its writes."""
    from domain.auth import csrf_token

    return {"X-CSRF-Token": csrf_token(c.cookies.get("lookback_session") or "")}


def test_first_login_changes_the_one_time_password_then_the_cookie_works(
        site: tuple[Path, str]) -> None:
    folder, first = site
    with client(folder) as c:
        r = c.post("/auth/login", json={"name": "wang", "password": first})
        assert r.status_code == 409 and r.json()["code"] == "password_change_required"
        r = c.post("/auth/login", json={"name": "wang", "password": first,
                                        "new_password": "short"})
        assert r.status_code == 400 and r.json()["code"] == "weak_password"
        assert c.get("/campaigns").status_code == 401  # nothing was opened
        r = c.post("/auth/login", json={"name": "wang", "password": first,
                                        "new_password": GOOD})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert "lookback_session=lbs_" in cookie and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower() and "Secure" in cookie
        assert r.json()["user"]["name"] == "wang" and r.json()["token"] is None
        assert c.get("/campaigns").status_code == 200  # the cookie logs the page in
        # a write under the cookie alone (what another site could make a browser send) is
        # refused; with the page's anti-forgery token it goes through
        r = c.post("/auth/logout")
        assert r.status_code == 403 and r.json()["code"] == "csrf"
        assert c.post("/auth/logout", headers={"X-CSRF-Token": "0" * 64}).status_code == 403
        assert c.get("/campaigns").status_code == 200  # still logged in
        assert c.post("/auth/logout", headers=csrf(c)).status_code == 204
        assert c.get("/campaigns").status_code == 401  # ended on the server
        # the one-time password no longer works; the new one does
        assert c.post("/auth/login", json={"name": "wang", "password": first}).status_code == 401
    assert [k for k, _ in events(folder)] == [
        "auth.password_reset", "auth.password_changed", "auth.login", "auth.logout",
        "auth.login_failed"]


def test_a_short_lived_token_and_a_stolen_session_after_logout(site: tuple[Path, str]) -> None:
    folder, first = site
    with client(folder) as c:
        c.post("/auth/login", json={"name": "wang", "password": first, "new_password": GOOD})
        r = c.post("/auth/login", json={"name": "wang", "password": GOOD, "mode": "token"})
        token = r.json()["token"]
        assert token.startswith("lbs_") and "set-cookie" not in r.headers
        c.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        assert c.get("/campaigns", headers=headers).status_code == 200
        assert c.post("/auth/logout", headers=headers).status_code == 204
        r = c.get("/campaigns", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "session_expired"
    # an hour later a token has expired, a session (12 h) has not
    with client(folder) as c:
        token = c.post("/auth/login", json={"name": "wang", "password": GOOD,
                                            "mode": "token"}).json()["token"]
        session = c.cookies.get("lookback_session")
        c.post("/auth/login", json={"name": "wang", "password": GOOD})
        session = c.cookies.get("lookback_session")
    with client(folder, now="2026-05-01T09:30:00+08:00") as later:
        assert later.get("/campaigns", headers={
            "Authorization": f"Bearer {token}"}).status_code == 401
        later.cookies.set("lookback_session", session or "")
        assert later.get("/campaigns").status_code == 200


def test_repeated_failures_lock_the_account_until_a_reset(site: tuple[Path, str]) -> None:
    folder, first = site
    with client(folder) as c:
        c.post("/auth/login", json={"name": "wang", "password": first, "new_password": GOOD})
        for _ in range(5):
            r = c.post("/auth/login", json={"name": "wang", "password": "wrong-password-x"})
            assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
        r = c.post("/auth/login", json={"name": "wang", "password": GOOD})
        assert r.status_code == 403 and r.json()["code"] == "account_locked"
        assert "try again in 60 s" in r.json()["detail_en"]
        # an unknown name is answered exactly as a wrong password
        unknown = c.post("/auth/login", json={"name": "nobody", "password": GOOD})
        assert unknown.status_code == 401 and unknown.json()["code"] == "bad_credentials"
    kinds = [k for k, _ in events(folder)]
    assert kinds.count("auth.login_failed") == 7 and kinds.count("auth.locked") == 1
    # two minutes later the lock (60 s) has passed
    with client(folder, now="2026-05-01T08:02:00+08:00") as c:
        assert c.post("/auth/login", json={"name": "wang", "password": GOOD}).status_code == 200
    # a reset: a new one-time password, the lock cleared, the open sessions ended
    base = ["--db", str(folder / "lb.db"), "--data-dir", str(folder / "data"), "--now", NOW]
    with client(folder) as c:
        for _ in range(6):
            c.post("/auth/login", json={"name": "wang", "password": "wrong-password-x"})
        reset = json.loads(run(*base, "--json", "users", "reset-password", "wang"))
        again = reset["one_time_password"]
        r = c.post("/auth/login", json={"name": "wang", "password": again,
                                        "new_password": "另一个-足够长的密码"})
        assert r.status_code == 200, r.text
    assert "auth.password_reset" in [k for k, _ in events(folder)][-5:]


def test_changing_ones_password(site: tuple[Path, str]) -> None:
    folder, first = site
    with client(folder) as c:
        c.post("/auth/login", json={"name": "wang", "password": first, "new_password": GOOD})
        r = c.post("/auth/password", json={"old_password": "not-it-at-all", "new_password":
                                           "a-new-long-passphrase"}, headers=csrf(c))
        assert r.status_code == 401
        r = c.post("/auth/password", json={"old_password": GOOD, "new_password": "wang-12345678"},
                   headers=csrf(c))
        assert r.status_code == 400 and "user name" in r.json()["detail_en"]
        r = c.post("/auth/password", json={"old_password": GOOD,
                                           "new_password": "a-new-long-passphrase"},
                   headers=csrf(c))
        assert r.status_code == 204
        assert c.post("/auth/login", json={"name": "wang", "password":
                                           "a-new-long-passphrase"}).status_code == 200


def test_a_write_under_the_session_cookie_is_replayed_by_its_idempotency_key(
        site: tuple[Path, str]) -> None:
    folder, first = site
    with client(folder) as c:
        c.post("/auth/login", json={"name": "wang", "password": first, "new_password": GOOD})
        change = {"old_password": GOOD, "new_password": "a-new-long-passphrase"}
        key = {"Idempotency-Key": "change-1", **csrf(c)}
        assert c.post("/auth/password", json=change, headers=key).status_code == 204
        # the old password is gone, yet the retry gets the first answer and changes nothing
        assert c.post("/auth/password", json=change, headers=key).status_code == 204
        assert c.post("/auth/password", json=change, headers=csrf(c)).status_code == 401
    assert [k for k, _ in events(folder)].count("auth.password_changed") == 2  # first log-in too
