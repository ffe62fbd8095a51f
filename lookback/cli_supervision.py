"""`lookback supervision …`: routine supervision by assigned officials (包保督导)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from domain import supervision as sv
from domain.clock import china_date
from domain.errors import BadArgumentError, BadFileError
from lookback import remote
from lookback.output import Output, Table, page, pct

supervision_app = typer.Typer(no_args_is_help=True)


from domain import access  # noqa: E402
from domain.access import Action  # noqa: E402
from lookback.cli_base import SCOPED, as_user, guard  # noqa: E402
from lookback.cli_base import command as _command  # noqa: E402
from lookback.cli_base import state as _state  # noqa: E402

_FREQ_HELP = ("TOML file of visit frequencies per official level (province, city, county, "
              "township, village = yearly | half-yearly | quarterly | monthly); levels left out "
              "keep the default.")


def read_frequencies(path: Path | None) -> dict[str, str]:
    if path is None:
        return dict(sv.DEFAULT_FREQUENCIES)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadFileError(f"{path}: no such frequencies file", f"{path}：频次文件不存在",
                           code="no_file") from None
    except UnicodeDecodeError:
        raise BadFileError(f"{path}: not UTF-8 text", f"{path}：不是UTF-8文本",
                           code="bad_encoding") from None
    return sv.parse_frequencies(text, source=str(path))


def _parse_date(raw: str | None, option: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadArgumentError(f"{option} {raw!r} is not a date like 2026-11-03",
                               f"{option}“{raw}”不是形如2026-11-03的日期",
                               code="bad_date") from None


def _visit_dict(v: sv.SupervisionVisit) -> dict[str, Any]:
    return {"id": v.id, "cadre_id": v.cadre_id, "cadre": v.cadre_name, "uscc": v.uscc,
            "business": v.business_name, "province": v.province_code, "level": v.level,
            "period": v.period, "period_start": v.period_start.isoformat(),
            "period_end": v.period_end.isoformat(), "status": v.status,
            "done_on": v.done_on.isoformat() if v.done_on else None, "note": v.note,
            "recorded_by": v.recorded_by or None}


@supervision_app.command("open")
@_command
@as_user(Action.RECORD_SUPERVISION)
def open_cmd(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", help="Open every period of each "
                                               "level's frequency overlapping this one (2026, "
                                               "2026H2, 2026Q4, 2026-11); default: every period "
                                               "begun since the last opening, up to the one "
                                               "containing today.")] = None,
    frequencies: Annotated[Path | None, typer.Option("--frequencies", help=_FREQ_HELP)] = None,
) -> None:
    """Open the supervision visits due for every official and assigned business (what every
    sweep does; safe to run twice)."""
    lb, out = _state(ctx)
    freqs = read_frequencies(frequencies)
    window = sv.parse_period(period) if period is not None else None
    lb.require_schema()
    n = sv.open_due(uow_factory=lb.uow_factory(), clock=lb.clock, frequencies=freqs,
                    actor=lb.actor, period=window)
    where = window.code if window else china_date(lb.clock.now()).isoformat()
    if out.json_mode:
        out.emit({"ok": True, "opened": n, "period": window.code if window else None,
                  "frequencies": freqs})
        return
    out.say(f"{n} supervision visit(s) opened for {where}.",
            f"已为{where}开启{n}项包保督导任务。")


@supervision_app.command("record")
@_command
@as_user(SCOPED)
def record_cmd(
    ctx: typer.Context,
    cadre: Annotated[str, typer.Option("--cadre", help="The assigned official's id.")],
    business: Annotated[str, typer.Option("--business", help="The business's USCC.")],
    note: Annotated[str, typer.Option("--note", help="What was checked (督导情况).")],
    on: Annotated[str | None, typer.Option("--date", help="Visit date (default today).")] = None,
    period: Annotated[str | None, typer.Option("--period", help="The period the visit is for "
                                               "(default: the one containing the date).")] = None,
    issue: Annotated[list[str] | None, typer.Option("--issue", help="A finding, "
                                                    "category:severity:description "
                                                    "(repeatable).")] = None,
    lead: Annotated[list[str] | None, typer.Option("--lead", help="A lead referred to "
                                                   "enforcement (移送线索, repeatable).")] = None,
    frequencies: Annotated[Path | None, typer.Option("--frequencies", help=_FREQ_HELP)] = None,
) -> None:
    """Record a supervision visit done, with its findings and leads."""
    lb, out = _state(ctx)
    freqs = read_frequencies(frequencies)
    day = _parse_date(on, "--date")
    findings = [sv.parse_finding(s) for s in issue or []]
    window = sv.parse_period(period) if period is not None else None
    if remote.is_remote(lb):
        r = remote.record_supervision(lb, cadre=cadre, business=business, note=note, on=day,
                                      period=window, findings=findings, leads=lead or [])
    else:
        lb.require_schema()
        with lb.read_uow_factory()() as uow:
            b = uow.registers.get_business(business)
            mine = uow.supervision.is_assigned(cadre, business)
        guard(lb, Action.RECORD_SUPERVISION, f"supervision:{cadre}:{business}", uscc=business,
              region=b.region_code if b is not None else None, cadre_id=cadre,
              assigned=frozenset({cadre}) if mine else frozenset())
        r = sv.record(cadre_id=cadre, uscc=business, note=note, on=day, period=window,
                      findings=findings, leads=lead or [], uow_factory=lb.uow_factory(),
                      clock=lb.clock, calendar=lb.calendar, actor=lb.actor, frequencies=freqs)
    if out.json_mode:
        out.emit({"ok": True, **_visit_dict(r.visit), "opened_now": r.opened,
                  "findings": [{"id": i, "category": f.category, "severity": f.severity,
                                "description": f.description, "due_on": f.due_on.isoformat(),
                                "due_provisional": f.due_provisional}
                               for i, f in zip(r.finding_ids, r.findings, strict=True)],
                  "referrals": r.referral_ids})
        return
    v = r.visit
    out.say(f"Supervision visit {v.id} recorded: {v.cadre_name} ({v.cadre_id}) at "
            f"{v.business_name} ({v.uscc}) on {v.done_on}, period {v.period}.",
            f"已记录包保督导{v.id}：{v.cadre_name}（{v.cadre_id}）于{v.done_on}督导"
            f"{v.business_name}（{v.uscc}），期间{v.period}。")
    for i, f in zip(r.finding_ids, r.findings, strict=True):
        prov_en = " (provisional)" if f.due_provisional else ""
        prov_zh = "（暂定）" if f.due_provisional else ""
        out.say(f"  finding {i}: {f.category}, {f.severity}: {f.description} — due {f.due_on}"
                f"{prov_en}",
                f"  问题{i}：{f.category}，{sv.SEVERITY_ZH[f.severity]}：{f.description}"
                f"——整改期限{f.due_on}{prov_zh}")
    if r.referral_ids:
        out.say(f"  leads referred: {', '.join(map(str, r.referral_ids))}",
                f"  已移送线索：{'、'.join(map(str, r.referral_ids))}")


@supervision_app.command("list")
@_command
@as_user(SCOPED)
def list_cmd(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", help="The visits whose period ends "
                                               "within this one (as rates counts them).")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open or done.")] = None,
    cadre: Annotated[str | None, typer.Option("--cadre", help="One official's visits.")] = None,
) -> None:
    """The supervision visits, by period, status and official."""
    lb, out = _state(ctx)
    if status is not None and status not in ("open", "done"):
        raise BadArgumentError(f"--status {status!r} is not open or done",
                               f"--status“{status}”应为open或done", code="bad_status")
    window = sv.parse_period(period) if period is not None else None
    lb.require_schema()
    p = lb.principal
    territory, own = access.supervision_filter(p)
    with lb.read_uow_factory()() as uow:
        visits = uow.supervision.visits(ending_from=window.start if window else None,
                                        ending_to=window.end if window else None,
                                        status=status, cadre_id=own or cadre,
                                        territory=territory)
    if own is not None and cadre not in (None, own):
        visits = []
    visits = [v for v in visits if access.sees_supervision(
        p, uscc=v.uscc, cadre_id=v.cadre_id, region=v.region_code)]
    if out.json_mode:
        out.emit({"ok": True, **page([_visit_dict(v) for v in visits], len(visits))})
        return
    t = out.t
    table = Table(title=t("Supervision visits", "包保督导任务")
                  + (f" {window.code}" if window else ""))
    for col in ("id", t("period", "期间"), t("official", "包保干部"), t("level", "层级"),
                t("business", "主体"), "USCC", t("status", "状态")):
        table.add_column(col)
    for v in visits:
        level = sv.LEVEL_ZH.get(v.level, v.level) if out.lang == "zh" else v.level
        state = (t("done", "已完成") + f" {v.done_on}") if v.status == "done" else t("open", "待督导")
        table.add_row(str(v.id), v.period, f"{v.cadre_name} ({v.cadre_id})", level,
                      v.business_name, v.uscc, state)
    out.out.print(table)
    out.say(f"{len(visits)} visit(s).", f"共{len(visits)}项。")


def _rates_dict(r: sv.Rates) -> dict[str, Any]:
    return {"ok": True, "period": r.period.code, "period_start": r.period.start.isoformat(),
            "period_end": r.period.end.isoformat(), "today": r.today.isoformat(), "by": r.by,
            "definition": "required = opened visits whose own period ends within the period; "
                          "rate = done / required; overdue = required, not done, period ended "
                          "before today",
            "total": r.total.as_dict(), "groups": [g.as_dict() for g in r.groups],
            "overdue": [_visit_dict(v) for v in r.overdue], "findings": r.findings}


_SHOWN = 50


def _print_rates(out: Output, r: sv.Rates) -> None:
    t = out.t
    table = Table(title=t(f"Supervision completion rate {r.period.code} ({r.period.start} to "
                          f"{r.period.end})",
                          f"{r.period.code}督导完成率（{r.period.start}至{r.period.end}）"))
    head = {"province": t("province", "省份"), "level": t("level", "层级")}.get(r.by or "", "")
    for col in ([head] if r.by else []) + [t("required", "应督导"), t("done", "已完成"),
                                             t("overdue", "逾期未督导"), t("rate", "完成率")]:
        table.add_column(col, justify="left" if col == head else "right")
    for g in [*r.groups, r.total]:
        label = g.label if out.lang == "zh" or r.by == "province" else g.key
        if g is r.total:
            label = t("total", "合计")
        table.add_row(*([label] if r.by else []), str(g.required), str(g.done), str(g.overdue),
                      pct(g.rate))
    out.out.print(table)
    if r.overdue:
        late = Table(title=t(f"Overdue (period ended before {r.today}, not done)",
                             f"逾期未督导（期间在{r.today}前结束且未完成）"))
        for col in ("id", t("period", "期间"), t("official", "包保干部"), t("business", "主体"),
                    "USCC", t("period end", "期间截止")):
            late.add_column(col)
        for v in r.overdue[:_SHOWN]:
            late.add_row(str(v.id), v.period, f"{v.cadre_name} ({v.cadre_id})", v.business_name,
                         v.uscc, v.period_end.isoformat())
        out.out.print(late)
        if len(r.overdue) > _SHOWN:
            out.say(f"… and {len(r.overdue) - _SHOWN} more overdue; --json lists them all.",
                    f"……另有{len(r.overdue) - _SHOWN}项逾期；--json可列出全部。")
    else:
        out.say("No overdue supervision visits.", "没有逾期未督导的任务。")
    f = r.findings
    if f.get("registered"):
        out.say(f"Issues found in this period's supervision: {f['registered']}, verified "
                f"{f['verified']} (rectification rate {pct(f['rectification_rate'])}, on-time "
                f"rate {pct(f['on_time_rate'])}), overdue {f['overdue']}.",
                f"本期督导发现问题{f['registered']}个，已整改销号{f['verified']}个（整改率"
                f"{pct(f['rectification_rate'])}，按期整改率{pct(f['on_time_rate'])}），"
                f"逾期未整改{f['overdue']}个。")


@supervision_app.command("rates")
@_command
@as_user(SCOPED)
def rates_cmd(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="2026, 2026H2, 2026Q4 or 2026-11.")],
    by: Annotated[str | None, typer.Option("--by", help="province or level.")] = None,
    frequencies: Annotated[Path | None, typer.Option("--frequencies", help=_FREQ_HELP + " "
                                                     "Checked only: the rate counts the visits "
                                                     "opened.")] = None,
) -> None:
    """The supervision completion rate (督导完成率) of a period and its overdue visits.

    Required: the opened visits whose own period ends within the period (2026Q4 counts the
    monthly visits of Oct–Dec, the quarterly of Q4, the half-yearly of H2 and the yearly of
    2026). Rate: done / required. Overdue: required, not done, period ended before today.
    """
    lb, out = _state(ctx)
    freqs = read_frequencies(frequencies)
    window = sv.parse_period(period)
    if by is not None and by not in sv.BY:
        raise BadArgumentError(f"--by {by!r} is not province or level",
                               f"--by“{by}”应为province或level", code="bad_by")
    lb.require_schema()
    territory, own = access.supervision_filter(lb.principal)
    r = sv.rates(window, uow_factory=lb.read_uow_factory(), today=china_date(lb.clock.now()),
                 by=by, territory=territory, cadre_id=own)
    if out.json_mode:
        out.emit({**_rates_dict(r), "frequencies": freqs})
    else:
        _print_rates(out, r)
