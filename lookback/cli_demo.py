"""`lookback demo`: build a fresh, self-contained demo in a new folder and say what it made."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from domain.clock import china_date
from domain.errors import BadArgumentError
from domain.importing import DEFAULT_BATCH_ROWS
from domain.registers import RegisterKind
from lookback.bootstrap import bootstrap
from lookback.demo_lookback import jump_to
from lookback.output import counts
from storage.cells import safe_row

DEFAULT_DIR = Path("lookback-demo")
MIN_BUSINESSES = 2000
EXAMPLE_PLAN = Path(__file__).resolve().parent.parent / "examples" / "plan-2023-two-responsibilities.toml"


def dated_plan(plan_text: str, today: date) -> str:
    """The example plan moved to the demo's own clock: the campaign starts today and runs a month,
    and its title names this year (no 2023 campaign whose fieldwork happens years later)."""
    import re

    text = re.sub(r"(?m)^starts_on = \S+", f"starts_on = {today.isoformat()}", plan_text)
    text = re.sub(r"(?m)^ends_on = \S+",
                  f"ends_on = {(today + timedelta(days=32)).isoformat()}", text)
    return re.sub(r'(?m)^title = "\d{4}年', f'title = "{today.year}年', text)


def _fresh_dir(requested: Path | None) -> Path:
    if requested is not None:
        if requested.exists() and any(requested.iterdir()):
            raise BadArgumentError(
                f"--dir: {requested} is not empty; the demo builds in a new or empty folder",
                f"--dir：{requested}不是空文件夹；演示需要新的或空的文件夹",
            )
        return requested
    candidate = DEFAULT_DIR
    n = 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = Path(f"{DEFAULT_DIR}-{n}")
    return candidate


def _bad_rows_file(businesses_csv: Path, target: Path) -> Path:
    """A small register with deliberate mistakes, to show the reject report at work."""
    with businesses_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[:6]
    header, good = rows[0], rows[1:]
    bad = [list(r) for r in good[:5]]
    bad[0][0] = bad[0][0][:-1] + ("0" if bad[0][0][-1] != "0" else "1")  # wrong check digit
    bad[1][3] = "网吧"  # not a food category
    bad[2][4] = "E"  # no such risk level
    bad[3][2] = "999999"  # no such province
    bad[4] = list(good[4])  # a valid row: updates the stored business
    bad.append(list(good[4]))  # the same business again: a duplicate inside the file
    with target.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(safe_row(r) for r in bad)
    return target


def demo(
    ctx: typer.Context,
    dir: Annotated[Path | None, typer.Option("--dir", help="New or empty folder for the demo "
                                             "(default: ./lookback-demo, or -2, -3 …).")] = None,
    businesses: Annotated[int, typer.Option("--businesses", help="Size of the synthetic "
                                            "register.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic registers.")] = 2026,
) -> None:
    """Build a fresh demo: generate registers, initialise a database, import, show statistics."""
    from lookback.cli_base import state
    from lookback.cli_registry import print_stats, print_summary, run_import, summary_dict
    from storage import migrate
    from storage.regions import load_regions
    from storage.synthetic import generate

    parent, out = state(ctx)
    if businesses < MIN_BUSINESSES:
        raise BadArgumentError(
            f"--businesses must be at least {MIN_BUSINESSES}: the example campaign draws 126 "
            "businesses in 20 cities of ten provinces",
            f"--businesses至少为{MIN_BUSINESSES}：示例督查要在十个省的20个城市中抽取126个主体")
    folder = _fresh_dir(dir)
    folder.mkdir(parents=True, exist_ok=True)
    settings = parent.settings.model_copy(update={
        "database_url": f"sqlite:///{(folder / 'lookback.db').resolve()}",
        "data_dir": (folder / "data").resolve(),
    })
    lb = bootstrap(settings, lang=out.lang, json=out.json_mode)
    if lb.settings.now is None:  # the demo runs on a simulated clock that starts now
        from datetime import UTC, datetime

        jump_to(lb, datetime.now(UTC).replace(microsecond=0))
    report: dict[str, Any] = {"ok": True, "folder": str(folder.resolve()),
                              "database": lb.database_label, "data_dir": str(lb.data_dir)}
    try:
        out.say(f"Building a demo in {folder}/", f"正在{folder}/中构建演示")
        registers = folder / "registers"
        with out.progress("1/12 Generating registers", "1/12 生成名录", total=businesses) as update:
            made = generate(registers, businesses=businesses, seed=seed, on_progress=update)
        report["registers"] = {"businesses": str(made.businesses), "cadres": str(made.cadres),
                               "inspectors": str(made.inspectors), "seed": seed}
        _before, after = migrate.upgrade(lb.engine)
        n_regions = load_regions(lb.uow_factory())
        from lookback import prefect_runtime

        prefect_runtime.prepare(out)  # before the first flow: a first start fits its limit
        out.say(f"2/12 Database initialised at revision {after}; {n_regions} regions loaded.",
                f"2/12 数据库已初始化（版本{after}）；载入{n_regions}个行政区划。")
        report["regions"] = n_regions
        imports = []
        for kind, path in ((RegisterKind.BUSINESSES, made.businesses),
                           (RegisterKind.CADRES, made.cadres),
                           (RegisterKind.INSPECTORS, made.inspectors)):
            summary, rpath = run_import(lb, out, path, kind, strict=False, batch_rows=DEFAULT_BATCH_ROWS,
                                        report=None)
            print_summary(out, summary, path, rpath)
            imports.append(summary_dict(summary, path, rpath))
        bad = _bad_rows_file(made.businesses, registers / "businesses-with-mistakes.csv")
        out.say("3/12 Importing a file with five deliberate mistakes, to show the reject report:",
                "3/12 导入一个含五处故意错误的文件，演示拒绝报告：")
        summary, rpath = run_import(lb, out, bad, RegisterKind.BUSINESSES, strict=False,
                                    batch_rows=DEFAULT_BATCH_ROWS, report=None)
        print_summary(out, summary, bad, rpath)
        imports.append(summary_dict(summary, bad, rpath))
        report["imports"] = imports
        from domain.stats import register_stats

        stats = register_stats(uow_factory=lb.read_uow_factory())
        out.say("4/12 Register statistics:", "4/12 名录统计：")
        if not out.json_mode:
            print_stats(out, stats)
        report["stats"] = stats.as_dict()
        report["campaign"] = _demo_campaign(lb, out, folder)
        report["fieldwork"] = _demo_fieldwork(lb, out, report["campaign"]["id"], seed, folder)
        cid = report["campaign"]["id"]
        report["notices"] = _demo_notices(lb, out, cid, folder, "7/12", FIRST_NOTICES)
        report["lookback"] = _demo_lookback(lb, out, cid, seed)
        report["notices"].update(_demo_notices(lb, out, cid, folder, "10/12", LAST_NOTICES))
        report["supervision"] = _demo_supervision(lb, out, seed)
        report["summary"] = _demo_summary(lb, out, cid, report, folder)
    finally:
        lb.close()
    if out.json_mode:
        out.emit(report)
        return
    db_path = folder / "lookback.db"
    out.say(
        f"\nDone. The demo is in {folder}/: registers/ (generated CSVs), lookback.db (SQLite), "
        f"data/reports/ (reject reports), data/evidence/ (evidence by SHA-256), draw/ (the "
        f"published draw record and frame), notices/ (the issued PDFs).\n"
        f"Try: lookback --db {db_path} campaign metrics 1 · lookback --db {db_path} issue list "
        f"--campaign 1 · lookback --db {db_path} audit verify · lookback --db {db_path} notices "
        f"verify {folder}/notices/<number>.pdf · python docs/verify_draw.py "
        f"{folder}/draw/record.json {folder}/draw/frame.csv",
        f"\n完成。演示位于{folder}/：registers/（生成的名录CSV）、lookback.db（SQLite数据库）、"
        f"data/reports/（拒绝报告）、data/evidence/（按SHA-256保存的证据）、draw/（公开的抽取记录和抽样框）、"
        f"notices/（签发的PDF文书）。\n"
        f"可尝试：lookback --db {db_path} campaign metrics 1 · lookback --db {db_path} issue list "
        f"--campaign 1 · lookback --db {db_path} audit verify · lookback --db {db_path} notices "
        f"verify {folder}/notices/<number>.pdf · python docs/verify_draw.py "
        f"{folder}/draw/record.json {folder}/draw/frame.csv",
    )


def _demo_campaign(lb: Any, out: Any, folder: Path) -> dict[str, Any]:
    """Create and launch the example campaign, show the draw and export its record."""
    from domain import campaigns as svc
    from domain import offices
    from lookback.cli_campaign import (
        export_draw,
        launch_with_prefect,
        new_seed,
        print_draw_summary,
        read_text,
    )

    plan_text = dated_plan(read_text(EXAMPLE_PLAN, "plan file", "计划文件"),
                           china_date(lb.clock.now()))
    national = offices.add_offices(
        [offices.NewOffice(NATIONAL_OFFICE, NATIONAL_SHORT, "national", offices.NATIONAL_CODE,
                           None)], actor=lb.actor, uow_factory=lb.uow_factory(),
        clock=lb.clock, skip_existing=True)[0]
    cid = svc.create_campaign(plan_text, source=str(EXAMPLE_PLAN), uow_factory=lb.uow_factory(),
                              clock=lb.clock, new_seed=new_seed, office=national)
    out.say(f"5/12 Campaign {cid} from {EXAMPLE_PLAN.name}: launching (draw, teams, visits)…",
            f"5/12 根据{EXAMPLE_PLAN.name}创建督查{cid}：正在启动（抽取、组队、计划检查）…")
    result = launch_with_prefect(lb, out, cid)
    with lb.read_uow_factory()() as uow:
        record = uow.campaigns.get_record(cid)
        frame = uow.campaigns.get_frame(cid)
    assert record is not None and frame is not None
    if not out.json_mode:
        print_draw_summary(out, record)
    rec_path, frame_path = export_draw(record, frame.lines, folder / "draw")
    verified = svc.verify_campaign(cid, uow_factory=lb.uow_factory())
    added = _demo_offices(lb, cid, national.name)
    out.say(f"Offices: the national office owns the campaign; {added} offices added for the "
            "provinces and cities it touches (`lookback office list`).",
            f"食安办：督查属于国家级食安办；为督查涉及的省、市新增{added}个食安办"
            "（`lookback office list`）。")
    out.say(f"Drawn: {result['sampled']} businesses in "
            f"{len(record['stages'][0]['chosen'])} cities, {len(record['teams'])} teams, "
            f"{result['visits_created']} visits planned; record verified: "
            f"{'OK' if verified.ok else verified.difference}. Published: {rec_path}, {frame_path}",
            f"抽中{result['sampled']}个主体（{len(record['stages'][0]['chosen'])}个城市），"
            f"{len(record['teams'])}个督查组，计划检查{result['visits_created']}次；记录核验："
            f"{'通过' if verified.ok else verified.difference}。公开文件：{rec_path}、{frame_path}")
    return {"id": cid, "sampled": result["sampled"], "visits": result["visits_created"],
            "record": str(rec_path), "frame": str(frame_path), "verified": verified.ok}


NATIONAL_OFFICE = "国务院食品安全委员会办公室"  # the example plan's issuing office
NATIONAL_SHORT = "食安办"  # and its short name: the demo's document numbers


def _demo_offices(lb: Any, campaign_id: int, national: str) -> int:
    """The offices of the provinces and cities a campaign's visits lie in, below the national
    office; how many were added."""
    from domain import offices

    with lb.read_uow_factory()() as uow:
        codes = sorted({v.region_code for v in uow.fieldwork.list_visits(
            campaign_id, team=None, status=None)})
        names = {}
        for code in {c[:2] + "0000" for c in codes} | {c[:4] + "00" for c in codes}:
            region = uow.regions.get(code)
            if region is not None:
                names[code] = region.name
    rows = []
    for province in sorted({c[:2] + "0000" for c in codes} & names.keys()):
        p_name = f"{names[province]}食品安全委员会办公室"
        rows.append(offices.NewOffice(p_name, f"{names[province]}食安办", "province", province,
                                      national))
        for city in sorted({c[:4] + "00" for c in codes if c[:2] == province[:2]}
                           & names.keys()):
            c_name = names[city] if names[city] != names[province] else f"{names[city]}市辖区"
            rows.append(offices.NewOffice(f"{c_name}食品安全委员会办公室", f"{c_name}食安办",
                                          "city", city, p_name))
    before = len(offices.list_offices(uow_factory=lb.read_uow_factory()))
    offices.add_offices(rows, actor=lb.actor, uow_factory=lb.uow_factory(), clock=lb.clock,
                        skip_existing=True)
    return len(offices.list_offices(uow_factory=lb.read_uow_factory())) - before


def _demo_fieldwork(lb: Any, out: Any, campaign_id: int, seed: int, folder: Path) -> dict[str, Any]:
    """Simulate the fieldwork, then print the campaign's metrics."""
    from lookback.cli_campaign import print_metrics
    from lookback.cli_fieldwork import metrics_dict
    from lookback.demo_fieldwork import simulate
    from lookback.output import pct

    with out.progress("6/12 Fieldwork: interviews, issues, rectifications",
                      "6/12 实地督查：谈话、问题、整改"):
        done = simulate(lb, campaign_id, seed=seed, folder=folder)
    out.say(f"6/12 Fieldwork simulated: {done['interviews']} interviews ({done['answers']} "
            f"answers), {done['issues']} issues ({done['with_evidence']} with a photo as "
            f"evidence), {done['visits_done']} visits completed, {done['reported']} "
            f"rectifications reported, {done['extended']} extended.",
            f"6/12 已模拟实地督查：谈话{done['interviews']}次（作答{done['answers']}项），登记问题"
            f"{done['issues']}个（{done['with_evidence']}个附现场照片），完成检查{done['visits_done']}"
            f"次，报告整改{done['reported']}个，延期{done['extended']}个。")
    m = metrics_dict(lb, campaign_id)
    if not out.json_mode:
        print_metrics(out, m, pct)
    return {**done, "metrics": m}


FIRST_NOTICES = (("rectification_order", "rectification orders", "责令整改通知书"),
                 ("draw_publication", "draw publication", "抽查结果公示"))
LAST_NOTICES = (("warning_talk", "warning-talk notices", "约谈通知书"),
                ("circular", "circular", "督查通报"))


def _demo_notices(lb: Any, out: Any, campaign_id: int, folder: Path, step: str,
                  kinds: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
    """Issue notices of the given kinds and copy their PDFs to the demo's notices folder."""
    from lookback.cli_notices import export_pdfs, issue_with_progress

    made: dict[str, Any] = {}
    target = folder / "notices"
    for kind, en, zh in kinds:
        issue_with_progress(lb, out, campaign_id, kind, "zh", 0)
        files = export_pdfs(lb, campaign_id, kind, target)
        made[kind] = [str(p) for p in files]
        out.say(f"{step} Issued {len(files)} {en}: {', '.join(p.name for p in files[:3])}"
                + (" …" if len(files) > 3 else ""),
                f"{step} 已签发{zh}{len(files)}份：{'、'.join(p.name for p in files[:3])}"
                + ("……" if len(files) > 3 else ""))
    return made


def _demo_lookback(lb: Any, out: Any, campaign_id: int, seed: int) -> dict[str, Any]:
    """Jump the clock to each round of look-backs, fire them, record the checks."""
    import random

    from lookback.demo_lookback import escalation_counts, next_review_instant, review_round

    rng = random.Random(seed * 31 + campaign_id)
    rounds = []
    for n in range(1, 5):
        when = next_review_instant(lb)
        if when is None:
            break
        jump_to(lb, when)
        r = review_round(lb, rng)
        f = r["fired"]
        out.say(f"8/12 Round {n}: the clock jumps to {when:%Y-%m-%d %H:%M} (China time); the "
                f"lookback-review flow fires {f['fired']} follow-ups ({f['reminded']} reminders, "
                f"{f['opened']} look-backs opened, {f['cancelled']} cancelled as closed) and "
                f"marks {f['marked_overdue']} issues overdue.",
                f"8/12 第{n}轮：时钟跳至{when:%Y-%m-%d %H:%M}（北京时间）；回头看流程处理到期复查"
                f"{f['fired']}项（提醒{f['reminded']}项，开启回头看{f['opened']}项，已销号取消"
                f"{f['cancelled']}项），{f['marked_overdue']}个问题标记为逾期。")
        out.say(f"9/12 Round {n}: the teams record {r['checked']} checks: {r['verified']} "
                f"verified, {r['partial']} partly rectified, {r['not_rectified']} not rectified.",
                f"9/12 第{n}轮：督查组记录复查{r['checked']}项：整改到位{r['verified']}项，部分整改"
                f"{r['partial']}项，未整改{r['not_rectified']}项。")
        rounds.append({"at": when.isoformat(), **{k: v for k, v in r.items() if k != "fired"},
                       "fired": f})
    ladder = escalation_counts(lb, campaign_id)
    out.say("Escalation ladder now: " + counts(out, "step", ladder),
            "升级情况：" + counts(out, "step", ladder))
    return {"rounds": rounds, "escalation": ladder}


def _demo_supervision(lb: Any, out: Any, seed: int) -> dict[str, Any]:
    """Open the routine supervision visits due now, record most of them, give the rates."""
    import random

    from domain import supervision as sup
    from domain.clock import china_date

    rng = random.Random(seed * 17)
    opened = sup.open_due(uow_factory=lb.uow_factory(), clock=lb.clock, actor="demo:scheduler")
    today = china_date(lb.clock.now())
    with lb.read_uow_factory()() as uow:
        visits = uow.supervision.visits(ending_from=None, ending_to=None, status="open",
                                        cadre_id=None)
    recorded = 0
    for v in visits:
        if rng.random() < 0.8:
            # Each visit within its own period (the sweeps opened every period begun so far).
            sup.record(cadre_id=v.cadre_id, uscc=v.uscc, on=min(today, v.period_end),
                       period=v.period,
                       note="包保督导：检查日管控、周排查、月调度落实情况",
                       actor=f"demo:cadre:{v.cadre_id}", uow_factory=lb.uow_factory(),
                       clock=lb.clock, calendar=lb.calendar)
            recorded += 1
    period = str(sup.period_of(today, "quarterly"))
    r = sup.rates(period, by="level", today=today, uow_factory=lb.read_uow_factory())
    rate = r.total.rate
    rates = {"period": period, "required": r.total.required, "done": r.total.done, "rate": rate,
             "by_level": [g.as_dict() for g in r.groups]}
    out.say(f"11/12 Routine supervision (包保督导): {opened} visits opened for the current "
            f"periods, {recorded} recorded; completion rate for {period}: "
            f"{(rate or 0) * 100:.1f}% ({r.total.done} of {r.total.required}).",
            f"11/12 包保督导：开启本期督导任务{opened}项，记录{recorded}项；{period}督导完成率"
            f"{(rate or 0) * 100:.1f}%（{r.total.done}/{r.total.required}）。")
    return {"opened": opened, "recorded": recorded, "period": period, "rates": rates}


def _demo_summary(lb: Any, out: Any, campaign_id: int, report: dict[str, Any],
                  folder: Path) -> dict[str, Any]:
    from rich.table import Table

    from lookback.cli_fieldwork import metrics_dict
    from lookback.output import pct

    m = metrics_dict(lb, campaign_id)
    esc = report["lookback"]["escalation"]
    pdfs = sum(len(v) for v in report["notices"].values())
    rows = [
        ("draws", "抽取", out.t(f"{report['campaign']['sampled']} businesses, record verified",
                              f"{report['campaign']['sampled']}个主体，记录核验通过")
         if report["campaign"]["verified"] else str(report["campaign"]["sampled"])),
        ("interviews", "谈话", str(m["interviews"]["total"])),
        ("issues", "问题", str(m["issues"]["registered"])),
        ("rectification rate", "整改率", pct(m["rectification_rate"])),
        ("on-time rate", "按期整改率", pct(m["on_time_rate"])),
        ("overdue", "逾期", str(len(m["overdue"]))),
        ("escalations", "升级", counts(out, "step", esc)),
        ("supervision completion rate", "督导完成率", pct(report["supervision"]["rates"]["rate"])),
        ("PDF notices", "PDF文书", out.t(f"{pdfs} in {folder / 'notices'}",
                                        f"{pdfs}份，位于{folder / 'notices'}")),
    ]
    summary = {en: value for en, _, value in rows}
    if not out.json_mode:
        t = Table(title=out.t("12/12 Summary", "12/12 汇总"))
        t.add_column(out.t("what", "项目"))
        t.add_column(out.t("value", "数值"))
        for en, zh, value in rows:
            t.add_row(out.t(en, zh), value)
        out.out.print(t)
    return summary
