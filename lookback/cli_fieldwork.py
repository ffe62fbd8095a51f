"""Fieldwork commands: interviews, visits, issues, metrics, the audit log, bulk fieldwork import."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from domain import fieldwork as fw
from domain.clock import china_date
from domain.errors import BadArgumentError, BadFileError
from domain.issues import IssueQuery, IssueStatus
from domain.vocabulary import STATUS_ZH, step_label
from lookback import remote
from lookback.bootstrap import App
from lookback.output import Output, Table, more, named, page

interview_app = typer.Typer(no_args_is_help=True)
visit_app = typer.Typer(no_args_is_help=True)
issue_app = typer.Typer(no_args_is_help=True)
audit_app = typer.Typer(no_args_is_help=True)
fieldwork_app = typer.Typer(no_args_is_help=True)
checklist_app = typer.Typer(no_args_is_help=True)


from domain import access  # noqa: E402
from domain.access import Action, Role  # noqa: E402
from lookback.cli_base import SCOPED, as_user, guard, guard_issue, guard_visit  # noqa: E402
from lookback.cli_base import command as _command  # noqa: E402
from lookback.cli_base import state as _state  # noqa: E402
from lookback.scope import readable_issues  # noqa: E402


def read_answers(path: Path) -> list[fw.Answer]:
    """Answers by item id from TOML or JSON: ``ID = "pass"`` or ``ID = {result = "fail", note = …}``."""
    try:
        raw_text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadFileError(f"{path}: no such answers file", f"{path}：作答文件不存在",
                           code="no_file") from None
    except UnicodeDecodeError:
        raise BadFileError(f"{path}: not UTF-8 text", f"{path}：不是UTF-8文本",
                           code="bad_encoding") from None
    try:
        data = json.loads(raw_text) if path.suffix.lower() == ".json" else tomllib.loads(raw_text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadFileError(f"{path}: cannot be parsed ({e})", f"{path}：无法解析（{e}）",
                           code="bad_answers_file") from None
    table = data.get("answers", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise BadFileError(f"{path}: expected a table of answers by item id",
                           f"{path}：应为按检查项编号的作答表", code="bad_answers_file")
    answers: list[fw.Answer] = []
    problems: list[str] = []
    for item_id, value in table.items():
        if isinstance(value, str):
            result, note = value, ""
        elif isinstance(value, dict) and isinstance(value.get("result"), str):
            result, note = value["result"], str(value.get("note", ""))
        else:
            problems.append(f"{item_id}: expected \"pass\"/\"fail\"/\"na\" or "
                            "{ result = …, note = … }")
            continue
        normal = fw.normalise_result(result)
        answers.append(fw.Answer(str(item_id), normal or result, note.strip()))
    if problems:
        raise BadFileError(f"{path}: " + "; ".join(problems), f"{path}：" + "；".join(problems),
                           code="bad_answers_file")
    return answers


@interview_app.command("record")
@_command
@as_user(SCOPED)
def interview_record(
    ctx: typer.Context,
    visit: Annotated[int, typer.Option("--visit", help="Visit id.")],
    role: Annotated[str, typer.Option("--role", help="director, officer, owner, cadre or "
                                      "regulator.")],
    name: Annotated[str, typer.Option("--name", help="The interviewee's name.")],
    answers: Annotated[Path, typer.Option("--answers", help="TOML or JSON answers by item id.")],
    team: Annotated[int | None, typer.Option("--team", help="Your team: refused unless it is "
                                             "the visit's team.")] = None,
) -> None:
    """Record an interview; every failed item registers an issue (once per business and item)."""
    lb, out = _state(ctx)
    if remote.is_remote(lb):
        outcome = remote.record_interview(lb, visit=visit, role=role, name=name,
                                          answers=read_answers(answers))
    else:
        lb.require_schema()
        guard_visit(lb, Action.WRITE_FIELDWORK, visit)
        outcome = fw.record_interview(visit, role, name, read_answers(answers), team=team,
                                      actor=lb.actor, uow_factory=lb.uow_factory(),
                                      clock=lb.clock, checklists=lb.checklists,
                                      calendar=lb.calendar)
    if out.json_mode:
        out.emit({"ok": True, "interview_id": outcome.interview_id, "answers": outcome.answers,
                  "failed": outcome.failed, "issues_registered": outcome.issues_registered,
                  "issues_existing": outcome.issues_existing})
        return
    out.say(f"Interview {outcome.interview_id} recorded: {outcome.answers} answers, "
            f"{outcome.failed} failed; issues registered: "
            f"{', '.join(map(str, outcome.issues_registered)) or 'none'}"
            + (f" (already registered: {', '.join(map(str, outcome.issues_existing))})"
               if outcome.issues_existing else ""),
            f"已记录谈话{outcome.interview_id}：作答{outcome.answers}项，不合格{outcome.failed}项；"
            f"新登记问题：{'、'.join(map(str, outcome.issues_registered)) or '无'}"
            + (f"（已登记：{'、'.join(map(str, outcome.issues_existing))}）"
               if outcome.issues_existing else ""))


@visit_app.command("complete")
@_command
@as_user(SCOPED)
def visit_complete(
    ctx: typer.Context,
    visit: Annotated[int, typer.Argument(help="Visit id.")],
    team: Annotated[int | None, typer.Option("--team")] = None,
) -> None:
    """Mark a visit done (today, by the clock)."""
    lb, out = _state(ctx)
    lb.require_schema()
    guard_visit(lb, Action.WRITE_FIELDWORK, visit)
    v = fw.complete_visit(visit, team=team, actor=lb.actor, uow_factory=lb.uow_factory(),
                          clock=lb.clock)
    if out.json_mode:
        out.emit({"ok": True, "visit_id": v.id, "status": v.status,
                  "visited_on": v.visited_on.isoformat() if v.visited_on else None})
        return
    out.say(f"Visit {v.id} ({v.business_name}) completed on {v.visited_on}.",
            f"检查任务{v.id}（{v.business_name}）已于{v.visited_on}完成。")


@visit_app.command("list")
@_command
@as_user(SCOPED)
def visit_list(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Option("--campaign")],
    team: Annotated[int | None, typer.Option("--team")] = None,
    status: Annotated[str | None, typer.Option("--status", help="planned or done.")] = None,
) -> None:
    """The visits of a campaign, by team and status."""
    lb, out = _state(ctx)
    lb.require_schema()
    if status is not None and status not in ("planned", "done"):
        raise BadArgumentError("--status must be planned or done", "--status应为planned或done")
    p = lb.principal
    if p.role in (Role.BUSINESS, Role.CADRE):
        guard(lb, Action.READ_VISIT, f"campaign:{campaign}")
    if p.role == Role.AUDITOR:
        if (team is not None and team != p.team) or p.campaign_id not in (None, campaign):
            guard(lb, Action.READ_VISIT, f"campaign:{campaign}", campaign_id=campaign,
                  team=team if team is not None else -1)
        team = p.team
    with lb.read_uow_factory()() as uow:
        visits = uow.fieldwork.list_visits(campaign, team=team, status=status)
    visits = [v for v in visits if access.in_territory(p, v.region_code)]
    if out.json_mode:
        out.emit({"ok": True, **page([
            {"id": v.id, "uscc": v.uscc, "name": v.business_name, "region": v.region_code,
             "team": v.team_no, "status": v.status,
             "visited_on": v.visited_on.isoformat() if v.visited_on else None} for v in visits],
            len(visits))})
        return
    t = out.t
    table = Table(title=t(f"Visits of campaign {campaign}", f"督查{campaign}的检查任务"))
    for col in ("id", t("team", "组"), t("business", "主体"), "USCC", t("region", "区划"),
                t("status", "状态")):
        table.add_column(col)
    for v in visits:
        table.add_row(str(v.id), str(v.team_no), v.business_name, v.uscc, v.region_code,
                      v.status + (f" {v.visited_on}" if v.visited_on else ""))
    out.out.print(table)


def _evidence(lb: App, files: list[Path] | None) -> list[fw.EvidenceRef]:
    return [lb.evidence.put(str(f)) for f in files or []]


def _issue_dict(i: fw.Issue) -> dict[str, Any]:
    return {"id": i.id, "campaign_id": i.campaign_id, "visit_id": i.visit_id, "uscc": i.uscc,
            "business": i.business_name, "province": i.province_code, "item_id": i.item_id,
            "category": i.category, "severity": i.severity, "description": i.description,
            "legal_basis": i.legal_basis, "status": i.status.value,
            "found_on": i.found_on.isoformat(), "due_on": i.due_on.isoformat(),
            "due_provisional": i.due_provisional, "escalation": i.escalation,
            "source": i.source, "supervision_visit_id": i.supervision_visit_id,
            "reported_on": i.reported_on.isoformat() if i.reported_on else None,
            "on_time": i.on_time, "version": i.version}


def _due(out: Output, i: fw.Issue) -> str:
    return i.due_on.isoformat() + (out.t(" (provisional)", "（暂定）") if i.due_provisional else "")


@issue_app.command("add")
@_command
@as_user(SCOPED)
def issue_add(
    ctx: typer.Context,
    visit: Annotated[int, typer.Option("--visit")],
    category: Annotated[str, typer.Option("--category")],
    severity: Annotated[str, typer.Option("--severity", help="minor, general or serious.")],
    description: Annotated[str, typer.Option("--description")],
    provision: Annotated[int | None, typer.Option(
        "--provision", help="The provision breached: its number in `lookback issue provisions "
        "--category C`.")] = None,
    legal_basis: Annotated[str | None, typer.Option(
        "--legal-basis", help="Or the provision breached, in words, naming the law in 《》.")]
    = None,
    evidence: Annotated[list[Path] | None, typer.Option("--evidence", help="Evidence file "
                                                        "(repeatable).")] = None,
    team: Annotated[int | None, typer.Option("--team")] = None,
) -> None:
    """Add a free-form finding to a visit, with the provision it breaches."""
    from domain.vocabulary import CATEGORIES

    lb, out = _state(ctx)
    if remote.is_remote(lb):
        issue = remote.add_issue(lb, visit=visit, category=category, severity=severity,
                                 description=description, evidence=evidence,
                                 provision=provision, legal_basis=legal_basis)
    else:
        lb.require_schema()
        guard_visit(lb, Action.WRITE_FIELDWORK, visit)
        issue_id = fw.add_issue(visit, category=category, severity=severity,
                                description=description, evidence=_evidence(lb, evidence),
                                team=team, actor=lb.actor, uow_factory=lb.uow_factory(),
                                clock=lb.clock, calendar=lb.calendar, categories=CATEGORIES,
                                provision=provision, legal_basis=legal_basis)
        with lb.read_uow_factory()() as uow:
            found = uow.issues.get(issue_id)
        assert found is not None
        issue = found
    issue_id = issue.id
    if out.json_mode:
        out.emit({"ok": True, **_issue_dict(issue)})
        return
    out.say(f"Issue {issue_id} registered; rectify by {_due(out, issue)}.",
            f"已登记问题{issue_id}；整改期限{_due(out, issue)}。")


@issue_app.command("provisions")
@_command
@as_user(Action.READ)
def issue_provisions(
    ctx: typer.Context,
    category: Annotated[str, typer.Option("--category", help="The finding's category.")],
) -> None:
    """The numbered provisions a free-form finding of a category may cite (`issue add
    --provision N`)."""
    from domain.checklists import default_checklists
    from domain.vocabulary import CATEGORIES

    _, out = _state(ctx)
    if category not in CATEGORIES:
        from domain.errors import BadArgumentError

        raise BadArgumentError(f"--category: {category!r} is not one of {', '.join(CATEGORIES)}",
                               f"--category：“{category}”不是{'、'.join(CATEGORIES)}之一")
    found = default_checklists().provisions(category)
    if out.json_mode:
        out.emit({"ok": True, "category": category, **page(
            [{"provision": n, "legal_basis": p.basis_zh, "legal_basis_en": p.basis_en}
             for n, p in enumerate(found, start=1)], total=len(found))})
        return
    table = Table(title=out.t(f"Provisions of {named(out, 'category', category)}",
                              f"{named(out, 'category', category)}类问题可引用的依据"))
    table.add_column("#")
    table.add_column(out.t("legal basis", "依据"))
    for n, p in enumerate(found, start=1):
        table.add_row(str(n), p.basis(out.lang))
    out.out.print(table)


@issue_app.command("rectify")
@_command
@as_user(SCOPED)
def issue_rectify(
    ctx: typer.Context,
    issue: Annotated[int, typer.Argument(help="Issue id.")],
    measures: Annotated[str, typer.Option("--measures", help="What was done (整改措施).")],
    evidence: Annotated[list[Path] | None, typer.Option("--evidence")] = None,
) -> None:
    """The business reports its rectification."""
    lb, out = _state(ctx)
    if remote.is_remote(lb):
        i = remote.rectify(lb, issue=issue, measures=measures, evidence=evidence)
    else:
        lb.require_schema()
        guard_issue(lb, Action.RECTIFY, issue)
        i = fw.rectify(issue, measures=measures, evidence=_evidence(lb, evidence),
                       actor=lb.actor, uow_factory=lb.uow_factory(), clock=lb.clock)
    if out.json_mode:
        out.emit({"ok": True, **_issue_dict(i)})
        return
    out.say(f"Issue {i.id}: rectification reported; status {i.status.value}.",
            f"问题{i.id}：已报告整改；状态“{STATUS_ZH[i.status]}”。")


@issue_app.command("extend")
@_command
@as_user(SCOPED)
def issue_extend(
    ctx: typer.Context,
    issue: Annotated[int, typer.Argument(help="Issue id.")],
    workdays: Annotated[int, typer.Option("--workdays")],
    reason: Annotated[str, typer.Option("--reason")],
    approver: Annotated[str, typer.Option("--approver", help="Who approved the extension.")],
) -> None:
    """An approved extension: the due date moves N working days."""
    lb, out = _state(ctx)
    lb.require_schema()
    guard_issue(lb, Action.APPROVE_EXTENSION, issue)
    i = fw.extend(issue, workdays=workdays, reason=reason, approver=approver, actor=lb.actor,
                  uow_factory=lb.uow_factory(), clock=lb.clock, calendar=lb.calendar)
    if out.json_mode:
        out.emit({"ok": True, **_issue_dict(i)})
        return
    out.say(f"Issue {i.id}: due date extended to {_due(out, i)} (approved by {approver}).",
            f"问题{i.id}：整改期限延至{_due(out, i)}（审批人：{approver}）。")


@issue_app.command("show")
@_command
@as_user(SCOPED)
def issue_show(ctx: typer.Context, issue: Annotated[int, typer.Argument(help="Issue id.")]) -> None:
    """One issue with its evidence and full history."""
    lb, out = _state(ctx)
    lb.require_schema()
    guard_issue(lb, Action.READ_ISSUE, issue)
    with lb.read_uow_factory()() as uow:
        i = uow.issues.get(issue)
        if i is None:
            from domain.errors import NotFoundError

            raise NotFoundError(f"issue {issue} does not exist", f"问题{issue}不存在")
        history = uow.events.for_entity(f"issue:{issue}")
        evidence = uow.fieldwork.evidence_of(issue)
    if out.json_mode:
        out.emit({"ok": True, **_issue_dict(i),
                  "evidence": [{"sha256": e.sha256, "filename": e.filename, "size": e.size,
                                "purpose": e.purpose, "uploaded_by": e.uploaded_by,
                                "added_at": e.added_at.isoformat()} for e in evidence],
                  "history": [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor,
                               "kind": e.kind, "payload": e.payload} for e in history]})
        return
    t = out.t
    out.say(f"Issue {i.id} · {i.business_name} ({i.uscc}) · {i.category} / {i.severity}",
            f"问题{i.id} · {i.business_name}（{i.uscc}）· {named(out, 'category', i.category)} / "
            f"{named(out, 'severity', i.severity)}")
    out.say(f"  {i.description}", f"  {i.description}")
    if i.legal_basis:
        out.say(f"  Legal basis: {i.legal_basis}", f"  依据：{i.legal_basis}")
    out.say(f"  Status: {i.status.value} · found {i.found_on} · due {_due(out, i)} · escalation "
            f"{i.escalation}",
            f"  状态：{STATUS_ZH[i.status]} · 发现于{i.found_on} · 期限{_due(out, i)} · 升级"
            f"{i.escalation}级（{step_label(i.escalation, 'zh')}）")
    for e in evidence:
        by = e.uploaded_by or "?"
        out.say(f"  Evidence ({e.purpose}): {e.filename}, {e.size} bytes, by {by}, SHA-256 "
                f"{e.sha256}",
                f"  证据（{named(out, 'purpose', e.purpose)}）：{e.filename}，{e.size}字节，"
                f"上传人{by}，SHA-256 {e.sha256}")
    table = Table(title=t("History", "历史"))
    for col in ("#", t("time (UTC)", "时间（UTC）"), t("actor", "操作人"), t("event", "事件"),
                t("details", "详情")):
        table.add_column(col)
    for e in history:
        details = ", ".join(f"{k}={v}" for k, v in e.payload.items() if k not in ("uscc",))
        table.add_row(str(e.seq), e.at.strftime("%Y-%m-%d %H:%M"), e.actor, e.kind, details[:80])
    out.out.print(table)


@issue_app.command("list")
@_command
@as_user(SCOPED)
def issue_list(
    ctx: typer.Context,
    campaign: Annotated[int | None, typer.Option("--campaign")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only issues past their due date "
                                          "and not verified.")] = False,
    province: Annotated[str | None, typer.Option("--province", help="Province code, e.g. "
                                                 "330000.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows (the true "
                                       "total is always given).")] = 200,
) -> None:
    """Issues, filtered by campaign, status, overdue and province."""
    lb, out = _state(ctx)
    lb.require_schema()
    if status is not None and status not in {s.value for s in IssueStatus}:
        raise BadArgumentError("--status must be one of " + ", ".join(s.value for s in IssueStatus),
                               "--status应为" + "、".join(s.value for s in IssueStatus) + "之一")
    p = lb.principal
    with lb.read_uow_factory()() as uow:
        issues = uow.issues.list(IssueQuery(
            campaign_id=campaign, statuses=(status,) if status else (), province=province,
            territory=p.territory or None,
            overdue_on=china_date(lb.clock.now()) if overdue else None))
    if p is not access.LOCAL_ADMIN:  # each issue by the rule the API's list follows
        issues = readable_issues(p, lb, issues)
    if limit < 1:
        raise BadArgumentError("--limit must be at least 1", "--limit至少为1")
    shown = issues[:limit]
    if out.json_mode:
        out.emit({"ok": True, **page([_issue_dict(i) for i in shown], len(issues), limit=limit)})
        return
    t = out.t
    table = Table(title=t(f"{len(issues)} issue(s)", f"问题{len(issues)}个"))
    for col in ("id", t("business", "主体"), t("category", "类别"), t("severity", "严重程度"),
                t("status", "状态"), t("due", "期限")):
        table.add_column(col)
    for i in shown:
        table.add_row(str(i.id), i.business_name, named(out, "category", i.category),
                      named(out, "severity", i.severity), named(out, "status", i.status.value),
                      _due(out, i))
    out.out.print(table)
    more(out, len(shown), len(issues))


@audit_app.command("verify")
@_command
@as_user(Action.ADMIN)
def audit_verify(ctx: typer.Context) -> None:
    """Check the whole event hash chain; names the first broken event (exit 1)."""
    from domain.events import verify_chain

    lb, out = _state(ctx)
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        result = verify_chain(uow.events.all())
    if out.json_mode:
        out.emit({"ok": result.ok, "events": result.events, "first_broken": result.first_broken,
                  "reason": result.reason, "head_hash": result.head_hash if result.ok else None})
    elif result.ok:
        out.say(f"OK: {result.events} events, hash chain intact. Head: {result.head_hash} (keep it "
                "elsewhere: events removed from the end can only be noticed against it).",
                f"核验通过：共{result.events}条事件，哈希链完整。链尾哈希：{result.head_hash}"
                "（请另行留存：末尾被删除的事件只能对照它发现）。")
    else:
        out.say(f"BROKEN at event {result.first_broken}: {result.reason}",
                f"哈希链在第{result.first_broken}条事件处断裂：{result.reason}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("log")
@_command
@as_user(Action.ADMIN)
def audit_log(
    ctx: typer.Context,
    entity: Annotated[str | None, typer.Option("--entity", help="e.g. issue:42, visit:7, "
                                               "campaign:1.")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
) -> None:
    """The event log (newest last), optionally for one entity."""
    lb, out = _state(ctx)
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        events = uow.events.for_entity(entity) if entity else list(uow.events.all())
    total = len(events)
    events = events[-limit:] if limit > 0 else events
    if out.json_mode:
        out.emit({"ok": True, **page([
            {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind,
             "entity": e.entity, "payload": e.payload, "hash": e.hash} for e in events],
            total, offset=total - len(events), limit=limit if limit > 0 else None)})
        return
    t = out.t
    table = Table(title=t("Event log", "事件日志"))
    for col in ("#", t("time (UTC)", "时间（UTC）"), t("actor", "操作人"), t("event", "事件"),
                t("entity", "对象"), "hash"):
        table.add_column(col)
    for e in events:
        table.add_row(str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.kind, e.entity,
                      e.hash[:12])
    out.out.print(table)


@checklist_app.command("show")
@_command
@as_user(Action.READ)
def checklist_show(
    ctx: typer.Context,
    role: Annotated[str | None, typer.Option("--role")] = None,
) -> None:
    """The interview checklists (per role)."""
    _lb, out = _state(ctx)
    checklists = _lb.checklists
    from domain.vocabulary import ROLES

    roles = [role] if role else list(ROLES)
    if role is not None and role not in ROLES:
        raise BadArgumentError(f"--role must be one of {', '.join(ROLES)}",
                               f"--role应为{'、'.join(ROLES)}之一")
    data = {r: checklists.for_role(r) for r in roles}
    if out.json_mode:
        out.emit({"ok": True, "roles": {r: [
            {"id": i.id, "question_zh": i.question_zh, "question_en": i.question_en,
             "category": i.category, "severity": i.severity, "legal_basis": i.legal_basis_zh,
             "roles": list(i.roles)} for i in items] for r, items in data.items()}})
        return
    for r, items in data.items():
        table = Table(title=f"{r}")
        for col in ("id", out.t("question", "问题"), out.t("category", "类别"),
                    out.t("severity", "严重程度"), out.t("legal basis", "依据")):
            table.add_column(col)
        for i in items:
            table.add_row(i.id, i.question(out.lang), i.category, i.severity, i.legal_basis_zh)
        out.out.print(table)


def metrics_dict(lb: App, campaign: int) -> dict[str, Any]:
    from domain.metrics import campaign_metrics

    return campaign_metrics(campaign, today=china_date(lb.clock.now()),
                            uow_factory=lb.read_uow_factory())


@fieldwork_app.command("import")
@_command
def fieldwork_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, XLSX or JSON of interview answers.")],
    report: Annotated[Path | None, typer.Option("--report")] = None,
) -> None:
    """Bulk import of teams' interview answers; every row stored or reported with its reason.

    Columns: visit_id, role, name, item_id, result, note (optional), team (optional). The rows of
    one interview (visit, role, name) are stored together or not at all.
    """
    from lookback.fieldwork_import import run_fieldwork_import

    lb, out = _state(ctx)
    lb.require_schema()
    summary, report_path = run_fieldwork_import(lb, out, file, report)
    if out.json_mode:
        out.emit({"ok": summary.rejected == 0, "file": str(file), "read": summary.read,
                  "stored": summary.stored, "rejected": summary.rejected,
                  "interviews": summary.interviews, "issues_registered": summary.issues,
                  "balanced": summary.read == summary.stored + summary.rejected,
                  "report": str(report_path) if report_path else None})
    else:
        out.say(f"{file.name}: read {summary.read} = stored {summary.stored} + rejected "
                f"{summary.rejected}; {summary.interviews} interviews, {summary.issues} issues "
                "registered." + (f" Report: {report_path}" if report_path else ""),
                f"{file.name}：读取{summary.read} = 保存{summary.stored} + 拒绝{summary.rejected}；"
                f"谈话{summary.interviews}次，登记问题{summary.issues}个。"
                + (f"报告：{report_path}" if report_path else ""))
    if summary.rejected:
        raise typer.Exit(1)

