"""`lookback rollup`: an office's figures per region below it (汇总)."""

from __future__ import annotations

from typing import Annotated

import typer

from domain import access
from domain.access import Action
from lookback.cli_base import SCOPED, as_user, guard
from lookback.cli_base import command as _command
from lookback.cli_base import state as _state
from lookback.output import Table, pct


@_command
@as_user(SCOPED)
def rollup(
    ctx: typer.Context,
    level: Annotated[str | None, typer.Option(
        "--level", help="province, city or county (default: one level below the office).")]
    = None,
    period: Annotated[str | None, typer.Option(
        "--period", help="The supervision period: 2026, 2026H2, 2026Q4 or 2026-11 (default: "
        "this quarter).")] = None,
    office: Annotated[str | None, typer.Option(
        "--office", help="The office (name or id) whose territory is rolled up (default: the "
        "acting user's office; the whole country for the local administrator).")] = None,
) -> None:
    """Coverage, staffing, supervision completion, campaigns, issues, rectification and on-time
    rates, overdue and escalations, per region below the office."""
    from domain import rollup as svc
    from domain.clock import china_date
    from domain.offices import get_office, level_of_prefix

    lb, out = _state(ctx)
    lb.require_schema()
    today = china_date(lb.clock.now())
    p = lb.principal
    if p.role not in access.STAFF_READERS:
        guard(lb, Action.ADMIN, "rollup")  # staff only: refused, and the refusal recorded
    territory, office_level = p.territory, level_of_prefix(p.territory)
    if office is not None:
        o = get_office(office, uow_factory=lb.read_uow_factory())
        guard(lb, Action.READ, f"office:{o.id}", region=o.territory.prefix)
        territory, office_level = o.territory.prefix, o.level
    r = svc.rollup(territory=territory, office_level=office_level, level=level, period=period,
                   today=today, uow_factory=lb.read_uow_factory())
    if out.json_mode:
        out.emit({"ok": True, **r.as_dict()})
        return
    t = Table(title=out.t(f"Roll-up by {r.level}, supervision period {r.period}",
                          f"按{svc.LEVEL_ZH[r.level]}汇总（督导期间{r.period}）"))
    for h in (out.t("region", "地区"), out.t("businesses", "主体"), out.t("coverage", "包保覆盖率"),
              out.t("staffing", "总监/安全员配备率"), out.t("supervision", "督导完成率"),
              out.t("campaigns", "督查"), out.t("issues", "问题"), out.t("rectified", "整改率"),
              out.t("on time", "按期率"), out.t("overdue", "逾期"), out.t("escalated", "升级")):
        t.add_column(h)
    for row in [*r.rows, r.total]:
        d = row.as_dict()
        t.add_row(f"{d['name']} {d['code'] if row is not r.total else ''}".strip(),
                  f"{d['businesses']:,}", pct(d["coverage_rate"]), pct(d["staffing_rate"]),
                  pct(d["supervision_rate"]), str(d["campaigns"]), str(d["issues"]),
                  pct(d["rectification_rate"]), pct(d["on_time_rate"]), str(d["overdue"]),
                  str(d["escalated"]))
    out.out.print(t)
