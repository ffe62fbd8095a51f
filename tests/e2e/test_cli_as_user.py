"""The CLI acting as a named user (``--as``, ``LOOKBACK_USER``): the same territory and role
rules as the API, a refusal recorded in the event log, and commands that are for the local
administrator refused with a clear message. Without ``--as`` it acts as the local
administrator, and ``--help`` says so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lookback.cli import app
from tests.e2e.api_site import NOW, Fixture, sql
from tests.e2e.test_api_territory import fx  # the fixture is used by name
from tests.e2e.test_fieldwork_cli import launched  # noqa: F401  (fx needs it)

__all__ = ["fx"]


def cli(f: Fixture, *args: str, code: int = 0) -> str:
    base = ["--db", str(f.db), "--data-dir", str(f.db.parent / "data"), "--lang", "en",
            "--now", NOW]
    r = CliRunner().invoke(app, [*base, *args])
    assert r.exit_code == code, (r.exit_code, r.output)
    assert "Traceback" not in r.output and "internal error" not in r.output
    return r.stdout if "--json" in args else r.output


def refusals(f: Fixture, user: str) -> int:
    (n,), = sql(f.db, "SELECT COUNT(*) FROM event WHERE kind = 'access.refused' AND entity = ?",
                f"user:{user}")
    return int(n)


@pytest.mark.parametrize("user", ["national", "province", "city", "county", "other_city"])
def test_lists_hold_only_the_territory(fx: tuple[Fixture, dict[str, str]], user: str) -> None:
    f, tokens = fx
    prefix = tokens[f"prefix:{user}"]
    issues = json.loads(cli(f, "--as", user, "--json", "issue", "list"))["items"]
    region = {f.issue_a: f.visit_a["region"], f.issue_b: f.visit_b["region"]}
    listed = {i["id"] for i in issues}
    for issue, r in region.items():
        assert (issue in listed) == r.startswith(prefix)
    visits = json.loads(cli(f, "--as", user, "--json", "visit", "list", "--campaign", "1"))
    assert all(v["region"].startswith(prefix) for v in visits["items"])
    notices = json.loads(cli(f, "--as", user, "--json", "notices", "list"))["items"]
    for n in notices:
        assert n["uscc"] is None or n["uscc"] in (f.visit_a["uscc"], f.visit_b["uscc"])
    addressed = {n["uscc"] for n in notices if n["uscc"]}
    assert (f.visit_a["uscc"] in addressed) == f.visit_a["region"].startswith(prefix)
    campaigns = {c["id"] for c in json.loads(cli(f, "--as", user, "--json", "campaign",
                                                 "list"))["items"]}
    assert (1 in campaigns) == (user == "national")
    assert (int(tokens["city_campaign"]) in campaigns) == (user in ("national", "province",
                                                                    "city"))
    rolled = json.loads(cli(f, "--as", user, "--json", "rollup"))
    assert rolled["territory"] == prefix
    assert all(row["code"].startswith(prefix) for row in rolled["rows"])


def test_outside_the_territory_is_refused_and_recorded(fx: tuple[Fixture,
                                                                 dict[str, str]]) -> None:
    f, _tokens = fx
    before = refusals(f, "other_city")
    out = cli(f, "--as", "other_city", "issue", "show", str(f.issue_a), code=6)
    assert "territory" in out and "other_city" in out
    cli(f, "--as", "other_city", "campaign", "show", "1", code=6)
    cli(f, "--as", "other_city", "issue", "extend", str(f.issue_a), "--workdays", "3",
        "--reason", "x", "--approver", "y", code=6)
    assert refusals(f, "other_city") == before + 3
    # inside, the same user's rights apply: the city office reads issue A
    shown = json.loads(cli(f, "--as", "city", "--json", "issue", "show", str(f.issue_a)))
    assert shown["id"] == f.issue_a


def test_role_rules_and_commands_for_the_local_administrator(
        fx: tuple[Fixture, dict[str, str]]) -> None:
    f, _tokens = fx
    assert "users list" not in cli(f, "--as", "city", "users", "list", code=6)
    out = cli(f, "--as", "city", "followup", "sweep", code=2)
    assert "local administrator" in out and "without --as" in out
    assert "rollup" in cli(f, "--as", "city", "registry", "stats", code=2)  # whole-country
    cli(f, "--as", "national", "registry", "stats")
    out = cli(f, "--as", "nobody", "issue", "list", code=3)
    assert "--as nobody" in out and "users list" in out
    # the event log names who acted
    cli(f, "--as", "national", "notices", "list")  # a read writes nothing
    listed = json.loads(cli(f, "--json", "users", "list"))["items"]  # the local administrator
    assert {u["name"] for u in listed} >= {"city", "other_city", "national"}


def test_help_says_who_acts_without_as(fx: tuple[Fixture, dict[str, str]]) -> None:
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--as" in r.output and "local administrator" in r.output


def test_lookback_user_in_the_environment(fx: tuple[Fixture, dict[str, str]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from lookback.settings import get_settings

    f, _tokens = fx
    monkeypatch.setenv("LOOKBACK_USER", "other_city")
    get_settings.cache_clear()  # the environment is read once per process
    try:
        issues = json.loads(cli(f, "--json", "issue", "list"))["items"]
    finally:
        monkeypatch.delenv("LOOKBACK_USER")
        get_settings.cache_clear()
    assert f.issue_a not in {i["id"] for i in issues}
    assert f.issue_a in {i["id"] for i in json.loads(cli(f, "--json", "issue", "list"))["items"]}


