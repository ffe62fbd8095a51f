"""Notices (文书): numbered, immutable, verifiable documents.

Issuing is two steps, each idempotent:

1. **record** — in one transaction: find the addressees that still need this kind of notice, give
   each the next number of its office, kind and year (gapless, never reused), and store the
   notice with its canonical content as *pending*. One event per notice.
2. **issue** — render each pending notice (anywhere: other processes, other machines) and store
   its PDF bytes with their SHA-256, marking it *issued*; a rectification order also moves its
   issues from ``open`` to ``notified``. One event per change.

A crash between the two leaves pending notices with their numbers; the next run renders exactly
those — no second number, no gap, no orphan file (the PDF bytes live in the database).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError, NotFoundError
from domain.lifecycle import Action, IssueStatus
from domain.ports import UnitOfWork

KINDS = ("rectification_order", "warning_talk", "followup_opinion", "circular",
         "draw_publication")
ISSUABLE = ("rectification_order", "warning_talk", "circular", "draw_publication")
KIND_ZH = {"rectification_order": "责令整改通知书", "warning_talk": "约谈通知书",
           "followup_opinion": "复查意见书", "circular": "督查通报",
           "draw_publication": "抽查结果公示"}
KIND_EN = {"rectification_order": "Rectification Order", "warning_talk": "Warning-Talk Notice",
           "followup_opinion": "Follow-up Opinion", "circular": "Inspection Circular",
           "draw_publication": "Publication of the Random Draw"}
ABBR = {"rectification_order": "责改", "warning_talk": "约谈", "followup_opinion": "复查",
        "circular": "通报", "draw_publication": "公示"}
LOWER_OFFICES = "各省、自治区、直辖市食品安全委员会办公室"


def format_number(office_short: str, kind: str, year: int, seq: int) -> str:
    """The document number, e.g. ``食安办责改〔2026〕17号``."""
    return f"{office_short}{ABBR[kind]}〔{year}〕{seq}号"


def canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content).encode()).hexdigest()


@dataclass
class Notice:
    id: int
    campaign_id: int | None
    kind: str
    lang: str
    number: str
    addressee: str
    uscc: str | None
    status: str  # pending | issued | void
    content: dict[str, Any]
    content_sha256: str
    pdf_sha256: str | None
    pdf_size: int | None
    created_at: datetime
    issued_at: datetime | None
    voided_at: datetime | None
    void_reason: str


@dataclass(frozen=True)
class Target:
    """One notice to record: who it goes to and what it says (without its number yet)."""

    key: str
    addressee: str
    uscc: str | None
    body: dict[str, Any]
    issue_ids: tuple[int, ...] = ()


class NoticeRepository(Protocol):
    def lock(self) -> None: ...
    def next_seq(self, office: str, kind: str, year: int) -> int: ...
    def existing_targets(self, campaign_id: int, kind: str, lang: str) -> set[str]: ...
    def add(self, *, campaign_id: int | None, kind: str, lang: str, office: str, year: int,
            seq: int, number: str, target: str, addressee: str, uscc: str | None,
            content: dict[str, Any], content_sha256: str, at: datetime) -> int: ...
    def get(self, notice_id: int) -> Notice | None: ...
    def by_number(self, number: str) -> Notice | None: ...
    def by_pdf_sha256(self, sha: str) -> Notice | None: ...
    def by_content_sha256(self, sha: str) -> Notice | None: ...
    def pending(self, campaign_id: int | None, kind: str | None) -> list[int]: ...
    def list_notices(self, campaign_id: int | None, kind: str | None) -> list[Notice]: ...
    def mark_issued(self, notice_id: int, pdf: bytes, pdf_sha256: str, at: datetime) -> bool: ...
    def mark_void(self, notice_id: int, reason: str, at: datetime) -> None: ...
    def pdf(self, sha: str) -> bytes | None: ...


def _issue_item(i: Any) -> dict[str, Any]:
    return {"id": i.id, "item_id": i.item_id, "category": i.category, "severity": i.severity,
            "description": i.description, "legal_basis": i.legal_basis,
            "found_on": i.found_on.isoformat(), "due_on": i.due_on.isoformat(),
            "due_provisional": i.due_provisional}


def targets(uow: UnitOfWork, campaign_id: int, kind: str, today: date) -> list[Target]:
    """Who still needs a notice of ``kind`` in this campaign, and what it says."""
    from domain.metrics import rates_from_raw

    c = uow.campaigns.get(campaign_id)
    assert c is not None
    if kind in ("rectification_order", "warning_talk"):
        if kind == "rectification_order":
            issues = uow.fieldwork.list_issues(campaign_id=campaign_id, status="open",
                                               overdue_on=None, province=None)
        else:
            issues = [i for i in uow.fieldwork.list_issues(
                campaign_id=campaign_id, status=None, overdue_on=today, province=None)
                if i.status in (IssueStatus.OVERDUE, IssueStatus.NOTIFIED, IssueStatus.OPEN)]
        by_business: dict[str, list[Any]] = {}
        for i in issues:
            by_business.setdefault(i.uscc, []).append(i)
        out = []
        for uscc, items in sorted(by_business.items()):
            b = uow.registers.get_business(uscc)
            ids = tuple(sorted(i.id for i in items))
            body: dict[str, Any] = {"issues": [_issue_item(i) for i in sorted(items, key=lambda i: i.id)]}
            if b is not None:
                body["addressee_address"] = b.address
            if kind == "rectification_order":
                body["contact"] = c.office
            else:
                body["talk"] = {"date": today.isoformat(), "time": "09:30", "place": c.office,
                                "attendees": ["主要负责人", "食品安全总监"]}
            out.append(Target(f"{uscc}:{','.join(map(str, ids))}",
                              b.name if b else items[0].business_name, uscc, body, ids))
        return out
    if kind == "circular":
        raw = uow.fieldwork.metrics(campaign_id, today)
        m = rates_from_raw(raw)
        body = {"summary": m["summary"], "issues_by_category": raw["issues_by"]["category"],
                "provinces": m["provinces"],
                "overdue": [{"name": o["name"], "uscc": o["uscc"], "category": o["category"],
                             "due_on": o["due_on"]} for o in raw["overdue"]]}
        return [Target(f"circular:{today.isoformat()}", LOWER_OFFICES, None, body)]
    if kind == "draw_publication":
        record = uow.campaigns.get_record(campaign_id)
        if record is None:
            raise ConflictError(f"campaign {campaign_id} has not been drawn yet",
                                f"督查{campaign_id}尚未抽取")
        team_of = {a["uscc"]: a["team"] for a in record["assignments"]}
        drawn = []
        for p in record["stages"][-1]["chosen"]:
            b = uow.registers.get_business(p["unit"])
            drawn.append({"name": b.name if b else "", "uscc": p["unit"],
                          "region": b.region_code if b else "", "team": team_of.get(p["unit"])})
        body = {"draw": {"algorithm": record["algorithm"], "seed": record["seed"],
                         "frame_sha256": record["frame"]["sha256"],
                         "frame_businesses": record["frame"]["businesses"],
                         "total": record["total"],
                         "stages": [{"unit": s["unit"], "strata": s["strata"]}
                                    for s in record["stages"]]},
                "drawn": drawn}
        return [Target(f"draw:{record['total']}:{record['frame']['sha256'][:16]}", "社会公众",
                       None, body)]
    raise BadArgumentError(f"unknown kind {kind!r}", f"未知文书种类“{kind}”")


def record_notices(campaign_id: int, kind: str, lang: str, *, uow_factory: Callable[[], UnitOfWork],
                   clock: Clock, actor: str) -> list[int]:
    """Step 1: number and record the notices still to issue; returns every pending notice id of
    this campaign and kind (those recorded now and any left by an interrupted run)."""
    if kind not in ISSUABLE:
        raise BadArgumentError(f"--kind must be one of {', '.join(ISSUABLE)}",
                               f"--kind应为{'、'.join(ISSUABLE)}之一")
    if lang not in ("zh", "en"):
        raise BadArgumentError("--lang must be zh or en", "--lang应为zh或en")
    now = clock.now()
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise NotFoundError(f"campaign {campaign_id} does not exist", f"督查{campaign_id}不存在")
        if c.status == "draft":
            raise ConflictError(f"campaign {campaign_id} has not been launched",
                                f"督查{campaign_id}尚未启动")
        uow.notices.lock()
        done = uow.notices.existing_targets(campaign_id, kind, lang)
        office_short = c.office_short or c.office
        today = china_date(now)  # the document's date and its number's year are China's
        for t in targets(uow, campaign_id, kind, today):
            key = f"{lang}:{t.key}"
            if key in done:
                continue
            seq = uow.notices.next_seq(c.office, kind, today.year)
            number = format_number(office_short, kind, today.year, seq)
            content = {"kind": kind, "lang": lang, "number": number, "office": c.office,
                       "office_short": office_short, "issued_on": today.isoformat(),
                       "campaign": {"id": c.id, "title": c.title},
                       "addressee": {"name": t.addressee, **({"uscc": t.uscc} if t.uscc else {})},
                       **t.body}
            sha = content_sha256(content)
            nid = uow.notices.add(campaign_id=campaign_id, kind=kind, lang=lang, office=c.office,
                                  year=today.year, seq=seq, number=number, target=key,
                                  addressee=t.addressee, uscc=t.uscc, content=content,
                                  content_sha256=sha, at=now)
            uow.events.append(at=now, actor=actor, kind="notice.recorded", entity=f"notice:{nid}",
                              payload={"number": number, "kind": kind, "lang": lang,
                                       "addressee": t.addressee, "content_sha256": sha,
                                       "issues": list(t.issue_ids)})
            done.add(key)
        uow.commit()
    with uow_factory() as read:
        return read.notices.pending(campaign_id, kind)


def store_issued(rendered: Sequence[tuple[int, bytes]], *, uow_factory: Callable[[], UnitOfWork],
                 clock: Clock, actor: str) -> int:
    """Step 2 for a chunk: keep each rendered PDF and mark its notice issued (idempotent: a notice
    issued already is left as it is). Rectification orders notify their open issues."""
    from domain.fieldwork import _apply

    now = clock.now()
    stored = 0
    with uow_factory() as uow:
        for notice_id, pdf in rendered:
            sha = hashlib.sha256(pdf).hexdigest()
            if not uow.notices.mark_issued(notice_id, pdf, sha, now):
                continue
            n = uow.notices.get(notice_id)
            assert n is not None
            uow.events.append(at=now, actor=actor, kind="notice.issued",
                              entity=f"notice:{notice_id}",
                              payload={"number": n.number, "pdf_sha256": sha, "size": len(pdf)})
            if n.kind == "rectification_order":
                for item in n.content.get("issues", []):
                    issue = uow.fieldwork.get_issue(int(item["id"]))
                    if issue is not None and issue.status is IssueStatus.OPEN:
                        _apply(uow, issue, Action.NOTIFY, at=now, actor=actor,
                               payload={"notice": n.number})
            stored += 1
        uow.commit()
    return stored


def void_notice(number: str, reason: str, *, uow_factory: Callable[[], UnitOfWork], clock: Clock,
                actor: str) -> Notice:
    """Void an issued notice: it keeps its number (never reused) and is marked void."""
    if not reason.strip():
        raise BadArgumentError("--reason is empty", "--reason（作废理由）为空")
    now = clock.now()
    with uow_factory() as uow:
        n = uow.notices.by_number(number)
        if n is None:
            raise NotFoundError(f"no notice numbered {number}", f"没有编号为{number}的文书")
        if n.status == "void":
            raise ConflictError(f"notice {number} is already void", f"文书{number}已作废")
        if n.status != "issued":
            raise ConflictError(f"notice {number} has not been issued yet", f"文书{number}尚未签发")
        uow.notices.mark_void(n.id, reason.strip(), now)
        uow.events.append(at=now, actor=actor, kind="notice.voided", entity=f"notice:{n.id}",
                          payload={"number": number, "reason": reason.strip()})
        uow.commit()
        voided = uow.notices.get(n.id)
    assert voided is not None
    return voided


@dataclass(frozen=True)
class NoticeCheck:
    ok: bool
    status: str  # valid | void | altered | unknown
    notice: Notice | None
    en: str
    zh: str


def verify_pdf(pdf: bytes, *, extract: Callable[[bytes], dict[str, Any] | None],
               uow_factory: Callable[[], UnitOfWork]) -> NoticeCheck:
    """Check a PDF against the records: by its bytes' SHA-256, else by the content inside it."""
    sha = hashlib.sha256(pdf).hexdigest()
    with uow_factory() as uow:
        n = uow.notices.by_pdf_sha256(sha)
        if n is None:
            content = extract(pdf)
            if content is not None:
                n = uow.notices.by_content_sha256(content_sha256(content))
                if n is None and content.get("number"):
                    n = uow.notices.by_number(str(content["number"]))
    if n is None:
        return NoticeCheck(False, "unknown", None, "unknown document: no notice on record has "
                           "these bytes or this content", "未知文书：记录中没有此文件或此内容")
    if n.pdf_sha256 != sha:
        return NoticeCheck(False, "altered", n, f"ALTERED: this claims to be notice {n.number} to "
                           f"{n.addressee}, but its bytes differ from the issued PDF",
                           f"已被篡改：该文件声称是发给{n.addressee}的文书{n.number}，但与签发的PDF不一致")
    if n.status == "void":
        return NoticeCheck(False, "void", n, f"VOID: notice {n.number} to {n.addressee} was voided"
                           f" on {n.voided_at:%Y-%m-%d} ({n.void_reason})",
                           f"已作废：发给{n.addressee}的文书{n.number}已于{n.voided_at:%Y-%m-%d}作废"
                           f"（{n.void_reason}）")
    return NoticeCheck(True, "valid", n, f"OK: notice {n.number} to {n.addressee}, issued "
                       f"{n.issued_at:%Y-%m-%d}", f"核验通过：文书{n.number}，发往{n.addressee}，"
                       f"签发于{n.issued_at:%Y-%m-%d}")
