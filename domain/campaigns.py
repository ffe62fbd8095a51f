"""Campaign use cases: create from a plan, freeze the frame, draw, plan visits, verify, extend.

Every step is idempotent and safe to run twice or at the same time as itself: the frame and the
record are written "if absent" and re-read, visits are keyed by (campaign, business), so a
relaunch or a launch after a crash ends in the same state with nothing drawn twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError, InputError, NotFoundError
from domain.events import EventLog
from domain.offices import Office
from domain.plan import Plan, parse_plan
from domain.ports import Transaction
from domain.sampling import (
    ALGORITHM,
    BEACON_VALUE_MAX,
    COMMITTED_AT_FORMAT,
    FRAME_HEADER,
    SEED_DERIVATION,
    Draw,
    DrawParams,
    FrameBusiness,
    FrameInspector,
    Pick,
    StageResult,
    beacon_seed,
    commitment_difference,
    commitment_summary,
    draw,
    extend,
    first_difference,
    frame_lines,
    frame_sha256,
    params_difference,
    parse_frame,
    replay,
)
from domain.stats import rectification_rate


@dataclass
class Campaign:
    """A campaign (督查) as stored."""

    id: int
    office: str
    office_short: str
    title: str
    kind: str
    status: str  # draft | launched | closed
    starts_on: date
    ends_on: date
    seed: str
    seed_auto: bool
    plan: dict[str, Any]
    plan_source: str
    created_at: datetime
    launched_at: datetime | None = None
    source_campaign_id: int | None = None  # a look-back (回头看): the campaign it re-checks
    office_id: int | None = None  # the office that owns it (None: planned before offices)
    #: The owning office's territory prefix ("": national, or no office): who may see it.
    territory: str = ""


@dataclass(frozen=True)
class FrozenFrame:
    """A campaign's frozen frame: the canonical lines and their SHA-256."""

    sha256: str
    businesses: int
    inspectors: int
    lines: list[str]


@dataclass(frozen=True)
class Commitment:
    """A draw commitment (``lookback draw commit``): the frozen frame's SHA-256 and when it was
    committed, the beacon the plan named in advance and, once entered, its published value."""

    campaign_id: int
    frame_sha256: str
    committed_at: datetime  # UTC
    beacon_name: str
    published_on: date
    beacon_value: str | None = None
    value_entered_at: datetime | None = None

    @property
    def committed_on(self) -> date:
        """The date in China when the frame was committed."""
        return china_date(self.committed_at)

    @property
    def seed(self) -> str | None:
        """The seed derived from the frame hash and the beacon value (None before the value)."""
        if self.beacon_value is None:
            return None
        return beacon_seed(self.frame_sha256, self.beacon_value)

    def as_record(self) -> dict[str, Any]:
        """The ``commitment`` object of the draw record (docs/draw.md)."""
        return {"seed_derivation": SEED_DERIVATION, "frame_sha256": self.frame_sha256,
                "committed_at": self.committed_at.astimezone(UTC).strftime(COMMITTED_AT_FORMAT),
                "committed_on": self.committed_on.isoformat(),
                "beacon": {"name": self.beacon_name,
                           "published_on": self.published_on.isoformat(),
                           "value": self.beacon_value}}


@dataclass(frozen=True)
class CampaignCounts:
    campaign: Campaign
    frame_businesses: int | None
    sampled: int | None
    teams: int
    visits_planned: int
    visits_done: int



class CampaignRepository(Protocol):
    """Campaigns, their frozen frames, draw records, teams and visits."""

    def add(self, plan: Plan, *, seed: str, seed_auto: bool, source: str,
            created_at: datetime, source_campaign_id: int | None = None,
            office_id: int | None = None) -> int: ...
    def get(self, campaign_id: int) -> Campaign | None: ...
    def issue_businesses(self, source_campaign_id: int, *, issues: str, provinces: list[str],
                         categories: list[str], risk_levels: list[str]) -> list[FrameBusiness]:
        """The businesses of a look-back's frame: those with issues in scope in the source."""
        ...
    def source_issues(self, campaign_id: int, source_campaign_id: int, *,
                      issues: str) -> list[tuple[str, str, int, str]]: ...
    def all_counts(self) -> list[CampaignCounts]: ...
    def with_status(self, status: str) -> list[Campaign]:
        """The campaigns in one status, by id (no counts: a cheap listing)."""
        ...
    def counts(self, campaign_id: int) -> CampaignCounts | None: ...
    def frame_businesses(self, *, provinces: list[str], categories: list[str],
                         risk_levels: list[str], excluded_since: date | None, until: date,
                         campaign_id: int) -> list[FrameBusiness]: ...
    def frame_inspectors(self) -> list[FrameInspector]: ...
    def get_frame(self, campaign_id: int) -> FrozenFrame | None: ...
    def save_frame_if_absent(self, campaign_id: int, frame: FrozenFrame, *,
                             frozen_at: datetime) -> FrozenFrame: ...
    def get_record(self, campaign_id: int) -> dict[str, Any] | None: ...
    def save_record_if_absent(self, campaign_id: int, record: dict[str, Any], *, total: int,
                              at: datetime) -> dict[str, Any]: ...
    def replace_record(self, campaign_id: int, record: dict[str, Any], *, total: int,
                       at: datetime, expected_total: int) -> None: ...
    def add_team_members(self, campaign_id: int, rows: list[tuple[str, int, int]]) -> int: ...
    def add_visits(self, campaign_id: int, rows: list[tuple[str, int, str]]) -> int: ...
    def mark_launched(self, campaign_id: int, at: datetime) -> bool: ...
    def get_commitment(self, campaign_id: int) -> Commitment | None: ...
    def save_commitment_if_absent(self, commitment: Commitment) -> Commitment:
        """Store the commitment unless one exists; returns the stored one."""
        ...
    def set_beacon_value(self, campaign_id: int, value: str, *, seed: str, at: datetime) -> bool:
        """Store the beacon value and the derived seed while the campaign is a draft; False
        when it is not (nothing changes then)."""
        ...
    def set_status(self, campaign_id: int, status: str) -> None: ...


class CampaignUnitOfWork(Transaction, Protocol):
    @property
    def campaigns(self) -> CampaignRepository: ...
    @property
    def events(self) -> EventLog: ...


UnitOfWorkFactory = Callable[[], CampaignUnitOfWork]
UnitOfWork = CampaignUnitOfWork

def not_found(campaign_id: int) -> NotFoundError:
    return NotFoundError(f"campaign {campaign_id} does not exist", f"督查{campaign_id}不存在")


def create_campaign(plan_text: str, *, source: str, uow_factory: UnitOfWorkFactory, clock: Clock,
                    new_seed: Callable[[], str], actor: str = "system",
                    office: Office | None = None) -> int:
    """Validate a plan and store it as a draft campaign; ``seed = "auto"`` draws a seed now.
    With ``office``, the campaign belongs to that office: its notices go out in the office's
    name and are numbered in its series (the plan's own office names give way)."""
    plan = parse_plan(plan_text)
    if office is not None:
        plan = replace(plan, office=office.name, office_short=office.short_name)
    if plan.kind == "lookback":
        raise InputError(
            'the plan is a look-back (kind = "lookback"), which re-checks an earlier campaign: '
            "create it with `lookback campaign lookback SOURCE --plan PLAN.toml`",
            "该计划为回头看（kind = \"lookback\"），需针对已有督查：请用`lookback campaign lookback "
            "SOURCE --plan PLAN.toml`创建", code="lookback_needs_source")
    seed, seed_auto = _initial_seed(plan, new_seed)
    now = clock.now()
    with uow_factory() as uow:
        cid = uow.campaigns.add(plan, seed=seed, seed_auto=seed_auto, source=source,
                                created_at=now, office_id=office.id if office else None)
        uow.events.append(at=now, actor=actor, kind="campaign.created", entity=f"campaign:{cid}",
                          payload={"title": plan.title, "office": plan.office, "kind": plan.kind,
                                   "seed": seed, "seed_auto": seed_auto, "source": source,
                                   "office_id": office.id if office else None})
        uow.commit()
    return cid


def _initial_seed(plan: Plan, new_seed: Callable[[], str]) -> tuple[str, bool]:
    """(seed, drawn at random?) at creation. A beacon seed is unknown until the beacon's value
    is entered after the commitment: the campaign's seed stays empty until then."""
    if plan.beacon is not None:
        return "", False
    if plan.seed is None:
        return new_seed(), True
    return plan.seed, False


def _scope_figures(plan: Plan | dict[str, Any]) -> tuple[str, list[str], list[str], list[str]]:
    d = plan.as_dict() if isinstance(plan, Plan) else plan
    return (d.get("issues") or "unverified", list(d["provinces"]), list(d["categories"]),
            list(d["risk_levels"]))


def _in_scope(uow: UnitOfWork, source_id: int, plan: Plan | dict[str, Any],
              territory: str = "") -> list[FrameBusiness]:
    issues, provinces, categories, risk_levels = _scope_figures(plan)
    found = uow.campaigns.issue_businesses(source_id, issues=issues, provinces=provinces,
                                           categories=categories, risk_levels=risk_levels)
    return [b for b in found if b.region_code.startswith(territory)]


def _no_issues(source_id: int, issues: str) -> ConflictError:
    which_en = "unverified issues" if issues == "unverified" else "issues"
    which_zh = "未核验销号的问题" if issues == "unverified" else "问题"
    return ConflictError(
        f"SOURCE: campaign {source_id} has no {which_en} in the plan's scope (scope.issues = "
        f'"{issues}"); there is nothing to look back on',
        f"SOURCE：督查{source_id}在计划范围内没有{which_zh}（scope.issues = \"{issues}\"），无需回头看",
        code="no_issues_in_scope")


def create_lookback_campaign(source_id: int, plan_text: str, *, source: str,
                             uow_factory: UnitOfWorkFactory, clock: Clock,
                             new_seed: Callable[[], str], actor: str = "system",
                             office: Office | None = None) -> int:
    """Store a draft look-back campaign (回头看) over the issues of launched campaign
    ``source_id``. Its frame is frozen at launch: the businesses that then have issues in scope.
    With ``office``, the look-back is that office's, over its own territory only: a lower
    office may look back on a higher office's campaign (or its own, or a lower one's), never on
    a campaign of a territory beside its own."""
    plan = parse_plan(plan_text)
    if office is not None:
        plan = replace(plan, office=office.name, office_short=office.short_name)
    territory = office.territory.prefix if office is not None else ""
    if plan.kind != "lookback":
        raise BadArgumentError(
            f'--plan: the plan\'s kind is "{plan.kind}"; a look-back campaign needs '
            'campaign.kind = "lookback"',
            f"--plan：计划的类型为“{plan.kind}”；回头看的计划须为campaign.kind = \"lookback\"",
            code="not_a_lookback_plan")
    seed, seed_auto = _initial_seed(plan, new_seed)
    now = clock.now()
    with uow_factory() as uow:
        src = uow.campaigns.get(source_id)
        if src is None:
            raise NotFoundError(f"SOURCE: campaign {source_id} does not exist",
                                f"SOURCE：督查{source_id}不存在")
        if src.status == "draft":
            raise ConflictError(
                f"SOURCE: campaign {source_id} has not been launched; a look-back re-checks the "
                f"issues of a launched campaign (run `lookback campaign launch {source_id}` first)",
                f"SOURCE：督查{source_id}尚未启动；回头看针对已启动督查发现的问题（请先运行"
                f"`lookback campaign launch {source_id}`）", code="source_not_launched")
        if office is not None and not (src.territory.startswith(territory)
                                       or territory.startswith(src.territory)):
            raise ConflictError(
                f"SOURCE: campaign {source_id} belongs to an office beside {office.name}, "
                "neither above nor below it; an office looks back on its own campaigns, those "
                "of the offices above it (within its territory) and those below it",
                f"SOURCE：督查{source_id}所属单位与{office.name}互不隶属；只能对本单位、上级"
                "（限本辖区）或下级的督查开展回头看", code="outside_territory")
        if not _in_scope(uow, source_id, plan, territory):
            raise _no_issues(source_id, plan.issues or "unverified")
        cid = uow.campaigns.add(plan, seed=seed, seed_auto=seed_auto, source=source,
                                created_at=now, source_campaign_id=source_id,
                                office_id=office.id if office is not None else None)
        uow.events.append(at=now, actor=actor, kind="campaign.created", entity=f"campaign:{cid}",
                          payload={"title": plan.title, "office": plan.office, "kind": plan.kind,
                                   "seed": seed, "seed_auto": seed_auto, "source": source,
                                   "source_campaign_id": source_id, "issues": plan.issues})
        uow.commit()
    return cid


def draw_params(plan: dict[str, Any], seed: str) -> DrawParams:
    """The draw's parameters from a stored plan (as ``Plan.as_dict()``)."""
    sample = plan["sample"]
    teams = plan["teams"]
    return DrawParams(
        seed=seed,
        stages=[{k: v for k, v in s.items() if v is not None} for s in plan["stages"]],
        provinces=sorted(plan["provinces"]),
        total=sample["total"], fraction=sample["fraction"], per_stratum=sample["per_stratum"],
        strata=list(sample["strata"]), allocation=sample["allocation"],
        min_per_stratum=sample["min_per_stratum"], risk_weights=dict(sample["risk_weights"]),
        teams=teams["count"], members=teams["members"], avoidance=teams["avoidance"],
    )


def get_campaign(campaign_id: int, *, uow_factory: UnitOfWorkFactory) -> Campaign:
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
    if c is None:
        raise not_found(campaign_id)
    return c


def freeze_frame(campaign_id: int, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> FrozenFrame:
    """Freeze the campaign's frame once: active businesses in scope, minus those inspected within
    the exclusion window, and the active inspectors. Later calls return the frozen frame."""
    with uow_factory() as uow:
        existing = uow.campaigns.get_frame(campaign_id)
        if existing is not None:
            return existing
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        scope = c.plan
        if c.source_campaign_id is not None:
            # A look-back: the source's businesses that have issues in scope now, at launch.
            businesses = _in_scope(uow, c.source_campaign_id, scope, c.territory)
            if not businesses:
                raise _no_issues(c.source_campaign_id, _scope_figures(scope)[0])
        else:
            days = int(scope["exclusion_days"])
            since = c.starts_on - timedelta(days=days) if days else None
            businesses = uow.campaigns.frame_businesses(
                provinces=scope["provinces"], categories=scope["categories"],
                risk_levels=scope["risk_levels"], excluded_since=since, until=c.starts_on,
                campaign_id=campaign_id)
            # an office's campaign draws from its own territory only
            businesses = [b for b in businesses if b.region_code.startswith(c.territory)]
        inspectors = uow.campaigns.frame_inspectors()
        lines = frame_lines(businesses, inspectors)
        frame = FrozenFrame(frame_sha256(lines), len(businesses), len(inspectors), lines)
        stored = uow.campaigns.save_frame_if_absent(campaign_id, frame, frozen_at=clock.now())
        uow.commit()
    return stored


# --- the commitment (seed fixed before the frame is known) ------------------------------------

def get_commitment(campaign_id: int, *, uow_factory: UnitOfWorkFactory) -> Commitment | None:
    with uow_factory() as uow:
        if uow.campaigns.get(campaign_id) is None:
            raise not_found(campaign_id)
        return uow.campaigns.get_commitment(campaign_id)


def _beacon(c: Campaign) -> tuple[str, date] | None:
    """The beacon the campaign's plan names (name, published_on), or None for a plain seed."""
    b = c.plan.get("beacon")
    if not b:
        return None
    return str(b["name"]), date.fromisoformat(b["published_on"])


def _plain_seed(c: Campaign) -> ConflictError:
    return ConflictError(
        f"campaign {c.id} has a plain seed ({c.seed}), fixed in its plan: there is nothing to "
        "commit. To commit the frame before the seed is known, give the plan "
        'campaign.seed = { beacon = "<public draw>", published_on = <date> } and create the '
        "campaign again",
        f"督查{c.id}的随机种子（{c.seed}）已在计划中确定，无需承诺。如需在种子产生前承诺抽样框，"
        '请在计划中写明campaign.seed = { beacon = "公开开奖名称", published_on = 日期 }并重新创建督查',
        code="seed_not_beacon")


def commit_draw(campaign_id: int, *, uow_factory: UnitOfWorkFactory, clock: Clock,
                actor: str = "system") -> Commitment:
    """Freeze the frame now (the freeze the launch reuses) and commit to its SHA-256 before the
    beacon that makes the seed is published. Safe to repeat: a second call returns the same
    commitment and changes nothing."""
    with uow_factory() as uow:
        existing = uow.campaigns.get_commitment(campaign_id)
        c = uow.campaigns.get(campaign_id)
    if c is None:
        raise not_found(campaign_id)
    if existing is not None:
        return existing
    if c.status != "draft":
        raise ConflictError(
            f"campaign {campaign_id} is {c.status}; only a draft campaign can be committed",
            f"督查{campaign_id}状态为{c.status}；只有草稿状态的督查可以承诺", code="not_draft")
    beacon = _beacon(c)
    if beacon is None:
        raise _plain_seed(c)
    name, published_on = beacon
    now = clock.now().replace(microsecond=0)  # the record shows the instant to the second
    today = china_date(now)
    if today >= published_on:
        raise ConflictError(
            f"too late to commit campaign {campaign_id}: beacon \"{name}\" is published on "
            f"{published_on} and today (China) is {today}; the commitment must come before the "
            "beacon's date. Name a later public draw in campaign.seed and create the campaign "
            "again",
            f"督查{campaign_id}已无法承诺：“{name}”于{published_on}公布，今天（北京时间）是{today}；"
            "承诺必须早于开奖公布日期。请在campaign.seed中改用更晚的公开开奖并重新创建督查",
            code="commit_too_late")
    frame = freeze_frame(campaign_id, uow_factory=uow_factory, clock=clock)
    with uow_factory() as uow:
        stored = uow.campaigns.save_commitment_if_absent(Commitment(
            campaign_id, frame.sha256, now, name, published_on))
        if stored.committed_at == now:
            uow.events.append(at=now, actor=actor, kind="draw.committed",
                              entity=f"campaign:{campaign_id}",
                              payload={"frame_sha256": frame.sha256, "beacon": name,
                                       "published_on": published_on.isoformat()})
        uow.commit()
    return stored


def _clean_beacon_value(value: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise BadArgumentError("VALUE: the beacon value is empty", "VALUE：开奖结果为空",
                               code="bad_beacon_value")
    if len(cleaned) > BEACON_VALUE_MAX or any(ord(ch) < 0x20 or ord(ch) == 0x7F
                                              for ch in cleaned):
        raise BadArgumentError(
            f"VALUE: expected one line of at most {BEACON_VALUE_MAX} characters, as published",
            f"VALUE：应为一行、不超过{BEACON_VALUE_MAX}个字符，与公布的开奖结果一致",
            code="bad_beacon_value")
    return cleaned


def enter_beacon(campaign_id: int, value: str, *, uow_factory: UnitOfWorkFactory, clock: Clock,
                 actor: str = "system") -> Commitment:
    """Enter the published beacon value: the seed becomes ``beacon_seed(frame hash, value)``.

    Needs the commitment, and the beacon's date reached (China date). Entering the same value
    again changes nothing; a draft campaign's value may be corrected (each entry is logged), a
    launched campaign's never."""
    cleaned = _clean_beacon_value(value)
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        commitment = uow.campaigns.get_commitment(campaign_id)
    if c is None:
        raise not_found(campaign_id)
    if commitment is None:
        if _beacon(c) is None:
            raise _plain_seed(c)
        raise ConflictError(
            f"campaign {campaign_id} has no commitment: run `lookback draw commit {campaign_id}` "
            "(before the beacon's published_on) first",
            f"督查{campaign_id}尚未承诺：请先（在开奖公布日期之前）运行`lookback draw commit "
            f"{campaign_id}`", code="not_committed")
    if commitment.beacon_value == cleaned:
        return commitment
    now = clock.now()
    today = china_date(now)
    if today < commitment.published_on:
        raise ConflictError(
            f"beacon \"{commitment.beacon_name}\" is published on {commitment.published_on}; "
            f"today (China) is {today}: enter its value on or after that date",
            f"“{commitment.beacon_name}”于{commitment.published_on}公布，今天（北京时间）是{today}："
            "请在公布当日或之后录入", code="beacon_not_published")
    seed = beacon_seed(commitment.frame_sha256, cleaned)
    with uow_factory() as uow:
        if not uow.campaigns.set_beacon_value(campaign_id, cleaned, seed=seed, at=now):
            raise ConflictError(
                f"campaign {campaign_id} has been launched (drawn with beacon value "
                f"{commitment.beacon_value!r}); its seed can no longer change",
                f"督查{campaign_id}已启动（按开奖结果“{commitment.beacon_value}”抽取），随机种子不能再更改",
                code="already_launched")
        uow.events.append(at=now, actor=actor, kind="draw.beacon_entered",
                          entity=f"campaign:{campaign_id}",
                          payload={"beacon": commitment.beacon_name, "value": cleaned,
                                   "previous": commitment.beacon_value, "seed": seed})
        stored = uow.campaigns.get_commitment(campaign_id)
        uow.commit()
    assert stored is not None
    return stored


def check_seed_ready(c: Campaign, commitment: Commitment | None) -> None:
    """Refuse to draw a beacon campaign before its commitment and beacon value are in."""
    beacon = _beacon(c)
    if beacon is None:
        return
    name, published_on = beacon
    if commitment is None:
        raise ConflictError(
            f"campaign {c.id} takes its seed from beacon \"{name}\" (published on "
            f"{published_on}) and has not been committed: run `lookback draw commit {c.id}` "
            f"before {published_on}, then `lookback draw beacon {c.id} VALUE` once the value is "
            "published",
            f"督查{c.id}的随机种子来自“{name}”（{published_on}公布），尚未承诺：请在{published_on}之前"
            f"运行`lookback draw commit {c.id}`，公布后再运行`lookback draw beacon {c.id} 开奖结果`",
            code="not_committed")
    if commitment.beacon_value is None:
        raise ConflictError(
            f"campaign {c.id} takes its seed from beacon \"{name}\" (published on "
            f"{published_on}), whose value has not been entered: run `lookback draw beacon "
            f"{c.id} VALUE` once it is published, then launch",
            f"督查{c.id}的随机种子来自“{name}”（{published_on}公布），尚未录入开奖结果：公布后请运行"
            f"`lookback draw beacon {c.id} 开奖结果`，再启动", code="beacon_value_missing")


def ensure_seed_ready(campaign_id: int, *, uow_factory: UnitOfWorkFactory) -> None:
    """Before a launch: a campaign not yet drawn must have its seed (see check_seed_ready)."""
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        if uow.campaigns.get_record(campaign_id) is not None:
            return
        commitment = uow.campaigns.get_commitment(campaign_id)
    check_seed_ready(c, commitment)


def _draw_from_record(record: dict[str, Any]) -> Draw:
    """Rebuild a Draw object from a stored record (for extensions)."""
    params = DrawParams.from_dict(record["params"])
    stages = []
    for s in record["stages"]:
        stages.append(StageResult(
            s["unit"], s["frame_size"], {x["stratum"]: x["frame_size"] for x in s["strata"]},
            {x["stratum"]: x["allocated"] for x in s["strata"]},
            [Pick(p["unit"], p["stratum"], p["key"]) for p in s["chosen"]]))
    teams = {t["team"]: [Pick(p["unit"], p["stratum"], p["key"]) for p in t["inspectors"]]
             for t in record["teams"]}
    assignments = {a["uscc"]: a["team"] for a in record["assignments"]}
    return Draw(params, record["frame"]["sha256"], record["frame"]["businesses"],
                record["frame"]["inspectors"], stages, teams, assignments, record["total"],
                list(record["extensions"]))


def run_draw(campaign_id: int, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> dict[str, Any]:
    """Draw from the frozen frame and store the record, once; later calls return the record."""
    with uow_factory() as uow:
        record = uow.campaigns.get_record(campaign_id)
        if record is not None:
            return record
        c = uow.campaigns.get(campaign_id)
        frame = uow.campaigns.get_frame(campaign_id)
        commitment = uow.campaigns.get_commitment(campaign_id)
    if c is None:
        raise not_found(campaign_id)
    if frame is None:
        raise ConflictError(f"campaign {campaign_id} has no frozen frame yet",
                            f"督查{campaign_id}尚未冻结抽样框")
    seed, committed = c.seed, None
    if c.plan.get("beacon"):
        check_seed_ready(c, commitment)
        assert commitment is not None and commitment.seed is not None
        if commitment.frame_sha256 != frame.sha256:  # the frame is frozen once: cannot happen
            raise ConflictError(
                f"campaign {campaign_id}: the committed frame {commitment.frame_sha256} is not "
                f"the frozen frame {frame.sha256}", f"督查{campaign_id}：承诺的抽样框"
                f"{commitment.frame_sha256}与冻结的抽样框{frame.sha256}不一致",
                code="commitment_mismatch")
        seed, committed = commitment.seed, commitment.as_record()
    businesses, inspectors = parse_frame(frame.lines)
    d = draw(draw_params(c.plan, seed), businesses, inspectors, frame_hash=frame.sha256)
    record = {"campaign": {"id": c.id, "office": c.office, "title": c.title, "kind": c.kind},
              **d.as_record(), "commitment": committed}
    with uow_factory() as uow:
        stored = uow.campaigns.save_record_if_absent(campaign_id, record, total=d.total,
                                                     at=clock.now())
        uow.commit()
    return stored


def visit_rows(record: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(uscc, team, stratum) for every drawn business, in a stable order."""
    team_of = {a["uscc"]: a["team"] for a in record["assignments"]}
    return [(p["unit"], team_of[p["unit"]], p["stratum"]) for p in record["stages"][-1]["chosen"]]


def plan_teams(campaign_id: int, record: dict[str, Any], *, uow_factory: UnitOfWorkFactory) -> int:
    """Store the drawn team members (idempotent)."""
    rows = [(p["unit"], t["team"], rank)
            for t in record["teams"] for rank, p in enumerate(t["inspectors"], start=1)]
    with uow_factory() as uow:
        uow.campaigns.add_team_members(campaign_id, rows)
        uow.commit()
    return len(rows)


def plan_visits(campaign_id: int, rows: Iterable[tuple[str, int, str]], *,
                uow_factory: UnitOfWorkFactory) -> int:
    """Create planned visits for a chunk of drawn businesses (idempotent); returns new visits."""
    with uow_factory() as uow:
        n = uow.campaigns.add_visits(campaign_id, list(rows))
        uow.commit()
    return n


def finish_launch(campaign_id: int, *, uow_factory: UnitOfWorkFactory, clock: Clock,
                  actor: str = "system") -> None:
    now = clock.now()
    with uow_factory() as uow:
        if uow.campaigns.mark_launched(campaign_id, now):
            record = uow.campaigns.get_record(campaign_id) or {}
            uow.events.append(at=now, actor=actor, kind="campaign.launched",
                              entity=f"campaign:{campaign_id}",
                              payload={"total": record.get("total"),
                                       "frame_sha256": record.get("frame", {}).get("sha256"),
                                       "record_sha256": hashlib.sha256(
                                           canonical_json(record).encode()).hexdigest()})
        uow.commit()


def close_campaign(campaign_id: int, *, uow_factory: UnitOfWorkFactory, clock: Clock,
                   actor: str = "system") -> None:
    """Close a launched campaign: its visits can no longer be recorded."""
    now = clock.now()
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        if c.status != "launched":
            raise ConflictError(f"campaign {campaign_id} is {c.status}; only a launched campaign "
                                "can be closed", f"督查{campaign_id}状态为{c.status}；只有已启动的督查可以结束")
        uow.campaigns.set_status(campaign_id, "closed")
        uow.events.append(at=now, actor=actor, kind="campaign.closed",
                          entity=f"campaign:{campaign_id}", payload={})
        uow.commit()


class LaunchSteps(Protocol):
    """How each step of a launch runs: in this process, or as a Prefect task (``flows.launch``).
    Every step is idempotent, so a launch is safe to run twice or after a crash."""

    def freeze(self) -> dict[str, Any]: ...
    def draw(self) -> list[tuple[str, int, str]]: ...
    def teams(self) -> int: ...
    def visits(self, rows: list[tuple[str, int, str]]) -> int: ...
    def finish(self) -> None: ...


def run_launch_steps(steps: LaunchSteps, *, chunk_rows: int = 500) -> dict[str, Any]:
    """The one launch sequence: freeze the frame, draw, form the teams, plan the visits in chunks
    of ``chunk_rows``, finish. The Prefect flow and :func:`launch` both run it."""
    frame = steps.freeze()
    rows = steps.draw()
    steps.teams()
    created = 0
    for i in range(0, len(rows), chunk_rows):
        created += steps.visits(rows[i : i + chunk_rows])
    steps.finish()
    return {"frame": frame, "sampled": len(rows), "visits_created": created}


@dataclass(frozen=True)
class InProcessSteps:
    """The launch steps as plain calls of the services, in this process."""

    campaign_id: int
    uow_factory: UnitOfWorkFactory
    clock: Clock

    def freeze(self) -> dict[str, Any]:
        f = freeze_frame(self.campaign_id, uow_factory=self.uow_factory, clock=self.clock)
        return {"sha256": f.sha256, "businesses": f.businesses, "inspectors": f.inspectors}

    def draw(self) -> list[tuple[str, int, str]]:
        return visit_rows(run_draw(self.campaign_id, uow_factory=self.uow_factory,
                                   clock=self.clock))

    def teams(self) -> int:
        with self.uow_factory() as uow:
            record = uow.campaigns.get_record(self.campaign_id)
        assert record is not None
        return plan_teams(self.campaign_id, record, uow_factory=self.uow_factory)

    def visits(self, rows: list[tuple[str, int, str]]) -> int:
        return plan_visits(self.campaign_id, rows, uow_factory=self.uow_factory)

    def finish(self) -> None:
        finish_launch(self.campaign_id, uow_factory=self.uow_factory, clock=self.clock)


def launch(campaign_id: int, *, uow_factory: UnitOfWorkFactory, clock: Clock,
           chunk_rows: int = 500) -> dict[str, Any]:
    """The whole launch in this process (the Prefect flow runs the same sequence as tasks);
    returns the draw record."""
    get_campaign(campaign_id, uow_factory=uow_factory)
    ensure_seed_ready(campaign_id, uow_factory=uow_factory)
    run_launch_steps(InProcessSteps(campaign_id, uow_factory, clock), chunk_rows=chunk_rows)
    with uow_factory() as uow:
        record = uow.campaigns.get_record(campaign_id)
    assert record is not None
    return record


@dataclass(frozen=True)
class Verification:
    ok: bool
    difference: str | None
    frame_sha256: str
    chosen: int
    #: How the seed was fixed: "seed not committed", or the commitment checked (en, zh).
    seed_note: tuple[str, str] = ("", "")


def verify_record(record: dict[str, Any], lines: list[str]) -> Verification:
    r"""Recompute a draw from its record's parameters and the frame lines; the first difference.

    ``lines`` are the frame file's lines, split at ``\n``, ``\r\n`` or ``\r`` only
    (:func:`domain.sampling.split_frame_text`). A record that is not a well-formed record of
    ``lookback-draw/1`` (a field missing, a parameter outside docs/draw.md's table) is a difference
    that says "the record is malformed", never an error of the program."""
    if record.get("algorithm") != ALGORITHM:
        return Verification(False, f"algorithm: record says {record.get('algorithm')!r}, this "
                            f"engine implements {ALGORITHM!r}", "", 0)
    body = [ln for ln in (x.rstrip("\r\n") for x in lines) if ln and ln != FRAME_HEADER]
    sha = frame_sha256(sorted(body))
    bad_params = params_difference(record.get("params"))
    if bad_params:
        return Verification(False, f"the record is malformed: {bad_params}", sha, 0)
    frame = record.get("frame")
    recorded_sha = frame.get("sha256") if isinstance(frame, dict) else None
    if sha != recorded_sha:
        return Verification(False, f"frame.sha256: the frame hashes to {sha}, the record says "
                            f"{recorded_sha} (a frame row was changed, added or removed)", sha, 0)
    try:  # in file order, so that an error names the line of the file
        businesses, inspectors = parse_frame(lines)
    except InputError as e:
        return Verification(False, f"the frame is malformed: {e.en}", sha, 0)
    try:
        params = DrawParams.from_dict(record["params"])
        if params.seed != record["seed"]:
            return Verification(False, f"seed: params say {params.seed!r}, record says "
                                f"{record['seed']!r}", sha, 0)
        again = replay(params, businesses, inspectors, record.get("extensions", []),
                       frame_hash=sha).as_record()
    except (InputError, ConflictError) as e:
        return Verification(False, f"the draw cannot be recomputed: {e.en}", sha, 0)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        return Verification(False, f"the record is malformed: {type(e).__name__}: {e}", sha, 0)
    recorded = {k: v for k, v in record.items() if k not in ("campaign", "commitment")}
    diff = first_difference(again, recorded) or commitment_difference(record)
    return Verification(diff is None, diff, sha, len(again["stages"][-1]["chosen"]),
                        commitment_summary(record) if diff is None else ("", ""))


def verify_campaign(campaign_id: int, *, uow_factory: UnitOfWorkFactory) -> Verification:
    """Recompute a campaign's draw from the database's frozen frame and compare."""
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        record = uow.campaigns.get_record(campaign_id)
        frame = uow.campaigns.get_frame(campaign_id)
        commitment = uow.campaigns.get_commitment(campaign_id)
    if record is None or frame is None:
        raise ConflictError(f"campaign {campaign_id} has not been drawn yet; run "
                            "`lookback campaign launch` first",
                            f"督查{campaign_id}尚未抽取；请先运行`lookback campaign launch`")
    if record["seed"] != c.seed:
        return Verification(False, f"seed: the campaign's seed is {c.seed!r}, the record says "
                            f"{record['seed']!r}", frame.sha256, 0)
    stored = commitment.as_record() if commitment is not None else None
    if record.get("commitment") != stored:
        return Verification(False, f"commitment: the database holds {stored!r}, the record says "
                            f"{record.get('commitment')!r}", frame.sha256, 0)
    return verify_record(record, frame.lines)


def extend_campaign(campaign_id: int, to: int, *, uow_factory: UnitOfWorkFactory,
                    clock: Clock, actor: str = "system") -> dict[str, Any]:
    """Enlarge the sample to ``to`` businesses keeping every earlier pick; plans new visits."""
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        record = uow.campaigns.get_record(campaign_id)
        frame = uow.campaigns.get_frame(campaign_id)
    if record is None or frame is None:
        raise ConflictError(f"campaign {campaign_id} has not been drawn yet",
                            f"督查{campaign_id}尚未抽取")
    businesses, inspectors = parse_frame(frame.lines)
    bigger = extend(_draw_from_record(record), businesses, inspectors, to)
    new_record = {"campaign": record["campaign"], **bigger.as_record()}
    if "commitment" in record:  # the seed's commitment does not change with the sample size
        new_record["commitment"] = record["commitment"]
    now = clock.now()
    with uow_factory() as uow:
        uow.campaigns.replace_record(campaign_id, new_record, total=bigger.total, at=now,
                                     expected_total=record["total"])
        uow.events.append(at=now, actor=actor, kind="draw.extended",
                          entity=f"campaign:{campaign_id}",
                          payload={"from": record["total"], "to": bigger.total})
        uow.commit()
    for_visits = visit_rows(new_record)
    plan_visits(campaign_id, for_visits, uow_factory=uow_factory)
    return new_record


def source_issue_figures(campaign_id: int, *,
                         uow_factory: UnitOfWorkFactory) -> dict[str, Any] | None:
    """How the source issues a look-back re-checks stand now; ``None`` for an inspection.

    The re-checked source issues are the source campaign's issues of the businesses in the
    look-back's sample that were in scope when its frame was frozen (with ``scope.issues =
    "unverified"``, an issue already verified by then is not counted; one verified since is).
    ``open`` counts the issues neither verified nor overdue; ``escalated`` those on any step of
    the escalation ladder, whatever their status.
    """
    with uow_factory() as uow:
        return source_figures_in(uow, campaign_id)


def source_figures_in(uow: UnitOfWork, campaign_id: int) -> dict[str, Any] | None:
    """``source_issue_figures`` inside a unit of work the caller already has open."""
    c = uow.campaigns.get(campaign_id)
    if c is None:
        raise not_found(campaign_id)
    if c.source_campaign_id is None:
        return None
    issues = _scope_figures(c.plan)[0]
    rows = uow.campaigns.source_issues(campaign_id, c.source_campaign_id, issues=issues)
    by_status: dict[str, int] = {}
    for _uscc, status, _level, _visit in rows:
        by_status[status] = by_status.get(status, 0) + 1
    verified = by_status.get("verified", 0)
    overdue = by_status.get("overdue", 0)
    return {
        "source_campaign_id": c.source_campaign_id, "scope": issues,
        "businesses": len({r[0] for r in rows}),
        "businesses_visited": len({r[0] for r in rows if r[3] == "done"}),
        "issues": len(rows), "verified": verified, "open": len(rows) - verified - overdue,
        "overdue": overdue, "escalated": sum(1 for r in rows if r[2] > 0),
        "by_status": dict(sorted(by_status.items())),
        "rectification_rate": rectification_rate(verified, len(rows)),
    }


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces, UTF-8 characters kept (what hashes are taken over)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
