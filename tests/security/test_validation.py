"""Text fields must hold a visible character, dates stay within range, and names are compared
as people read them.

Found: a description made only of ``\\u200b`` was accepted (the notice then printed
"发现的事实：。"); ``POST /supervision/visits`` accepted the date 0001-01-01; an interviewee's
name with a zero-width space after it made a second interview of the same person.
"""

from __future__ import annotations

from datetime import date

import pytest

from domain import fieldwork as fw
from domain import followups as fu
from domain import supervision as sv
from domain.checklists import default_checklists
from domain.errors import BadArgumentError, ConflictError
from domain.text import has_visible, key
from domain.visits import Answer
from tests.unit.lifecycle_fakes import World
from tests.unit.test_lifecycle_services import ACTOR, B1, CAL, MON, finding, world

INVISIBLE = ["", "   ", "\u200b", "\u200b\u200c\u200d\ufeff", "\u3000\u2060", "\n\t"]


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_text_is_refused_everywhere(text: str) -> None:
    assert not has_visible(text)
    w: World = world()
    with pytest.raises(BadArgumentError):
        fw.add_issue(1, provision=1, category="records", severity="general", description=text, evidence=[],
                     team=None, actor=ACTOR, uow_factory=w.uow, clock=MON, calendar=CAL,
                     categories=("records",))
    i = finding(w)
    with pytest.raises(BadArgumentError):
        fw.rectify(i, measures=text, evidence=[], actor=ACTOR, uow_factory=w.uow, clock=MON)
    with pytest.raises(BadArgumentError):
        fw.extend(i, workdays=3, reason=text, approver="李科长", actor=ACTOR, uow_factory=w.uow,
                  clock=MON, calendar=CAL)
    with pytest.raises(BadArgumentError):
        fu.record_check(i, outcome="verified", note=text, evidence=[], hard_measures=None,
                        fixed=None, mechanism=None, team=None, actor=ACTOR, uow_factory=w.uow,
                        clock=MON, calendar=CAL)
    for kw in ({"note": text}, {"note": "督导", "findings": [f"records:minor:{text or ' '}"]},
               {"note": "督导", "leads": [text]}):
        with pytest.raises(BadArgumentError):
            sv.record(cadre_id="T1", uscc=B1, uow_factory=w.uow, clock=MON, calendar=CAL,
                      actor=ACTOR, **kw)  # type: ignore[arg-type]
    assert [e.kind for e in w.events] == ["issue.registered"]  # nothing else was written


def test_a_supervision_date_outside_the_range_is_refused() -> None:
    w = world()
    with pytest.raises(BadArgumentError) as e:
        sv.record(cadre_id="T1", uscc=B1, note="督导", on=date(1, 1, 1), uow_factory=w.uow,
                  clock=MON, calendar=CAL, actor=ACTOR)
    assert e.value.code == "bad_date" and "0001-01-01" in e.value.en


def test_names_are_compared_as_people_read_them() -> None:
    assert key("张三\u200b") == key("张三") == key(" 张三 ") == "张三"
    assert key("ＡＢＣ") == "ABC" and key("王\u00a0 五") == "王 五"
    w = world()
    item = next(iter(default_checklists().for_role("owner"))).id
    common = dict(team=None, actor=ACTOR, uow_factory=w.uow, clock=MON,
                  checklists=default_checklists(), calendar=CAL)
    fw.record_interview(1, "owner", "张三", [Answer(item, "pass")], **common)  # type: ignore[arg-type]
    with pytest.raises(ConflictError) as e:
        fw.record_interview(1, "owner", "张三\u200b", [Answer(item, "pass")], **common)  # type: ignore[arg-type]
    assert e.value.code == "duplicate_interview"
