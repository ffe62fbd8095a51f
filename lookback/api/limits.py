"""Request-size limits, enforced before a body reaches a route (413 problem+json)."""

from __future__ import annotations

import json
from typing import Any

JSON_LIMIT = 1 * 1024 * 1024  # a JSON body (an interview's answers are a few KB)
UPLOAD_LIMIT = 20 * 1024 * 1024  # an evidence photo or a PDF to verify
UPLOAD_PATHS = ("/evidence", "/notices/verify", "/app/office/imports")


def limit_for(path: str) -> int:
    return UPLOAD_LIMIT if any(p in path for p in UPLOAD_PATHS) else JSON_LIMIT


class BodyLimit:
    """ASGI middleware: refuse a body over the limit, by its Content-Length or as it streams."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await _refuse(send, scope, limit)
                return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body here, up to the limit, then hand it on.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > limit:
                await _refuse(send, scope, limit)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks),
                                        "more_body": False}], receive), send)


def _replay(messages: list[dict[str, Any]], then: Any = None) -> Any:
    queue = list(messages)

    async def receive() -> Any:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Any, scope: dict[str, Any], limit: int) -> None:
    mb = limit // (1024 * 1024)
    en, zh = f"the request body is larger than {mb} MB", f"请求体超过{mb} MB"
    lang = dict(scope.get("headers") or []).get(b"accept-language", b"")
    english = lang.decode("latin-1").strip().lower().startswith("en")
    body = json.dumps({
        "type": "https://lookback.invalid/problems/too_large",
        "title": "Request too large" if english else "请求过大", "status": 413,
        "detail": en if english else zh, "instance": scope.get("path", ""), "code": "too_large",
        "title_en": "Request too large", "title_zh": "请求过大", "detail_en": en,
        "detail_zh": zh}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
