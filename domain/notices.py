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
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from domain import issues as issues_svc
from domain.campaigns import CampaignUnitOfWork, canonical_json, source_figures_in
from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError, NotFoundError
from domain.followups import CIRCULAR, REFERRAL, REVIEW, WARNING_TALK, FollowUp, FollowUpUnitOfWork
from domain.issues import Action, IssueQuery, IssueStatus
from domain.metrics import rates_from_raw
from domain.ports import RegisterRepository
from domain.vocabulary import LADDER

KINDS = ("rectification_order", "warning_talk", "followup_opinion", "circular",
         "draw_publication")
ISSUABLE = ("rectification_order", "warning_talk", "followup_opinion", "circular",
            "draw_publication")
KIND_ZH = {"rectification_order": "责令整改通知书", "warning_talk": "约谈通知书",
           "followup_opinion": "复查意见书", "circular": "督查通报",
           "draw_publication": "抽查结果公示"}
KIND_EN = {"rectification_order": "Rectification Order", "warning_talk": "Warning-Talk Notice",
           "followup_opinion": "Follow-up Opinion", "circular": "Inspection Circular",
           "draw_publication": "Publication of the Random Draw"}
ABBR = {"rectification_order": "责改", "warning_talk": "约谈", "followup_opinion": "复查",
        "circular": "通报", "draw_publication": "公示"}
LOWER_OFFICES = "各省、自治区、直辖市食品安全委员会办公室"
#: Where the public check page (``/verify/{code}``) is served when nothing else is configured
#: (``LOOKBACK_PUBLIC_URL``): the address of ``lookback serve`` on this machine.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
#: Random bytes of a notice's check code: 16 give 22 URL-safe characters, not guessable.
VERIFY_CODE_BYTES = 16


def format_number(office_short: str, kind: str, year: int, seq: int) -> str:
    """The document number, e.g. ``食安办责改〔2026〕17号``."""
    return f"{office_short}{ABBR[kind]}〔{year}〕{seq}号"


def canonical(content: dict[str, Any]) -> str:
    """The canonical JSON of a notice's content (what is attached to its PDF)."""
    return canonical_json(content)


def content_sha256(content: dict[str, Any]) -> str:
    """The one definition of a notice's content hash: the stored ``content_sha256`` and the
    verification code printed on the PDF both come from it."""
    return hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()


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
    #: The code of its public check page (``/verify/{code}``), printed as a QR code; None for
    #: notices recorded before there was one (or without a public address).
    verify_code: str | None = None


@dataclass(frozen=True)
class Target:
    """One notice to record: who it goes to and what it says (without its number yet)."""

    key: str
    addressee: str
    uscc: str | None
    body: dict[str, Any]
    issue_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class NoticeQuery:
    """What a register of notices is narrowed to (every field optional)."""

    campaign_id: int | None = None
    kind: str | None = None
    status: str | None = None  # pending | issued | void
    #: Part of the number or of the addressee's name (or a whole USCC).
    text: str = ""
    issued_from: date | None = None  # China's calendar days, both ends included
    issued_to: date | None = None
    #: Where they lie (an office's territory prefix; "" is the whole country): a notice to a
    #: business lies where the business does, one to no business (a circular) where its
    #: campaign's office does — ``campaigns`` lists the campaigns in the territory.
    territory: str = ""
    campaigns: tuple[int, ...] = ()


class NoticeRepository(Protocol):
    def lock(self) -> None: ...
    def next_seq(self, office: str, kind: str, year: int) -> int: ...
    def existing_targets(self, campaign_id: int | None, kind: str, lang: str) -> set[str]:
        """The targets on record (not void) of a campaign — or, for ``None``, of the notices
        that belong to no campaign (routine supervision)."""
        ...
    def add(self, *, campaign_id: int | None, kind: str, lang: str, office: str, year: int,
            seq: int, number: str, target: str, addressee: str, uscc: str | None,
            content: dict[str, Any], content_sha256: str, at: datetime,
            verify_code: str | None = None) -> int: ...
    def get(self, notice_id: int) -> Notice | None: ...
    def by_verify_code(self, code: str) -> Notice | None: ...
    def page(self, query: NoticeQuery, *, limit: int, offset: int) -> tuple[list[Notice], int]:
        """One page of the notices that match ``query``, newest first, and how many match."""
        ...
    def by_number(self, number: str) -> Notice | None: ...
    def by_pdf_sha256(self, sha: str) -> Notice | None: ...
    def by_content_sha256(self, sha: str) -> Notice | None: ...
    def pending(self, campaign_id: int | None, kind: str | None) -> list[int]: ...
    def pending_without_campaign(self, kind: str) -> list[int]: ...
    def statuses(self, ids: Sequence[int]) -> dict[int, str]: ...
    def status_counts(self, campaign_id: int | None, kind: str | None) -> dict[str, int]:
        """How many notices of a campaign (``None``: of no campaign) and kind are in each
        status: cheap enough to poll for a progress bar."""
        ...
    def list_notices(self, campaign_id: int | None, kind: str | None) -> list[Notice]: ...
    def mark_issued(self, notice_id: int, pdf: bytes, pdf_sha256: str, at: datetime) -> bool: ...
    def mark_void(self, notice_id: int, reason: str, at: datetime) -> None: ...
    def pdf(self, sha: str) -> bytes | None: ...


class NoticeUnitOfWork(FollowUpUnitOfWork, CampaignUnitOfWork, Protocol):
    @property
    def notices(self) -> NoticeRepository: ...
    @property
    def registers(self) -> RegisterRepository: ...


UnitOfWork = NoticeUnitOfWork


def _issue_item(i: Any) -> dict[str, Any]:
    return {"id": i.id, "item_id": i.item_id, "category": i.category, "severity": i.severity,
            "description": i.description, "legal_basis": i.legal_basis,
            "found_on": i.found_on.isoformat(), "due_on": i.due_on.isoformat(),
            "due_provisional": i.due_provisional}


# --- the escalation ladder as notices see it ----------------------------------------------------

_EVERY_ROW = 2**31 - 1  # ``followups.list`` wants a limit: a campaign's rows all fit under it


def recorded_checks(uow: UnitOfWork, campaign_id: int) -> dict[int, list[FollowUp]]:
    """The recorded look-back checks (review follow-ups with status ``recorded``) of a campaign,
    per issue, in the order they were made."""
    rows = uow.followups.list(status="recorded", kind=REVIEW, team=None, campaign_id=campaign_id,
                              due_before=None, limit=_EVERY_ROW)
    out: dict[int, list[FollowUp]] = {}
    for fu in sorted(rows, key=lambda f: (f.revision, f.id)):
        out.setdefault(fu.issue_id, []).append(fu)
    return out


def check_item(fu: FollowUp) -> dict[str, Any]:
    """One recorded look-back check as notices print it: when, the three answers, the outcome,
    the note and the ladder step the issue stood on afterwards."""
    on = china_date(fu.recorded_at) if fu.recorded_at is not None else fu.due_on
    return {"followup": fu.id, "revision": fu.revision, "review_on": fu.due_on.isoformat(),
            "date": on.isoformat(), "outcome": fu.outcome,
            "hard_measures": bool(fu.hard_measures), "fixed": bool(fu.fixed),
            "lasting_mechanism": bool(fu.mechanism), "note": fu.note,
            "escalation": None if fu.escalation_after is None else LADDER[fu.escalation_after]}


def failed_checks(checks: Sequence[FollowUp]) -> list[dict[str, Any]]:
    """The checks that found the issue not (or only partly) rectified."""
    return [check_item(f) for f in checks if f.outcome != "verified"]


def escalated(issues: Sequence[Any], level: int) -> list[Any]:
    """The issues still open at escalation ``level`` or higher (``followups.LADDER``)."""
    return [i for i in issues if i.escalation >= level and i.status is not IssueStatus.VERIFIED]


def followup_figures(uow: UnitOfWork, campaign_id: int, issues: Sequence[Any],
                     checks: dict[int, list[FollowUp]]) -> dict[str, Any]:
    """Look-back figures of a campaign: checks recorded per outcome, reviews waiting for their
    check, how many issues reached each step of the ladder (a level never goes down, so this
    counts every escalation to that step), and the referrals' case outcomes."""
    recorded = [f for fs in checks.values() for f in fs]
    waiting = uow.followups.list(status="open", kind=REVIEW, team=None, campaign_id=campaign_id,
                                 due_before=None, limit=_EVERY_ROW)
    cases = {"referred": 0, "filed": 0, "declined": 0}
    for r in referrals(uow, issues):
        cases[r["case_status"]] = cases.get(r["case_status"], 0) + 1
    return {"recorded": len(recorded),
            "verified": sum(f.outcome == "verified" for f in recorded),
            "partial": sum(f.outcome == "partial" for f in recorded),
            "not_rectified": sum(f.outcome == "not_rectified" for f in recorded),
            "open": len(waiting),
            "escalations": {LADDER[n]: sum(i.escalation >= n for i in issues)
                            for n in range(1, len(LADDER))},
            "cases": cases}


def referrals(uow: UnitOfWork, issues: Sequence[Any]) -> list[dict[str, Any]]:
    """The referrals to enforcement (移送) of these issues, with their case outcome."""
    out = []
    for i in issues:
        if i.escalation < REFERRAL:
            continue
        r = uow.followups.referral_of(i.id)
        if r is None:
            continue
        out.append({"issue": i.id, "name": i.business_name, "uscc": i.uscc,
                    "category": i.category, "description": i.description,
                    "referred_on": r["referred_on"], "case_status": r["case_status"],
                    "case_number": r["case_number"], "case_on": r["case_on"]})
    return out


def _around_check(uow: UnitOfWork, issue_id: int, followup_id: int
                  ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The issue's due date and level before the check ``followup_id``, and after it (None when
    the event log has no record of the check). Read from the issue's events, which carry the due
    date (and, after the first transition, the level) in force after each change."""
    state: dict[str, Any] = {"due_on": None, "provisional": False, "escalation": 0}
    for e in uow.events.for_entity(f"issue:{issue_id}"):
        p = e.payload
        new = {"due_on": p.get("due_on", state["due_on"]),
               "provisional": bool(p.get("provisional", state["provisional"])),
               "escalation": int(p.get("escalation", state["escalation"]))}
        if p.get("followup") == followup_id and e.kind.startswith("issue."):
            return state, new
        state = new
    return state, None


def _opinion(uow: UnitOfWork, fu: FollowUp, issue: Any) -> dict[str, Any]:
    """The body of the follow-up opinion (复查意见书) on one recorded check."""
    before, after = _around_check(uow, issue.id, fu.id)
    item = _issue_item(issue)
    if before["due_on"]:  # the deadline the check was about, not the one it set
        item.update(due_on=before["due_on"], due_provisional=before["provisional"])
    f = check_item(fu)
    if fu.outcome != "verified" and after is not None:
        f.update(new_due_on=after["due_on"], new_due_provisional=after["provisional"])
    level_before = int(before["escalation"])
    level = fu.escalation_after if fu.escalation_after is not None else level_before
    f["escalation_level"] = level
    if fu.outcome != "verified" and level > level_before:
        f["escalation_step"] = {"from": LADDER[level_before], "to": LADDER[level], "level": level}
    body: dict[str, Any] = {"issue": item, "followup": f}
    if level >= REFERRAL and fu.outcome != "verified":
        r = uow.followups.referral_of(issue.id)
        if r is not None:
            body["referral"] = {"referred_on": r["referred_on"], "case_status": r["case_status"],
                                "case_number": r["case_number"]}
    return body


def _escalated_entry(i: Any, checks: Sequence[FollowUp]) -> dict[str, Any]:
    return {"issue": i.id, "name": i.business_name, "uscc": i.uscc, "category": i.category,
            "severity": i.severity, "description": i.description, "level": i.escalation,
            "step": LADDER[i.escalation], "due_on": i.due_on.isoformat(),
            "checks": failed_checks(checks)}


# --- who needs which notice ---------------------------------------------------------------------

def targets(uow: UnitOfWork, campaign_id: int, kind: str, today: date) -> list[Target]:
    """Who still needs a notice of ``kind`` in this campaign, and what it says.

    Keys (``record_notices`` prefixes the language; a key on record is never issued again):
    rectification order ``{uscc}:{issue ids}`` (its open issues); warning talk
    ``talk:{uscc}:{issue ids}`` (its issues at 约谈 or above, not yet verified — a business gets
    a new one only when an issue climbs to that step, see ``record_notices``); follow-up opinion
    ``followup:{follow-up id}`` (one per recorded check); circular ``circular:{date}``; draw
    publication ``draw:{total}:{frame hash}``.
    """
    c = uow.campaigns.get(campaign_id)
    assert c is not None
    if kind in ("rectification_order", "warning_talk"):
        checks: dict[int, list[FollowUp]] = {}
        if kind == "rectification_order":
            issues = uow.issues.list(IssueQuery(campaign_id=campaign_id, statuses=("open",)))
        else:
            issues = escalated(uow.issues.list(IssueQuery(campaign_id=campaign_id)), WARNING_TALK)
            checks = recorded_checks(uow, campaign_id) if issues else {}
        by_business: dict[str, list[Any]] = {}
        for i in issues:
            by_business.setdefault(i.uscc, []).append(i)
        out = []
        for uscc, items in sorted(by_business.items()):
            b = uow.registers.get_business(uscc)
            ids = tuple(sorted(i.id for i in items))
            listed = []
            for i in sorted(items, key=lambda i: i.id):
                entry = _issue_item(i)
                if kind == "warning_talk":
                    entry.update(escalation=LADDER[i.escalation], escalation_level=i.escalation,
                                 checks=failed_checks(checks.get(i.id, [])))
                listed.append(entry)
            body: dict[str, Any] = {"issues": listed}
            if b is not None:
                body["addressee_address"] = b.address
            if kind == "rectification_order":
                body["contact"] = c.office
                key = f"{uscc}:{','.join(map(str, ids))}"
            else:
                body["talk"] = {"date": today.isoformat(), "time": "09:30", "place": c.office,
                                "attendees": ["owner", "director"]}
                key = f"talk:{uscc}:{','.join(map(str, ids))}"
            out.append(Target(key, b.name if b else items[0].business_name, uscc, body, ids))
        return out
    if kind == "followup_opinion":
        checks = recorded_checks(uow, campaign_id)
        if not checks:
            return []
        by_id = {i.id: i for i in uow.issues.list(IssueQuery(campaign_id=campaign_id))}
        out = []
        for fu in sorted((f for fs in checks.values() for f in fs), key=lambda f: f.id):
            issue = by_id[fu.issue_id]
            b = uow.registers.get_business(issue.uscc)
            body = _opinion(uow, fu, issue)
            if b is not None:
                body["addressee_address"] = b.address
            body["contact"] = c.office
            out.append(Target(f"followup:{fu.id}", b.name if b else issue.business_name,
                              issue.uscc, body, (issue.id,)))
        return out
    if kind == "circular":
        raw = uow.fieldwork.metrics(campaign_id, today)
        m = rates_from_raw(raw)
        issues = uow.issues.list(IssueQuery(campaign_id=campaign_id))
        checks = recorded_checks(uow, campaign_id)
        named = sorted(escalated(issues, CIRCULAR), key=lambda i: (-i.escalation, i.uscc, i.id))
        body = {"summary": m["summary"], "issues_by_category": raw["issues_by"]["category"],
                "provinces": m["provinces"],
                "overdue": [{"name": o["name"], "uscc": o["uscc"], "category": o["category"],
                             "due_on": o["due_on"]} for o in raw["overdue"]],
                "followups": followup_figures(uow, campaign_id, issues, checks),
                "escalated": [_escalated_entry(i, checks.get(i.id, [])) for i in named],
                "referrals": referrals(uow, issues)}
        if c.kind == "lookback":
            body["source_issues"] = source_figures_in(uow, campaign_id)
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
                                    for s in record["stages"]],
                         "commitment": record.get("commitment")},
                "drawn": drawn}
        return [Target(f"draw:{record['total']}:{record['frame']['sha256'][:16]}", "社会公众",
                       None, body)]
    raise BadArgumentError(f"unknown kind {kind!r}", f"未知文书种类“{kind}”")


def _named_issues(keys: set[str], lang: str) -> dict[str, set[int]]:
    """Per business, the issues that notices on record in ``lang`` already name, read from their
    keys (``{lang}:[talk:]{uscc}:{issue ids}``)."""
    out: dict[str, set[int]] = {}
    for key in keys:
        parts = key.split(":")
        if parts[0] != lang or len(parts) < 3:
            continue
        try:
            ids = {int(x) for x in parts[-1].split(",") if x}
        except ValueError:
            continue
        out.setdefault(parts[-2], set()).update(ids)
    return out


def _check_kind_lang(kind: str, lang: str) -> None:
    if kind not in ISSUABLE:
        raise BadArgumentError(f"--kind must be one of {', '.join(ISSUABLE)}",
                               f"--kind应为{'、'.join(ISSUABLE)}之一")
    if lang not in ("zh", "en"):
        raise BadArgumentError("--lang must be zh or en", "--lang应为zh或en")


def new_verify_code() -> str:
    """A fresh code for a notice's public check page: random, URL-safe, not its number."""
    return secrets.token_urlsafe(VERIFY_CODE_BYTES)


def verify_url(public_url: str, code: str) -> str:
    """The address of a notice's public check page, which its QR code holds."""
    return f"{public_url.rstrip('/')}/verify/{code}"


def _record(uow: UnitOfWork, found: Sequence[Target], *, campaign_id: int | None,
            campaign: dict[str, Any], office: str, office_short: str, kind: str, lang: str,
            now: datetime, actor: str, public_url: str | None = None) -> None:
    """Number and record a notice for each target not on record yet (in the caller's
    transaction, after ``uow.notices.lock()``). With ``public_url``, each gets a check code and
    its content the address of its check page (``verify_url``): part of what is hashed and
    rendered, so the PDF prints it as a QR code and a re-render is the same."""
    done = uow.notices.existing_targets(campaign_id, kind, lang)
    today = china_date(now)  # the document's date and its number's year are China's
    talked = _named_issues(done, lang) if kind == "warning_talk" else {}
    for t in found:
        key = f"{lang}:{t.key}"
        if key in done:
            continue
        if kind == "warning_talk":
            # A talk is owed for an issue that newly reached the step, not because another
            # issue of the business was closed meanwhile (the set shrank: a new key).
            seen = talked.setdefault(t.uscc or "", set())
            if set(t.issue_ids) <= seen:
                continue
            seen.update(t.issue_ids)
        seq = uow.notices.next_seq(office, kind, today.year)
        number = format_number(office_short, kind, today.year, seq)
        code = new_verify_code() if public_url else None
        content = {"kind": kind, "lang": lang, "number": number, "office": office,
                   "office_short": office_short, "issued_on": today.isoformat(),
                   "campaign": campaign,
                   "addressee": {"name": t.addressee, **({"uscc": t.uscc} if t.uscc else {})},
                   **t.body,
                   **({"verify_url": verify_url(public_url, code)}
                      if public_url and code else {})}
        sha = content_sha256(content)
        nid = uow.notices.add(campaign_id=campaign_id, kind=kind, lang=lang, office=office,
                              year=today.year, seq=seq, number=number, target=key,
                              addressee=t.addressee, uscc=t.uscc, content=content,
                              content_sha256=sha, at=now, verify_code=code)
        uow.events.append(at=now, actor=actor, kind="notice.recorded", entity=f"notice:{nid}",
                          payload={"number": number, "kind": kind, "lang": lang,
                                   "addressee": t.addressee, "content_sha256": sha,
                                   "issues": list(t.issue_ids)})
        done.add(key)


def record_notices(campaign_id: int, kind: str, lang: str, *, uow_factory: Callable[[], UnitOfWork],
                   clock: Clock, actor: str, public_url: str | None = None) -> list[int]:
    """Step 1: number and record the notices still to issue; returns every pending notice id of
    this campaign and kind (those recorded now and any left by an interrupted run). With
    ``public_url`` (where ``/verify/{code}`` is served) each new notice carries a QR code."""
    _check_kind_lang(kind, lang)
    now = clock.now()
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise NotFoundError(f"campaign {campaign_id} does not exist", f"督查{campaign_id}不存在")
        if c.status == "draft":
            raise ConflictError(f"campaign {campaign_id} has not been launched",
                                f"督查{campaign_id}尚未启动")
        uow.notices.lock()
        _record(uow, targets(uow, campaign_id, kind, china_date(now)), campaign_id=campaign_id,
                campaign={"id": c.id, "title": c.title}, office=c.office,
                office_short=c.office_short or c.office, kind=kind, lang=lang, now=now,
                actor=actor, public_url=public_url)
        uow.commit()
    with uow_factory() as read:
        return read.notices.pending(campaign_id, kind)


SUPERVISION_TITLE = {"zh": "包保督导", "en": "routine supervision by assigned officials"}


def supervision_targets(uow: UnitOfWork, *, office: str) -> list[Target]:
    """One rectification order per business for its open issues found in routine supervision
    (包保督导), key ``supervision:{uscc}:{issue ids}``."""
    by_business: dict[str, list[Any]] = {}
    for i in uow.issues.list(IssueQuery(source="supervision", statuses=("open",))):
        by_business.setdefault(i.uscc, []).append(i)
    out = []
    for uscc, items in sorted(by_business.items()):
        b = uow.registers.get_business(uscc)
        ids = tuple(sorted(i.id for i in items))
        body: dict[str, Any] = {"issues": [_issue_item(i) for i in sorted(items, key=lambda i: i.id)],
                                "contact": office, "source": "supervision"}
        if b is not None:
            body["addressee_address"] = b.address
        out.append(Target(f"supervision:{uscc}:{','.join(map(str, ids))}",
                          b.name if b else items[0].business_name, uscc, body, ids))
    return out


def record_supervision_orders(lang: str, *, office: str, office_short: str | None = None,
                              uow_factory: Callable[[], UnitOfWork], clock: Clock,
                              actor: str, public_url: str | None = None) -> list[int]:
    """Step 1 for the findings of routine supervision: number and record a rectification order
    (责令整改通知书) per business for its open supervision issues, in ``office``'s series; returns
    every pending one (those recorded now and any left by an interrupted run)."""
    _check_kind_lang("rectification_order", lang)
    if not office.strip():
        raise BadArgumentError("--office is empty: name the office that issues the orders",
                               "--office为空：请写明发文机关")
    now = clock.now()
    with uow_factory() as uow:
        uow.notices.lock()
        _record(uow, supervision_targets(uow, office=office.strip()), campaign_id=None,
                campaign={"id": None, "title": SUPERVISION_TITLE[lang]}, office=office.strip(),
                office_short=(office_short or office).strip(), kind="rectification_order",
                lang=lang, now=now, actor=actor, public_url=public_url)
        uow.commit()
    with uow_factory() as read:
        return read.notices.pending_without_campaign("rectification_order")


def store_issued(rendered: Sequence[tuple[int, bytes]], *, uow_factory: Callable[[], UnitOfWork],
                 clock: Clock, actor: str) -> int:
    """Step 2 for a chunk: keep each rendered PDF and mark its notice issued (idempotent: a notice
    issued already is left as it is). Rectification orders notify their open issues."""
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
                    issue = uow.issues.get(int(item["id"]), lock=True)
                    if issue is not None and issue.status is IssueStatus.OPEN:
                        issues_svc.apply(uow, issue, Action.NOTIFY, at=now, actor=actor,
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


# --- the public check page ----------------------------------------------------------------------

def mask_name(name: str) -> str:
    """An addressee's name as the public check page shows it: the first two and the last two
    characters, the rest as ``*`` (shorter names keep less: one at each end, or only the
    first), so that whoever holds the paper recognises it and nobody else learns it."""
    name = name.strip()
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1) if name else ""
    if len(name) <= 5:
        return name[0] + "*" * (len(name) - 2) + name[-1]
    return name[:2] + "*" * (len(name) - 4) + name[-2:]


@dataclass(frozen=True)
class PublicCheck:
    """What anyone holding a notice may learn from its QR code: nothing but whether it stands."""

    number: str
    office: str
    issued_on: date
    status: str  # valid | void
    voided_on: date | None
    addressee: str  # masked (mask_name); a USCC is never shown


def public_check(code: str, *, uow_factory: Callable[[], UnitOfWork]) -> PublicCheck | None:
    """The public facts of the issued (or since voided) notice with check code ``code`` (its
    date as printed on it); None for an unknown code and for a notice not issued yet (nobody
    can hold its paper)."""
    if not code:
        return None
    with uow_factory() as uow:
        n = uow.notices.by_verify_code(code)
    if n is None or n.status not in ("issued", "void") or n.issued_at is None:
        return None
    return PublicCheck(
        number=n.number, office=str(n.content.get("office", "")),
        issued_on=date.fromisoformat(str(n.content.get("issued_on") or
                                         china_date(n.issued_at).isoformat())[:10]),
        status="void" if n.status == "void" else "valid",
        voided_on=china_date(n.voided_at) if n.voided_at is not None else None,
        addressee=mask_name(n.addressee))
