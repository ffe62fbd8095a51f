"""A free-form finding names the provision it breaches.

Found: free-form issues printed "检查项None" and an empty legal basis ("违反的规定：上述行为不符合的
规定。") in the rectification order. Now a free-form finding must give a legal basis, chosen from
its category's provisions or written out naming the law in 《》, and a notice prints neither a
missing checklist item nor an empty basis.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.checklists import default_checklists
from domain.errors import BadArgumentError
from domain.fieldwork import legal_basis_for
from report_templates import render
from report_templates.samples import sample
from tests.e2e.test_api_access import Api, api, fx, is_problem, launched

__all__ = ["api", "fx", "launched"]

CL = default_checklists()


def _refused(**kw: Any) -> BadArgumentError:
    with pytest.raises(BadArgumentError) as e:
        legal_basis_for("records", checklists=CL, **{"provision": None, "legal_basis": None,
                                                     **kw})
    assert e.value.code == "bad_legal_basis"
    return e.value


def test_every_category_offers_provisions_that_name_a_law() -> None:
    from domain.vocabulary import CATEGORIES

    for category in CATEGORIES:
        found = CL.provisions(category)
        assert found, category
        assert len({p.basis_zh for p in found}) == len(found)
        assert all("《" in p.basis_zh and p.basis_en for p in found)


def test_a_finding_without_a_basis_is_refused_and_told_the_choices() -> None:
    e = _refused()
    first = CL.provisions("records")[0].basis_zh
    assert "--provision" in e.en and "--legal-basis" in e.en and f"1. {first}" in e.en
    assert "--provision" in e.zh
    assert "not both" in _refused(provision=1, legal_basis="《中华人民共和国食品安全法》").en
    n = len(CL.provisions("records"))
    assert f"--provision: {n + 1}" in _refused(provision=n + 1).en
    assert "--provision: 0" in _refused(provision=0).en
    assert "《》" in _refused(legal_basis="食品安全法第三十四条").en
    assert "--legal-basis" in _refused(legal_basis="\u200b ").en
    assert "500" in _refused(legal_basis="《食品安全法》" + "条" * 500).en


def test_a_chosen_or_given_basis_is_what_the_issue_keeps() -> None:
    chosen = CL.provisions("hygiene_storage")[1].basis_zh
    assert legal_basis_for("hygiene_storage", provision=2, legal_basis=None,
                           checklists=CL) == chosen
    given = " 《中华人民共和国食品安全法》第三十四条第（十）项 "
    assert legal_basis_for("records", provision=None, legal_basis=given,
                           checklists=CL) == given.strip()


def test_the_api_refuses_a_finding_without_a_basis_and_stores_nothing(api: Api) -> None:
    va = api.fx.visit_a["id"]
    body = {"category": "records", "severity": "minor", "description": "台账缺页"}
    before = (api.count("issue"), api.count("event"))
    r = api.call("auditor_a", "POST", f"/visits/{va}/issues", json=body)
    assert "--provision" in is_problem(r, 400, "bad_legal_basis")["detail_en"]
    assert (api.count("issue"), api.count("event")) == before

    listed = api.call("auditor_a", "GET", "/provisions", params={"category": "records"})
    assert listed.status_code == 200, listed.text
    second = listed.json()["items"][1]
    assert second["provision"] == 2 and second["legal_basis"] == \
        CL.provisions("records")[1].basis_zh
    made = api.call("auditor_a", "POST", f"/visits/{va}/issues", json={**body, "provision": 2})
    assert made.status_code == 201, made.text
    assert made.json()["legal_basis"] == second["legal_basis"]
    is_problem(api.call("auditor_a", "GET", "/provisions", params={"category": "food"}), 400)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_notice_prints_no_missing_item_and_no_empty_basis(lang: str) -> None:
    content = copy.deepcopy(sample("rectification_order", lang))
    free = content["issues"][0]
    free.update(item_id=None, legal_basis="《中华人民共和国食品安全法》第三十四条")
    bare = {**copy.deepcopy(free), "id": free["id"] + 1000, "legal_basis": ""}
    content["issues"].append(bare)
    html = render.render_html(content)
    assert "None" not in html
    assert "不符合的规定" not in html and "breached:</span> ." not in html
    assert "《中华人民共和国食品安全法》第三十四条" in html
