"""The remote side of the CLI commands that can run against a server (``--server``).

Each function does one command's HTTP part through ``LookbackClient`` and returns the same
values the local path computes (``fw.Issue``, ``fw.InterviewOutcome``, ``CheckResult``, …), so a
command prints the same text and JSON either way.

What differs from the local path: the server's token decides who is acting and which team or
business they may touch (``--team`` and ``--actor`` are not sent; the server's check is the one
that counts), the server's clock decides the date (``--now`` is not sent), and evidence files
are uploaded after the record they belong to is written. If an upload then fails, the record
stays and the message says which files did not get there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain import fieldwork as fw
from domain.errors import LookbackError
from domain.issues import IssueStatus

if TYPE_CHECKING:  # the HTTP client (httpx) loads only when a command goes through a server
    from domain import followups as fu
    from domain import supervision as sv
    from domain.notices import NoticeCheck
    from lookback.bootstrap import App
    from lookback.client import FilePart, LookbackClient, RemoteError


def is_remote(lb: App) -> bool:
    """Whether commands go to a server (``--server`` / ``LOOKBACK_SERVER``) instead of the
    local database."""
    return bool(lb.settings.server)


def client_for(lb: App) -> LookbackClient:
    from lookback.client import LookbackClient

    token = lb.settings.token.get_secret_value() if lb.settings.token is not None else ""
    return LookbackClient(lb.settings.server or "", token, lang=lb.lang)


def _bad_answer(client: LookbackClient, what: str, e: Exception) -> RemoteError:
    from lookback.client import RemoteError

    return RemoteError(f"{client.base_url} answered with an unexpected {what}: {e!r}",
                       f"{client.base_url}返回的{what}不符合接口约定：{e!r}", code="bad_response")


# --- interviews and issues ---------------------------------------------------------------------

def record_interview(lb: App, *, visit: int, role: str, name: str,
                     answers: Sequence[fw.Answer]) -> fw.InterviewOutcome:
    with client_for(lb) as c:
        d = c.record_interview(visit, role=role, name=name, answers=[
            {"item_id": a.item_id, "result": a.result, "note": a.note} for a in answers])
        try:
            return fw.InterviewOutcome(
                interview_id=int(d["interview_id"]), answers=int(d["answers"]),
                failed=int(d["failed"]),
                issues_registered=[int(i) for i in d.get("issues_registered", [])],
                issues_existing=[int(i) for i in d.get("issues_existing", [])])
        except (KeyError, TypeError, ValueError) as e:
            raise _bad_answer(c, "interview", e) from None


def issue_of(d: dict[str, Any]) -> fw.Issue:
    """An issue as the API shows it (``IssuePublic``)."""
    return fw.Issue(
        id=int(d["id"]), campaign_id=int(d["campaign_id"]), visit_id=int(d["visit_id"]),
        uscc=str(d["uscc"]), item_id=d.get("item_id"), category=str(d["category"]),
        severity=str(d["severity"]), description=str(d["description"]),
        legal_basis=str(d.get("legal_basis") or ""), status=IssueStatus(d["status"]),
        found_on=date.fromisoformat(d["found_on"]), rect_workdays=0,
        due_on=date.fromisoformat(d["due_on"]), due_provisional=bool(d["due_provisional"]),
        escalation=int(d["escalation"]), version=int(d["version"]),
        business_name=str(d.get("business") or ""), province_code=str(d.get("province") or ""))


def _issue(c: LookbackClient, d: dict[str, Any]) -> fw.Issue:
    try:
        return issue_of(d)
    except (KeyError, TypeError, ValueError) as e:
        raise _bad_answer(c, "issue", e) from None


def _upload_all(c: LookbackClient, issue_id: int, files: Sequence[tuple[Path, FilePart]],
                purpose: str, done_en: str, done_zh: str) -> None:
    """Upload each file; on a failure say what was already done and which files are missing."""
    for n, (_path, part) in enumerate(files):
        try:
            c.upload_evidence(issue_id, part, purpose=purpose)
        except LookbackError as e:
            left = ", ".join(str(p) for p, _ in files[n:])
            raise type(e)(f"{done_en}, but evidence {left} was not uploaded: {e.en}",
                          f"{done_zh}，但证据{left}未上传：{e.zh}", code=e.code) from None


def _read_all(files: Sequence[Path] | None) -> list[tuple[Path, FilePart]]:
    # Every file is read before anything is sent: a typo in a path changes nothing.
    from lookback.client import read_upload

    return [(f, read_upload(f)) for f in files or []]


def add_issue(lb: App, *, visit: int, category: str, severity: str, description: str,
              evidence: Sequence[Path] | None, provision: int | None = None,
              legal_basis: str | None = None) -> fw.Issue:
    files = _read_all(evidence)
    with client_for(lb) as c:
        issue = _issue(c, c.add_issue(visit, category=category, severity=severity,
                                      description=description, provision=provision,
                                      legal_basis=legal_basis))
        _upload_all(c, issue.id, files, "finding", f"issue {issue.id} was registered",
                    f"问题{issue.id}已登记")
    return issue


def rectify(lb: App, *, issue: int, measures: str, evidence: Sequence[Path] | None) -> fw.Issue:
    files = _read_all(evidence)
    with client_for(lb) as c:
        done = _issue(c, c.rectify(issue, measures=measures))
        _upload_all(c, issue, files, "rectification",
                    f"the rectification of issue {issue} was reported", f"问题{issue}的整改已报告")
    return done


# --- look-back checks --------------------------------------------------------------------------

def record_followup(lb: App, *, issue: int, outcome: str, note: str,
                    answers: tuple[bool | None, bool | None, bool | None],
                    evidence: Sequence[Path] | None) -> fu.CheckResult:
    from domain import followups as fu

    files = _read_all(evidence)
    with client_for(lb) as c:
        before, d = c.record_followup(issue, outcome=outcome, note=note,
                                      hard_measures=answers[0], fixed=answers[1],
                                      mechanism=answers[2])
        try:
            level = int(d["escalation_level"])
            due_on = date.fromisoformat(d["due_on"]) if d.get("due_on") else None
            read = issue_of(before)
            # The issue as it is now, from the answer; its version is the one read before.
            after = dataclasses.replace(
                read, status=IssueStatus(d["status"]), escalation=level,
                due_on=due_on or read.due_on,
                due_provisional=(bool(d["due_provisional"]) if d.get("due_provisional")
                                 is not None else read.due_provisional))
            result = fu.CheckResult(followup_id=int(d["followup"]), issue=after,
                                    outcome=str(d["outcome"]), escalation=level,
                                    new_due_on=due_on,
                                    referral_id=(int(d["referral"]) if d.get("referral")
                                                 is not None else None))
        except (KeyError, TypeError, ValueError) as e:
            raise _bad_answer(c, "look-back check", e) from None
        _upload_all(c, issue, files, "followup", f"the look-back check of issue {issue} was "
                    "recorded", f"问题{issue}的复查已记录")
    return result


# --- routine supervision -----------------------------------------------------------------------

def record_supervision(lb: App, *, cadre: str, business: str, note: str, on: date | None,
                       period: sv.Period | None, findings: Sequence[sv.FindingSpec],
                       leads: Sequence[str]) -> sv.RecordOutcome:
    with client_for(lb) as c:
        d = c.record_supervision(
            cadre_id=cadre, uscc=business.strip().upper(), note=note, on=on.isoformat() if on else None,
            period=period.code if period else None,
            issues=[f"{f.category}:{f.severity}:{f.description}"
                    + (f":{f.legal_basis}" if f.legal_basis else "") for f in findings],
            leads=list(leads))
        try:
            return supervision_outcome(d)
        except (KeyError, TypeError, ValueError) as e:
            raise _bad_answer(c, "supervision visit", e) from None


def supervision_outcome(d: dict[str, Any]) -> sv.RecordOutcome:
    """A recorded supervision visit as the API shows it (the fields of ``supervision record
    --json``; the visit may also come nested under ``visit``)."""
    from domain import supervision as sv

    v = d.get("visit") if isinstance(d.get("visit"), dict) else d
    assert isinstance(v, dict)
    visit = sv.SupervisionVisit(
        id=int(v["id"]), cadre_id=str(v["cadre_id"]),
        cadre_name=str(v.get("cadre") or v.get("cadre_name") or ""), uscc=str(v["uscc"]),
        business_name=str(v.get("business") or v.get("business_name") or ""),
        province_code=str(v.get("province") or v.get("province_code") or ""),
        level=str(v.get("level") or ""), period=str(v["period"]),
        period_start=date.fromisoformat(v["period_start"]),
        period_end=date.fromisoformat(v["period_end"]), status=str(v.get("status") or "done"),
        opened_at=(datetime.fromisoformat(v["opened_at"]) if v.get("opened_at")
                   else datetime.now(UTC)),
        done_on=date.fromisoformat(v["done_on"]) if v.get("done_on") else None,
        note=str(v.get("note") or ""), recorded_by=str(v.get("recorded_by") or ""))
    found = d.get("findings") or []
    return sv.RecordOutcome(
        visit=visit, opened=bool(d.get("opened_now", d.get("opened", False))),
        findings=[sv.NewFinding(category=str(f["category"]), severity=str(f["severity"]),
                                description=str(f["description"]),
                                due_on=date.fromisoformat(f["due_on"]),
                                due_provisional=bool(f.get("due_provisional")))
                  for f in found],
        finding_ids=[int(f["id"]) for f in found],
        referral_ids=[int(r) for r in d.get("referrals", d.get("referral_ids", []))])


# --- notices -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class NoticeVerdict:
    """What ``notices verify`` prints: local (``of``) or from the server (``remote``)."""

    ok: bool
    status: str  # valid | void | altered | unknown
    number: str | None
    addressee: str | None
    en: str
    zh: str

    @classmethod
    def of(cls, check: NoticeCheck) -> NoticeVerdict:
        n = check.notice
        return cls(check.ok, check.status, n.number if n else None, n.addressee if n else None,
                   check.en, check.zh)


_RESULTS = {"OK": "valid", "VALID": "valid", "ALTERED": "altered", "VOID": "void",
            "UNKNOWN": "unknown"}


def verify_notice(lb: App, file: Path) -> NoticeVerdict:
    from lookback.client import read_upload

    part = read_upload(file)
    with client_for(lb) as c:
        d = c.verify_notice(part)
        status = _RESULTS.get(str(d.get("result") or d.get("status") or "").upper())
        if status is None:
            raise _bad_answer(c, "verification result", ValueError(d.get("result")))
    number = d.get("number")
    addressee = d.get("addressee")
    en = d.get("message_en") or d.get("detail_en")
    zh = d.get("message_zh") or d.get("detail_zh")
    if not (en and zh):
        en, zh = {
            "valid": (f"OK: notice {number} to {addressee}", f"核验通过：文书{number}，发往{addressee}"),
            "altered": (f"ALTERED: this claims to be notice {number} to {addressee}, but its "
                        "bytes differ from the issued PDF",
                        f"已被篡改：该文件声称是发给{addressee}的文书{number}，但与签发的PDF不一致"),
            "void": (f"VOID: notice {number} to {addressee} was voided",
                     f"已作废：发给{addressee}的文书{number}已作废"),
            "unknown": ("unknown document: no notice on record has these bytes or this content",
                        "未知文书：记录中没有此文件或此内容"),
        }[status]
    return NoticeVerdict(status == "valid", status, str(number) if number else None,
                         str(addressee) if addressee else None, str(en), str(zh))
