"""Idempotency keys of API writes: a write retried with the same key happens once.

``claim`` takes a key for a request (or finds it taken), ``complete`` keeps the answer given,
``release`` forgets a key whose request failed. Keys are kept for ``KEEP`` (24 hours) and belong
to one token: another token's key of the same text is another key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storage.tables import IdempotencyRow

KEEP = timedelta(hours=24)
STALE = timedelta(minutes=5)  # a key still "in progress" after this was left by a crash

T = IdempotencyRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claim:
    outcome: str  # new | replay | mismatch | busy
    status: int | None = None
    body: bytes | None = None
    content_type: str = ""
    etag: str = ""


def claim(engine: Engine, owner: str, key: str, request_sha256: str, now: datetime) -> Claim:
    """Take ``key`` for this request, or say why not: the answer to replay, a different request
    under the same key, or the same request still running."""
    with engine.begin() as c:
        c.execute(delete(T).where(T.c.created_at < now - KEEP))
        try:
            with c.begin_nested():
                c.execute(insert(T).values(owner=owner, key=key, request_sha256=request_sha256,
                                           status=None, body=None, content_type="", etag="",
                                           created_at=now))
            return Claim("new")
        except IntegrityError:
            pass
        row = c.execute(select(T).where(T.c.owner == owner, T.c.key == key)).first()
        if row is None:  # expired and removed meanwhile: take it
            c.execute(insert(T).values(owner=owner, key=key, request_sha256=request_sha256,
                                       status=None, body=None, content_type="", etag="",
                                       created_at=now))
            return Claim("new")
        if row.request_sha256 != request_sha256:
            return Claim("mismatch")
        if row.status is None:
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(
                tzinfo=now.tzinfo)
            if now - created > STALE:
                c.execute(update(T).where(T.c.owner == owner, T.c.key == key)
                          .values(created_at=now))
                return Claim("new")
            return Claim("busy")
        return Claim("replay", row.status, row.body, row.content_type, row.etag)


def complete(engine: Engine, owner: str, key: str, *, status: int, body: bytes,
             content_type: str, etag: str) -> None:
    with engine.begin() as c:
        c.execute(update(T).where(and_(T.c.owner == owner, T.c.key == key))
                  .values(status=status, body=body, content_type=content_type[:100],
                          etag=etag[:100]))


def release(engine: Engine, owner: str, key: str) -> None:
    with engine.begin() as c:
        c.execute(delete(T).where(T.c.owner == owner, T.c.key == key, T.c.status.is_(None)))
