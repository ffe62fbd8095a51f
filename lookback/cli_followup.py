"""Look-back commands: follow-ups (sweep, list, record, case) and the scheduler (run, status)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from domain import followups as svc
from domain.access import LOCAL_ADMIN, Action, Role
from domain.errors import BadArgumentError
from domain.vocabulary import CASE_ZH, label, step_label
from lookback import remote
from lookback.cli_base import SCOPED, as_user, guard_issue
from lookback.cli_base import command as _command
from lookback.cli_base import state as _state
from lookback.output import Table, more, named, page
from lookback.output import due as due_text
from lookback.scope import readable_followups

followup_app = typer.Typer(no_args_is_help=True)
scheduler_app = typer.Typer(no_args_is_help=True)

YES = {"yes": True, "y": True, "true": True, "是": True,
       "no": False, "n": False, "false": False, "否": False}




def _yes_no(option: str, value: str | None) -> bool | None:
    if value is None:
        return None
    v = YES.get(value.strip().lower())
    if v is None:
        raise BadArgumentError(f"{option}: expected yes or no, not {value!r}",
                               f"{option}：应为yes（是）或no（否），而不是“{value}”")
    return v


def _when(due_at: int) -> str:
    return datetime.fromtimestamp(due_at, UTC).isoformat(timespec="minutes")


@followup_app.command("sweep")
@_command
def followup_sweep(
    ctx: typer.Context,
    batch: Annotated[int, typer.Option("--batch", help="Follow-ups per transaction.")] = 1000,
    prefect: Annotated[bool, typer.Option("--prefect", help="Run it as the Prefect flow "
                                          "`lookback-review`.")] = False,
) -> None:
    """Fire every due follow-up once and mark overdue issues, then exit (for cron and tests)."""
    lb, out = _state(ctx)
    lb.require_schema()
    if batch < 1:
        raise BadArgumentError("--batch must be at least 1", "--batch至少为1")
    worker = f"sweep:{lb.actor}"
    if prefect:
        from lookback import prefect_runtime

        now = lb.settings.now.isoformat() if lb.settings.now else None
        with prefect_runtime.flows(lb, out), out.progress("Look-back review flow", "回头看复查流程"):
            from flows.followups import run_review

            result = run_review(now, worker)
    else:
        with lb.read_uow_factory()() as uow:
            due = uow.followups.count_pending(due_before=svc.epoch(lb.clock.now()))
        done = 0
        with out.progress("Firing due follow-ups", "处理到期复查", total=max(due, 1)) as update:
            def step(n: int) -> None:
                nonlocal done
                done += n
                update(done)

            result = svc.sweep(uow_factory=lb.uow_factory(), clock=lb.clock, worker=worker,
                               batch=batch, on_batch=step).as_dict()
    if out.json_mode:
        out.emit({"ok": True, **result})
        return
    if result["supervision_opened"]:
        out.say(f"{result['supervision_opened']} routine supervision visits opened for the "
                "periods begun since the last opening.",
                f"开启自上次以来已开始期间的包保督导任务{result['supervision_opened']}项。")
    out.say(f"{result['fired']} follow-ups fired: {result['opened']} look-backs opened for their "
            f"teams, {result['reminded']} reminders, {result['cancelled']} cancelled (issue "
            f"closed); {result['marked_overdue']} issues marked overdue.",
            f"已处理到期复查{result['fired']}项：为督查组开启回头看{result['opened']}项，"
            f"发送提醒{result['reminded']}项，取消{result['cancelled']}项（问题已销号）；"
            f"{result['marked_overdue']}个问题标记为逾期。")


@followup_app.command("list")
@_command
@as_user(SCOPED)
def followup_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="pending, open, recorded, "
                                               "done or cancelled.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="review or reminder.")] = None,
    team: Annotated[int | None, typer.Option("--team")] = None,
    campaign: Annotated[int | None, typer.Option("--campaign")] = None,
    due: Annotated[bool, typer.Option("--due", help="Only those due by now.")] = False,
    limit: Annotated[int, typer.Option("--limit")] = 200,
) -> None:
    """Follow-ups: a team's open look-backs with the original findings, what is pending."""
    lb, out = _state(ctx)
    lb.require_schema()
    statuses = ("pending", "open", "recorded", "done", "cancelled")
    if status is not None and status not in statuses:
        raise BadArgumentError(f"--status must be one of {', '.join(statuses)}",
                               f"--status应为{'、'.join(statuses)}之一")
    if kind is not None and kind not in (svc.REVIEW, svc.REMINDER):
        raise BadArgumentError("--kind must be review or reminder", "--kind应为review或reminder")
    if limit < 1:
        raise BadArgumentError("--limit must be at least 1", "--limit至少为1")
    criteria: dict[str, Any] = dict(status=status, kind=kind, team=team, campaign_id=campaign,
                                    due_before=svc.epoch(lb.clock.now()) if due else None)
    p = lb.principal
    with lb.read_uow_factory()() as uow:
        if p is LOCAL_ADMIN:
            rows = uow.followups.list(**criteria, limit=limit)
            total = uow.followups.count(**criteria)
    if p is not LOCAL_ADMIN:  # every row by the rule the API's list follows, then the limit
        if p.role == Role.AUDITOR:
            criteria["team"] = p.team
        with lb.read_uow_factory()() as uow:
            every = uow.followups.list(**criteria, limit=2**31 - 1)
        every = readable_followups(p, lb, every)
        rows, total = every[:limit], len(every)
    with lb.read_uow_factory()() as uow:
        issues = {fu.issue_id: uow.issues.get(fu.issue_id) for fu in rows}
    if out.json_mode:
        out.emit({"ok": True, **page([
            {**fu.as_dict(), "finding": None if issues[fu.issue_id] is None else {
                "category": issues[fu.issue_id].category,  # type: ignore[union-attr]
                "severity": issues[fu.issue_id].severity,  # type: ignore[union-attr]
                "description": issues[fu.issue_id].description,  # type: ignore[union-attr]
                "issue_status": issues[fu.issue_id].status.value}}  # type: ignore[union-attr]
            for fu in rows], total, limit=limit)})
        return
    t = Table(title=out.t(f"Follow-ups ({total:,})", f"复查（共{total:,}项）"))
    for h in ("id", out.t("issue", "问题"), out.t("kind", "类型"), out.t("due", "到期"),
              out.t("status", "状态"), out.t("team", "组"), out.t("business", "主体"),
              out.t("finding", "原问题"), out.t("outcome", "结果")):
        t.add_column(h)
    for fu in rows:
        i = issues[fu.issue_id]
        t.add_row(str(fu.id), str(fu.issue_id), named(out, "followup_kind", fu.kind),
                  fu.due_on.isoformat(), named(out, "followup_status", fu.status),
                  str(fu.team_no or ""), fu.business_name,
                  (i.description[:40] if i else ""),
                  named(out, "outcome", fu.outcome) if fu.outcome else "")
    out.out.print(t)
    more(out, len(rows), total)


@followup_app.command("record")
@_command
@as_user(SCOPED)
def followup_record(
    ctx: typer.Context,
    issue: Annotated[int, typer.Argument(help="Issue id.")],
    outcome: Annotated[str, typer.Option("--outcome", help="verified, partial or "
                                         "not_rectified.")],
    note: Annotated[str, typer.Option("--note", help="What the check found.")],
    hard_measures: Annotated[str | None, typer.Option(
        "--hard-measures", help="Were hard measures taken? yes/no (是否采取硬措施).")] = None,
    fixed: Annotated[str | None, typer.Option(
        "--fixed", help="Is the problem really fixed? yes/no (问题是否真正解决).")] = None,
    mechanism: Annotated[str | None, typer.Option(
        "--mechanism", help="Is a lasting mechanism in place? yes/no (是否建立长效机制).")] = None,
    evidence: Annotated[list[Path] | None, typer.Option("--evidence")] = None,
    team: Annotated[int | None, typer.Option("--team", help="Your team (checked against the "
                                             "look-back's team).")] = None,
) -> None:
    """Record the look-back check of an issue (复查): verified closes it; partial and
    not_rectified set a new due date and climb one step of the escalation ladder."""
    lb, out = _state(ctx)
    answers = (_yes_no("--hard-measures", hard_measures), _yes_no("--fixed", fixed),
               _yes_no("--mechanism", mechanism))
    if remote.is_remote(lb):
        r = remote.record_followup(lb, issue=issue, outcome=outcome, note=note, answers=answers,
                                   evidence=evidence)
    else:
        lb.require_schema()
        guard_issue(lb, Action.RECORD_FOLLOWUP, issue)
        refs = [lb.evidence.put(str(f)) for f in evidence or []]
        r = svc.record_check(issue, outcome=outcome, note=note, evidence=refs,
                             hard_measures=answers[0], fixed=answers[1], mechanism=answers[2],
                             team=team, actor=lb.actor, uow_factory=lb.uow_factory(),
                             clock=lb.clock, calendar=lb.calendar)
    if out.json_mode:
        out.emit({"ok": True, **r.as_dict()})
        return
    if r.outcome == "verified":
        out.say(f"Issue {issue}: verified on look-back; closed.",
                f"问题{issue}：复查整改到位，已销号。")
        return
    new_due = due_text(out, r.new_due_on, r.issue.due_provisional)
    extra_en = {svc.WARNING_TALK: " A warning-talk notice is due (notices issue --kind "
                "warning_talk).", svc.CIRCULAR: " It will be listed in the next circular.",
                svc.REFERRAL: " Referred to enforcement (移送)."}.get(r.escalation, "")
    extra_zh = {svc.WARNING_TALK: "需签发约谈通知书（notices issue --kind warning_talk）。",
                svc.CIRCULAR: "将列入下一期督查通报。", svc.REFERRAL: "已移送执法部门。"}.get(
                    r.escalation, "")
    out.say(f"Issue {issue}: {label('outcome', r.outcome, 'en')}; new due date {new_due}; "
            f"escalation step {r.escalation}: {step_label(r.escalation, 'en')}.{extra_en}",
            f"问题{issue}：{label('outcome', r.outcome, 'zh')}；新的整改期限{new_due}；升级至第"
            f"{r.escalation}级：{step_label(r.escalation, 'zh')}。{extra_zh}")


@followup_app.command("case")
@_command
@as_user(SCOPED)
def followup_case(
    ctx: typer.Context,
    issue: Annotated[int, typer.Argument(help="Issue id (referred to enforcement).")],
    status: Annotated[str, typer.Option("--status", help="filed (立案) or declined.")],
    case_number: Annotated[str, typer.Option("--case-number", help="The case number when "
                                             "filed.")] = "",
) -> None:
    """Record the enforcement outcome of a referred issue (立案 or not)."""
    lb, out = _state(ctx)
    lb.require_schema()
    guard_issue(lb, Action.ISSUE_NOTICE, issue)
    ref = svc.record_case(issue, status=status, number=case_number, actor=lb.actor,
                          uow_factory=lb.uow_factory(), clock=lb.clock)
    if out.json_mode:
        out.emit({"ok": True, **ref})
        return
    out.say(f"Issue {issue}: case {status}" + (f" ({case_number})" if case_number else "") + ".",
            f"问题{issue}：" + ("已立案" if status == "filed" else "不予立案")
            + (f"（{case_number}）" if case_number else "") + "。")


@followup_app.command("show")
@_command
@as_user(SCOPED)
def followup_show(ctx: typer.Context,
                  issue: Annotated[int, typer.Argument(help="Issue id.")]) -> None:
    """Every follow-up of an issue, and its referral if any."""
    lb, out = _state(ctx)
    lb.require_schema()
    guard_issue(lb, Action.READ_ISSUE, issue)
    with lb.read_uow_factory()() as uow:
        if uow.issues.get(issue) is None:
            from domain.errors import NotFoundError
            raise NotFoundError(f"issue {issue} does not exist", f"问题{issue}不存在")
        rows = uow.followups.of_issue(issue)
        ref = uow.followups.referral_of(issue)
    if out.json_mode:
        out.emit({"ok": True, "issue": issue, **page([fu.as_dict() for fu in rows], len(rows)),
                  "referral": ref})
        return
    t = Table(title=out.t(f"Follow-ups of issue {issue}", f"问题{issue}的复查"))
    for h in ("id", out.t("revision", "轮次"), out.t("kind", "类型"), out.t("due", "到期"),
              out.t("status", "状态"), out.t("outcome", "结果"), out.t("note", "说明")):
        t.add_column(h)
    for fu in rows:
        t.add_row(str(fu.id), str(fu.revision), named(out, "followup_kind", fu.kind),
                  fu.due_on.isoformat(), named(out, "followup_status", fu.status),
                  named(out, "outcome", fu.outcome) if fu.outcome else "", fu.note[:40])
    out.out.print(t)
    if ref:
        case_zh = CASE_ZH.get(ref["case_status"], ref["case_status"])
        out.say(f"Referred on {ref['referred_on']}; case: {ref['case_status']} "
                f"{ref['case_number'] or ''}", f"已于{ref['referred_on']}移送；案件：{case_zh} "
                f"{ref['case_number'] or ''}")


@scheduler_app.command("run")
@_command
def scheduler_run(
    ctx: typer.Context,
    lease_seconds: Annotated[int, typer.Option("--lease-seconds", help="The lease's lifetime; "
                                               "a standby takes over this long after the "
                                               "holder dies.")] = 15,
    sweep_seconds: Annotated[int, typer.Option("--sweep-seconds", help="Seconds between "
                                               "safety-net sweeps.")] = 60,
    horizon_hours: Annotated[float, typer.Option("--horizon-hours", help="Timers are set for "
                                                 "follow-ups due within this many hours.")] = 24,
    max_jobs: Annotated[int, typer.Option("--max-jobs", help="At most this many timers at "
                                          "once; the rest are topped up as they run.")] = 1000,
) -> None:
    """Run the scheduler: fire every follow-up on its due instant (standby if another runs)."""
    from domain.clock import OffsetClock, SystemClock
    from lookback.scheduler import Daemon, install_signal_handlers

    lb, out = _state(ctx)
    lb.require_schema()
    for name, v in (("--lease-seconds", lease_seconds), ("--sweep-seconds", sweep_seconds),
                    ("--max-jobs", max_jobs)):
        if v < 1:
            raise BadArgumentError(f"{name} must be at least 1", f"{name}至少为1")
    if lease_seconds < 3:
        raise BadArgumentError("--lease-seconds must be at least 3", "--lease-seconds至少为3")
    clock: Any = OffsetClock(lb.settings.now) if lb.settings.now else SystemClock()
    daemon = Daemon(lb, lease_seconds=lease_seconds, sweep_seconds=sweep_seconds,
                    horizon_seconds=int(horizon_hours * 3600), max_jobs=max_jobs, clock=clock,
                    on_event=lambda m: out.note(m, m))
    _submit_to_workers(daemon, out)
    install_signal_handlers(daemon)
    out.note(f"scheduler {daemon.holder} on {lb.database_label}; Ctrl-C to stop",
             f"调度器{daemon.holder}，数据库{lb.database_label}；按Ctrl-C停止")
    daemon.run()
    if out.json_mode:
        out.emit({"ok": True, "holder": daemon.holder, **daemon.stats})


def _submit_to_workers(daemon: Any, out: Any) -> None:
    """On a Prefect server with the ``lookback-review`` deployment, fired look-backs become its
    flow runs (visible in the UI); otherwise, or if the server does not answer, they run here."""
    from lookback.prefect_runtime import server_url
    from lookback.scheduler import ReviewRuns

    url = server_url()
    if url is None:
        return
    try:
        daemon.runs = ReviewRuns.find(daemon.holder)
    except Exception as e:  # the server does not answer now: fire in this process
        out.note(f"Prefect server {url} does not answer ({type(e).__name__}); look-backs fire "
                 "in this process", f"Prefect服务{url}无应答（{type(e).__name__}）；回头看任务在"
                 "本进程内执行")
        return
    if daemon.runs is None:
        out.note(f"no lookback-review deployment on {url} (`lookback deploy` registers it); "
                 "look-backs fire in this process",
                 f"{url}上没有lookback-review部署（`lookback deploy`可注册）；回头看任务在本进程内执行")
    else:
        out.note(f"look-backs are submitted as lookback-review runs to the workers of {url}",
                 f"回头看任务以lookback-review流程运行提交给{url}的工作进程")


@scheduler_app.command("status")
@_command
def scheduler_status(ctx: typer.Context,
                     limit: Annotated[int, typer.Option("--limit")] = 10) -> None:
    """Who holds the scheduler lease, the next due follow-ups, and anything late."""
    from lookback.scheduler import status

    lb, out = _state(ctx)
    lb.require_schema()
    s = status(lb, limit=limit)
    if out.json_mode:
        out.emit({"ok": True, **s})
        return
    lease = s["lease"]
    if lease is None:
        out.say("No scheduler has run on this database.", "此数据库上尚未运行过调度器。")
    else:
        alive = out.t("alive", "运行中") if lease["alive"] else out.t("expired", "已过期")
        out.say(f"Lease: {lease['holder']} ({alive}; last heartbeat {lease['heartbeat_at']}, "
                f"expires {lease['expires_at']}).",
                f"租约：{lease['holder']}（{alive}；最近心跳{lease['heartbeat_at']}，到期"
                f"{lease['expires_at']}）。")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())) or "none"
    out.say(f"Follow-ups: {counts}.", f"复查：{counts}。")
    if s["late_total"]:
        out.say(f"LATE: {s['late_total']} follow-ups are due and have not fired (is the "
                "scheduler running? `lookback followup sweep` fires them now).",
                f"延误：{s['late_total']}项复查已到期未处理（调度器是否在运行？"
                "`lookback followup sweep`可立即处理）。")
    t = Table(title=out.t("Next due", "即将到期"))
    for h in ("id", out.t("issue", "问题"), out.t("kind", "类型"), out.t("due at (UTC)", "到期（UTC）"),
              out.t("business", "主体")):
        t.add_column(h)
    for fu in s["next_due"]:
        t.add_row(str(fu["id"]), str(fu["issue"]), fu["kind"], fu["due_at"][:16], fu["business"])
    out.out.print(t)
