"""The remote CLI (``--server`` / ``--token``) against a real ``lookback serve`` in a subprocess:
the same output as the local path, the server's refusals as exit codes with clear messages
(403 → 6, revoked token → 5, a stale version → 4), an unreachable server named in the message,
and reads retried after a connection error. Never a traceback."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from domain.errors import ConflictError
from lookback.cli import app
from lookback.client import LookbackClient
from tests.e2e.test_fieldwork_cli import NOW, launched, run  # the fixture is used by name

__all__ = ["launched"]

ROOT = Path(__file__).resolve().parents[2]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(span: int = 1) -> int:
    """The first of ``span`` consecutive free ports of 127.0.0.1, below the system's ephemeral
    range: a port the system hands out itself (bind to 0) can be taken by any outgoing
    connection between this check and the server's own bind."""
    low = _ephemeral_low()
    for _ in range(500):
        start = random.randrange(20000, low - span)
        try:
            with contextlib.ExitStack() as held:
                for port in range(start, start + span):
                    s = held.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
    raise RuntimeError("no free port below the ephemeral range")


@dataclass
class Remote:
    """A served copy of the launched database, its API users' tokens and its visits."""

    db: Path
    data: Path
    url: str
    visits: list[dict[str, Any]]
    tokens: dict[str, str] = field(default_factory=dict)

    def local(self, *args: str, code: int = 0) -> str:
        return run("--db", str(self.db), "--data-dir", str(self.data), "--lang", "en",
                   "--now", NOW, *args, code=code)

    def cli(self, user: str, *args: str, code: int = 0, lang: str = "en",
            server: str | None = None) -> str:
        return run("--server", server or self.url, "--token", self.tokens.get(user, user),
                   "--lang", lang, *args, code=code)

    def json(self, user: str, *args: str, code: int = 0) -> Any:
        return json.loads(self.cli(user, "--json", *args, code=code))

    def add_user(self, name: str, *args: str) -> str:
        token = json.loads(self.local("--json", "users", "add", name, *args))["token"]
        self.tokens[name] = token
        return str(token)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(query).fetchall()

    def client(self, user: str, **kw: Any) -> LookbackClient:
        return LookbackClient(self.url, self.tokens[user], lang="en", **kw)


@pytest.fixture(scope="module")
def remote(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    folder = tmp_path_factory.mktemp("remote")
    db = folder / "lookback.db"
    with sqlite3.connect(launched) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    port = free_port()
    r = Remote(db, folder / "data", f"http://127.0.0.1:{port}", [])
    r.visits = sorted(json.loads(r.local("--json", "visit", "list", "--campaign", "1"))["items"],
                      key=lambda v: v["id"])
    a, b = r.visits[0], next(v for v in r.visits if v["team"] != r.visits[0]["team"])
    r.add_user("aud_a", "--role", "auditor", "--team", str(a["team"]))
    r.add_user("aud_b", "--role", "auditor", "--team", str(b["team"]))
    r.add_user("shop", "--role", "business", "--business", a["uscc"])
    r.add_user("office", "--role", "office")
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "lookback"), "--db", f"sqlite:///{db}", "--data-dir",
         str(r.data), "--now", NOW, "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{r.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start: "
                                   + (folder / "server.log").read_text())
            time.sleep(0.1)
        yield r
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def answers(tmp_path: Path) -> str:
    path = tmp_path / "owner.toml"
    path.write_text('RISK-01 = { result = "fail", note = "无风险清单" }\nSTAFF-02 = "pass"\n',
                    encoding="utf-8")
    return str(path)


def add_issue(remote: Remote, user: str, visit: dict[str, Any], *extra: str) -> dict[str, Any]:
    out: dict[str, Any] = remote.json(user, "issue", "add", "--provision", "1", "--visit", str(visit["id"]),
                                      "--category", "records", "--severity", "general",
                                      "--description", "台账缺失", *extra)
    return out


# --- through the server, as locally -------------------------------------------------------------

def test_interview_record_through_the_server_is_stored(remote: Remote, tmp_path: Path) -> None:
    v = remote.visits[0]
    out = remote.json("aud_a", "interview", "record", "--visit", str(v["id"]), "--role", "owner",
                      "--name", "李娜", "--answers", answers(tmp_path))
    assert out["ok"] is True and (out["answers"], out["failed"]) == (2, 1)
    assert len(out["issues_registered"]) == 1 and out["issues_existing"] == []
    assert remote.sql(f"SELECT visit_id, role, name FROM interview WHERE id = "
                      f"{out['interview_id']}") == [(v["id"], "owner", "李娜")]
    [(item, actor)] = remote.sql(f"SELECT item_id, (SELECT actor FROM event WHERE kind = "
                                 f"'issue.registered' AND entity = 'issue:' || issue.id) FROM "
                                 f"issue WHERE id = {out['issues_registered'][0]}")
    assert item == "RISK-01" and "aud_a" in actor

    # Text in both languages, as the local command prints it; global options may come last.
    text = remote.cli("aud_a", "interview", "record", "--visit", str(v["id"]), "--role",
                      "owner", "--name", "王五", "--answers", answers(tmp_path))
    assert "recorded: 2 answers, 1 failed; issues registered: none (already registered:" in text
    zh = remote.cli("aud_a", "interview", "record", "--visit", str(v["id"]), "--role",
                    "owner", "--name", "赵六", "--answers", answers(tmp_path), lang="zh")
    assert "作答2项，不合格1项" in zh


def test_issue_add_uploads_evidence_and_prints_what_the_local_path_prints(
        remote: Remote, tmp_path: Path) -> None:
    v = remote.visits[0]
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(b"\xff\xd8 a photo")
    issue = add_issue(remote, "aud_a", v, "--evidence", str(photo))
    local = json.loads(remote.local("--json", "issue", "show", str(issue["id"])))
    assert {k: local[k] for k in issue} == issue
    assert [(e["filename"], e["purpose"]) for e in local["evidence"]] == [("现场.jpg", "finding")]
    assert (remote.data / "evidence").exists() or any(remote.data.rglob("*"))

    # A missing evidence file stops the command before anything is sent.
    before = remote.sql("SELECT COUNT(*) FROM issue")
    out = remote.cli("aud_a", "issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records",
                     "--severity", "general", "--description", "x", "--evidence",
                     str(tmp_path / "missing.jpg"), code=2)
    assert "missing.jpg: no such file" in out
    assert remote.sql("SELECT COUNT(*) FROM issue") == before

    text = remote.cli("aud_a", "issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records",
                      "--severity", "minor", "--description", "未公示")
    assert text.startswith("Issue ") and "registered; rectify by" in text


def test_the_business_rectifies_its_issue_with_evidence(remote: Remote, tmp_path: Path) -> None:
    issue = add_issue(remote, "aud_a", remote.visits[0])
    proof = tmp_path / "整改.pdf"
    proof.write_bytes(b"%PDF-1.4 proof")
    out = remote.json("shop", "issue", "rectify", str(issue["id"]), "--measures", "补建台账",
                      "--evidence", str(proof))
    assert (out["status"], out["version"]) == ("rectification_reported", issue["version"] + 1)
    shown = json.loads(remote.local("--json", "issue", "show", str(issue["id"])))
    assert [e["purpose"] for e in shown["evidence"]] == ["rectification"]
    text = remote.cli("shop", "issue", "rectify", str(issue["id"]), "--measures", "再次整改",
                      code=4)
    assert "rectification_reported" in text  # the server's own words: not allowed twice


def test_followup_and_supervision_go_through_the_server(remote: Remote) -> None:
    issue = add_issue(remote, "aud_a", remote.visits[0])
    args = ("followup", "record", str(issue["id"]), "--outcome", "not_rectified", "--note", "仍未整改")
    local = remote.local(*args, code=4)
    out = remote.cli("aud_a", *args, code=4)
    assert f"issue {issue['id']} has no open look-back" in out and out.strip() == local.strip()
    out = remote.cli("aud_b", *args, code=6)
    assert "aud_b" in out and "may not" in out

    sup = ("supervision", "record", "--cadre", "NOBODY", "--business", remote.visits[0]["uscc"],
           "--note", "检查了台账")
    out = remote.cli("aud_a", *sup, code=6)
    assert "may not record supervision" in out


# --- refusals ----------------------------------------------------------------------------------

def test_another_teams_auditor_is_refused_with_exit_6(remote: Remote, tmp_path: Path) -> None:
    v = remote.visits[0]
    before = remote.sql("SELECT COUNT(*) FROM interview")
    out = remote.cli("aud_b", "interview", "record", "--visit", str(v["id"]), "--role", "owner",
                     "--name", "李娜", "--answers", answers(tmp_path), code=6)
    assert "user aud_b (auditor) may not write fieldwork" in out
    zh = remote.json("aud_b", "interview", "record", "--visit", str(v["id"]), "--role", "owner",
                     "--name", "李娜", "--answers", answers(tmp_path), code=6)
    assert zh["error"]["code"] == "forbidden" and "无权记录检查" in zh["error"]["message_zh"]
    assert remote.sql("SELECT COUNT(*) FROM interview") == before


def test_a_revoked_or_wrong_token_gets_exit_5(remote: Remote, tmp_path: Path) -> None:
    remote.add_user("gone", "--role", "auditor", "--team", str(remote.visits[0]["team"]))
    remote.local("users", "revoke", "gone")
    out = remote.cli("gone", "interview", "record", "--visit", str(remote.visits[0]["id"]),
                     "--role", "owner", "--name", "李娜", "--answers", answers(tmp_path), code=5)
    assert "revoked" in out and "check --token / LOOKBACK_TOKEN" in out
    out = remote.cli("lbk_not_a_token", "issue", "rectify", "1", "--measures", "x", code=5)
    assert "not valid" in out
    out = remote.cli("", "issue", "rectify", "1", "--measures", "x", code=5)
    assert "pass --token or set LOOKBACK_TOKEN" in out


def test_a_change_between_read_and_write_is_a_stale_version(remote: Remote) -> None:
    """The office extends the issue just after the client read its ETag: 412, exit 4."""
    issue = add_issue(remote, "aud_a", remote.visits[0])
    office = remote.client("office")

    def extend() -> None:
        _, tag = office.get_issue(issue["id"])
        office.request("POST", f"/issues/{issue['id']}/extensions", json={
            "workdays": 3, "reason": "节假日", "approver": "食安办"}, headers={"If-Match": tag})

    class ChangeAfterRead(httpx.BaseTransport):
        def __init__(self, meddle: Callable[[], None]) -> None:
            self.inner, self.meddle, self.done = httpx.HTTPTransport(), meddle, False

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(request)
            if request.method == "GET" and not self.done:
                self.done = True
                response.read()
                self.meddle()
            return response

    with remote.client("shop", transport=ChangeAfterRead(extend)) as shop, \
            pytest.raises(ConflictError) as caught:
        shop.rectify(issue["id"], measures="补建台账")
    assert caught.value.code == "stale_version" and caught.value.exit_code == 4
    assert "the issue changed since you read it; read it again" in caught.value.en
    shown = json.loads(remote.local("--json", "issue", "show", str(issue["id"])))
    assert shown["status"] == "open" and shown["version"] == issue["version"] + 1

    # Run again, it reads the new version and goes through.
    out = remote.json("shop", "issue", "rectify", str(issue["id"]), "--measures", "补建台账")
    assert out["status"] == "rectification_reported"
    office.close()


# --- the network -------------------------------------------------------------------------------

def test_an_unreachable_server_is_named_with_exit_2(remote: Remote, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = remote.cli("aud_a", "interview", "record", "--visit", "1", "--role", "owner",
                     "--name", "李娜", "--answers", answers(tmp_path), server=url, code=2)
    assert f"cannot reach {url} (4 attempts)" in out
    assert "Traceback" not in out
    data = json.loads(run("--server", url, "--token", "t", "--json", "issue", "rectify", "1",
                          "--measures", "x", code=2))
    assert data["error"]["code"] == "unreachable" and url in data["error"]["message_zh"]
    out = run("--server", "localhost:8000", "--token", "t", "--lang", "en", "issue", "rectify", "1",
              "--measures", "x", code=2)
    assert "not an http:// or https:// URL" in out


def test_a_read_is_retried_after_a_connection_error(remote: Remote) -> None:
    issue = add_issue(remote, "aud_a", remote.visits[0])

    class FailOnce(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner, self.calls = httpx.HTTPTransport(), 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.calls == 1:
                raise httpx.ConnectError("connection refused", request=request)
            return self.inner.handle_request(request)

    sleeps: list[float] = []
    transport = FailOnce()
    with remote.client("aud_a", transport=transport, sleep=sleeps.append) as c:
        read, tag = c.get_issue(issue["id"])
    assert read["id"] == issue["id"] and tag == f'"v{issue["version"]}"'
    assert transport.calls == 2 and sleeps == [0.25]


def test_global_options_may_follow_the_command(remote: Remote) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lookback.cli", "issue", "rectify", "999999", "--measures", "x",
         "--server", remote.url, "--token", remote.tokens["shop"], "--json", "--lang", "en"],
        capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 3, proc.stderr
    assert json.loads(proc.stdout)["error"]["message_en"] == "issue 999999 does not exist"


# --- notices -----------------------------------------------------------------------------------

def test_notices_verify_through_the_server(remote: Remote, tmp_path: Path) -> None:
    pdf = tmp_path / "forged.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% not a notice of ours\n%%EOF\n")
    probe = CliRunner().invoke(app, ["--server", remote.url, "--token", remote.tokens["shop"],
                                     "--lang", "en", "--json", "notices", "verify", str(pdf)])
    if probe.exit_code == 3 and '"no_route"' in probe.stdout:
        pytest.skip("the server has no POST /notices/verify yet")
    assert probe.exit_code == 1, probe.output
    out = json.loads(probe.stdout)
    local = json.loads(remote.local("--json", "notices", "verify", str(pdf), code=1))
    assert out == local and out["status"] == "unknown" and out["ok"] is False


def test_behind_a_tls_proxy_the_server_sends_hsts(remote: Remote) -> None:
    """A reverse proxy on this machine (trusted by default) that says the request came over
    HTTPS gets HSTS back; a plain HTTP request does not."""
    plain = httpx.get(f"{remote.url}/health", timeout=5)
    assert plain.status_code == 200 and "strict-transport-security" not in plain.headers
    proxied = httpx.get(f"{remote.url}/health", timeout=5,
                        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert "max-age=" in proxied.headers["strict-transport-security"]
