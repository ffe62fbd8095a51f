"""People log in: passwords, log-in sessions and short-lived tokens, lockout with back-off,
resets by an administrator.

- **Passwords** are hashed with argon2id by the ``PasswordHasher`` the composition root wires in
  (the domain stays free of the library). A password has at least ``MIN_LENGTH`` characters, is
  not one of the commonly used ones, not one repeated character or a run of digits, and does
  not contain the user's name.
- **A new user, or one whose password an administrator reset, holds a one-time password** that
  must be changed at the first log-in: the log-in carries the new password, or is refused with
  ``password_change_required``.
- **A log-in** gives either a session (for the web pages: a cookie) or a short-lived bearer
  token; both are random secrets of which only the SHA-256 is stored, both end at log-out, and
  both expire (``SESSION_HOURS``, ``TOKEN_MINUTES``). API tokens for scripts are unchanged.
- **Failures lock the account**: after ``LOCK_AFTER`` failures in a row, each further attempt
  waits ``LOCK_SECONDS`` doubled for every failure beyond, up to ``MAX_LOCK_SECONDS``; a
  successful log-in or a reset clears it. While locked, no password is even checked. An unknown
  name is answered exactly as a wrong password.
- **Every log-in, failure, lockout, log-out, change and reset is an event.**
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.access import Principal, StoredUser
from domain.clock import Clock
from domain.errors import (
    AuthenticationError,
    BadArgumentError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from domain.events import EventLog
from domain.ports import Transaction

MIN_LENGTH = 10
MAX_LENGTH = 200
LOCK_AFTER = 5
LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 3600
SESSION_HOURS = 12
TOKEN_MINUTES = 60
SESSION_PREFIX = "lbs_"

#: Passwords people choose most often (and a few of this field): refused whatever their length.
_COMMON_TEXT = """
123456 123456789 12345678 1234567890 1234567 12345 password password1 password123 passw0rd
qwerty qwerty123 qwertyuiop 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qaz2wsx3edc zaq12wsx abc123 abc12345
abcd1234 a123456 a12345678 aa123456 iloveyou welcome welcome1 admin admin123 administrator
letmein monkey dragon football baseball sunshine princess master shadow superman trustno1
111111 000000 123123 654321 666666 888888 987654321 1234qwer qwer1234 asdfghjkl asdf1234
woaini 5201314 woaini1314 wo123456 aini1314 147258369 123321 112233 159753 789456123
changeme changeme123 default guest root toor test123 test1234 p@ssw0rd p@ssword letmein123
lookback lookback123 foodsafety shipinanquan anquan123 dubao duchaban shianban
"""
COMMON = frozenset(_COMMON_TEXT.split())


@dataclass(frozen=True)
class Credentials:
    """What a log-in checks: the user, the password hash (None: never set), whether it must
    be changed, and the lockout state."""

    user: StoredUser
    password_hash: str | None
    must_change: bool
    failed_logins: int
    locked_until: datetime | None


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...


class CredentialRepository(Protocol):
    def credentials(self, name: str) -> Credentials | None: ...
    def set_password(self, user_id: int, password_hash: str, *, must_change: bool) -> None: ...
    def set_failures(self, user_id: int, failed: int, locked_until: datetime | None) -> None: ...


class SessionRepository(Protocol):
    def add(self, *, sha256: str, user_id: int, kind: str, created_at: datetime,
            expires_at: datetime) -> None: ...
    def user_of(self, sha256: str, now: datetime) -> StoredUser | None:
        """The user of a session that is neither revoked nor expired at ``now``."""
        ...
    def revoke(self, sha256: str, at: datetime) -> bool: ...
    def revoke_all(self, user_id: int, at: datetime) -> int: ...


class AuthUnitOfWork(Transaction, Protocol):
    @property
    def credentials(self) -> CredentialRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def events(self) -> EventLog: ...


UowFactory = Callable[[], AuthUnitOfWork]


def password_problems(password: str, name: str = "") -> list[tuple[str, str]]:
    """What is wrong with a new password, as (en, zh) pairs; empty when it will do."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append((f"the password must have at least {MIN_LENGTH} characters",
                         f"密码至少需要{MIN_LENGTH}个字符"))
    if len(password) > MAX_LENGTH:
        problems.append((f"the password must have at most {MAX_LENGTH} characters",
                         f"密码最多{MAX_LENGTH}个字符"))
    lowered = password.lower()
    if lowered in COMMON or len(set(password)) <= 2 or (
            lowered.isdigit() and lowered in "01234567890123456789 98765432109876543210"):
        problems.append(("the password is too common or too simple", "密码过于常见或过于简单"))
    if name and len(name) >= 3 and name.lower() in lowered:
        problems.append(("the password must not contain the user name", "密码不得包含用户名"))
    return problems


def _check_new(password: str, name: str) -> None:
    problems = password_problems(password, name)
    if problems:
        raise BadArgumentError("; ".join(en for en, _ in problems),
                               "；".join(zh for _, zh in problems), code="weak_password")


def one_time_password() -> str:
    """A password to hand over once (a new user, a reset): 16 random characters."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def lock_seconds(failed: int) -> int:
    """How long the account stays locked after ``failed`` failures in a row (0: not locked)."""
    if failed < LOCK_AFTER:
        return 0
    return min(MAX_LOCK_SECONDS, LOCK_SECONDS * (1 << min(30, failed - LOCK_AFTER)))


@dataclass(frozen=True)
class LoginResult:
    principal: Principal
    secret: str
    kind: str  # session | token
    expires_at: datetime


_WRONG = ("the name or the password is wrong", "用户名或密码错误")
#: Verified against when the name is unknown, so that an unknown name takes as long.
_DUMMY: dict[str, str] = {}


def login(name: str, password: str, *, kind: str = "session", new_password: str | None = None,
          hasher: PasswordHasher, uow_factory: UowFactory, clock: Clock,
          client: str = "") -> LoginResult:
    """Check a name and password and open a session (``kind`` "session") or a short-lived
    token ("token"). A one-time password needs ``new_password`` with it."""
    if kind not in ("session", "token"):
        raise BadArgumentError("mode must be session or token", "mode应为session或token")
    now = clock.now()
    with uow_factory() as uow:
        cred = uow.credentials.credentials(name.strip()) if name.strip() else None
        if cred is None or cred.user.revoked_at is not None or cred.password_hash is None:
            hasher.verify(_DUMMY.setdefault("h", hasher.hash(one_time_password())), password)
            uow.events.append(at=now, actor=f"login:{name[:100]}", kind="auth.login_failed",
                              entity=f"user:{name[:100]}",
                              payload={"reason": "unknown user or no password",
                                       "client": client[:100]})
            uow.commit()
            raise AuthenticationError(*_WRONG, code="bad_credentials")
        user = cred.user.principal
        entity = f"user:{user.name}"
        if cred.locked_until is not None and cred.locked_until > now:
            uow.events.append(at=now, actor=f"login:{user.name}", kind="auth.login_failed",
                              entity=entity, payload={"reason": "locked",
                                                      "client": client[:100]})
            uow.commit()
            wait = max(1, math.ceil((cred.locked_until - now).total_seconds()))
            raise PermissionDeniedError(
                f"the account is locked after repeated failures; try again in {wait} s, or ask "
                "an administrator to reset the password",
                f"多次登录失败，账户已锁定；请{wait}秒后重试，或请管理员重置密码",
                code="account_locked")
        if not hasher.verify(cred.password_hash, password):
            failed = cred.failed_logins + 1
            seconds = lock_seconds(failed)
            locked = now + timedelta(seconds=seconds) if seconds else None
            uow.credentials.set_failures(user.id, failed, locked)
            uow.events.append(at=now, actor=f"login:{user.name}", kind="auth.login_failed",
                              entity=entity, payload={"reason": "wrong password",
                                                      "failed": failed,
                                                      "client": client[:100]})
            if locked is not None:
                uow.events.append(at=now, actor="system", kind="auth.locked", entity=entity,
                                  payload={"failed": failed, "seconds": seconds,
                                           "until": locked.isoformat()})
            uow.commit()
            raise AuthenticationError(*_WRONG, code="bad_credentials")
        if cred.must_change:
            if new_password is None:
                raise ConflictError(
                    "this is a one-time password: log in again with new_password set to the "
                    "password you choose", "这是一次性密码：请在登录时同时提供新密码（new_password）",
                    code="password_change_required")
            _check_new(new_password, user.name)
            if new_password == password:
                raise BadArgumentError("the new password must differ from the one-time one",
                                       "新密码不得与一次性密码相同", code="weak_password")
            uow.credentials.set_password(user.id, hasher.hash(new_password), must_change=False)
            uow.events.append(at=now, actor=f"login:{user.name}", kind="auth.password_changed",
                              entity=entity, payload={"at_first_login": True})
        if cred.failed_logins or cred.locked_until is not None:
            uow.credentials.set_failures(user.id, 0, None)
        secret = SESSION_PREFIX + secrets.token_urlsafe(32)
        expires = now + (timedelta(hours=SESSION_HOURS) if kind == "session"
                         else timedelta(minutes=TOKEN_MINUTES))
        uow.sessions.add(sha256=secret_sha256(secret), user_id=user.id, kind=kind,
                         created_at=now, expires_at=expires)
        uow.events.append(at=now, actor=f"login:{user.name}", kind="auth.login", entity=entity,
                          payload={"mode": kind, "expires_at": expires.isoformat(),
                                   "client": client[:100]})
        uow.commit()
    return LoginResult(user, secret, kind, expires)


def csrf_token(secret: str) -> str:
    """The anti-forgery token of a session: what a page of that session sends back with every
    write (``X-CSRF-Token``, or a form's ``csrf`` field). Derived from the session's secret, which
    only the cookie holds, so another site can neither read nor make it."""
    return hmac.new(secret.encode("utf-8"), b"lookback-csrf", hashlib.sha256).hexdigest()


def session_user(secret: str, *, uow_factory: UowFactory, clock: Clock) -> Principal:
    """The user of a log-in session or short-lived token; 401 when unknown, ended or expired."""
    with uow_factory() as uow:
        u = uow.sessions.user_of(secret_sha256(secret), clock.now())
    if u is None or u.revoked_at is not None:
        raise AuthenticationError("the session has ended or expired: log in again",
                                  "会话已结束或已过期：请重新登录", code="session_expired")
    return u.principal


def logout(secret: str, *, user: Principal, uow_factory: UowFactory, clock: Clock) -> bool:
    """End a session on the server; whether it was still open."""
    now = clock.now()
    with uow_factory() as uow:
        ended = uow.sessions.revoke(secret_sha256(secret), now)
        uow.events.append(at=now, actor=user.actor, kind="auth.logout",
                          entity=f"user:{user.name}", payload={"ended": ended})
        uow.commit()
    return ended


def change_password(user: Principal, old: str, new: str, *, hasher: PasswordHasher,
                    uow_factory: UowFactory, clock: Clock) -> None:
    """A logged-in user changes their own password (the old one is checked)."""
    now = clock.now()
    with uow_factory() as uow:
        cred = uow.credentials.credentials(user.name)
        if cred is None or cred.password_hash is None or not hasher.verify(cred.password_hash,
                                                                           old):
            raise AuthenticationError("the current password is wrong", "当前密码错误",
                                      code="bad_credentials")
        _check_new(new, user.name)
        uow.credentials.set_password(user.id, hasher.hash(new), must_change=False)
        uow.events.append(at=now, actor=user.actor, kind="auth.password_changed",
                          entity=f"user:{user.name}", payload={"at_first_login": False})
        uow.commit()


def reset_password(name: str, *, actor: str, hasher: PasswordHasher, uow_factory: UowFactory,
                   clock: Clock) -> str:
    """An administrator resets a user's password: a one-time password (returned, shown once)
    that must be changed at the next log-in; the lockout is cleared and every open session of
    the user ends."""
    now = clock.now()
    temporary = one_time_password()
    with uow_factory() as uow:
        cred = uow.credentials.credentials(name.strip())
        if cred is None:
            raise NotFoundError(f"user {name!r} does not exist", f"用户“{name}”不存在")
        if cred.user.revoked_at is not None:
            raise ConflictError(f"user {name!r} is revoked", f"用户“{name}”已被撤销",
                                code="already_revoked")
        uid = cred.user.principal.id
        uow.credentials.set_password(uid, hasher.hash(temporary), must_change=True)
        uow.credentials.set_failures(uid, 0, None)
        ended = uow.sessions.revoke_all(uid, now)
        uow.events.append(at=now, actor=actor, kind="auth.password_reset",
                          entity=f"user:{cred.user.principal.name}",
                          payload={"sessions_ended": ended})
        uow.commit()
    return temporary


def set_initial_password(user_id: int, name: str, *, actor: str, hasher: PasswordHasher,
                         uow_factory: UowFactory, clock: Clock) -> str:
    """The one-time password of a new user (returned, shown once)."""
    now = clock.now()
    temporary = one_time_password()
    with uow_factory() as uow:
        uow.credentials.set_password(user_id, hasher.hash(temporary), must_change=True)
        uow.events.append(at=now, actor=actor, kind="auth.password_reset",
                          entity=f"user:{name}", payload={"initial": True})
        uow.commit()
    return temporary
