"""Recording interviews in bulk (and one at a time: the CLI records a batch of one).

Rows are answers: (visit, role, name, item, result, note[, team]). The rows of one interview —
same visit, role and name — are stored together or not at all: if any of them is refused, every
row of that interview is reported (the others with the line that sank them). The whole file is one
transaction, so a crash stores nothing and a rerun starts clean. Accounting:
``read = stored + rejected``. Failed items register issues, once per campaign, business and item;
each interview and each issue writes one event.

Set-based on purpose: visits, existing interviews and issues are looked up once per file, ids are
reserved in blocks and rows written with executemany, so a team's export of 100,000 answers
is a few queries, not a few per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from domain import issues
from domain.checklists import Checklists
from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError, InputError, LookbackError, NotFoundError
from domain.issues import IssueRules, NewIssue
from domain.ports import ProblemSink
from domain.registers import Problem
from domain.text import has_visible, key, refuse_controls
from domain.visits import (
    Answer,
    FieldworkUnitOfWork,
    Visit,
    check_writable,
    normalise_result,
)
from domain.vocabulary import ROLES
from domain.workdays import CachedCalendar, DueDate, HolidaySource, add_workdays

COLUMNS = {
    "visit_id": ("visit_id", "visit", "检查任务", "任务编号"),
    "role": ("role", "角色", "受访角色"),
    "name": ("name", "姓名", "受访人"),
    "item_id": ("item_id", "item", "检查项", "检查项编号"),
    "result": ("result", "结果", "检查结果"),
    "note": ("note", "备注", "说明"),
    "team": ("team", "组", "督查组"),
}
REQUIRED = ("visit_id", "role", "name", "item_id", "result")


def map_columns(headers: list[str]) -> tuple[dict[int, str], list[str]]:
    lookup = {h.strip().lower(): f for f, hs in COLUMNS.items() for h in hs}
    mapping: dict[int, str] = {}
    for pos, h in enumerate(headers):
        f = lookup.get(str(h or "").strip().lstrip("\ufeff").lower())
        if f and f not in mapping.values():
            mapping[pos] = f
    missing = [f for f in REQUIRED if f not in mapping.values()]
    return mapping, missing


@dataclass
class FieldworkSummary:
    read: int = 0
    stored: int = 0
    rejected: int = 0
    interviews: int = 0
    issues: int = 0
    interview_ids: list[int] = field(default_factory=list)
    issue_ids: list[int] = field(default_factory=list)
    existing_issue_ids: list[int] = field(default_factory=list)
    first_problems: list[Problem] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    visit_id: int | None
    role: str
    name: str
    team: int | None
    answer: Answer | None
    problems: list[tuple[str, str, str, str]]  # column, value, en, zh


def _int(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    text = str(raw or "").strip()
    if not text.isdigit():
        return None
    try:
        return int(text)  # "①" and "²" are digits to str.isdigit, not to int()
    except ValueError:
        return None


def parse_row(line: int, raw: Mapping[str, object], checklists: Checklists) -> _Row:
    """One answer row, with every problem it has."""
    problems: list[tuple[str, str, str, str]] = []
    visit_id = _int(raw.get("visit_id"))
    if visit_id is None:
        problems.append(("visit_id", str(raw.get("visit_id") or ""), "expected a visit number",
                         "应为检查任务编号"))
    role = str(raw.get("role") or "").strip().lower()
    if role not in ROLES:
        problems.append(("role", role, f"expected one of {', '.join(ROLES)}",
                         f"应为{'、'.join(ROLES)}之一"))
    name = key(str(raw.get("name") or ""))  # 张三 and 张三\u200b are one interviewee
    if not name or len(name) > 50:
        problems.append(("name", name, "the interviewee's name is empty or too long",
                         "受访人姓名为空或过长"))
    team_raw = raw.get("team")
    team = _int(team_raw) if team_raw not in (None, "") else None
    if team_raw not in (None, "") and team is None:
        problems.append(("team", str(team_raw), "expected a team number", "应为督查组编号"))
    item_id = str(raw.get("item_id") or "").strip().upper()
    item = checklists.get(item_id)
    if item is None:
        problems.append(("item_id", item_id, "no such checklist item", "没有该检查项"))
    elif role in ROLES and role not in item.roles:
        problems.append(("item_id", item_id, f"this item is not asked of the {role} (asked of: "
                         f"{', '.join(item.roles)})", f"该项不适用于{role}"))
    result_raw = str(raw.get("result") or "").strip()
    result = normalise_result(result_raw)
    if result is None:
        problems.append(("result", result_raw, "expected pass, fail or na",
                         "应为pass（合格）、fail（不合格）或na（不适用）"))
    note = str(raw.get("note") or "").strip()
    if len(note) > 1000:
        problems.append(("note", note[:40], "longer than 1000 characters", "超过1000字"))
    answer = Answer(item_id, result, note) if result and item else None
    return _Row(line, visit_id, role, name, team, answer, problems)


@dataclass
class _Interview:
    key: tuple[int, str, str]
    rows: list[_Row]


def record_batch(rows: Iterable[tuple[int, Mapping[str, object]]], *,
                 uow_factory: Callable[[], FieldworkUnitOfWork], clock: Clock,
                 checklists: Checklists,
                 calendar: HolidaySource, sink: ProblemSink, actor: str,
                 raise_first: bool = False) -> FieldworkSummary:
    """Record every interview in ``rows`` in one transaction (see the module docstring).

    With ``raise_first`` (one interview from the CLI) the first refusal is raised as the domain
    error instead of being reported.
    """
    summary = FieldworkSummary()
    calendar = CachedCalendar(calendar)  # thousands of due dates, one look-up per year
    groups: dict[tuple[int, str, str], _Interview] = {}
    bad_rows: list[_Row] = []
    for line, raw in rows:
        summary.read += 1
        r = parse_row(line, raw, checklists)
        if r.visit_id is None or r.role not in ROLES or not r.name:
            bad_rows.append(r)
            continue
        key = (r.visit_id, r.role, r.name)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Interview(key, [])
        group.rows.append(r)

    def reject(r: _Row, column: str, value: str, en: str, zh: str) -> None:
        p = Problem(r.line, column, value, en, zh)
        sink.add(p)
        summary.rejected += 1
        if len(summary.first_problems) < 20:
            summary.first_problems.append(p)

    for r in bad_rows:
        for col, val, en, zh in r.problems[:1] or [("", "", "refused", "被拒绝")]:
            reject(r, col, val, en, zh)
        for col, val, en, zh in r.problems[1:]:
            sink.add(Problem(r.line, col, val, en, zh))

    now = clock.now()
    today = china_date(now)
    with uow_factory() as uow:
        fwr = uow.fieldwork
        visits = fwr.visits_by_ids(sorted({k[0] for k in groups}))
        existing = fwr.existing_interviews(sorted(visits))
        issues_seen = fwr.existing_issues(sorted({(v.campaign_id, v.uscc)
                                                  for v in visits.values()}))
        rules: dict[int, IssueRules] = {}
        to_store: list[tuple[_Interview, Visit]] = []
        for g in sorted(groups.values(), key=lambda g: g.rows[0].line):
            refusal = _refusal(g, visits, existing)
            if refusal is not None:
                if raise_first:
                    raise refusal
                first_bad = next((r for r in g.rows if r.problems), None)
                for r in g.rows:
                    if r.problems:
                        col, val, en, zh = r.problems[0]
                        reject(r, col, val, en, zh)
                    elif first_bad is not None:
                        reject(r, "", "", f"the whole interview is refused because line "
                               f"{first_bad.line} has a problem", f"因第{first_bad.line}行有误，整次谈话未保存")
                    else:
                        reject(r, "visit_id", str(g.key[0]), refusal.en, refusal.zh)
                continue
            to_store.append((g, visits[g.key[0]]))
        interview_ids = fwr.reserve_ids("interview", len(to_store))
        interviews, answers, events = [], [], []
        new_issues: list[NewIssue] = []
        joined: list[int] = []  # indexes into new_issues of issues later answers failed again
        for (g, v), iid in zip(to_store, interview_ids, strict=True):
            ans = [r.answer for r in g.rows if r.answer is not None]
            interviews.append((iid, v.id, g.key[1], g.key[2], now, actor))
            answers += [(iid, a.item_id, a.result, a.note) for a in ans]
            failed = [a for a in ans if a.result == "fail"]
            events.append(("interview.recorded", f"interview:{iid}",
                           {"visit": v.id, "uscc": v.uscc, "role": g.key[1], "name": g.key[2],
                            "answers": len(ans), "failed": [a.item_id for a in failed]}))
            summary.stored += len(g.rows)
            summary.interviews += 1
            summary.interview_ids.append(iid)
            for a in failed:
                item = checklists.get(a.item_id)
                assert item is not None
                k = (v.campaign_id, v.uscc, item.id)
                if k in issues_seen:
                    if issues_seen[k] > 0:
                        summary.existing_issue_ids.append(issues_seen[k])
                    else:  # registered earlier in this file: its id is known once stored
                        joined.append(-issues_seen[k] - 1)
                    continue
                rule = rules.get(v.campaign_id)
                if rule is None:
                    rule = rules[v.campaign_id] = uow.issues.rules(v.campaign_id)
                days = rule.days_for(item.severity)
                due: DueDate = add_workdays(today, days, calendar)
                desc = item.question_zh + (f"（{a.note}）" if a.note else "")
                new_issues.append(NewIssue(v.campaign_id, v.id, v.uscc, item.id, item.category,
                                           item.severity, desc, item.legal_basis_zh, today, days,
                                           due, team_no=v.team_no))
                issues_seen[k] = -len(new_issues)  # -(index + 1): once per business and item, even within this file
        fwr.insert_interviews(interviews)
        fwr.insert_answers(answers)
        uow.events.append_many([(now, actor, kind, entity, payload)
                                for kind, entity, payload in events])
        issue_ids = issues.register(uow, new_issues, at=now, actor=actor, calendar=calendar,
                                    payloads=[{"item": ni.item_id, "from": "checklist"}
                                              for ni in new_issues])
        summary.issue_ids += issue_ids
        summary.issues = len(issue_ids)
        summary.existing_issue_ids += [issue_ids[n] for n in joined]
        uow.commit()
    sink.close()
    return summary


def _refusal(g: _Interview, visits: dict[int, Visit],
             existing: set[tuple[int, str, str]]) -> LookbackError | None:
    if any(r.problems for r in g.rows):
        bad = next(r for r in g.rows if r.problems)
        col, val, en, zh = bad.problems[0]
        return InputError(f"line {bad.line}: {col} {val!r}: {en}", f"第{bad.line}行：{col}“{val}”：{zh}",
                          code="bad_answers")
    visit_id, role, name = g.key
    v = visits.get(visit_id)
    if v is None:
        return NotFoundError(f"visit {visit_id} does not exist", f"检查任务{visit_id}不存在")
    teams = {r.team for r in g.rows if r.team is not None}
    try:
        check_writable(v, None)
        for t in teams:
            check_writable(v, t)
    except LookbackError as e:
        return e
    if g.key in existing:
        return ConflictError(f"the {role} {name} of visit {visit_id} is already recorded",
                             f"检查任务{visit_id}的{role}{name}已记录", code="duplicate_interview")
    seen: set[str] = set()
    for r in g.rows:
        assert r.answer is not None
        if r.answer.item_id in seen:
            return InputError(f"line {r.line}: item {r.answer.item_id} answered twice in one "
                              "interview", f"第{r.line}行：同一次谈话中检查项{r.answer.item_id}重复作答",
                              code="bad_answers")
        seen.add(r.answer.item_id)
    return None


def as_rows(answers: list[Answer], visit_id: int, role: str, name: str,
            team: int | None) -> list[tuple[int, dict[str, object]]]:
    """One interview's answers as import rows (the CLI records through the same path)."""
    return [(i + 1, {"visit_id": visit_id, "role": role, "name": name, "item_id": a.item_id,
                     "result": a.result, "note": a.note, "team": team})
            for i, a in enumerate(answers)]



def record_interview(visit_id: int, role: str, name: str, answers: Sequence[Answer], *,
                     team: int | None, actor: str, uow_factory: Callable[[], FieldworkUnitOfWork],
                     clock: Clock, checklists: Checklists,
                     calendar: HolidaySource) -> InterviewOutcome:
    """Record one interview with its answers, through the bulk path as a batch of one.

    Every mistake in the answers is reported at once, checked by the same :func:`parse_row`
    the bulk import uses (so both accept and refuse exactly the same answers).
    """
    refuse_controls(name, "--name")
    if not has_visible(name):
        raise BadArgumentError("--name: the interviewee's name is empty", "--name：受访人姓名为空")
    rows = as_rows(list(answers), visit_id, role, name, team)
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for line, raw in rows:
        r = parse_row(line, raw, checklists)
        where = str(raw["item_id"]) or f"#{line}"
        for col, val, en, zh in r.problems:
            if col == "item_id":
                problems.append((val or where, en, zh))
            elif col in ("result", "note"):
                problems.append((where, f"{col} {val!r}: {en}", f"{col}“{val}”：{zh}"))
            else:
                problems.append((col, f"{val!r}: {en}", f"“{val}”：{zh}"))
        if r.answer is not None:
            if r.answer.item_id in seen:
                problems.append((where, "answered twice", "重复作答"))
            seen.add(r.answer.item_id)
    if not rows:
        problems.append(("answers", "no answers given", "没有作答"))
    if problems:
        unique = list(dict.fromkeys(problems))
        raise InputError(
            "the answers have mistakes:\n" + "\n".join(f"  {w}: {en}" for w, en, _ in unique),
            "作答有误：\n" + "\n".join(f"  {w}：{zh}" for w, _, zh in unique),
            code="bad_answers")

    class _Raise:
        def add(self, problem: Problem) -> None:  # pragma: no cover - raise_first raises before
            raise InputError(problem.en, problem.zh)

        def close(self) -> None:
            pass

    s = record_batch(rows, uow_factory=uow_factory, clock=clock, checklists=checklists,
                     calendar=calendar, sink=_Raise(), actor=actor, raise_first=True)
    parsed = [parse_row(line, raw, checklists).answer for line, raw in rows]
    failed = sum(1 for a in parsed if a is not None and a.result == "fail")
    return InterviewOutcome(s.interview_ids[0], len(rows), failed, s.issue_ids,
                            s.existing_issue_ids)


@dataclass
class InterviewOutcome:
    interview_id: int
    answers: int
    failed: int
    issues_registered: list[int] = field(default_factory=list)
    issues_existing: list[int] = field(default_factory=list)
