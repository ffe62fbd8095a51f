"""An in-memory world for the issue, fieldwork, follow-up, supervision and notice services.

``World`` holds the committed state. A ``FakeUow`` works on a deep copy taken when it is entered:
its own writes are visible to itself at once, ``commit()`` publishes the copy, and leaving the
``with`` block without committing discards it — the transaction semantics the SQL unit of work
has. The repositories follow their SQL counterparts' rules (a claim takes only pending rows
that are due; ``save`` refuses a stale version; ``record`` needs an open look-back; …) so that the
services can be tested in milliseconds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

from domain.errors import ConflictError
from domain.events import GENESIS, Event, make_event
from domain.followup_plan import NewFollowUp
from domain.followups import Claimed, FollowUp
from domain.issues import Issue, IssueQuery, IssueRules, IssueStatus, NewIssue
from domain.notices import Notice
from domain.registers import Business, Cadre
from domain.supervision import Period, SupervisionVisit
from domain.visits import Evidence, EvidenceRef, Visit


@dataclass
class World:
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)
    businesses: dict[str, Business] = field(default_factory=dict)
    cadres: dict[str, Cadre] = field(default_factory=dict)
    assignments: set[tuple[str, str]] = field(default_factory=set)
    visits: dict[int, Visit] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    followups: dict[int, FollowUp] = field(default_factory=dict)
    interviews: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    answers: list[tuple[int, str, str, str]] = field(default_factory=list)
    rectifications: list[tuple[int, str]] = field(default_factory=list)
    extensions: list[tuple[int, int]] = field(default_factory=list)
    evidence: dict[int, list[Evidence]] = field(default_factory=dict)
    referrals: dict[int, dict[str, Any]] = field(default_factory=dict)
    supervision: dict[int, SupervisionVisit] = field(default_factory=dict)
    notices: dict[int, Notice] = field(default_factory=dict)
    notice_targets: dict[int, str] = field(default_factory=dict)
    counters: dict[tuple[str, str, int], int] = field(default_factory=dict)
    pdfs: dict[str, bytes] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    commits: int = 0

    def uow(self) -> FakeUow:
        return FakeUow(self)

    def kinds(self, entity: str | None = None) -> list[str]:
        return [e.kind for e in self.events if entity is None or e.entity == entity]


def _next(d: dict[int, Any]) -> int:
    return max(d, default=0) + 1


class _Repo:
    def __init__(self, uow: FakeUow) -> None:
        self.uow = uow

    @property
    def w(self) -> World:
        return self.uow.state


class FakeIssues(_Repo):
    def get(self, issue_id: int, *, lock: bool = False) -> Issue | None:
        i = self.w.issues.get(issue_id)
        return replace(i) if i else None

    def add(self, issues: Sequence[NewIssue], at: datetime) -> list[int]:
        ids = []
        for ni in issues:
            n = _next(self.w.issues)
            b = self.w.businesses.get(ni.uscc)
            self.w.issues[n] = Issue(
                id=n, campaign_id=ni.campaign_id, visit_id=ni.visit_id, uscc=ni.uscc,
                item_id=ni.item_id, category=ni.category, severity=ni.severity,
                description=ni.description, legal_basis=ni.legal_basis,
                status=IssueStatus.OPEN, found_on=ni.found_on, rect_workdays=ni.rect_workdays,
                due_on=ni.due.date, due_provisional=ni.due.provisional, escalation=0, version=1,
                business_name=b.name if b else "", province_code=b.province_code if b else "",
                due_basis=ni.due.start, due_workdays=ni.due.workdays,
                supervision_visit_id=ni.supervision_visit_id, team_no=ni.team_no)
            ids.append(n)
        return ids

    def save(self, issue: Issue, *, expected_version: int, at: datetime) -> None:
        stored = self.w.issues[issue.id]
        if stored.version != expected_version:
            raise ConflictError(f"issue {issue.id} was changed meanwhile", "已被他人修改",
                                code="stale_version")
        self.w.issues[issue.id] = replace(issue, version=expected_version + 1)

    def list(self, query: IssueQuery) -> list[Issue]:
        q, out = query, []
        for i in sorted(self.w.issues.values(), key=lambda i: i.id):
            if ((q.campaign_id is not None and i.campaign_id != q.campaign_id)
                    or (q.source is not None and i.source != q.source)
                    or (q.statuses and i.status.value not in q.statuses)
                    or (q.due_before is not None and not i.due_on < q.due_before)
                    or (q.uscc is not None and i.uscc != q.uscc)
                    or (q.ids is not None and i.id not in q.ids)
                    or (q.provisional is not None and i.due_provisional != q.provisional)
                    or (q.overdue_on is not None and not (
                        i.status is IssueStatus.OVERDUE
                        or (i.status in (IssueStatus.OPEN, IssueStatus.NOTIFIED)
                            and i.due_on < q.overdue_on)))):
                continue
            out.append(replace(i))
        return out[: q.limit] if q.limit is not None else out

    def rules(self, campaign_id: int | None) -> IssueRules:
        if campaign_id is None:
            return IssueRules()
        return IssueRules.from_plan(self.w.plans.get(campaign_id, {}))


class FakeFollowUps(_Repo):
    def revisions(self, issue_ids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for f in self.w.followups.values():
            if f.issue_id in issue_ids:
                out[f.issue_id] = max(out.get(f.issue_id, 0), f.revision)
        return out

    def add_many(self, rows: Sequence[NewFollowUp], at: datetime) -> int:
        taken = {(f.issue_id, f.kind, f.revision) for f in self.w.followups.values()}
        for r in rows:
            if (r.issue_id, r.kind, r.revision) in taken:
                continue  # unique on issue, kind and revision (ON CONFLICT DO NOTHING)
            n = _next(self.w.followups)
            self.w.followups[n] = FollowUp(n, r.issue_id, r.kind, r.revision, r.due_on, r.due_at,
                                           "pending", r.team_no)
        return len(rows)

    def _set(self, ids: Iterable[int], **changes: Any) -> None:
        for i in ids:
            self.w.followups[i] = replace(self.w.followups[i], **changes)

    def cancel_pending(self, issue_ids: Sequence[int]) -> list[int]:
        ids = [f.id for f in self.w.followups.values()
               if f.issue_id in issue_ids and f.status == "pending"]
        self._set(ids, status="cancelled", outcome="superseded")
        return ids

    def cancel_open(self, issue_id: int, *, at: datetime) -> list[int]:
        ids = [f.id for f in self.w.followups.values()
               if f.issue_id == issue_id and f.status == "open"]
        self._set(ids, status="cancelled", outcome="superseded", recorded_at=at)
        return ids

    def due_ids(self, now: int, limit: int) -> list[int]:
        due = sorted((f.due_at, f.id) for f in self.w.followups.values()
                     if f.status == "pending" and f.due_at <= now)
        return [i for _, i in due[:limit]]

    def claim(self, ids: Sequence[int], now: int) -> list[Claimed]:
        out = []
        for i in sorted(ids):
            f = self.w.followups.get(i)
            if f is None or f.status != "pending" or f.due_at > now:
                continue
            self._set([i], status="running")
            issue = self.w.issues[f.issue_id]
            out.append(Claimed(f.id, f.issue_id, f.kind, f.revision, f.team_no,
                               issue.status.value, issue.uscc, issue.due_on))
        return out

    def finish(self, rows: Sequence[tuple[int, str]], at: datetime, worker: str) -> None:
        for i, status in rows:
            if self.w.followups[i].status == "running":
                self._set([i], status=status, fired_at=at)

    def open_review(self, issue_id: int) -> FollowUp | None:
        found = [f for f in self.w.followups.values()
                 if f.issue_id == issue_id and f.kind == "review" and f.status == "open"]
        return max(found, key=lambda f: f.revision) if found else None

    def get(self, followup_id: int) -> FollowUp | None:
        return self.w.followups.get(followup_id)

    def of_issue(self, issue_id: int) -> list[FollowUp]:
        return sorted((f for f in self.w.followups.values() if f.issue_id == issue_id),
                      key=lambda f: (f.revision, f.kind, f.id))

    def record(self, followup_id: int, *, outcome: str, hard: bool, fixed: bool, mechanism: bool,
               note: str, at: datetime, actor: str, escalation_after: int) -> None:
        if self.w.followups[followup_id].status != "open":
            raise ConflictError("the look-back was recorded meanwhile", "复查已被他人记录")
        self._set([followup_id], status="recorded", outcome=outcome, hard_measures=hard,
                  fixed=fixed, mechanism=mechanism, note=note, recorded_at=at, recorded_by=actor,
                  escalation_after=escalation_after)

    def add_referral(self, *, source: str, issue_id: int | None, supervision_visit_id: int | None,
                     uscc: str, description: str, on: date, actor: str) -> int:
        n = _next(self.w.referrals)
        self.w.referrals[n] = {"id": n, "source": source, "issue_id": issue_id,
                               "supervision_visit_id": supervision_visit_id, "uscc": uscc,
                               "referred_on": on.isoformat(), "case_status": "referred",
                               "case_number": "", "case_on": None}
        return n

    def referral_of(self, issue_id: int) -> dict[str, Any] | None:
        return next((r for r in self.w.referrals.values() if r["issue_id"] == issue_id), None)

    def set_case(self, referral_id: int, *, status: str, number: str, on: date) -> None:
        self.w.referrals[referral_id].update(case_status=status, case_number=number,
                                             case_on=on.isoformat())


class FakeFieldwork(_Repo):
    def get_visit(self, visit_id: int) -> Visit | None:
        return self.w.visits.get(visit_id)

    def visits_by_ids(self, ids: Sequence[int]) -> dict[int, Visit]:
        return {i: self.w.visits[i] for i in ids if i in self.w.visits}

    def complete_visit(self, visit_id: int, visited_on: date, at: datetime) -> None:
        self.w.visits[visit_id] = replace(self.w.visits[visit_id], status="done",
                                          visited_on=visited_on)

    def existing_interviews(self, visit_ids: Sequence[int]) -> set[tuple[int, str, str]]:
        return {k for k in self.w.interviews.values() if k[0] in visit_ids}

    def existing_issues(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str, str], int]:
        wanted = set(keys)
        return {(i.campaign_id, i.uscc, i.item_id): i.id for i in self.w.issues.values()
                if i.item_id and i.campaign_id is not None and (i.campaign_id, i.uscc) in wanted}

    def reserve_ids(self, table: str, n: int) -> list[int]:
        top = max(self.w.interviews, default=0)
        return list(range(top + 1, top + n + 1))

    def insert_interviews(self, rows: Sequence[tuple[int, int, str, str, datetime, str]]) -> None:
        for iid, visit, role, name, _at, _by in rows:
            self.w.interviews[iid] = (visit, role, name)

    def insert_answers(self, rows: Sequence[tuple[int, str, str, str]]) -> None:
        self.w.answers += list(rows)

    def add_rectification(self, issue_id: int, measures: str, at: datetime, actor: str) -> int:
        self.w.rectifications.append((issue_id, measures))
        return len(self.w.rectifications)

    def add_extension(self, issue_id: int, workdays: int, reason: str, approver: str,
                      old_due: date, new_due: date, provisional: bool, at: datetime) -> int:
        self.w.extensions.append((issue_id, workdays))
        return len(self.w.extensions)

    def extensions(self, issue_id: int) -> list[int]:
        return [d for i, d in self.w.extensions if i == issue_id]

    def add_evidence(self, issue_id: int, ref: EvidenceRef, purpose: str, at: datetime,
                     actor: str) -> None:
        held = self.w.evidence.setdefault(issue_id, [])
        if all(e.sha256 != ref.sha256 for e in held):
            held.append(Evidence(ref.sha256, ref.filename, ref.size, purpose, actor, at))

    def evidence_of(self, issue_id: int) -> list[Evidence]:
        return list(self.w.evidence.get(issue_id, []))


class FakeEvents(_Repo):
    def append(self, *, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> Event:
        last = self.w.events[-1] if self.w.events else None
        e = make_event(last.seq + 1 if last else 1, last.hash if last else GENESIS, at, actor,
                       kind, entity, payload)
        self.w.events.append(e)
        return e

    def append_many(self, items: Sequence[tuple[datetime, str, str, str, dict[str, Any]]]
                    ) -> list[Event]:
        return [self.append(at=a, actor=b, kind=k, entity=e, payload=p) for a, b, k, e, p in items]

    def all(self) -> list[Event]:
        return list(self.w.events)

    def for_entity(self, entity: str) -> list[Event]:
        return [e for e in self.w.events if e.entity == entity]


class FakeRegisters(_Repo):
    def get_business(self, code: str) -> Business | None:
        return self.w.businesses.get(code)

    def get_cadre(self, cadre_id: str) -> Cadre | None:
        return self.w.cadres.get(cadre_id)


class FakeSupervision(_Repo):
    def is_assigned(self, cadre_id: str, uscc: str) -> bool:
        return (cadre_id, uscc) in self.w.assignments

    def covering(self, cadre_id: str, uscc: str, on: date) -> SupervisionVisit | None:
        return next((v for v in self.w.supervision.values() if v.cadre_id == cadre_id
                     and v.uscc == uscc and v.period_start <= on <= v.period_end), None)

    def get(self, cadre_id: str, uscc: str, period: str) -> SupervisionVisit | None:
        return next((v for v in self.w.supervision.values() if
                     (v.cadre_id, v.uscc, v.period) == (cadre_id, uscc, period)), None)

    def by_id(self, visit_id: int) -> SupervisionVisit | None:
        return self.w.supervision.get(visit_id)

    def open_one(self, cadre_id: str, uscc: str, level: str, period: Period,
                 at: datetime) -> int:
        n = _next(self.w.supervision)
        cadre, b = self.w.cadres[cadre_id], self.w.businesses[uscc]
        self.w.supervision[n] = SupervisionVisit(n, cadre_id, cadre.name, uscc, b.name,
                                                 b.province_code, level, period.code,
                                                 period.start, period.end, "open", at)
        return n

    def mark_done(self, visit_id: int, *, done_on: date, note: str, actor: str,
                  at: datetime) -> bool:
        v = self.w.supervision[visit_id]
        if v.status != "open":
            return False
        self.w.supervision[visit_id] = replace(v, status="done", done_on=done_on, note=note,
                                               recorded_by=actor)
        return True

    def add_referrals(self, visit_id: int, uscc: str, descriptions: Sequence[str], *,
                      on: date, actor: str) -> list[int]:
        ids = []
        for d in descriptions:
            n = _next(self.w.referrals)
            self.w.referrals[n] = {"id": n, "source": "supervision", "issue_id": None,
                                   "supervision_visit_id": visit_id, "uscc": uscc,
                                   "description": d, "case_status": "referred"}
            ids.append(n)
        return ids


class FakeNotices(_Repo):
    def lock(self) -> None:
        pass

    def next_seq(self, office: str, kind: str, year: int) -> int:
        key = (office, kind, year)
        self.w.counters[key] = self.w.counters.get(key, 0) + 1
        return self.w.counters[key]

    def existing_targets(self, campaign_id: int | None, kind: str, lang: str) -> set[str]:
        return {self.w.notice_targets[n.id] for n in self.w.notices.values()
                if n.campaign_id == campaign_id and n.kind == kind and n.lang == lang
                and n.status != "void"}

    def add(self, *, campaign_id: int | None, kind: str, lang: str, office: str, year: int,
            seq: int, number: str, target: str, addressee: str, uscc: str | None,
            content: dict[str, Any], content_sha256: str, at: datetime,
            verify_code: str | None = None) -> int:
        n = _next(self.w.notices)
        self.w.notices[n] = Notice(n, campaign_id, kind, lang, number, addressee, uscc,
                                   "pending", content, content_sha256, None, None, at, None,
                                   None, "", verify_code)
        self.w.notice_targets[n] = target
        return n

    def get(self, notice_id: int) -> Notice | None:
        return self.w.notices.get(notice_id)

    def pending(self, campaign_id: int | None, kind: str | None) -> list[int]:
        return [n.id for n in self.w.notices.values() if n.status == "pending"
                and (campaign_id is None or n.campaign_id == campaign_id)
                and (kind is None or n.kind == kind)]

    def pending_without_campaign(self, kind: str) -> list[int]:
        return [n.id for n in self.w.notices.values()
                if n.status == "pending" and n.campaign_id is None and n.kind == kind]

    def statuses(self, ids: Sequence[int]) -> dict[int, str]:
        return {i: self.w.notices[i].status for i in ids if i in self.w.notices}

    def status_counts(self, campaign_id: int | None, kind: str | None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.w.notices.values():
            if n.campaign_id == campaign_id and (kind is None or n.kind == kind):
                counts[n.status] = counts.get(n.status, 0) + 1
        return counts

    def mark_issued(self, notice_id: int, pdf: bytes, pdf_sha256: str, at: datetime) -> bool:
        n = self.w.notices[notice_id]
        if n.status != "pending":
            return False
        self.w.notices[notice_id] = replace(n, status="issued", pdf_sha256=pdf_sha256,
                                            pdf_size=len(pdf), issued_at=at)
        self.w.pdfs[pdf_sha256] = pdf
        return True


class FakeUow:
    """One transaction on a ``World``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.state = world
        self.issues = FakeIssues(self)
        self.followups = FakeFollowUps(self)
        self.fieldwork = FakeFieldwork(self)
        self.events = FakeEvents(self)
        self.registers = FakeRegisters(self)
        self.supervision = FakeSupervision(self)
        self.notices = FakeNotices(self)

    def __enter__(self) -> Self:
        self.state = copy.deepcopy(self.world)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.state = self.world

    def commit(self) -> None:
        self.state.commits += 1
        self.world.__dict__.update(copy.deepcopy(self.state).__dict__)

    def rollback(self) -> None:
        self.state = copy.deepcopy(self.world)
