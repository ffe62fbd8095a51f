"""A client of the Lookback HTTP API for the remote CLI (``--server`` / ``--token``).

Errors are the domain's hierarchy (``domain/errors.py``), extended here by what only a client
can meet::

    LookbackError
    ├── InputError                4xx (400, 413, 422, …)                      exit 2
    ├── NotFoundError             404                                         exit 3
    ├── ConflictError             409; 412 (code stale_version); 428          exit 4
    ├── AuthenticationError       401, or no token given                      exit 5
    ├── PermissionDeniedError     403                                         exit 6
    └── RemoteError               5xx, or an answer that is not the API's     exit 1
        └── ServerUnreachableError  no connection, or no answer in time       exit 2

Messages come from the server's problem+json body (``detail_en`` / ``detail_zh``), so they stay
in both languages; the client adds what the user should do next where that is clear.

Retries (with exponential backoff, at most ``retries`` of them):

- reads (GET) are retried on any connection error or timeout: they change nothing;
- writes (POST) carry an ``Idempotency-Key`` (one per call, the same on every retry), so the
  server applies a write once however often it is sent: they are retried like reads, and a
  retry after a lost answer gets the first answer back.

Server errors (5xx) are never retried: the server has answered, and a second try would most
likely get the same answer.
"""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import httpx

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
from lookback.settings import Lang


class RemoteError(LookbackError):
    """The server failed (5xx) or answered with something that is not the Lookback API."""

    code = "server_error"
    exit_code = 1


class ServerUnreachableError(RemoteError):
    """No connection to the server, or no answer in time."""

    code = "unreachable"
    exit_code = 2


# Never reached the server: safe to send again, even for a write.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
# Worth another try for a read.
_TRANSIENT = (httpx.ConnectError, httpx.TimeoutException, httpx.ReadError, httpx.WriteError,
              httpx.RemoteProtocolError)

FilePart = tuple[str, bytes, str]


def read_upload(path: Path) -> FilePart:
    """A file to upload, read now: a missing file is reported before anything is sent, and a
    retried request can send the same bytes again."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadFileError(f"{path}: no such file", f"{path}：文件不存在", code="no_file") from None
    except IsADirectoryError:
        raise BadFileError(f"{path}: is a folder, not a file", f"{path}：是文件夹，不是文件",
                           code="no_file") from None
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.name, data, kind


class LookbackClient:
    """The Lookback API over ``httpx.Client``: one method per call, domain errors on failure.

    ``transport`` replaces the network (``httpx.MockTransport`` in tests); ``sleep`` is what waits
    between retries (tests pass a recorder and never sleep).
    """

    def __init__(self, base_url: str, token: str, *, lang: Lang = "zh",
                 transport: httpx.BaseTransport | None = None, retries: int = 3,
                 timeout_s: float = 30.0, backoff_s: float = 0.25,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        url = base_url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise BadArgumentError(f"--server {base_url!r} is not an http:// or https:// URL",
                                   f"--server“{base_url}”不是http://或https://地址",
                                   code="bad_server")
        if not token.strip():
            raise AuthenticationError(
                f"no API token for {url}: pass --token or set LOOKBACK_TOKEN",
                f"缺少访问{url}的API令牌：请使用--token或设置环境变量LOOKBACK_TOKEN",
                code="token_missing")
        self.base_url = url
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=url, transport=transport, timeout=timeout_s,
            headers={"Authorization": f"Bearer {token.strip()}", "Accept-Language": lang,
                     "Accept": "application/json, application/problem+json",
                     "User-Agent": "lookback-cli"})

    # --- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LookbackClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def request(self, method: str, path: str, *, json: Any = None,
                data: Mapping[str, str] | None = None, files: Mapping[str, FilePart] | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Send one request (with the retries above); a 2xx response, or a domain error."""
        retryable = _TRANSIENT
        if method.upper() == "POST":
            headers = {"Idempotency-Key": uuid.uuid4().hex, **(headers or {})}
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, data=data, files=files,
                                              headers=headers)
                break
            except retryable as e:
                if attempt >= self.retries:
                    self._unreachable(method, path, attempt, cause=e)
                self._sleep(self.backoff_s * 2 ** attempt)
                attempt += 1
            except httpx.TimeoutException as e:
                self._unreachable(method, path, attempt, maybe_applied=True, cause=e)
            except httpx.TransportError as e:
                self._unreachable(method, path, attempt, maybe_applied=True, cause=e)
            except httpx.HTTPError as e:  # a bad URL, too many redirects: not the API
                raise RemoteError(f"cannot talk to {self.base_url}: {type(e).__name__}: {e}",
                                  f"无法与{self.base_url}通信：{type(e).__name__}：{e}") from None
        if response.is_success:
            return response
        raise self.error_of(response)

    def _unreachable(self, method: str, path: str, retried: int, *, maybe_applied: bool = False,
                     cause: Exception | None = None) -> NoReturn:
        tries = retried + 1
        why = f" ({type(cause).__name__})" if cause else ""
        if maybe_applied and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            raise ServerUnreachableError(
                f"no answer from {self.base_url} to {method} {path}{why}; it may or may not "
                "have been recorded: look before running the command again",
                f"{self.base_url}未回应{method} {path}{why}；该操作可能已记录，也可能未记录："
                "请先查看再重新运行命令")
        raise ServerUnreachableError(
            f"cannot reach {self.base_url} ({tries} attempt{'s' if tries > 1 else ''}){why}: "
            "is the server running and is --server / LOOKBACK_SERVER right?",
            f"无法连接{self.base_url}（尝试{tries}次）{why}：服务是否在运行？--server或"
            "LOOKBACK_SERVER是否正确？")

    def error_of(self, response: httpx.Response) -> LookbackError:
        """The domain error for a non-2xx response (problem+json from the API, or anything)."""
        status = response.status_code
        body: dict[str, Any] = {}
        try:
            parsed = response.json()
            if isinstance(parsed, dict):
                body = parsed
        except ValueError:
            pass
        en = str(body.get("detail_en") or body.get("detail") or response.reason_phrase
                 or f"HTTP {status}")
        zh = str(body.get("detail_zh") or body.get("detail") or en)
        code = body.get("code") if isinstance(body.get("code"), str) else None
        where = f"{response.request.method} {response.request.url.path}"
        if status == 401:
            return AuthenticationError(
                f"{en} (server {self.base_url}): the token is missing, invalid or revoked — "
                "check --token / LOOKBACK_TOKEN",
                f"{zh}（服务{self.base_url}）：令牌缺失、无效或已撤销——请检查--token或LOOKBACK_TOKEN",
                code=code or "unauthenticated")
        if status == 403:
            return PermissionDeniedError(en, zh, code=code or "forbidden")
        if status == 404:
            if code is None or code.startswith("http_"):  # no such route, not no such record
                return NotFoundError(
                    f"the server {self.base_url} has no {where} (an older version of the API?)",
                    f"服务{self.base_url}没有接口{where}（接口版本较旧？）", code="no_route")
            return NotFoundError(en, zh, code=code)
        if status == 412:
            return ConflictError(
                f"{en}: the issue changed since you read it; read it again and rerun the command",
                f"{zh}：读取后该问题已被修改；请重新读取后再运行命令", code="stale_version")
        if status in (409, 428):
            return ConflictError(en, zh, code=code or ("conflict" if status == 409
                                                         else "version_required"))
        if status == 413:
            return InputError(en, zh, code=code or "too_large")
        if 400 <= status < 500:
            return InputError(en, zh, code=code or "invalid_request")
        return RemoteError(f"the server {self.base_url} failed on {where} ({status}): {en}",
                           f"服务{self.base_url}处理{where}时出错（{status}）：{zh}",
                           code="server_error")

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RemoteError(f"{self.base_url} answered {response.request.method} "
                              f"{response.request.url.path} with something that is not the "
                              "Lookback API's JSON", f"{self.base_url}对{response.request.method} "
                              f"{response.request.url.path}的回应不是Lookback接口的JSON",
                              code="bad_response")
        return data

    # --- calls --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._json(self.request("GET", "/health"))

    def get_issue(self, issue_id: int) -> tuple[dict[str, Any], str]:
        """The issue and its ETag (the version an update sends back in ``If-Match``)."""
        r = self.request("GET", f"/issues/{issue_id}")
        tag = r.headers.get("etag")
        body = self._json(r)
        if not tag:
            tag = f'"v{body.get("version")}"'
        return body, tag

    def record_interview(self, visit_id: int, *, role: str, name: str,
                         answers: list[dict[str, str]]) -> dict[str, Any]:
        return self._json(self.request("POST", f"/visits/{visit_id}/interviews",
                                       json={"role": role, "name": name, "answers": answers}))

    def add_issue(self, visit_id: int, *, category: str, severity: str, description: str,
                  provision: int | None = None,
                  legal_basis: str | None = None) -> dict[str, Any]:
        return self._json(self.request("POST", f"/visits/{visit_id}/issues", json={
            "category": category, "severity": severity, "description": description,
            "provision": provision, "legal_basis": legal_basis}))

    def provisions(self, category: str) -> dict[str, Any]:
        """The numbered provisions a free-form finding of ``category`` may cite."""
        return self._json(self.request("GET", "/provisions", params={"category": category}))

    def rectify(self, issue_id: int, *, measures: str) -> dict[str, Any]:
        """Report a rectification against the version just read.

        The issue is read first for its ETag. Should someone change it between that read and
        this write, the server answers 412 and nothing changes: the user sees the new state
        (``issue show``) and runs the command again.
        """
        _, tag = self.get_issue(issue_id)
        return self._json(self.request("POST", f"/issues/{issue_id}/rectification",
                                       json={"measures": measures}, headers={"If-Match": tag}))

    def upload_evidence(self, issue_id: int, file: FilePart, *, purpose: str) -> dict[str, Any]:
        """Attach a file (``read_upload``) to an issue: finding, rectification or followup."""
        return self._json(self.request("POST", f"/issues/{issue_id}/evidence",
                                       files={"file": file}, data={"purpose": purpose}))

    def record_followup(self, issue_id: int, *, outcome: str, note: str,
                        hard_measures: bool | None, fixed: bool | None,
                        mechanism: bool | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Record a look-back check against the version just read (the race as in ``rectify``);
        the issue as read and the server's answer."""
        issue, tag = self.get_issue(issue_id)
        done = self._json(self.request("POST", f"/issues/{issue_id}/followup-checks", json={
            "outcome": outcome, "note": note, "hard_measures": hard_measures, "fixed": fixed,
            "mechanism": mechanism}, headers={"If-Match": tag}))
        return issue, done

    def record_supervision(self, *, cadre_id: str, uscc: str, note: str, on: str | None,
                           period: str | None, issues: list[str],
                           leads: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"cadre_id": cadre_id, "uscc": uscc, "note": note,
                                "issues": issues, "leads": leads}
        if on is not None:
            body["date"] = on
        if period is not None:
            body["period"] = period
        return self._json(self.request("POST", "/supervision/visits", json=body))

    def verify_notice(self, pdf: FilePart) -> dict[str, Any]:
        return self._json(self.request("POST", "/notices/verify", files={"file": pdf}))
