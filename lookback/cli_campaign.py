"""`lookback campaign …` and `lookback draw …`: plans, the launch flow, and the published draw."""

from __future__ import annotations

import csv
import io
import json
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from domain import campaigns as svc
from domain.errors import BadArgumentError, BadFileError
from domain.sampling import split_frame_text
from domain.sizing import attribute_sample_size
from lookback.bootstrap import App
from lookback.output import Output, Table, counts, more, named, page

campaign_app = typer.Typer(no_args_is_help=True)
draw_app = typer.Typer(no_args_is_help=True)


from domain import access  # noqa: E402
from domain.access import Action  # noqa: E402
from lookback.cli_base import SCOPED, as_user, guard  # noqa: E402
from lookback.cli_base import command as _command  # noqa: E402
from lookback.cli_base import state as _state  # noqa: E402
from lookback.scope import readable_campaigns, readable_overdue  # noqa: E402
from storage.cells import safe_row  # noqa: E402


def new_seed() -> str:
    """A cryptographically random seed for ``seed = "auto"``: a 128-bit number in decimal (up to
    39 digits, in practice 38 or 39)."""
    return str(secrets.randbits(128))


def read_text(path: Path, what_en: str, what_zh: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadFileError(f"{path}: no such {what_en}", f"{path}：{what_zh}不存在",
                           code="no_file") from None
    except UnicodeDecodeError:
        raise BadFileError(f"{path}: the {what_en} is not UTF-8 text",
                           f"{path}：{what_zh}不是UTF-8文本", code="bad_encoding") from None


def launch_with_prefect(lb: App, out: Output, campaign_id: int,
                        wait: bool = True) -> dict[str, Any]:
    """Run the launch flow: through the stack's deployment when `lookback up` runs on this
    database, else in this process (on a temporary Prefect server unless one is configured)."""
    from lookback import prefect_runtime

    now = lb.settings.now.isoformat() if lb.settings.now else None
    with prefect_runtime.flows(lb, out) as runner:
        if runner.stack is not None:
            return runner.deployment("launch-campaign", {"campaign_id": campaign_id,
                                                         "now_iso": now}, wait=wait, out=out)
        if not wait:
            out.note("--no-wait needs a running stack (`lookback up`); running the launch now",
                     "--no-wait需要运行中的服务栈（`lookback up`）；现在直接运行")
        from flows.launch import run_launch

        return run_launch(campaign_id, now)


def _guard_campaign(lb: App, action: Action, campaign: int) -> None:
    """``guard`` for a campaign: the acting user's role, and the territory of the office that
    owns it; an unknown campaign gets its own clear error."""
    c = svc.get_campaign(campaign, uow_factory=lb.read_uow_factory())
    guard(lb, action, f"campaign:{campaign}", region=c.territory)


def _owner(lb: App, office: str | None) -> Any:
    """The office named by ``--office``, else the acting user's own office (``--as``); a user
    may plan only for their own office or one below it."""
    from domain.offices import get_office

    p = lb.principal
    if office is None and p.office_id is not None:
        office = str(p.office_id)
    if office is None:
        return None
    owner = get_office(office, uow_factory=lb.read_uow_factory())
    guard(lb, Action.PLAN, f"office:{owner.id}", region=owner.territory.prefix)
    return owner


@campaign_app.command("create")
@_command
@as_user(Action.PLAN)
def create_cmd(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Argument(help="The campaign plan (TOML).")],
    office: Annotated[str | None, typer.Option(
        "--office", help="The office that plans it (name or id, `lookback office list`): the "
        "campaign belongs to it, and its notices go out in the office's name and series.")]
    = None,
) -> None:
    """Validate a plan and create a draft campaign; prints its id."""
    lb, out = _state(ctx)
    lb.require_schema()
    owner = _owner(lb, office)
    cid = svc.create_campaign(read_text(plan, "plan file", "计划文件"), source=str(plan),
                              uow_factory=lb.uow_factory(), clock=lb.clock, new_seed=new_seed,
                              office=owner)
    c = svc.get_campaign(cid, uow_factory=lb.uow_factory())
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": cid, "title": c.title, "seed": c.seed,
                  "seed_auto": c.seed_auto})
        return
    if c.plan.get("beacon"):
        _say_beacon_next(out, f"Campaign {cid} created: {c.title}", f"已创建督查{cid}：{c.title}", c)
        return
    out.say(f"Campaign {cid} created: {c.title} (seed {c.seed}"
            f"{', drawn at random and recorded' if c.seed_auto else ''}). Next: lookback campaign "
            f"launch {cid}",
            f"已创建督查{cid}：{c.title}（随机种子{c.seed}{'，随机生成并已记录' if c.seed_auto else ''}）。"
            f"下一步：lookback campaign launch {cid}")


def _say_beacon_next(out: Output, head_en: str, head_zh: str, c: svc.Campaign) -> None:
    """After creating a beacon campaign: the seed is not known yet; commit before the date."""
    b = c.plan["beacon"]
    out.say(f"{head_en} (seed from beacon \"{b['name']}\", published on {b['published_on']}). "
            f"Next, before {b['published_on']}: lookback draw commit {c.id}",
            f"{head_zh}（随机种子来自{b['published_on']}公布的“{b['name']}”）。下一步（"
            f"{b['published_on']}之前）：lookback draw commit {c.id}")


@campaign_app.command("lookback")
@_command
@as_user(Action.PLAN)
def lookback_cmd(
    ctx: typer.Context,
    source: Annotated[int, typer.Argument(metavar="SOURCE",
                                          help="The launched campaign whose issues to re-check.")],
    plan: Annotated[Path, typer.Option("--plan", help='A look-back plan (TOML, kind = "lookback").')],
    office: Annotated[str | None, typer.Option(
        "--office", help="The office that runs it (name or id): it re-checks only the issues in "
        "its territory; a lower office may look back on a higher office's campaign.")] = None,
) -> None:
    """Create a look-back campaign (回头看) over an earlier campaign's issues; prints its id."""
    lb, out = _state(ctx)
    lb.require_schema()
    owner = _owner(lb, office)
    cid = svc.create_lookback_campaign(source, read_text(plan, "plan file", "计划文件"),
                                       source=str(plan), uow_factory=lb.uow_factory(),
                                       clock=lb.clock, new_seed=new_seed, actor=lb.actor,
                                       office=owner)
    c = svc.get_campaign(cid, uow_factory=lb.uow_factory())
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": cid, "kind": c.kind, "source_campaign_id": source,
                  "issues": c.plan.get("issues"), "title": c.title, "seed": c.seed,
                  "seed_auto": c.seed_auto})
        return
    scope_en = "unverified issues" if c.plan.get("issues") == "unverified" else "issues"
    scope_zh = "未销号问题" if c.plan.get("issues") == "unverified" else "问题"
    if c.plan.get("beacon"):
        _say_beacon_next(out, f"Look-back campaign {cid} created: {c.title}, re-checking the "
                         f"businesses with {scope_en} in campaign {source}",
                         f"已创建回头看{cid}：{c.title}，复查督查{source}中有{scope_zh}的主体", c)
        return
    out.say(f"Look-back campaign {cid} created: {c.title}, re-checking the businesses with "
            f"{scope_en} in campaign {source} (seed {c.seed}"
            f"{', drawn at random and recorded' if c.seed_auto else ''}). Next: lookback campaign "
            f"launch {cid}",
            f"已创建回头看{cid}：{c.title}，复查督查{source}中有{scope_zh}的主体（随机种子{c.seed}"
            f"{'，随机生成并已记录' if c.seed_auto else ''}）。下一步：lookback campaign launch {cid}")


@campaign_app.command("launch")
@_command
@as_user(Action.PLAN)
def launch_cmd(ctx: typer.Context, campaign: Annotated[int, typer.Argument(help="Campaign id.")],
               wait: Annotated[bool, typer.Option(
                   "--wait/--no-wait", help="With a running stack: wait for the flow run to "
                   "finish (default), or return its id at once.")] = True) -> None:
    """Freeze the frame, draw, form teams and plan visits (a Prefect flow; safe to rerun)."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.PLAN, campaign)
    svc.ensure_seed_ready(campaign, uow_factory=lb.read_uow_factory())
    result = launch_with_prefect(lb, out, campaign, wait=wait)
    counts = _counts(lb, campaign)
    if "frame" not in result:  # submitted, not waited for
        if out.json_mode:
            out.emit({"ok": True, "campaign_id": campaign, **result})
        else:
            out.say(f"Launch of campaign {campaign} submitted: flow run {result['flow_run']} "
                    f"({result['url']}).",
                    f"督查{campaign}的启动已提交：流程运行{result['flow_run']}（{result['url']}）。")
        return
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": campaign, **result, **counts})
        return
    out.say(
        f"Campaign {campaign} launched: frame {result['frame']['businesses']} businesses and "
        f"{result['frame']['inspectors']} inspectors (SHA-256 {result['frame']['sha256'][:16]}…), "
        f"{result['sampled']} businesses drawn, {counts['teams']} teams, "
        f"{counts['visits_planned']} visits planned ({result['visits_created']} new).",
        f"督查{campaign}已启动：抽样框{result['frame']['businesses']}个主体、"
        f"{result['frame']['inspectors']}名督查人员（SHA-256 {result['frame']['sha256'][:16]}…），"
        f"抽中{result['sampled']}个主体，{counts['teams']}个督查组，计划检查"
        f"{counts['visits_planned']}次（新建{result['visits_created']}次）。")


def _counts(lb: App, campaign: int) -> dict[str, Any]:
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.counts(campaign)
    if c is None:
        raise svc.not_found(campaign)
    return {"status": c.campaign.status, "frame_businesses": c.frame_businesses,
            "sampled": c.sampled, "teams": c.teams, "visits_planned": c.visits_planned,
            "visits_done": c.visits_done}


def _campaign_dict(c: svc.Campaign) -> dict[str, Any]:
    return {"id": c.id, "title": c.title, "office": c.office, "kind": c.kind, "status": c.status,
            "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(),
            "seed": c.seed, "seed_auto": c.seed_auto, "created_at": c.created_at.isoformat(),
            "launched_at": c.launched_at.isoformat() if c.launched_at else None,
            "source_campaign_id": c.source_campaign_id}


@campaign_app.command("show")
@_command
@as_user(SCOPED)
def show_cmd(ctx: typer.Context, campaign: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Status and counts of one campaign."""
    lb, out = _state(ctx)
    lb.require_schema()
    c = svc.get_campaign(campaign, uow_factory=lb.read_uow_factory())
    guard(lb, Action.READ, f"campaign:{campaign}", region=c.territory)
    counts = _counts(lb, campaign)
    if out.json_mode:
        out.emit({"ok": True, **_campaign_dict(c), **counts, "plan": c.plan})
        return
    t = out.t
    table = Table(title=f"{t('Campaign', '督查')} {c.id}: {c.title}", show_header=False)
    table.add_column()
    table.add_column()
    for label, value in (
        (t("office", "发文机关"), c.office), (t("kind", "类型"), c.kind),
        *_source_rows(out, c),
        (t("status", "状态"), c.status), (t("dates", "时间"), f"{c.starts_on} – {c.ends_on}"),
        (t("seed", "随机种子"), _seed_text(out, c)),
        (t("frame", "抽样框"), str(counts["frame_businesses"] or "—")),
        (t("drawn", "抽中"), str(counts["sampled"] or "—")),
        (t("teams", "督查组"), str(counts["teams"])),
        (t("visits planned / done", "计划/已完成检查"),
         f"{counts['visits_planned']} / {counts['visits_done']}"),
    ):
        table.add_row(label, value)
    out.out.print(table)


def _seed_text(out: Output, c: svc.Campaign) -> str:
    """The seed as ``campaign show`` prints it; a beacon seed says where it comes from."""
    t = out.t
    beacon = c.plan.get("beacon")
    if not beacon:
        return c.seed + (t(" (auto)", "（自动）") if c.seed_auto else "")
    source = t(f'from beacon "{beacon["name"]}" published on {beacon["published_on"]}',
               f"来自{beacon['published_on']}公布的“{beacon['name']}”")
    if not c.seed:
        return t(f"not yet known ({source})", f"尚未产生（{source}）")
    return t(f"{c.seed} ({source})", f"{c.seed}（{source}）")


def _source_rows(out: Output, c: svc.Campaign) -> list[tuple[str, str]]:
    """The source campaign and issue scope of a look-back, for ``campaign show``."""
    if c.source_campaign_id is None:
        return []
    t = out.t
    scope = c.plan.get("issues") or "unverified"
    return [(t("looks back on", "回头看对象"), t(f"campaign {c.source_campaign_id}",
                                                f"督查{c.source_campaign_id}")),
            (t("issues in scope", "问题范围"), t("not yet verified" if scope == "unverified"
                                                 else "all", "未核验销号" if scope == "unverified"
                                                 else "全部"))]


@campaign_app.command("list")
@_command
@as_user(SCOPED)
def list_cmd(ctx: typer.Context) -> None:
    """Every campaign with its status and counts."""
    lb, out = _state(ctx)
    lb.require_schema()
    rows = readable_campaigns(lb.principal, lb)
    if out.json_mode:
        out.emit({"ok": True, **page([
            {**_campaign_dict(r.campaign), "frame_businesses": r.frame_businesses,
             "sampled": r.sampled, "teams": r.teams, "visits_planned": r.visits_planned,
             "visits_done": r.visits_done} for r in rows], len(rows))})
        return
    t = out.t
    table = Table(title=t("Campaigns", "督查列表"))
    for col in ("id", t("title", "名称"), t("kind", "类型"), t("source", "回头看对象"),
                t("status", "状态"), t("starts", "开始"), t("drawn", "抽中"), t("visits", "检查")):
        table.add_column(col)
    for r in rows:
        c = r.campaign
        table.add_row(str(c.id), c.title, c.kind,
                      "—" if c.source_campaign_id is None else str(c.source_campaign_id),
                      c.status, c.starts_on.isoformat(), str(r.sampled or "—"),
                      f"{r.visits_done}/{r.visits_planned}")
    out.out.print(table)


# --- draw ------------------------------------------------------------------------------------

def _record(lb: App, campaign: int) -> tuple[dict[str, Any], list[str]]:
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.get(campaign)
        record = uow.campaigns.get_record(campaign)
        frame = uow.campaigns.get_frame(campaign)
    if c is None:
        raise svc.not_found(campaign)
    if record is None or frame is None:
        from domain.errors import ConflictError

        raise ConflictError(f"campaign {campaign} has not been drawn yet; run `lookback campaign "
                            f"launch {campaign}`",
                            f"督查{campaign}尚未抽取；请运行`lookback campaign launch {campaign}`")
    return record, frame.lines


def chosen_csv(record: dict[str, Any]) -> str:
    team_of = {a["uscc"]: a["team"] for a in record["assignments"]}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["stage", "stratum", "unit", "key", "team"])
    for s in record["stages"]:
        for p in s["chosen"]:
            w.writerow(safe_row([s["unit"], p["stratum"], p["unit"], p["key"],
                                 team_of.get(p["unit"], "") if s["unit"] == "business" else ""]))
    for t in record["teams"]:
        for p in t["inspectors"]:
            w.writerow(safe_row(["inspector", p["stratum"], p["unit"], p["key"], t["team"]]))
    return buf.getvalue()


def print_draw_summary(out: Output, record: dict[str, Any]) -> None:
    t = out.t
    out.say(f"Draw {record['algorithm']} · seed {record['seed']} · frame SHA-256 "
            f"{record['frame']['sha256']}",
            f"抽取算法{record['algorithm']} · 随机种子{record['seed']} · 抽样框SHA-256 "
            f"{record['frame']['sha256']}")
    print_commitment(out, record.get("commitment"))
    for s in record["stages"]:
        table = Table(title=t(f"Stage: {s['unit']} ({s['frame_size']} in frame)",
                              f"阶段：{s['unit']}（抽样框{s['frame_size']}个）"))
        for col in (t("stratum", "层"), t("frame", "总体"), t("drawn", "抽中")):
            table.add_column(col)
        for x in s["strata"]:
            table.add_row(x["stratum"], str(x["frame_size"]), str(x["allocated"]))
        out.out.print(table)
    loads: dict[int, int] = {}
    for a in record["assignments"]:
        loads[a["team"]] = loads.get(a["team"], 0) + 1
    teams = Table(title=t("Teams", "督查组"))
    for col in (t("team", "组"), t("inspectors", "督查人员"), t("visits", "检查数")):
        teams.add_column(col)
    for tm in record["teams"]:
        teams.add_row(str(tm["team"]), ", ".join(p["unit"] for p in tm["inspectors"]),
                      str(loads.get(tm["team"], 0)))
    out.out.print(teams)


def print_commitment(out: Output, commitment: dict[str, Any] | None) -> None:
    """The commitment lines (frame hash and time, beacon, seed derivation), or "not committed"."""
    if commitment is None:
        out.say("Seed not committed: it was fixed in the plan, not derived from a public beacon.",
                "随机种子未事先承诺：种子在计划中确定，并非来自公开开奖结果。")
        return
    b = commitment["beacon"]
    value = b.get("value")
    out.say(f"Commitment: frame SHA-256 {commitment['frame_sha256']} committed at "
            f"{commitment['committed_at']} (China date {commitment['committed_on']})",
            f"承诺：抽样框SHA-256 {commitment['frame_sha256']}，承诺时间{commitment['committed_at']}"
            f"（北京时间{commitment['committed_on']}）")
    out.say(f"Beacon: \"{b['name']}\" published on {b['published_on']}, value "
            + (repr(value) if value is not None else "not yet entered"),
            f"随机种子来源：“{b['name']}”，{b['published_on']}公布，开奖结果"
            + (f"“{value}”" if value is not None else "尚未录入"))
    if value is not None:
        out.say(f"Seed = SHA-256(\"{commitment['seed_derivation']}|\" + frame SHA-256 + \"|\" + "
                "beacon value) as a decimal integer",
                f"随机种子 = SHA-256(\"{commitment['seed_derivation']}|\" + 抽样框SHA-256 + \"|\" + "
                "开奖结果)的十进制整数")


def _commitment_out(commitment: svc.Commitment) -> dict[str, Any]:
    return {**commitment.as_record(), "seed": commitment.seed}


@draw_app.command("commit")
@_command
@as_user(Action.PLAN)
def draw_commit_cmd(ctx: typer.Context,
                    campaign: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Freeze the frame now and commit to its SHA-256 before the beacon that seeds the draw is
    published (the plan's seed = { beacon = …, published_on = … }); safe to repeat."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.PLAN, campaign)
    c = svc.commit_draw(campaign, uow_factory=lb.uow_factory(), clock=lb.clock, actor=lb.actor)
    frame = _frame_counts(lb, campaign)
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": campaign, "commitment": _commitment_out(c),
                  "frame": frame})
        return
    out.say(f"Campaign {campaign}: frame frozen and committed ({frame['businesses']} businesses, "
            f"{frame['inspectors']} inspectors). Publish these lines now:",
            f"督查{campaign}：抽样框已冻结并承诺（{frame['businesses']}个主体、{frame['inspectors']}"
            "名督查人员）。请立即公开以下内容：")
    print_commitment(out, c.as_record())
    if c.beacon_value is None:
        out.say(f"Next, on or after {c.published_on}: lookback draw beacon {campaign} VALUE",
                f"下一步（{c.published_on}当日或之后）：lookback draw beacon {campaign} 开奖结果")


def _frame_counts(lb: App, campaign: int) -> dict[str, Any]:
    with lb.read_uow_factory()() as uow:
        f = uow.campaigns.get_frame(campaign)
    assert f is not None
    return {"sha256": f.sha256, "businesses": f.businesses, "inspectors": f.inspectors}


@draw_app.command("beacon")
@_command
@as_user(Action.PLAN)
def draw_beacon_cmd(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Argument(help="Campaign id.")],
    value: Annotated[str, typer.Argument(help="The beacon's value exactly as published (quote "
                                         "it if it has spaces).")],
) -> None:
    """Enter the published beacon value; the seed is derived from it and the committed frame
    hash. Allowed on or after the beacon's published_on, after `lookback draw commit`."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.PLAN, campaign)
    c = svc.enter_beacon(campaign, value, uow_factory=lb.uow_factory(), clock=lb.clock,
                         actor=lb.actor)
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": campaign, "seed": c.seed,
                  "commitment": _commitment_out(c)})
        return
    out.say(f"Campaign {campaign}: beacon value entered; seed {c.seed}. Next: lookback campaign "
            f"launch {campaign}",
            f"督查{campaign}：已录入开奖结果；随机种子{c.seed}。下一步：lookback campaign launch "
            f"{campaign}")
    print_commitment(out, c.as_record())


@draw_app.command("show")
@_command
@as_user(SCOPED)
def draw_show_cmd(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Argument(help="Campaign id.")],
    as_csv: Annotated[bool, typer.Option("--csv", help="Every chosen unit as CSV.")] = False,
) -> None:
    """The published draw record: summary, or every chosen unit (--csv), or all of it (--json)."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.READ, campaign)
    record, _lines = _record(lb, campaign)
    if out.json_mode:
        out.emit(record)
    elif as_csv:
        typer.echo(chosen_csv(record), nl=False)
    else:
        print_draw_summary(out, record)


def export_draw(record: dict[str, Any], lines: list[str], folder: Path) -> tuple[Path, Path]:
    from lookback.draw_files import FRAME_FILE, RECORD_FILE, frame_csv, record_json

    folder.mkdir(parents=True, exist_ok=True)
    rec_path, frame_path = folder / RECORD_FILE, folder / FRAME_FILE
    rec_path.write_text(record_json(record), encoding="utf-8")
    frame_path.write_text(frame_csv(lines), encoding="utf-8")
    return rec_path, frame_path


@draw_app.command("export")
@_command
@as_user(SCOPED)
def draw_export_cmd(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Argument(help="Campaign id.")],
    folder: Annotated[Path, typer.Argument(help="Folder to write record.json and frame.csv to.")],
) -> None:
    """Write record.json and frame.csv: everything a third party needs to verify the draw."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.READ, campaign)
    record, lines = _record(lb, campaign)
    rec_path, frame_path = export_draw(record, lines, folder)
    if out.json_mode:
        out.emit({"ok": True, "record": str(rec_path), "frame": str(frame_path)})
        return
    out.say(f"Wrote {rec_path} and {frame_path}. Anyone can check them with: python "
            f"docs/verify_draw.py {rec_path} {frame_path}",
            f"已写出{rec_path}和{frame_path}。任何人都可用以下命令核验：python docs/verify_draw.py "
            f"{rec_path} {frame_path}")


@draw_app.command("verify")
@_command
@as_user(SCOPED)
def draw_verify_cmd(
    ctx: typer.Context,
    campaign: Annotated[int | None, typer.Argument(help="Campaign id (recompute from the "
                                                   "database).")] = None,
    record: Annotated[Path | None, typer.Option("--record", help="A published record.json.")] = None,
    frame: Annotated[Path | None, typer.Option("--frame", help="A published frame.csv.")] = None,
) -> None:
    """Recompute the draw and compare: OK, or the first difference (exit 1)."""
    lb, out = _state(ctx)
    if campaign is not None and (record or frame):
        raise BadArgumentError("give a campaign id, or --record and --frame, not both",
                               "请给出督查编号，或同时给出--record和--frame，不要混用")
    if campaign is None:
        if not (record and frame):
            raise BadArgumentError("give a campaign id, or both --record and --frame",
                                   "请给出督查编号，或同时给出--record和--frame")
        try:
            rec = json.loads(read_text(record, "record file", "记录文件"))
        except json.JSONDecodeError as e:
            raise BadFileError(f"{record}: not JSON ({e})", f"{record}：不是JSON（{e}）",
                               code="bad_record") from None
        if not isinstance(rec, dict) or "params" not in rec or "frame" not in rec:
            raise BadFileError(f"{record}: not a Lookback draw record",
                               f"{record}：不是Lookback抽取记录", code="bad_record")
        # split at \n, \r\n and \r only, not at every break str.splitlines knows (docs/draw.md)
        lines = split_frame_text(read_text(frame, "frame file", "抽样框文件"))
        result = svc.verify_record(rec, lines)
        source = f"{record} + {frame}"
    else:
        lb.require_schema()
        _guard_campaign(lb, Action.READ, campaign)
        result = svc.verify_campaign(campaign, uow_factory=lb.read_uow_factory())
        source = f"campaign {campaign}"
    if out.json_mode:
        out.emit({"ok": result.ok, "difference": result.difference,
                  "frame_sha256": result.frame_sha256, "chosen": result.chosen, "source": source,
                  "seed": result.seed_note[0] or None})
    elif result.ok:
        out.say(f"OK: {source} recomputes to the same draw ({result.chosen} businesses; frame "
                f"SHA-256 {result.frame_sha256}); {result.seed_note[0]}.",
                f"核验通过：{source}重新计算得到相同的抽取结果（{result.chosen}个主体；抽样框SHA-256 "
                f"{result.frame_sha256}）；{result.seed_note[1]}。")
    else:
        out.say(f"MISMATCH: {result.difference}", f"不一致：{result.difference}")
    if not result.ok:
        raise typer.Exit(1)


@draw_app.command("extend")
@_command
@as_user(Action.PLAN)
def draw_extend_cmd(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Argument(help="Campaign id.")],
    to: Annotated[int, typer.Option("--to", help="New total sample size.")],
) -> None:
    """Enlarge the sample to N businesses keeping every earlier pick; plans the new visits."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.PLAN, campaign)
    before, _ = _record(lb, campaign)
    record = svc.extend_campaign(campaign, to, uow_factory=lb.uow_factory(), clock=lb.clock)
    old = {p["unit"] for p in before["stages"][-1]["chosen"]}
    new = [p["unit"] for p in record["stages"][-1]["chosen"] if p["unit"] not in old]
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": campaign, "before": before["total"],
                  "total": record["total"], "added": new})
        return
    out.say(f"Sample of campaign {campaign} extended from {before['total']} to {record['total']}"
            f" businesses; all {len(old)} earlier picks kept, {len(new)} added with visits planned.",
            f"督查{campaign}的样本已从{before['total']}扩充到{record['total']}个主体；原{len(old)}个"
            f"全部保留，新增{len(new)}个并已计划检查。")


@draw_app.command("size")
@_command
@as_user(Action.READ)
def draw_size_cmd(
    ctx: typer.Context,
    population: Annotated[int | None, typer.Option("--population", help="Frame size N "
                                                   "(finite population correction).")] = None,
    confidence: Annotated[float, typer.Option("--confidence")] = 0.95,
    tolerable_rate: Annotated[float, typer.Option("--tolerable-rate")] = 0.05,
    expected_rate: Annotated[float, typer.Option("--expected-rate")] = 0.01,
) -> None:
    """Attribute-sampling sample size (formula in docs/draw.md)."""
    _lb, out = _state(ctx)
    r = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable_rate,
                              expected_rate=expected_rate, population=population)
    if out.json_mode:
        out.emit({"ok": True, "sample_size": r.n, "sample_size_infinite": r.n_infinite,
                  "allowed_deviations": r.allowed_deviations, "population": r.population,
                  "confidence": confidence, "tolerable_rate": tolerable_rate,
                  "expected_rate": expected_rate})
        return
    out.say(f"Sample size: {r.n} (allowing {r.allowed_deviations} deviation(s); {r.n_infinite} "
            f"before the finite-population correction).",
            f"样本量：{r.n}（可容许偏差{r.allowed_deviations}个；有限总体修正前为{r.n_infinite}）。")


@campaign_app.command("close")
@_command
@as_user(Action.PLAN)
def close_cmd(ctx: typer.Context, campaign: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Close a launched campaign: its visits can no longer be recorded."""
    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.PLAN, campaign)
    svc.close_campaign(campaign, uow_factory=lb.uow_factory(), clock=lb.clock, actor=lb.actor)
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": campaign, "status": "closed"})
        return
    out.say(f"Campaign {campaign} closed.", f"督查{campaign}已结束。")


@campaign_app.command("metrics")
@_command
@as_user(SCOPED)
def metrics_cmd(ctx: typer.Context, campaign: Annotated[int, typer.Argument(help="Campaign id.")]) -> None:
    """Visits, interviews, issues, rectification and on-time rates, overdue list, per province."""
    from lookback.cli_fieldwork import metrics_dict
    from lookback.output import pct

    lb, out = _state(ctx)
    lb.require_schema()
    _guard_campaign(lb, Action.READ, campaign)
    m = metrics_dict(lb, campaign)
    if lb.principal is not access.LOCAL_ADMIN:
        m["overdue"] = readable_overdue(lb.principal, lb, campaign, m["overdue"])
        m["overdue_count"] = len(m["overdue"])
    source = svc.source_issue_figures(campaign, uow_factory=lb.read_uow_factory())
    if source is not None:
        m["source_issues"] = source
    if out.json_mode:
        out.emit({"ok": True, **m})
        return
    print_metrics(out, m, pct)
    if source is not None:
        print_source_issues(out, source, pct)


def print_source_issues(out: Output, s: dict[str, Any], pct: Any) -> None:
    """A look-back's figures on the source campaign's issues it re-checks."""
    scope_en = "unverified at launch" if s["scope"] == "unverified" else "all"
    scope_zh = "启动时未销号" if s["scope"] == "unverified" else "全部"
    out.say(f"Source campaign {s['source_campaign_id']} issues re-checked ({scope_en}): "
            f"{s['issues']} at {s['businesses']} businesses ({s['businesses_visited']} visited) · "
            f"verified {s['verified']}, still open {s['open']}, overdue {s['overdue']}, "
            f"escalated {s['escalated']} · rectification rate {pct(s['rectification_rate'])}",
            f"原督查{s['source_campaign_id']}问题复查情况（{scope_zh}）：{s['businesses']}个主体"
            f"（已检查{s['businesses_visited']}个）共{s['issues']}个问题 · 已核验销号{s['verified']}个，"
            f"仍未整改{s['open']}个，逾期{s['overdue']}个，已升级处理{s['escalated']}个 · 整改率"
            f"{pct(s['rectification_rate'])}")


OVERDUE_SHOWN = 30


def print_metrics(out: Output, m: dict[str, Any], pct: Any) -> None:
    t = out.t
    v, iss = m["visits"], m["issues"]
    out.say(f"Campaign {m['campaign']['id']}: {m['campaign']['title']} (as of {m['today']})",
            f"督查{m['campaign']['id']}：{m['campaign']['title']}（截至{m['today']}）")
    roles = counts(out, "role", m["interviews"]["by_role"])
    out.say(f"Visits: {v['done']} of {v['planned']} done ({pct(v['completion_rate'])}) · "
            f"interviews: {m['interviews']['total']} ({roles})",
            f"检查：完成{v['done']}/{v['planned']}（{pct(v['completion_rate'])}）· 谈话"
            f"{m['interviews']['total']}次（{roles}）")
    out.say(f"Issues: {iss['registered']} registered, {iss['verified']} verified · rectification "
            f"rate {pct(m['rectification_rate'])} · on-time rate {pct(m['on_time_rate'])}",
            f"问题：登记{iss['registered']}个，已核验销号{iss['verified']}个 · 整改率"
            f"{pct(m['rectification_rate'])} · 按期整改率{pct(m['on_time_rate'])}")
    for title_en, title_zh, key, vocabulary in (
            ("by category", "按类别", "by_category", "category"),
            ("by severity", "按严重程度", "by_severity", "severity"),
            ("by status", "按状态", "by_status", "status")):
        line = counts(out, vocabulary, iss[key])
        out.say(f"  {title_en}: {line}", f"  {title_zh}：{line}")
    table = Table(title=t("By province", "各省情况"))
    for col in (t("province", "省份"), t("visits", "检查"), t("done", "完成"), t("issues", "问题"),
                t("verified", "销号"), t("rectification rate", "整改率")):
        table.add_column(col)
    for p in m["provinces"]:
        table.add_row(p["name"], str(p["visits"]), str(p["visits_done"]), str(p["issues"]),
                      str(p["verified"]), pct(p["rectification_rate"]))
    out.out.print(table)
    if m["overdue"]:
        od = Table(title=t(f"Overdue ({len(m['overdue'])})", f"逾期未整改（{len(m['overdue'])}）"))
        for col in ("id", t("business", "主体"), t("category", "类别"), t("due", "期限")):
            od.add_column(col)
        for o in m["overdue"][:OVERDUE_SHOWN]:
            od.add_row(str(o["id"]), o["name"], named(out, "category", o["category"]),
                       o["due_on"])
        out.out.print(od)
        more(out, min(len(m["overdue"]), OVERDUE_SHOWN), len(m["overdue"]),
             hint_en="--json lists them all", hint_zh="--json可列出全部")
