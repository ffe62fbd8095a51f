"""`lookback registry …`: import, generate and count the registers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from domain.errors import BadArgumentError
from domain.importing import DEFAULT_BATCH_ROWS, ImportSummary
from domain.registers import RegisterKind
from domain.stats import RegisterStats, register_stats
from lookback.bootstrap import App
from lookback.output import Output, Table, pct

registry_app = typer.Typer(no_args_is_help=True)


from domain.access import Action  # noqa: E402
from lookback.cli_base import as_user, guard  # noqa: E402
from lookback.cli_base import command as _command  # noqa: E402
from lookback.cli_base import state as _state  # noqa: E402


def run_import(lb: App, out: Output, path: Path, kind: RegisterKind, *, strict: bool,
               batch_rows: int, report: Path | None,
               office: str | None = None) -> tuple[ImportSummary, Path | None]:
    """Import one register file with a progress bar; returns the summary and the report path.
    With ``office`` (its name or id), rows outside the office's territory are refused."""
    from lookback.registry_import import import_file
    from storage.readers import RegisterFile
    from storage.reports import CsvProblemReport

    lb.require_schema()
    territory = ""
    if office is not None:
        from domain.offices import get_office

        territory = get_office(office, uow_factory=lb.read_uow_factory()).territory.prefix
    register = RegisterFile(path, kind)
    stamp = lb.clock.now().strftime("%Y%m%dT%H%M%S")
    report_path = report or (lb.data_dir / "reports" / f"{kind.value}-{stamp}-{path.stem}-rejects.csv")
    sink = CsvProblemReport(report_path, overwrite=report is not None)
    with out.progress(f"Importing {path.name}", f"正在导入{path.name}") as update:
        summary = import_file(lb, register, sink=sink, source=str(path), strict=strict,
                              batch_rows=batch_rows, territory=territory, on_progress=update)
    return summary, (sink.path if sink.written else None)


def summary_dict(summary: ImportSummary, path: Path, report: Path | None) -> dict[str, Any]:
    return {
        "ok": summary.rejected == 0,
        "file": str(path), "kind": summary.kind.value, "import_id": summary.run_id,
        "read": summary.read, "inserted": summary.inserted, "updated": summary.updated,
        "rejected": summary.rejected, "invalid_rows": summary.invalid,
        "warnings": summary.warnings, "strict": summary.strict, "stored": summary.stored,
        "balanced": summary.balanced, "report": str(report) if report else None,
        "problems": [
            {"line": p.line, "column": p.column, "value": p.value, "reason": p.en,
             "reason_zh": p.zh, "warning": p.warning}
            for p in summary.first_problems
        ],
    }


def print_summary(out: Output, summary: ImportSummary, path: Path, report: Path | None) -> None:
    kind = summary.kind.value
    out.say(
        f"{path.name} ({kind}): read {summary.read} = inserted {summary.inserted} + updated "
        f"{summary.updated} + rejected {summary.rejected}; {summary.warnings} warning(s).",
        f"{path.name}（{kind}）：读取{summary.read} = 新增{summary.inserted} + 更新"
        f"{summary.updated} + 拒绝{summary.rejected}；警告{summary.warnings}条。",
    )
    if not summary.stored:
        out.say(f"--strict: {summary.invalid} row(s) refused, so nothing was stored.",
                f"--strict：有{summary.invalid}行被拒绝，因此未保存任何数据。")
    if summary.first_problems and not out.json_mode:
        table = Table(title=out.t("First problems", "前几条问题"))
        for col in (out.t("line", "行号"), out.t("column", "列"), out.t("value", "值"),
                    out.t("reason", "原因")):
            table.add_column(col)
        for p in summary.first_problems[:10]:
            label = (out.t("warning: ", "警告：") if p.warning else "") + p.reason(out.lang)
            table.add_row(str(p.line), p.column, p.value[:40], label)
        out.out.print(table)
    if report is not None:
        out.say(f"Report of every refused row and warning: {report}",
                f"全部拒绝行和警告见报告：{report}")


@registry_app.command("import")
@_command
@as_user(Action.PLAN)
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 / GB18030) or XLSX register file.")],
    kind: Annotated[RegisterKind, typer.Option("--kind", help="Which register the file holds.")],
    strict: Annotated[bool, typer.Option("--strict", help="Store nothing if any row is "
                                         "refused.")] = False,
    batch_rows: Annotated[int, typer.Option("--batch-rows", help="Rows per transaction.")]
    = DEFAULT_BATCH_ROWS,
    report: Annotated[Path | None, typer.Option("--report", help="Where to write the reject "
                                                "report (default: under the data folder).")]
    = None,
    office: Annotated[str | None, typer.Option(
        "--office", help="Import for this office (name or id): business and cadre rows outside "
        "its territory are refused and reported.")] = None,
) -> None:
    """Import a register; every row is stored or reported with its line and reason.

    Exit code 0: all rows stored; 1: some rows refused (see the report); 2: unusable file or
    arguments.
    """
    lb, out = _state(ctx)
    if batch_rows < 1:
        raise BadArgumentError("--batch-rows must be at least 1", "--batch-rows至少为1")
    p = lb.principal
    if office is None and p.office_id is not None:
        office = str(p.office_id)  # a user of an office imports for it
    if office is not None and p.territory:
        from domain.offices import get_office

        target = get_office(office, uow_factory=lb.read_uow_factory())
        guard(lb, Action.PLAN, f"office:{target.id}", region=target.territory.prefix)
    summary, report_path = run_import(lb, out, file, kind, strict=strict, batch_rows=batch_rows,
                                      report=report, office=office)
    if out.json_mode:
        out.emit(summary_dict(summary, file, report_path))
    else:
        print_summary(out, summary, file, report_path)
    if summary.rejected:
        raise typer.Exit(1)


@registry_app.command("generate")
@_command
def generate_cmd(
    ctx: typer.Context,
    businesses: Annotated[int, typer.Option("--businesses", help="How many businesses.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the registers to.")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 2026,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    encoding: Annotated[str, typer.Option("--encoding", help="CSV encoding: utf-8, utf-8-sig "
                                          "or gb18030.")] = "utf-8",
    zh_headers: Annotated[bool, typer.Option("--zh-headers", help="Chinese column headers.")]
    = False,
) -> None:
    """Write realistic, deterministic synthetic registers (businesses, cadres, inspectors)."""
    from storage.synthetic import generate

    _lb, out = _state(ctx)
    if businesses < 1:
        raise BadArgumentError("--businesses must be at least 1", "--businesses至少为1")
    if fmt not in ("csv", "xlsx"):
        raise BadArgumentError(f"--format: {fmt!r} is not csv or xlsx",
                               f"--format：“{fmt}”不是csv或xlsx")
    if encoding not in ("utf-8", "utf-8-sig", "gb18030"):
        raise BadArgumentError(f"--encoding: {encoding!r} is not utf-8, utf-8-sig or gb18030",
                               f"--encoding：“{encoding}”不是utf-8、utf-8-sig或gb18030")
    with out.progress(f"Generating {businesses} businesses", f"正在生成{businesses}个主体",
                      total=businesses) as update:
        result = generate(out_dir, businesses=businesses, seed=seed, fmt=fmt, encoding=encoding,
                          chinese_headers=zh_headers, on_progress=update)
    files = {"businesses": str(result.businesses), "cadres": str(result.cadres),
             "inspectors": str(result.inspectors)}
    if out.json_mode:
        out.emit({"ok": True, "seed": seed, "files": files, "counts": result.counts})
        return
    c = result.counts
    out.say(f"Wrote {c.get('businesses', 0)} businesses, {c.get('cadres', 0)} cadres and "
            f"{c.get('inspectors', 0)} inspectors to {out_dir} (seed {seed}).",
            f"已生成{c.get('businesses', 0)}个主体、{c.get('cadres', 0)}名包保干部、"
            f"{c.get('inspectors', 0)}名督查人员，保存在{out_dir}（种子{seed}）。")


def stats_dict(stats: RegisterStats) -> dict[str, Any]:
    return {"ok": True, **stats.as_dict()}


def print_stats(out: Output, stats: RegisterStats) -> None:
    out.say(
        f"Businesses: {stats.businesses} ({stats.active_businesses} active) · cadres: "
        f"{stats.cadres} · inspectors: {stats.inspectors} ({stats.active_inspectors} active) · "
        f"regions: {stats.regions}",
        f"主体{stats.businesses}个（在营{stats.active_businesses}）· 包保干部{stats.cadres}名 · "
        f"督查人员{stats.inspectors}名（在职{stats.active_inspectors}）· 行政区划{stats.regions}个",
    )
    out.say(
        f"Coverage rate (has an assigned official): {pct(stats.coverage_rate)} · staffing rate "
        f"(director and officer named): {pct(stats.staffing_rate)} · director named "
        f"{pct(stats.director_rate)} · officer named {pct(stats.officer_rate)}",
        f"包保覆盖率：{pct(stats.coverage_rate)} · 人员配备率（总监和安全员均已配备）："
        f"{pct(stats.staffing_rate)} · 已配总监{pct(stats.director_rate)} · 已配安全员"
        f"{pct(stats.officer_rate)}",
    )
    if stats.leads_referred is not None:
        out.say(f"Leads referred to enforcement: {stats.leads_referred} · cases filed: "
                f"{stats.cases_filed}",
                f"移送线索{stats.leads_referred}条 · 已立案{stats.cases_filed}件")
    t = out.t
    prov = Table(title=t("Active businesses by province", "各省在营主体"))
    for col in (t("code", "代码"), t("province", "省份"), t("businesses", "主体数"),
                t("coverage", "包保覆盖率"), t("staffing", "人员配备率")):
        prov.add_column(col, justify="right" if col not in (t("province", "省份"),) else "left")
    for row in stats.by_province:
        prov.add_row(row.code, row.name, str(row.businesses), pct(row.coverage_rate),
                     pct(row.staffing_rate))
    out.out.print(prov)
    cat = Table(title=t("By category", "按类别"))
    cat.add_column(t("category", "类别"))
    cat.add_column(t("businesses", "主体数"), justify="right")
    for code, zh, n in stats.by_category:
        cat.add_row(zh if out.lang == "zh" else code, str(n))
    out.out.print(cat)
    risk = Table(title=t("By risk level", "按风险等级"))
    risk.add_column(t("risk level", "风险等级"))
    risk.add_column(t("businesses", "主体数"), justify="right")
    for level, n in stats.by_risk:
        risk.add_row(level, str(n))
    out.out.print(risk)
    lv = Table(title=t("Assigned officials by level", "包保干部按层级"))
    lv.add_column(t("level", "层级"))
    lv.add_column(t("cadres", "人数"), justify="right")
    for code, zh, n in stats.cadres_by_level:
        lv.add_row(zh if out.lang == "zh" else code, str(n))
    out.out.print(lv)


@registry_app.command("stats")
@_command
@as_user(Action.READ)
def stats_cmd(ctx: typer.Context) -> None:
    """Counts by province, category and risk level; coverage and staffing rates (the whole
    country: a user of an office gets its territory's figures from `lookback rollup`)."""
    lb, out = _state(ctx)
    lb.require_schema()
    if lb.principal.territory:
        raise BadArgumentError(
            "registry stats counts the whole country; for your office's territory use "
            "`lookback rollup`", "registry stats统计全国名录；本单位辖区的数字请用`lookback rollup`",
            code="outside_territory")
    stats = register_stats(uow_factory=lb.read_uow_factory())
    if out.json_mode:
        out.emit(stats_dict(stats))
    else:
        print_stats(out, stats)
