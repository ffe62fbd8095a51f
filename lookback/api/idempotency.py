"""``Idempotency-Key`` on API writes: a POST retried with the same key happens once.

A client (the remote CLI, the offline field app) sends ``Idempotency-Key: <its own unique
text>`` with a write. The first request with a key runs and its successful answer is kept for
24 hours; a retry with the same key and the same request gets that answer again (with
``Idempotent-Replayed: true``) and changes nothing; the same key with a different request is
refused (422), and a retry while the first is still running gets 409. A request that fails is
not kept, so it may be retried. Keys belong to one token.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio.to_thread
from starlette.requests import Request

from lookback.api.deps import presented_secret
from lookback.bootstrap import App
from storage import idempotency

HEADER = b"idempotency-key"
MAX_KEY = 200


class Idempotency:
    """ASGI middleware (inside the body limit, so a body it buffers is bounded)."""

    def __init__(self, app: Any, lb: App) -> None:
        self.app, self.lb = app, lb

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        raw_key = headers.get(HEADER)
        if scope["type"] != "http" or scope.get("method") != "POST" or raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not 0 < len(key) <= MAX_KEY:
            await _problem(send, scope, 400, "bad_idempotency_key",
                           f"Idempotency-Key must be 1 to {MAX_KEY} characters",
                           f"Idempotency-Key应为1至{MAX_KEY}个字符")
            return
        # The bearer token, else the session cookie: a page's writes are made idempotent per
        # session as a script's are per token (the same secret the route authenticates).
        token = presented_secret(Request(scope))
        if not token:
            await self.app(scope, receive, send)  # refused as unauthenticated by the route
            return
        owner = hashlib.sha256(token.encode()).hexdigest()
        body = await _read(receive)
        fingerprint = hashlib.sha256(b"\0".join([
            scope["path"].encode(), scope.get("query_string", b""),
            headers.get(b"content-type", b""), body])).hexdigest()
        now = self.lb.clock.now()
        got = await anyio.to_thread.run_sync(
            idempotency.claim, self.lb.engine, owner, key, fingerprint, now)
        if got.outcome == "replay":
            extra = [(b"etag", got.etag.encode())] if got.etag else []
            payload = got.body or b""
            await send({"type": "http.response.start", "status": got.status or 200,
                        "headers": [(b"content-type", got.content_type.encode() or
                                     b"application/json"),
                                    (b"content-length", str(len(payload)).encode()),
                                    (b"idempotent-replayed", b"true"), *extra]})
            await send({"type": "http.response.body", "body": payload})
            return
        if got.outcome == "mismatch":
            await _problem(send, scope, 422, "idempotency_key_reused",
                           f"Idempotency-Key {key!r} was used for a different request",
                           f"Idempotency-Key“{key}”已用于另一个请求")
            return
        if got.outcome == "busy":
            await _problem(send, scope, 409, "idempotency_key_in_progress",
                           f"a request with Idempotency-Key {key!r} is still running; retry "
                           "in a moment", f"使用Idempotency-Key“{key}”的请求仍在处理；请稍后重试")
            return
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers") or [])
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        sent = False
        try:
            await self.app(scope, _replay(body), sending)
            sent = True
        finally:
            status = int(captured["status"])
            if sent and 200 <= status < 300:
                hdrs = {k.lower(): v for k, v in captured["headers"]}
                await anyio.to_thread.run_sync(lambda: idempotency.complete(
                    self.lb.engine, owner, key, status=status,
                    body=b"".join(captured["body"]),
                    content_type=hdrs.get(b"content-type", b"").decode("latin-1"),
                    etag=hdrs.get(b"etag", b"").decode("latin-1")))
            else:
                await anyio.to_thread.run_sync(idempotency.release, self.lb.engine, owner, key)


async def _read(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _problem(send: Any, scope: dict[str, Any], status: int, code: str, en: str,
                   zh: str) -> None:
    lang = dict(scope.get("headers") or []).get(b"accept-language", b"")
    english = lang.decode("latin-1").strip().lower().startswith("en")
    titles = {400: ("Bad request", "请求有误"), 409: ("Conflict", "冲突"),
              422: ("Unprocessable request", "请求无法处理")}[status]
    body = json.dumps({
        "type": f"https://lookback.invalid/problems/{code}", "status": status,
        "title": titles[0] if english else titles[1], "detail": en if english else zh,
        "instance": scope.get("path", ""), "code": code, "title_en": titles[0],
        "title_zh": titles[1], "detail_en": en, "detail_zh": zh}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
