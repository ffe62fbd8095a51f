"""An evidence file's name and uploader belong to the link between issue and evidence.

Found: the same bytes uploaded by two teams kept the first uploader's filename, and the second
team saw it, because the name was stored per blob and not per link. So anyone could learn whether
given bytes were stored elsewhere, and under what name. The migration that moves the names onto
the links is tested in tests/integration/test_migration_0010.py.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.test_api_access import Api, api, fx, launched

__all__ = ["api", "fx", "launched"]

PHOTO = b"\xff\xd8\xff\xe0" + b"the same photo, sent by two teams" * 50
SECRET = "某某餐馆后厨-举报人张三提供.jpg"


def _upload(a: Api, user: str, issue: int, name: str, purpose: str = "finding",
            body: bytes = PHOTO) -> dict[str, Any]:
    r = a.call(user, "POST", f"/issues/{issue}/evidence", data={"purpose": purpose},
               files={"file": (name, body, "image/jpeg")})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_the_second_uploader_sees_only_their_own_name_and_upload(api: Api) -> None:
    fx = api.fx
    first = _upload(api, "auditor_a", fx.issue_a, SECRET)
    second = _upload(api, "auditor_b", fx.issue_b, "现场.jpg")
    assert first["sha256"] == second["sha256"]  # the bytes are stored once
    assert second["filename"] == "现场.jpg"
    assert second["uploaded_by"] == "api:auditor_b" and first["uploaded_by"] == "api:auditor_a"

    for user in ("auditor_b", "business_b"):  # everyone who reads issue B
        listed = api.call(user, "GET", f"/issues/{fx.issue_b}/evidence")
        assert listed.status_code == 200, listed.text
        assert [(e["filename"], e["uploaded_by"]) for e in listed.json()["items"]] == [
            ("现场.jpg", "api:auditor_b")]
        assert SECRET not in listed.text and "auditor_a" not in listed.text
        got = api.call(user, "GET", f"/issues/{fx.issue_b}/evidence/{second['sha256']}")
        assert got.status_code == 200 and got.content == PHOTO
        assert "%E7%8E%B0%E5%9C%BA.jpg" in got.headers["content-disposition"]  # 现场.jpg
    # Issue A keeps its own name.
    listed_a = api.call("auditor_a", "GET", f"/issues/{fx.issue_a}/evidence").json()["items"]
    assert [e["filename"] for e in listed_a] == [SECRET]


def test_bytes_stored_before_answer_exactly_like_new_bytes(api: Api) -> None:
    """Whether the bytes were already stored for another tenant shows in no field."""
    fx = api.fx
    _upload(api, "auditor_a", fx.issue_a, SECRET)
    seen = _upload(api, "business_b", fx.issue_b, "整改后.jpg", purpose="rectification")
    fresh = _upload(api, "business_b", fx.issue_b, "整改后2.jpg", purpose="rectification",
                    body=b"\xff\xd8\xff\xe0 bytes nobody sent before")
    assert seen.keys() == fresh.keys()
    assert {k: v for k, v in seen.items() if k not in ("sha256", "size", "filename")} == {
        k: v for k, v in fresh.items() if k not in ("sha256", "size", "filename")}
    assert seen["filename"] == "整改后.jpg"
    assert SECRET not in str(seen)


def test_the_same_bytes_twice_on_one_issue_keep_the_first_link(api: Api) -> None:
    fx = api.fx
    first = _upload(api, "auditor_a", fx.issue_a, "一.jpg")
    again = _upload(api, "auditor_a", fx.issue_a, "二.jpg")
    assert again == first
    items = api.call("auditor_a", "GET", f"/issues/{fx.issue_a}/evidence").json()["items"]
    assert [e["filename"] for e in items] == ["一.jpg"]
