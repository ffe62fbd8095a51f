"""Errors as RFC 9457 ``application/problem+json``: a clear title and detail, in the language the
client asks for (``Accept-Language: en``; Chinese by default) and both languages alongside."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    LookbackError,
    NotFoundError,
    PermissionDeniedError,
)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://lookback.invalid/problems/"

TITLES = {
    400: ("Bad request", "请求有误"), 401: ("Not authenticated", "未认证"),
    403: ("Forbidden", "无权操作"), 404: ("Not found", "未找到"),
    405: ("Method not allowed", "不支持该方法"), 409: ("Conflict", "与现有记录冲突"),
    412: ("Precondition failed", "版本已变更"), 413: ("Request too large", "请求过大"),
    415: ("Unsupported media type", "不支持的内容类型"), 422: ("Invalid request", "请求内容无效"),
    428: ("Precondition required", "缺少版本条件"), 500: ("Internal error", "内部错误"),
    503: ("Service unavailable", "服务暂不可用"),
}


def status_of(e: LookbackError) -> int:
    if isinstance(e, AuthenticationError):
        return 401
    if isinstance(e, PermissionDeniedError):
        return 403
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, ConflictError):
        if e.code == "stale_version":
            return 412
        if e.code == "version_required":
            return 428
        return 409
    if e.code == "fonts_missing":  # the server's set-up, not the request: try again later
        return 503
    if isinstance(e, InputError):
        return 400
    return 400


def wants_english(request: Request) -> bool:
    return request.headers.get("accept-language", "").strip().lower().startswith("en")


def problem(request: Request, status: int, *, code: str, en: str, zh: str,
            extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    t_en, t_zh = TITLES.get(status, ("Error", "错误"))
    english = wants_english(request)
    body = {"type": TYPE_BASE + code, "title": t_en if english else t_zh, "status": status,
            "detail": en if english else zh, "instance": request.url.path, "code": code,
            "title_en": t_en, "title_zh": t_zh, "detail_en": en, "detail_zh": zh,
            **(extra or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def lookback_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, LookbackError)
    status = status_of(exc)
    if request.url.path.startswith("/app/"):  # a page: the reason on a page, not in JSON
        from lookback.web.pages import error_page

        return error_page(request, status, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(request, status, code=exc.code, en=exc.en, zh=exc.zh, headers=headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        errors.append({"field": where, "message": str(err.get("msg", ""))})
    en = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10]) or "invalid request"
    return problem(request, 422, code="invalid_request", en=en, zh="请求内容无效：" + en,
                   extra={"errors": errors})


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    en = str(exc.detail) if exc.detail else TITLES.get(exc.status_code, ("Error", ""))[0]
    zh = TITLES.get(exc.status_code, ("", "错误"))[1]
    return problem(request, exc.status_code, code=f"http_{exc.status_code}", en=en, zh=zh,
                   headers=getattr(exc, "headers", None))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    import logging

    logging.getLogger("lookback.api").exception("internal error on %s", request.url.path)
    return problem(request, 500, code="internal", en=f"internal error: {type(exc).__name__}",
                   zh=f"内部错误：{type(exc).__name__}")
