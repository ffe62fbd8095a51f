"""The API client on ``httpx.MockTransport``: problem+json mapped to the domain's errors (in both
languages), If-Match from the ETag just read, and retries only where they are safe. Nothing
sleeps and nothing touches the network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.errors import (
    AuthenticationError,
    BadArgumentError,
    BadFileError,
    ConflictError,
    InputError,
    LookbackError,
    NotFoundError,
    PermissionDeniedError,
)
from lookback.client import LookbackClient, RemoteError, ServerUnreachableError, read_upload

URL = "http://lookback.test"

ISSUE: dict[str, Any] = {
    "id": 7, "campaign_id": 1, "visit_id": 3, "uscc": "91330100MA2B00001X", "business": "某餐馆",
    "province": "330000", "item_id": None, "category": "records", "severity": "general",
    "description": "台账缺失", "legal_basis": "", "status": "notified", "found_on": "2023-09-25",
    "due_on": "2023-10-13", "due_provisional": False, "escalation": 0, "version": 2}


def problem(status: int, code: str, en: str, zh: str) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "application/problem+json"}, json={
        "type": f"https://lookback.invalid/problems/{code}", "status": status, "code": code,
        "detail": zh, "detail_en": en, "detail_zh": zh})


class Recorder:
    """A transport that answers with ``handler`` and keeps every request and every sleep."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def client(self, **kw: Any) -> LookbackClient:
        return LookbackClient(URL, "lbk_secret", lang="en", transport=httpx.MockTransport(self),
                              sleep=self.sleeps.append, **kw)


def fails(status: int, code: str, en: str = "it went wrong", zh: str = "出错了"
          ) -> LookbackError:
    rec = Recorder(lambda r: problem(status, code, en, zh))
    with pytest.raises(LookbackError) as caught:
        rec.client().add_issue(3, category="records", severity="general", description="x")
    return caught.value


# --- error mapping -----------------------------------------------------------------------------

def test_401_says_to_check_the_token_in_both_languages() -> None:
    e = fails(401, "unauthenticated", "the API token is not valid", "API令牌无效")
    assert isinstance(e, AuthenticationError) and e.exit_code == 5
    assert "the API token is not valid" in e.en
    assert "check --token / LOOKBACK_TOKEN" in e.en and "missing, invalid or revoked" in e.en
    assert "API令牌无效" in e.zh and "LOOKBACK_TOKEN" in e.zh


def test_403_404_409_keep_the_servers_words_and_code() -> None:
    e = fails(403, "forbidden", "user a (auditor) may not write fieldwork: team 2",
              "用户a（督查人员）无权记录检查：第2组")
    assert isinstance(e, PermissionDeniedError) and e.exit_code == 6
    assert (e.en, e.zh) == ("user a (auditor) may not write fieldwork: team 2",
                            "用户a（督查人员）无权记录检查：第2组")
    e = fails(404, "not_found", "visit 3 does not exist", "检查任务3不存在")
    assert isinstance(e, NotFoundError) and e.exit_code == 3 and e.zh == "检查任务3不存在"
    e = fails(409, "illegal_transition", "issue 7 is verified", "问题7已销号")
    assert isinstance(e, ConflictError) and e.code == "illegal_transition" and e.exit_code == 4


def test_a_missing_route_is_not_a_missing_record() -> None:
    e = fails(404, "http_404", "Not Found", "未找到")
    assert isinstance(e, NotFoundError) and e.code == "no_route"
    assert "has no POST /visits/3/issues" in e.en and URL in e.en


def test_412_is_a_stale_version_conflict_telling_to_read_again() -> None:
    e = fails(412, "stale_version", "issue 7 is at version 3, not 2", "问题7的版本为3，不是2")
    assert isinstance(e, ConflictError) and e.code == "stale_version" and e.exit_code == 4
    assert "changed since you read it; read it again" in e.en
    assert "重新读取" in e.zh


def test_other_4xx_are_input_errors_and_5xx_a_remote_error() -> None:
    for status, code in ((400, "bad_argument"), (413, "too_large"), (422, "invalid_request"),
                         (428, "version_required")):
        e = fails(status, code)
        assert e.code == code
        assert isinstance(e, ConflictError if status == 428 else InputError)
    e = fails(500, "internal", "internal error: KeyError", "内部错误：KeyError")
    assert isinstance(e, RemoteError) and e.code == "server_error" and e.exit_code == 1
    assert "failed on POST /visits/3/issues (500)" in e.en and "内部错误" in e.zh


def test_an_answer_that_is_not_problem_json_still_gets_a_clear_error() -> None:
    rec = Recorder(lambda r: httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(RemoteError) as caught:
        rec.client().health()
    assert "(502): Bad Gateway" in caught.value.en
    rec = Recorder(lambda r: httpx.Response(200, text="<html>a login page</html>"))
    with pytest.raises(RemoteError) as bad:
        rec.client().health()
    assert bad.value.code == "bad_response"


def test_no_token_or_a_bad_url_fail_before_sending() -> None:
    with pytest.raises(AuthenticationError) as caught:
        LookbackClient(URL, "  ")
    assert "--token" in caught.value.en and "LOOKBACK_TOKEN" in caught.value.zh
    with pytest.raises(BadArgumentError):
        LookbackClient("lookback.test:8000", "t")


# --- requests ----------------------------------------------------------------------------------

def test_requests_carry_the_token_and_the_language() -> None:
    rec = Recorder(lambda r: httpx.Response(201, json={
        "interview_id": 1, "answers": 1, "failed": 0, "issues_registered": [],
        "issues_existing": []}))
    rec.client().record_interview(3, role="owner", name="王", answers=[
        {"item_id": "A1", "result": "pass", "note": ""}])
    [req] = rec.requests
    assert req.headers["authorization"] == "Bearer lbk_secret"
    assert req.headers["accept-language"] == "en"
    assert (req.method, req.url.path) == ("POST", "/visits/3/interviews")


def test_an_update_sends_the_etag_it_just_read() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "GET":
            return httpx.Response(200, json=ISSUE, headers={"ETag": '"v2"'})
        assert r.headers["if-match"] == '"v2"'
        return httpx.Response(200, json={**ISSUE, "status": "rectification_reported",
                                         "version": 3}, headers={"ETag": '"v3"'})

    rec = Recorder(handler)
    done = rec.client().rectify(7, measures="补建台账")
    assert done["version"] == 3
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("GET", "/issues/7"), ("POST", "/issues/7/rectification")]


def test_a_change_between_read_and_write_gets_412_and_says_read_again() -> None:
    """Someone else updates the issue after our GET: the server refuses our stale If-Match."""
    version = {"now": 2}

    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "GET":
            tag = f'"v{version["now"]}"'
            version["now"] += 1  # the other writer, just after our read
            return httpx.Response(200, json=ISSUE, headers={"ETag": tag})
        if r.headers["if-match"] != f'"v{version["now"]}"':
            return problem(412, "stale_version", "issue 7 changed: it is at version 3, not 2",
                           "问题7已变更：版本为3，不是2")
        raise AssertionError("a stale write must not succeed")

    rec = Recorder(handler)
    with pytest.raises(ConflictError) as caught:
        rec.client().rectify(7, measures="补建台账")
    assert caught.value.code == "stale_version" and caught.value.exit_code == 4
    assert "read it again" in caught.value.en


def test_upload_is_multipart_with_the_purpose(tmp_path: Path) -> None:
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")

    def handler(r: httpx.Request) -> httpx.Response:
        body = r.read()
        assert r.headers["content-type"].startswith("multipart/form-data")
        assert b'name="purpose"' in body and b"rectification" in body
        assert b"\xff\xd8jpeg" in body
        return httpx.Response(201, json={"sha256": "ab", "filename": "现场.jpg", "size": 6,
                                         "purpose": "rectification"})

    rec = Recorder(handler)
    assert rec.client().upload_evidence(7, read_upload(photo), purpose="rectification")[
        "size"] == 6
    with pytest.raises(BadFileError):
        read_upload(tmp_path / "missing.jpg")


# --- retries -----------------------------------------------------------------------------------

def flaky(errors: list[Exception], ok: httpx.Response) -> Recorder:
    def handler(r: httpx.Request) -> httpx.Response:
        if errors:
            raise errors.pop(0)
        return ok

    return Recorder(handler)


def test_a_read_is_retried_after_a_connection_error_with_backoff() -> None:
    rec = flaky([httpx.ConnectError("refused")], httpx.Response(200, json={"status": "ok"}))
    assert rec.client(backoff_s=0.5).health() == {"status": "ok"}
    assert len(rec.requests) == 2 and rec.sleeps == [0.5]
    rec = flaky([httpx.ReadTimeout("slow"), httpx.ConnectError("refused")],
                httpx.Response(200, json=ISSUE, headers={"ETag": '"v2"'}))
    assert rec.client(backoff_s=0.5).get_issue(7) == (ISSUE, '"v2"')
    assert rec.sleeps == [0.5, 1.0]


def test_a_read_gives_up_after_the_retries_naming_the_url() -> None:
    rec = flaky([httpx.ConnectError("refused")] * 10, httpx.Response(200, json={}))
    with pytest.raises(ServerUnreachableError) as caught:
        rec.client(retries=2).health()
    assert len(rec.requests) == 3 and len(rec.sleeps) == 2
    assert f"cannot reach {URL} (3 attempts)" in caught.value.en
    assert caught.value.exit_code == 2 and URL in caught.value.zh


def test_a_write_carries_one_idempotency_key_and_is_retried_with_it() -> None:
    created = httpx.Response(201, json=ISSUE)
    rec = flaky([httpx.ConnectError("refused"), httpx.ConnectTimeout("no SYN-ACK")], created)
    rec.client().add_issue(3, category="records", severity="general", description="x")
    assert len(rec.requests) == 3
    keys = {r.headers["idempotency-key"] for r in rec.requests}
    assert len(keys) == 1 and len(keys.pop()) >= 16  # the same key on every try

    # Sent, then no answer: the retry carries the same key, so the server applies it once.
    for error in (httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed"),
                  httpx.ReadError("reset")):
        rec = flaky([error], created)
        rec.client().add_issue(3, category="records", severity="general", description="x")
        assert len(rec.requests) == 2
        assert len({r.headers["idempotency-key"] for r in rec.requests}) == 1
    # Two calls are two writes: two keys.
    rec = flaky([], created)
    c = rec.client()
    c.add_issue(3, category="records", severity="general", description="x")
    c.add_issue(3, category="records", severity="general", description="x")
    assert len({r.headers["idempotency-key"] for r in rec.requests}) == 2


def test_server_errors_are_not_retried() -> None:
    rec = Recorder(lambda r: problem(503, "unavailable", "down", "不可用"))
    with pytest.raises(RemoteError):
        rec.client().health()
    assert len(rec.requests) == 1
