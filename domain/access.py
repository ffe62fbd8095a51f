"""Who may do what: API users, their tokens, and the per-object authorization rules.

Users have one role (DESIGN §1):

============  ===========================================================================
planner       campaigns and registers; reads everything
auditor       records visits, interviews, issues and look-back checks of their own team
              (``team``, optionally in one ``campaign``); reads only their team's visits
office        issues and voids notices, approves extensions, records supervision; reads all
business      sees and rectifies only its own issues (``uscc``) and reads its own notices
cadre         an assigned official (包保干部, ``cadre_id``): sees the businesses assigned to them
              and their issues; records their own routine supervision visits, findings, leads
viewer        reads everything, writes nothing
admin         everything
============  ===========================================================================

A token is shown once when the user is added; only its SHA-256 is stored, and a presented token
is hashed and compared in constant time. Every refused attempt is written to the event log with
the actor (``access.refused``) by the entry point that refused it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from domain.clock import Clock
from domain.errors import (
    AuthenticationError,
    BadArgumentError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from domain.events import EventLog
from domain.offices import OfficeRepository, find_office
from domain.ports import RegisterRepository, Transaction
from domain.uscc import is_valid


class Role(StrEnum):
    PLANNER = "planner"
    AUDITOR = "auditor"
    OFFICE = "office"
    BUSINESS = "business"
    CADRE = "cadre"
    VIEWER = "viewer"
    ADMIN = "admin"


ROLE_ZH = {Role.PLANNER: "计划人员", Role.AUDITOR: "督查人员", Role.OFFICE: "食安办",
           Role.BUSINESS: "主体", Role.CADRE: "包保干部",
           Role.VIEWER: "查看人员", Role.ADMIN: "管理员"}

TOKEN_PREFIX = "lbk_"


class Action(StrEnum):
    """What a request wants to do (the rules below say who may)."""

    READ = "read"                        # campaigns, metrics, draws, notices list, rates
    READ_VISIT = "read_visit"            # a visit, its interviews and issues (per team)
    READ_ISSUE = "read_issue"            # an issue, its history and evidence (per team/business)
    WRITE_FIELDWORK = "write_fieldwork"  # visits, interviews, issues, evidence (own team)
    RECORD_FOLLOWUP = "record_followup"  # a look-back check (own team)
    RECTIFY = "rectify"                  # report a rectification (own business)
    APPROVE_EXTENSION = "approve_extension"
    ISSUE_NOTICE = "issue_notice"        # issue or void notices
    READ_NOTICE = "read_notice"          # download a notice's PDF (own business, or staff)
    RECORD_SUPERVISION = "record_supervision"
    PLAN = "plan"                        # campaigns: create, launch, close
    ADMIN = "admin"                      # users


ACTION_ZH = {
    Action.READ: "查看", Action.READ_VISIT: "查看检查任务", Action.READ_ISSUE: "查看问题",
    Action.WRITE_FIELDWORK: "记录检查", Action.RECORD_FOLLOWUP: "记录复查",
    Action.RECTIFY: "报告整改", Action.APPROVE_EXTENSION: "批准延期",
    Action.ISSUE_NOTICE: "签发或作废文书", Action.READ_NOTICE: "下载文书",
    Action.RECORD_SUPERVISION: "记录包保督导", Action.PLAN: "管理督查", Action.ADMIN: "管理用户",
}


@dataclass(frozen=True)
class Principal:
    """An authenticated user."""

    id: int
    name: str
    role: Role
    team: int | None = None
    campaign_id: int | None = None
    uscc: str | None = None
    office_id: int | None = None
    #: The prefix of the office's territory (属地): the regions whose code starts with it.
    #: Empty for the national office, and for a user of no office (the whole country).
    territory: str = ""
    #: A cadre user: the assigned official (包保干部) of the cadre register they are.
    cadre_id: str | None = None

    @property
    def actor(self) -> str:
        """How the user appears in the event log."""
        return f"api:{self.name}"

    def covers(self, region: str | None) -> bool:
        """Whether a region code — a business's, or the territory prefix of a campaign's
        office — lies in this user's territory. ``None`` (not known) lies in the national
        territory only."""
        if not self.territory:
            return True
        return region is not None and region.startswith(self.territory)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role.value, "team": self.team,
                "campaign_id": self.campaign_id, "uscc": self.uscc, "office_id": self.office_id,
                "territory": self.territory, "cadre_id": self.cadre_id}


#: Who the command line acts as when no user is named (``--as``): the local administrator,
#: who has the database itself and so may do everything.
LOCAL_ADMIN = Principal(0, "local-admin", Role.ADMIN)


@dataclass(frozen=True)
class StoredUser:
    principal: Principal
    token_sha256: str
    created_at: datetime
    revoked_at: datetime | None


class UserRepository(Protocol):
    def add(self, *, name: str, role: str, team: int | None, campaign_id: int | None,
            uscc: str | None, token_sha256: str, at: datetime,
            office_id: int | None = None, cadre_id: str | None = None) -> int: ...
    def by_name(self, name: str) -> StoredUser | None: ...
    def by_token(self, token_sha256: str) -> StoredUser | None: ...
    def revoke(self, name: str, at: datetime) -> bool: ...
    def all(self) -> list[StoredUser]: ...


class AccessUnitOfWork(Transaction, Protocol):
    @property
    def users(self) -> UserRepository: ...
    @property
    def offices(self) -> OfficeRepository: ...
    @property
    def registers(self) -> RegisterRepository: ...
    @property
    def events(self) -> EventLog: ...


UnitOfWork = AccessUnitOfWork


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh API token: 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# --- users ------------------------------------------------------------------------------------

def add_user(name: str, role: str, *, team: int | None, campaign_id: int | None,
             uscc: str | None, actor: str, uow_factory: Callable[[], UnitOfWork],
             clock: Clock, office: str | None = None,
             cadre_id: str | None = None) -> tuple[Principal, str]:
    """Add a user, of ``office`` (its name or id) when given; a cadre user is the assigned
    official ``cadre_id`` of the cadre register. Returns it and its token (shown once: only the
    hash is stored)."""
    name = name.strip()
    problems: list[tuple[str, str]] = []
    if not name or len(name) > 100 or any(c.isspace() or ord(c) < 32 for c in name):
        problems.append(("NAME must be 1–100 characters without spaces",
                         "NAME应为1至100个字符且不含空格"))
    if role not in {r.value for r in Role}:
        problems.append((f"--role must be one of {', '.join(r.value for r in Role)}",
                         f"--role应为{'、'.join(r.value for r in Role)}之一"))
    if role == Role.AUDITOR and team is None:
        problems.append(("--team is required for an auditor", "督查人员需要--team（督查组）"))
    if team is not None and role != Role.AUDITOR:
        problems.append(("--team is only for an auditor", "--team仅适用于督查人员"))
    if team is not None and team < 1:
        problems.append(("--team must be at least 1", "--team至少为1"))
    if campaign_id is not None and role != Role.AUDITOR:
        problems.append(("--campaign is only for an auditor", "--campaign仅适用于督查人员"))
    if role == Role.BUSINESS:
        if not uscc:
            problems.append(("--business (USCC) is required for a business user",
                             "主体用户需要--business（统一社会信用代码）"))
        elif not is_valid(uscc):
            problems.append((f"--business {uscc!r} is not a valid USCC",
                             f"--business“{uscc}”不是有效的统一社会信用代码"))
    elif uscc:
        problems.append(("--business is only for a business user", "--business仅适用于主体用户"))
    if role == Role.CADRE and not cadre_id:
        problems.append(("--cadre (the official's id in the cadre register) is required for a "
                         "cadre user", "包保干部用户需要--cadre（包保干部名录中的编号）"))
    elif cadre_id and role != Role.CADRE:
        problems.append(("--cadre is only for a cadre user", "--cadre仅适用于包保干部用户"))
    if problems:
        raise BadArgumentError("; ".join(en for en, _ in problems),
                               "；".join(zh for _, zh in problems))
    token = new_token()
    now = clock.now()
    with uow_factory() as uow:
        if uow.users.by_name(name) is not None:
            raise ConflictError(f"user {name!r} already exists", f"用户“{name}”已存在",
                                code="user_exists")
        if uscc and uow.registers.get_business(uscc) is None:
            raise NotFoundError(f"--business {uscc}: no such business in the register",
                                f"--business {uscc}：名录中没有该主体")
        if cadre_id and uow.registers.get_cadre(cadre_id) is None:
            raise NotFoundError(f"--cadre {cadre_id}: no such official in the cadre register",
                                f"--cadre {cadre_id}：包保干部名录中没有该人员")
        the_office = None
        if office is not None:
            the_office = find_office(uow.offices, office)
            if the_office is None:
                raise NotFoundError(f"--office {office}: no such office (`lookback office list`)",
                                    f"--office {office}：没有该食安办（`lookback office list`）")
        office_id = the_office.id if the_office else None
        uid = uow.users.add(name=name, role=role, team=team, campaign_id=campaign_id, uscc=uscc,
                            token_sha256=token_sha256(token), at=now, office_id=office_id,
                            cadre_id=cadre_id)
        uow.events.append(at=now, actor=actor, kind="user.added", entity=f"user:{name}",
                          payload={"role": role, "team": team, "campaign": campaign_id,
                                   "uscc": uscc, "office": office_id, "cadre": cadre_id})
        uow.commit()
    territory = the_office.territory.prefix if the_office else ""
    return Principal(uid, name, Role(role), team, campaign_id, uscc, office_id, territory,
                     cadre_id), token


def revoke_user(name: str, *, actor: str, uow_factory: Callable[[], UnitOfWork],
                clock: Clock) -> None:
    now = clock.now()
    with uow_factory() as uow:
        u = uow.users.by_name(name)
        if u is None:
            raise NotFoundError(f"user {name!r} does not exist", f"用户“{name}”不存在")
        if u.revoked_at is not None:
            raise ConflictError(f"user {name!r} is already revoked", f"用户“{name}”已被撤销",
                                code="already_revoked")
        uow.users.revoke(name, now)
        uow.events.append(at=now, actor=actor, kind="user.revoked", entity=f"user:{name}",
                          payload={})
        uow.commit()


def authenticate(token: str | None, *, uow_factory: Callable[[], UnitOfWork]) -> Principal:
    """The user a bearer token belongs to; AuthenticationError when missing, unknown or revoked."""
    if not token:
        raise AuthenticationError("no API token: send the header Authorization: Bearer <token>",
                                  "缺少API令牌：请在请求头中提供Authorization: Bearer <令牌>")
    digest = token_sha256(token)
    with uow_factory() as uow:
        u = uow.users.by_token(digest)
    # The lookup is by the token's hash; compare again in constant time all the same.
    if u is None or not hmac.compare_digest(u.token_sha256, digest):
        raise AuthenticationError("the API token is not valid", "API令牌无效")
    if u.revoked_at is not None:
        # The same answer as for a token that never existed: telling them apart would tell an
        # attacker that a token once worked. The refusal event keeps the difference.
        raise AuthenticationError("the API token is not valid", "API令牌无效")
    return u.principal


# --- authorization ----------------------------------------------------------------------------

STAFF_READERS = {Role.PLANNER, Role.OFFICE, Role.VIEWER, Role.ADMIN}


def in_territory(p: Principal, region: str | None) -> bool:
    """The territory rule (属地管理): staff of an office (planner, office, viewer, admin) see
    only what lies in its territory; auditors and businesses have their own narrower scopes."""
    return p.role not in STAFF_READERS or p.covers(region)


def sees_supervision(p: Principal, *, uscc: str, cadre_id: str, region: str | None) -> bool:
    """Whether ``p`` sees a routine supervision visit (包保督导) of official ``cadre_id`` to the
    business ``uscc`` in ``region``: staff those within their territory, a cadre their own, a
    business those to itself; an auditor (a campaign's inspector) none."""
    if p.role in STAFF_READERS:
        return p.covers(region)
    if p.role == Role.CADRE:
        return p.cadre_id is not None and p.cadre_id == cadre_id
    if p.role == Role.BUSINESS:
        return p.uscc is not None and p.uscc == uscc
    return False


def supervision_filter(p: Principal) -> tuple[str, str | None]:
    """The ``(territory, cadre_id)`` a query of supervision visits can be narrowed by for
    ``p`` before :func:`sees_supervision` is applied to each row."""
    if p.role == Role.CADRE:
        return "", p.cadre_id or "\x00"  # a cadre user always has one; never match otherwise
    return (p.territory if p.role in STAFF_READERS else ""), None


def _deny(p: Principal, action: Action, en: str, zh: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"user {p.name} ({p.role.value}) may not {action.value.replace('_', ' ')}: {en}",
        f"用户{p.name}（{ROLE_ZH[p.role]}）无权{ACTION_ZH[action]}：{zh}")


def own_team(p: Principal, campaign_id: int, team: int | None) -> bool:
    """Whether a visit of ``campaign_id`` and ``team`` is this auditor's."""
    return (p.role == Role.AUDITOR and team is not None and p.team == team
            and (p.campaign_id is None or p.campaign_id == campaign_id))


def assigned_to_me(p: Principal, assigned: frozenset[str] | None) -> bool:
    """Whether a cadre user is among ``assigned`` (the officials assigned to a business)."""
    return (p.role == Role.CADRE and p.cadre_id is not None and assigned is not None
            and p.cadre_id in assigned)


def may_read_issue(p: Principal, *, campaign_id: int | None, team: int | None,
                   uscc: str | None, assigned: frozenset[str] | None = None) -> bool:
    """Whether ``p`` may read an issue (or visit) of ``campaign_id`` and ``team`` at ``uscc``:
    staff all; an auditor their own team's; a business its own; a cadre those of a business
    assigned to them (``assigned``: the officials assigned to it)."""
    if p.role in STAFF_READERS:
        return True
    if p.role == Role.CADRE:
        return assigned_to_me(p, assigned)
    if p.role == Role.AUDITOR:
        return campaign_id is not None and own_team(p, campaign_id, team)
    if p.role == Role.BUSINESS:
        return uscc is not None and uscc == p.uscc
    return False


def sees_issue(p: Principal, *, campaign_id: int | None, team: int | None, uscc: str | None,
               region: str | None, assigned: frozenset[str] | None = None) -> bool:
    """Whether an issue (or visit) shows in ``p``'s lists: inside their territory, and
    :func:`may_read_issue`."""
    return in_territory(p, region) and may_read_issue(p, campaign_id=campaign_id, team=team,
                                                      uscc=uscc, assigned=assigned)


def may_read_notice(p: Principal, *, campaign_id: int | None, teams: frozenset[int],
                    uscc: str | None) -> bool:
    """The rule for reading a notice is the rule for reading what it is about: staff read every
    notice; a business the notices addressed to it; an auditor the notices of their campaign
    that concern their own team's issues (``teams``: the teams of the issues a notice names), and
    the campaign-wide ones (a circular, the draw publication) that name no issue."""
    if p.role in STAFF_READERS:
        return True
    if p.role == Role.BUSINESS:
        return uscc is not None and uscc == p.uscc
    if p.role == Role.AUDITOR:
        if campaign_id is None or (p.campaign_id is not None and p.campaign_id != campaign_id):
            return False
        return not teams or p.team in teams
    return False


def authorize(p: Principal, action: Action, *, campaign_id: int | None = None,
              team: int | None = None, uscc: str | None = None,
              teams: frozenset[int] | None = None, region: str | None = None,
              cadre_id: str | None = None, assigned: frozenset[str] | None = None) -> None:
    """Allow or raise PermissionDeniedError naming the user, the action and why.

    ``campaign_id``/``team`` describe the visit (or the issue's visit) acted on, ``uscc`` the
    business it concerns, ``region`` where it lies (the business's region code, or the
    territory prefix of the office that owns a campaign): staff of an office act only within
    its territory (属地管理), a higher office over everything below it. ``cadre_id`` is the
    official a supervision record is for, ``assigned`` the officials assigned to the business
    (what a cadre user may see and record).
    """
    r = p.role
    if region is not None and not in_territory(p, region):  # an admin of an office too
        raise _deny(p, action, f"it lies outside the office's territory ({region})",
                    f"不在本单位辖区内（{region}）")
    if r == Role.ADMIN:
        return
    if action == Action.READ:
        return
    if action == Action.READ_NOTICE:
        if may_read_notice(p, campaign_id=campaign_id, teams=teams or frozenset(), uscc=uscc):
            return
        if r == Role.BUSINESS:
            raise _deny(p, action, "it concerns another business", "涉及其他主体")
        if r == Role.AUDITOR:
            raise _deny(p, action, "it concerns another team or campaign", "涉及其他督查组或督查")
        raise _deny(p, action, "not for this role", "该角色无此权限")
    if action == Action.READ_ISSUE and may_read_issue(p, campaign_id=campaign_id, team=team,
                                                       uscc=uscc, assigned=assigned):
        return  # the same rule the metrics' overdue list follows
    if action in (Action.READ_VISIT, Action.READ_ISSUE):
        if r in STAFF_READERS:
            return
        if r == Role.AUDITOR:
            if campaign_id is not None and own_team(p, campaign_id, team):
                return
            raise _deny(p, action, "it belongs to another team", "属于其他督查组")
        if r == Role.BUSINESS and action == Action.READ_ISSUE:
            if uscc is not None and uscc == p.uscc:
                return
            raise _deny(p, action, "it concerns another business", "涉及其他主体")
        if r == Role.CADRE and action == Action.READ_ISSUE:
            raise _deny(p, action, "the business is not assigned to them", "该主体不由其包保")
        raise _deny(p, action, "not for this role", "该角色无此权限")
    if action in (Action.WRITE_FIELDWORK, Action.RECORD_FOLLOWUP):
        if r == Role.AUDITOR:
            if campaign_id is not None and own_team(p, campaign_id, team):
                return
            raise _deny(p, action, "it belongs to another team", "属于其他督查组")
        raise _deny(p, action, "only the campaign's auditors record fieldwork",
                    "仅本督查组人员可记录")
    if action == Action.RECTIFY:
        if r == Role.BUSINESS and uscc is not None and uscc == p.uscc:
            return
        if r == Role.BUSINESS:
            raise _deny(p, action, "it concerns another business", "涉及其他主体")
        raise _deny(p, action, "only the business reports its rectification",
                    "仅主体本身可报告整改")
    if action == Action.RECORD_SUPERVISION and r == Role.CADRE:
        if cadre_id is not None and cadre_id == p.cadre_id and (
                assigned is None or assigned_to_me(p, assigned)):
            return
        raise _deny(p, action, "a cadre records only their own visits to the businesses "
                    "assigned to them", "包保干部只能记录本人对所包保主体的督导")
    if action in (Action.APPROVE_EXTENSION, Action.ISSUE_NOTICE, Action.RECORD_SUPERVISION):
        if r == Role.OFFICE:
            return
        raise _deny(p, action, "only the food-safety office may", "仅食安办可操作")
    if action == Action.PLAN:
        if r == Role.PLANNER:
            return
        raise _deny(p, action, "only a planner may", "仅计划人员可操作")
    raise _deny(p, action, "only an administrator may", "仅管理员可操作")


MAX_FIELD = 120  # characters of any one field of a refusal event


class RefusalBudget:
    """How many refusals are written to the event log, per minute: at most ``per_key`` for one
    client or token and ``total`` in all; the others are counted, and the count is written as
    one ``access.refusals_suppressed`` event when the next minute's first refusal comes. So a
    flood costs the database at most ``total + 1`` rows a minute (per API process)."""

    def __init__(self, *, per_key: int = 20, total: int = 200) -> None:
        self.per_key, self.total = per_key, total
        self._minute: int | None = None
        self._by_key: dict[str, int] = {}
        self._written = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def admit(self, key: str, now: datetime) -> tuple[bool, int]:
        """Whether this refusal is written, and how many of the last minute were not."""
        minute = int(now.timestamp()) // 60
        with self._lock:
            carried = 0
            if minute != self._minute:
                carried, self._suppressed = self._suppressed, 0
                self._minute, self._by_key, self._written = minute, {}, 0
            seen = self._by_key.get(key, 0) + 1
            self._by_key[key] = seen
            if seen > self.per_key or self._written >= self.total:
                self._suppressed += 1
                return False, carried
            self._written += 1
            return True, carried


def record_refusal(p: Principal | None, *, action: str, target: str, reason: str,
                   uow_factory: Callable[[], UnitOfWork], clock: Clock,
                   budget: RefusalBudget | None = None, key: str = "") -> bool:
    """Write a refused attempt to the event log (``access.refused``) with the actor, its fields
    cut to a bounded length; with a ``budget``, only as many a minute as it admits for ``key``
    (the client or token). Returns whether the refusal was written."""
    now = clock.now()
    admitted, carried = budget.admit(key, now) if budget is not None else (True, 0)
    if not admitted and not carried:
        return False
    with uow_factory() as uow:
        if carried:
            uow.events.append(at=now, actor="api", kind="access.refusals_suppressed",
                              entity="user:anonymous", payload={"count": carried})
        if admitted:
            uow.events.append(at=now, actor=p.actor if p else "api:anonymous",
                              kind="access.refused",
                              entity=f"user:{p.name}" if p else "user:anonymous",
                              payload={"action": action[:MAX_FIELD], "target": target[:MAX_FIELD],
                                       "reason": reason[:MAX_FIELD],
                                       "role": p.role.value if p else None})
        uow.commit()
    return admitted
