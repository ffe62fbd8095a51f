"""The office console's imports page (see ``lookback.web.console``): upload a register (CSV or
XLSX) through the same import as ``lookback registry import``, see what became of each row, and
download the reject report of this or an earlier import.

A user of an office imports for its territory: a business or cadre row outside it is refused
and reported (``domain.importing``). The file is read through once before anything is stored,
so a file that cannot be read (not CSV/XLSX, an unknown encoding, a missing column, too large)
stores nothing and says why. The recent imports are read from the event log (each import writes
one ``registry.imported`` event naming its territory), those of the user's territory only; a
reject report is kept under the data folder by import id (``registry_import.reject_report_path``).
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from domain import access
from domain.access import Action
from domain.errors import BadFileError, NotFoundError, PermissionDeniedError
from domain.importing import ImportSummary
from domain.registers import RegisterKind
from lookback.registry_import import (
    REGISTER_NAMES,
    import_file,
    open_checked,
    reject_report_path,
    write_reject_report,
)
from lookback.web import text
from lookback.web.console.base import (
    Who,
    check_csrf,
    china_time,
    guard,
    lb_of,
    pager,
    render,
    staff,
)
from lookback.web.pages import LANG_COOKIE
from storage.reports import ListProblemSink

router = APIRouter(include_in_schema=False)

#: The largest register the page takes (a larger one is for ``lookback registry import``).
MAX_UPLOAD = 10 * 1024 * 1024
SUFFIXES = (".csv", ".xlsx")
#: Problems shown on the page after an upload (every one is in the reject report).
SHOWN_PROBLEMS = 10

text.add({
    "imp_title": ("名录导入", "Register imports"),
    "imp_upload": ("上传名录", "Upload a register"),
    "imp_kind": ("名录类型", "Register"),
    "imp_file": ("文件（CSV 或 XLSX，最大 10 MB）", "File (CSV or XLSX, at most 10 MB)"),
    "imp_submit": ("导入", "Import"),
    "imp_sending": ("正在导入…", "Importing…"),
    "imp_territory": ("辖区以外的主体和干部行将被拒绝并列入报告。",
                      "Business and cadre rows outside your territory are refused and reported."),
    "imp_planners_only": ("仅计划人员可导入名录。", "Only a planner may import registers."),
    "imp_too_big_client": ("文件过大，无法上传（上限 10 MB）。",
                           "The file is too large to upload (at most 10 MB)."),
    "imp_result": ("导入结果", "Result"),
    "imp_read": ("读取", "read"),
    "imp_inserted": ("新增", "inserted"),
    "imp_updated": ("更新", "updated"),
    "imp_accepted": ("接受", "accepted"),
    "imp_rejected": ("拒绝", "rejected"),
    "imp_warnings": ("警告", "warnings"),
    "imp_problems": ("前几条问题", "First problems"),
    "imp_row": ("行号", "Row"),
    "imp_field": ("字段", "Field"),
    "imp_value": ("值", "Value"),
    "imp_reason": ("原因", "Reason"),
    "imp_report": ("下载拒绝报告（CSV）", "Download the reject report (CSV)"),
    "imp_report_short": ("拒绝报告", "Report"),
    "imp_all_accepted": ("全部行均已接受。", "Every row was accepted."),
    "imp_nothing_stored": ("文件未导入，未保存任何数据：", "The file was not imported; nothing was stored: "),
    "imp_recent": ("最近的导入", "Recent imports"),
    "imp_none": ("尚无导入记录。", "No imports yet."),
    "imp_when": ("时间", "When"),
    "imp_by": ("导入人", "By"),
    "imp_source": ("文件", "File"),
    "imp_status": ("结果", "Status"),
    "imp_status_done": ("完成", "done"),
    "imp_status_refused": ("已拒绝（严格模式）", "refused (strict)"),
    "imp_status_failed": ("失败", "failed"),
    "imp_status_running": ("进行中", "running"),
    "imp_report_cli": ("报告在命令行", "report kept by the command line"),
})


def _may_import(who: Who) -> bool:
    """Whether the user may import (the rule of ``domain.access``: planning)."""
    try:
        access.authorize(who[0], Action.PLAN)
    except PermissionDeniedError:
        return False
    return True


def _panel(request: Request, who: Who, *, page: int = 1, status: int = 200,
           full: bool = False, **context: Any) -> Response:
    """The upload form (a fresh one: a new Idempotency-Key) and the recent imports of the user's
    territory, a page at a time; the whole page or only the panel (an upload's answer)."""
    lb = lb_of(request)
    territory = who[0].territory
    with lb.read_uow_factory()() as uow:
        total = uow.import_log.count(territory)
        p = pager(page, total)
        records = uow.import_log.recent(territory, limit=p.per_page, offset=p.offset)
    rows = [(r, reject_report_path(lb, r.id).is_file()) for r in records]
    return render(request, "console/imports.html" if full else "console/imports_panel.html", who,
                  status=status, rows=rows, kinds=list(RegisterKind), may_import=_may_import(who),
                  register_name=_register_name(request), when=lambda r: china_time(r.at), max_upload=MAX_UPLOAD,
                  **p.context(), **context)


def _register_name(request: Request) -> Any:
    english = request.cookies.get(LANG_COOKIE) == "en"
    return lambda kind: REGISTER_NAMES[RegisterKind(kind)][1 if english else 0]


@router.get("/app/office/imports")
def imports_page(request: Request, page: int = 1) -> Response:
    who = staff(request)
    if isinstance(who, Response):
        return who
    return _panel(request, who, page=page, full=True)


@router.post("/app/office/imports")
def upload(request: Request, kind: str = Form(""),
           file: UploadFile | None = File(None)) -> Response:
    """Import an uploaded register for the user's territory; answers the panel with the counts,
    the first problems and the reject report's link (or what is wrong with the file: 422)."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    p = who[0]
    guard(request, who, Action.PLAN, f"office:{p.office_id}" if p.office_id else "registry",
          region=p.territory or None)
    try:
        summary, problems = _import(request, who, kind, file)
    except BadFileError as e:
        lang_en = request.cookies.get(LANG_COOKIE) == "en"
        return _panel(request, who, status=422, error=e.en if lang_en else e.zh, kind=kind)
    return _panel(request, who, summary=summary, problems=problems[:SHOWN_PROBLEMS],
                  report=reject_report_path(lb_of(request), summary.run_id).is_file(),
                  kind=summary.kind.value)


def _import(request: Request, who: Who, kind: str,
            file: UploadFile | None) -> tuple[ImportSummary, list[Any]]:
    """Check the upload, import it, and write its reject report; ``BadFileError`` for a file
    (or a choice of register) that cannot be imported, before anything is stored."""
    try:
        register_kind = RegisterKind(kind)
    except ValueError:
        raise BadFileError(f"choose which register the file holds ({kind!r} is none)",
                           f"请选择文件所属的名录类型（“{kind}”不是名录类型）",
                           code="bad_kind") from None
    name = _clean_name(file.filename if file is not None else "")
    if file is None or not name:
        raise BadFileError("choose a file to import", "请选择要导入的文件", code="no_file")
    if not name.lower().endswith(SUFFIXES):
        raise BadFileError(f"{name}: not a CSV or XLSX file; save the register as CSV (UTF-8) "
                           "or as an Excel workbook (.xlsx)",
                           f"{name}：不是CSV或XLSX文件；请将名录另存为CSV（UTF-8）或Excel工作簿（.xlsx）",
                           code="bad_format")
    lb = lb_of(request)
    folder = lb.data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=Path(name).suffix.lower())
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            size = 0
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise BadFileError(
                        f"{name}: larger than {MAX_UPLOAD // (1024 * 1024)} MB; import it with "
                        "`lookback registry import` or split it",
                        f"{name}：超过{MAX_UPLOAD // (1024 * 1024)} MB；请拆分文件，或用"
                        "`lookback registry import`导入", code="too_large")
                out.write(chunk)
        register = open_checked(path, register_kind, name)
        sink = ListProblemSink()  # an upload's problems are few enough to keep
        summary = import_file(lb, register, sink=sink, source=name, territory=who[0].territory,
                              actor=who[0].actor)
        if sink.problems:
            write_reject_report(reject_report_path(lb, summary.run_id), register, sink.problems)
        return summary, sink.problems
    finally:
        path.unlink(missing_ok=True)


def _clean_name(filename: str | None) -> str:
    """The uploaded file's own name, without a folder or control characters (it is shown and
    recorded as the import's source)."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()[:200]


@router.get("/app/office/imports/{import_id}/rejects.csv")
def reject_report(request: Request, import_id: int) -> Response:
    """An import's reject report, for a user whose territory holds the importing office's."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    with lb.read_uow_factory()() as uow:
        record = uow.import_log.get(import_id) if 0 < import_id < 2**62 else None
    path = reject_report_path(lb, import_id)
    if record is None or not path.is_file():
        raise NotFoundError(f"import {import_id} has no reject report here",
                            f"导入{import_id}没有可下载的拒绝报告")
    guard(request, who, Action.READ, f"import:{import_id}", region=record.territory)
    return FileResponse(path, media_type="text/csv; charset=utf-8",
                        filename=f"import-{import_id}-rejects.csv",
                        headers={"Cache-Control": "private, no-cache"})

