"""`lookback notices …`: issue, list, show, void and verify numbered PDF notices."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from domain import notices as svc
from domain.errors import BadArgumentError, BadFileError, NotFoundError
from lookback import remote
from lookback.bootstrap import App
from lookback.output import Output, Table, page

notices_app = typer.Typer(no_args_is_help=True)


from domain import access  # noqa: E402
from domain.access import Action  # noqa: E402
from lookback.cli_base import SCOPED, as_user, guard  # noqa: E402
from lookback.cli_base import command as _command  # noqa: E402
from lookback.cli_base import state as _state  # noqa: E402
from lookback.scope import notice_region, notice_teams, readable_notices  # noqa: E402


def _safe_name(number: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "_", number) + ".pdf"


def _of(notices: list[svc.Notice], campaign: int | None) -> list[svc.Notice]:
    """The notices of ``campaign`` — or, for None, those of no campaign (routine supervision)."""
    return [n for n in notices if campaign is not None or n.campaign_id is None]


def export_pdfs(lb: App, campaign: int | None, kind: str, folder: Path) -> list[Path]:
    """Write the issued notices of a campaign (None: routine supervision) and kind to ``folder``
    as NUMBER.pdf."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with lb.read_uow_factory()() as uow:
        for n in _of(uow.notices.list_notices(campaign, kind), campaign):
            if n.status != "issued" or n.pdf_sha256 is None:
                continue
            data = uow.notices.pdf(n.pdf_sha256)
            assert data is not None
            target = folder / _safe_name(n.number)
            tmp = target.with_suffix(".pdf.part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            written.append(target)
    return written


def issue_with_progress(lb: App, out: Output, campaign: int | None, kind: str, lang: str,
                        workers: int, office: str | None = None,
                        office_short: str | None = None, wait: bool = True) -> dict[str, Any]:
    """Run the issuing flow — on a running stack through its deployment, the batch fanned out
    over the workers in chunks — while a Rich progress bar follows the database."""
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        if campaign is not None and uow.campaigns.get(campaign) is None:
            raise NotFoundError(f"campaign {campaign} does not exist", f"督查{campaign}不存在")
    from report_templates.render import check_fonts

    check_fonts()
    from lookback import prefect_runtime

    def counts() -> tuple[int, int]:
        with lb.read_uow_factory()() as uow:
            by_status = uow.notices.status_counts(campaign, kind)
        return by_status.get("pending", 0), by_status.get("issued", 0)

    _, issued0 = counts()
    stop = threading.Event()
    result: dict[str, Any] = {}
    error: list[BaseException] = []

    def run() -> None:
        try:
            now = lb.settings.now.isoformat() if lb.settings.now else None
            if runner.stack is not None:
                result.update(runner.deployment("issue-notices", {
                    "campaign_id": campaign, "kind": kind, "lang": lang, "now_iso": now,
                    "actor": lb.actor, "office": office, "office_short": office_short,
                    "fan_out": max(1, runner.stack.slots - 1)}, wait=wait, out=out))
                return
            result.update(run_issue(campaign, kind, lang, now, lb.actor, workers, office,
                                    office_short))
        except BaseException as e:  # re-raised in the calling thread
            error.append(e)
        finally:
            stop.set()

    worker = threading.Thread(target=run, daemon=True)
    with prefect_runtime.flows(lb, out) as runner:
        from flows.notices import run_issue

        if runner.stack is None and not wait:
            out.note("--no-wait needs a running stack (`lookback up`); issuing now",
                     "--no-wait需要运行中的服务栈（`lookback up`）；现在直接签发")
        if runner.stack is not None and not wait:
            run()
            if error:
                raise error[0]
            return result

        with out.progress(f"Issuing {kind} notices",
                          f"正在签发{svc.KIND_ZH[kind]}") as update:
            worker.start()
            # One GROUP BY a second: the progress bar costs the batch next to nothing.
            while not stop.wait(1.0):
                pending, issued = counts()
                done = issued - issued0
                if pending + done:
                    update(done / (pending + done))
            worker.join()
        if error:
            raise error[0]  # a LookbackError reaches the command wrapper: a clear message
    return result


@notices_app.command("issue")
@_command
@as_user(SCOPED)
def issue_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="rectification_order (per business, its "
                                      "open issues), warning_talk (issues escalated to 约谈 by "
                                      "failed look-backs), followup_opinion (one per recorded "
                                      "look-back check), circular or draw_publication.")],
    campaign: Annotated[int | None, typer.Option("--campaign")] = None,
    supervision: Annotated[bool, typer.Option(
        "--supervision", help="The rectification orders of routine supervision's findings "
        "(包保督导), instead of a campaign's notices; needs --office.")] = False,
    office: Annotated[str | None, typer.Option(
        "--office", help="With --supervision: the issuing office (发文机关).")] = None,
    office_short: Annotated[str | None, typer.Option(
        "--office-short", help="With --supervision: its short name in document numbers "
        "(default: --office).")] = None,
    lang: Annotated[str | None, typer.Option("--notice-lang", "--doc-lang",
                                             help="Language of the documents: zh (default) or "
                                             "en (the global --lang sets it too).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Also write the PDFs here.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Rendering processes (0 = one per "
                                         "core, up to 4).")] = 0,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="With a running stack: wait for the batch (default), or "
        "return the flow run's id at once.")] = True,
) -> None:
    """Number, render (in parallel processes) and store notices; rerunning issues nothing twice."""
    lb, out = _state(ctx)
    doc_lang = lang or lb.lang
    if kind not in svc.ISSUABLE:
        raise BadArgumentError(f"--kind must be one of {', '.join(svc.ISSUABLE)}",
                               f"--kind应为{'、'.join(svc.ISSUABLE)}之一")
    if doc_lang not in ("zh", "en"):
        raise BadArgumentError("--notice-lang must be zh or en", "--notice-lang应为zh或en")
    if (campaign is None) == (not supervision):
        raise BadArgumentError("give either --campaign C or --supervision",
                               "请给出--campaign（督查编号）或--supervision（包保督导）之一")
    if supervision and kind != "rectification_order":
        raise BadArgumentError("--supervision issues rectification orders only "
                               "(--kind rectification_order)",
                               "--supervision只签发责令整改通知书（--kind rectification_order）")
    if supervision and not (office or "").strip():
        raise BadArgumentError("--supervision needs --office: the office that issues the orders",
                               "--supervision需要--office：发文机关")
    p = lb.principal
    if campaign is not None and p is not access.LOCAL_ADMIN:
        with lb.read_uow_factory()() as uow:
            c = uow.campaigns.get(campaign)
        guard(lb, Action.ISSUE_NOTICE, f"campaign:{campaign}", campaign_id=campaign,
              region=c.territory if c is not None else None)
    if supervision:
        guard(lb, Action.ISSUE_NOTICE, "supervision")
        if p.territory:
            raise BadArgumentError(
                "--supervision issues the orders of the whole country's supervision findings; "
                "an office of a territory cannot (run it as the national office)",
                "--supervision签发全国包保督导发现问题的整改通知，属地食安办不能签发（请由国家食安办签发）",
                code="outside_territory")
    t0 = time.perf_counter()
    result = issue_with_progress(lb, out, campaign, kind, doc_lang, workers, office, office_short,
                                 wait=wait)
    elapsed = time.perf_counter() - t0
    if "flow_run_id" in result and "issued" not in result:  # submitted, not waited for
        if out.json_mode:
            out.emit({"ok": True, "campaign_id": campaign, "kind": kind, **result})
        else:
            out.say(f"Issuing submitted: flow run {result['flow_run']} ({result['url']}).",
                    f"签发已提交：流程运行{result['flow_run']}（{result['url']}）。")
        return
    written = export_pdfs(lb, campaign, kind, out_dir) if out_dir else []
    with lb.read_uow_factory()() as uow:
        notices = [n for n in _of(uow.notices.list_notices(campaign, kind), campaign)
                   if n.lang == doc_lang]
    if out.json_mode:
        out.emit({"ok": True, "campaign_id": campaign, "kind": kind, "lang": doc_lang,
                  "issued_now": result.get("issued", 0), "total": len(notices),
                  "seconds": round(elapsed, 3),
                  "numbers": [n.number for n in notices if n.status == "issued"],
                  "files": [str(p) for p in written]})
        return
    of_en = f"campaign {campaign}" if campaign is not None else "routine supervision"
    of_zh = f"督查{campaign}" if campaign is not None else "包保督导"
    out.say(f"{result.get('issued', 0)} {kind} notice(s) issued now; {len(notices)} in all for "
            f"{of_en} ({elapsed:.1f} s)." + (f" PDFs in {out_dir}/" if out_dir else ""),
            f"本次签发{svc.KIND_ZH[kind]}{result.get('issued', 0)}份；{of_zh}共{len(notices)}份"
            f"（{elapsed:.1f}秒）。" + (f"PDF已写入{out_dir}/" if out_dir else ""))


def _notice_dict(n: svc.Notice) -> dict[str, Any]:
    return {"id": n.id, "number": n.number, "kind": n.kind, "lang": n.lang,
            "campaign_id": n.campaign_id, "addressee": n.addressee, "uscc": n.uscc,
            "status": n.status, "content_sha256": n.content_sha256, "pdf_sha256": n.pdf_sha256,
            "pdf_size": n.pdf_size, "issued_at": n.issued_at.isoformat() if n.issued_at else None,
            "voided_at": n.voided_at.isoformat() if n.voided_at else None,
            "void_reason": n.void_reason or None}


def _guard_notice(lb: App, action: Action, n: svc.Notice) -> None:
    p = lb.principal
    if p is access.LOCAL_ADMIN:
        return
    guard(lb, action, f"notice:{n.id}", campaign_id=n.campaign_id, uscc=n.uscc,
          teams=notice_teams(lb, [n])[n.id], region=notice_region(lb, p, n))


@notices_app.command("list")
@_command
@as_user(SCOPED)
def list_cmd(
    ctx: typer.Context,
    campaign: Annotated[int | None, typer.Option("--campaign")] = None,
    kind: Annotated[str | None, typer.Option("--kind")] = None,
) -> None:
    """Notices with their numbers, addressees and status."""
    lb, out = _state(ctx)
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        notices = uow.notices.list_notices(campaign, kind)
    if lb.principal is not access.LOCAL_ADMIN:
        notices = readable_notices(lb.principal, lb, notices)
    if out.json_mode:
        out.emit({"ok": True, **page([_notice_dict(n) for n in notices], len(notices))})
        return
    t = out.t
    table = Table(title=t(f"{len(notices)} notice(s)", f"文书{len(notices)}份"))
    for col in (t("number", "文号"), t("kind", "种类"), t("addressee", "主送"), t("status", "状态"),
                t("issued", "签发时间")):
        table.add_column(col)
    for n in notices:
        table.add_row(n.number, n.kind if out.lang == "en" else svc.KIND_ZH[n.kind], n.addressee,
                      n.status, f"{n.issued_at:%Y-%m-%d %H:%M}" if n.issued_at else "—")
    out.out.print(table)


@notices_app.command("show")
@_command
@as_user(SCOPED)
def show_cmd(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The document number.")],
    pdf_out: Annotated[Path | None, typer.Option("--pdf", help="Write the PDF to this file.")] = None,
) -> None:
    """One notice: its record, content hash and PDF hash (and the PDF itself with --pdf)."""
    lb, out = _state(ctx)
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        n = uow.notices.by_number(number)
        if n is None:
            raise NotFoundError(f"no notice numbered {number}", f"没有编号为{number}的文书")
        data = uow.notices.pdf(n.pdf_sha256) if n.pdf_sha256 else None
    _guard_notice(lb, Action.READ_NOTICE, n)
    if pdf_out is not None:
        if data is None:
            raise BadArgumentError(f"notice {number} has no PDF yet (status {n.status})",
                                   f"文书{number}尚无PDF（状态{n.status}）")
        pdf_out.write_bytes(data)
    if out.json_mode:
        out.emit({"ok": True, **_notice_dict(n), "content": n.content})
        return
    out.say(f"{n.number} · {svc.KIND_EN[n.kind]} · to {n.addressee} · {n.status}",
            f"{n.number} · {svc.KIND_ZH[n.kind]} · 主送{n.addressee} · {n.status}")
    out.say(f"  content SHA-256 {n.content_sha256} · PDF SHA-256 {n.pdf_sha256 or '—'} "
            f"({n.pdf_size or 0} bytes)", f"  内容SHA-256 {n.content_sha256} · PDF SHA-256 "
            f"{n.pdf_sha256 or '—'}（{n.pdf_size or 0}字节）")
    if n.status == "void":
        out.say(f"  void since {n.voided_at:%Y-%m-%d}: {n.void_reason}",
                f"  已于{n.voided_at:%Y-%m-%d}作废：{n.void_reason}")
    if pdf_out:
        out.say(f"  PDF written to {pdf_out}", f"  PDF已写入{pdf_out}")


@notices_app.command("void")
@_command
@as_user(SCOPED)
def void_cmd(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The document number.")],
    reason: Annotated[str, typer.Option("--reason")],
) -> None:
    """Void an issued notice; it keeps its number, which is never reused."""
    lb, out = _state(ctx)
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        found = uow.notices.by_number(number)
    if found is not None:
        _guard_notice(lb, Action.ISSUE_NOTICE, found)
    n = svc.void_notice(number, reason, uow_factory=lb.uow_factory(), clock=lb.clock,
                        actor=lb.actor)
    if out.json_mode:
        out.emit({"ok": True, **_notice_dict(n)})
        return
    out.say(f"Notice {n.number} voided.", f"文书{n.number}已作废。")


@notices_app.command("verify")
@_command
@as_user(Action.READ)
def verify_cmd(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="A notice PDF.")]) -> None:
    """Check a PDF against the records: OK with number and addressee, or what does not match."""
    from report_templates.render import extract_content

    lb, out = _state(ctx)
    if not remote.is_remote(lb):
        lb.require_schema()
    if not file.is_file():
        raise BadFileError(f"{file}: no such file", f"{file}：文件不存在", code="no_file")
    if remote.is_remote(lb):
        result = remote.verify_notice(lb, file)
    else:
        result = remote.NoticeVerdict.of(svc.verify_pdf(file.read_bytes(), extract=extract_content,
                                                        uow_factory=lb.read_uow_factory()))
    if out.json_mode:
        out.emit({"ok": result.ok, "status": result.status, "number": result.number,
                  "addressee": result.addressee, "message": out.t(result.en, result.zh)})
    else:
        out.say(result.en, result.zh)
    if not result.ok:
        raise typer.Exit(1)
