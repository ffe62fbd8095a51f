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
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from domain.clock import Clock
from domain.errors import BadArgumentError, ConflictError, InputError, NotFoundError
from domain.events import EventLog
from domain.offices import Office
from domain.plan import Plan, parse_plan
from domain.ports import Transaction
from domain.sampling import (
    ALGORITHM,
    FRAME_HEADER,
    Draw,
    DrawParams,
    FrameBusiness,
    FrameInspector,
    Pick,
    StageResult,
    draw,
    extend,
    first_difference,
    frame_lines,
    frame_sha256,
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
    seed_auto = plan.seed is None
    seed = new_seed() if plan.seed is None else plan.seed
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
    seed_auto = plan.seed is None
    seed = new_seed() if plan.seed is None else plan.seed
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
    if c is None:
        raise not_found(campaign_id)
    if frame is None:
        raise ConflictError(f"campaign {campaign_id} has no frozen frame yet",
                            f"督查{campaign_id}尚未冻结抽样框")
    businesses, inspectors = parse_frame(frame.lines)
    d = draw(draw_params(c.plan, c.seed), businesses, inspectors, frame_hash=frame.sha256)
    record = {"campaign": {"id": c.id, "office": c.office, "title": c.title, "kind": c.kind},
              **d.as_record()}
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


def verify_record(record: dict[str, Any], lines: list[str]) -> Verification:
    """Recompute a draw from its record's parameters and the frame lines; the first difference."""
    if record.get("algorithm") != ALGORITHM:
        return Verification(False, f"algorithm: record says {record.get('algorithm')!r}, this "
                            f"engine implements {ALGORITHM!r}", "", 0)
    body = [ln for ln in (x.rstrip("\r\n") for x in lines) if ln and ln != FRAME_HEADER]
    sha = frame_sha256(sorted(body))
    if sha != record["frame"]["sha256"]:
        return Verification(False, f"frame.sha256: the frame hashes to {sha}, the record says "
                            f"{record['frame']['sha256']} (a frame row was changed, added or "
                            "removed)", sha, 0)
    try:
        businesses, inspectors = parse_frame(sorted(body))
        params = DrawParams.from_dict(record["params"])
        if params.seed != record["seed"]:
            return Verification(False, f"seed: params say {params.seed!r}, record says "
                                f"{record['seed']!r}", sha, 0)
        again = replay(params, businesses, inspectors, record.get("extensions", []),
                       frame_hash=sha).as_record()
    except (InputError, ConflictError) as e:
        return Verification(False, f"the draw cannot be recomputed: {e.en}", sha, 0)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        return Verification(False, f"the record or frame is malformed: {type(e).__name__}: {e}",
                            sha, 0)
    recorded = {k: v for k, v in record.items() if k != "campaign"}
    diff = first_difference(again, recorded)
    return Verification(diff is None, diff, sha, len(again["stages"][-1]["chosen"]))


def verify_campaign(campaign_id: int, *, uow_factory: UnitOfWorkFactory) -> Verification:
    """Recompute a campaign's draw from the database's frozen frame and compare."""
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        record = uow.campaigns.get_record(campaign_id)
        frame = uow.campaigns.get_frame(campaign_id)
    if record is None or frame is None:
        raise ConflictError(f"campaign {campaign_id} has not been drawn yet; run "
                            "`lookback campaign launch` first",
                            f"督查{campaign_id}尚未抽取；请先运行`lookback campaign launch`")
    if record["seed"] != c.seed:
        return Verification(False, f"seed: the campaign's seed is {c.seed!r}, the record says "
                            f"{record['seed']!r}", frame.sha256, 0)
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
