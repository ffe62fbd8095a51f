"""Evidence filenames are checked and never used as paths.

Found: an upload named ``..`` or ``a/..`` gave a 500 (IsADirectoryError) and one over 255 bytes a
500 (OSError). Through the API this is tested in tests/e2e/test_api_access.py
(``test_evidence_filenames_that_name_no_file_get_a_4xx``); here the rule itself.
"""

from __future__ import annotations

import pytest

from domain.errors import BadArgumentError
from domain.fieldwork import evidence_filename


@pytest.mark.parametrize("raw", ["", "  ", ".", "..", "a/..", "a\\..", "dir/", "x\x1b[2J.jpg",
                                 "\x00.jpg", "照" * 90 + ".jpg"])
def test_names_that_are_no_file_are_refused(raw: str) -> None:
    with pytest.raises(BadArgumentError) as e:
        evidence_filename(raw)
    assert e.value.code == "bad_filename" and e.value.en.startswith("file:")


@pytest.mark.parametrize(("raw", "kept"), [("现场照片.jpg", "现场照片.jpg"),
                                           ("../../etc/passwd", "passwd"),
                                           ("C:\\Users\\a\\整改.pdf", "整改.pdf"),
                                           ("照" * 80 + ".jpg", "照" * 80 + ".jpg")])
def test_a_path_keeps_only_its_last_part(raw: str, kept: str) -> None:
    assert evidence_filename(raw) == kept


def test_a_closed_issue_takes_no_more_evidence() -> None:
    from domain import fieldwork as fw
    from domain import issues
    from domain.errors import ConflictError
    from domain.issues import Action
    from tests.unit.test_lifecycle_services import ACTOR, MON, finding, world

    w = world()
    i = finding(w)
    fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow, clock=MON)
    issues.transition(i, Action.VERIFY, actor=ACTOR, uow_factory=w.uow, clock=MON)
    before = list(w.events)
    with pytest.raises(ConflictError) as e:
        fw.attach_evidence(i, fw.EvidenceRef("0" * 64, 10, "late.jpg"), purpose="rectification",
                           actor=ACTOR, uow_factory=w.uow, clock=MON)
    assert e.value.code == "issue_closed" and w.events == before and w.evidence == {}
