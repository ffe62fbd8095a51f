"""Campaign plans: the example parses, and every mistake is reported at once with its key path."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InputError
from domain.plan import PlanError, SampleSpec, Stage, TeamSpec, parse_plan, plan_toml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plan-2023-two-responsibilities.toml"

Sections = dict[str, dict[str, str]]

# A valid plan as TOML literals per key, rendered by ``render``.
BASE: Sections = {
    "campaign": {"office": '"某市食品安全委员会办公室"', "title": '"2023年督查"',
                 "kind": '"inspection"', "starts_on": "2023-08-14", "ends_on": "2023-09-15",
                 "seed": "20230814"},
    "scope": {"provinces": '["330000", "440000"]', "exclusion_days": "180"},
    "sample": {"total": "126", "strata": '["city"]', "allocation": '"proportional"',
               "min_per_stratum": "3", "risk_weights": "{ A = 1, B = 2, C = 3, D = 4 }"},
    "teams": {"count": "5", "members": "3", "avoidance": '"city"'},
    "rectification": {"days": "{ minor = 5, general = 10, serious = 15 }",
                      "lookback_grace_workdays": "5", "reminder_workdays": "3"},
}
BASE_STAGES = [{"unit": '"city"', "per_parent": "2"}, {"unit": '"business"'}]


def render(sections: Sections, stages: list[dict[str, str]] | None = None) -> str:
    out: list[str] = []
    for name, values in sections.items():
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in values.items()]
        out.append("")
    for stage in BASE_STAGES if stages is None else stages:
        out.append("[[stages]]")
        out += [f"{k} = {v}" for k, v in stage.items()]
        out.append("")
    return "\n".join(out)


def with_(section: str, key: str, value: str | None) -> Callable[[Sections], None]:
    def change(s: Sections) -> None:
        if value is None:
            del s[section][key]
        else:
            s[section][key] = value
    return change


# Independent mistakes, each with the key paths it must be reported at.
MISTAKES: dict[str, tuple[Callable[[Sections], None], set[str]]] = {
    "bad kind": (with_("campaign", "kind", '"audit"'), {"campaign.kind"}),
    "ends before starts": (with_("campaign", "ends_on", "2023-08-01"), {"campaign.ends_on"}),
    "members = 1": (with_("teams", "members", "1"), {"teams.members"}),
    "unknown strata field": (with_("sample", "strata", '["city", "district"]'),
                             {"sample.strata[1]"}),
    "total and fraction": (with_("sample", "fraction", "0.05"), {"sample"}),
    "risk weight E": (with_("sample", "risk_weights", "{ A = 1, B = 2, C = 3, D = 4, E = 5 }"),
                      {"sample.risk_weights.E"}),
    "bad province code": (with_("scope", "provinces", '["330000", "33000"]'),
                          {"scope.provinces[1]"}),
    "negative exclusion_days": (with_("scope", "exclusion_days", "-1"), {"scope.exclusion_days"}),
    "seed abc": (with_("campaign", "seed", '"abc"'), {"campaign.seed"}),
    "missing office": (with_("campaign", "office", None), {"campaign.office"}),
    "days without serious": (with_("rectification", "days", "{ minor = 5, general = 10 }"),
                             {"rectification.days.serious"}),
}


def paths_of(text: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        parse_plan(text)
    return [p for p, _, _ in info.value.problems]


def test_the_example_plan_parses() -> None:
    plan = parse_plan(EXAMPLE.read_text(encoding="utf-8"))
    assert plan.office == "国务院食品安全委员会办公室"
    assert plan.office_short == "食安办"
    assert plan.kind == "inspection"
    assert plan.seed == "20230814"
    assert (plan.starts_on, plan.ends_on) == (date(2023, 8, 14), date(2023, 9, 15))
    assert len(plan.provinces) == 10
    assert plan.provinces[0] == "210000" and plan.provinces[-1] == "610000"
    assert plan.exclusion_days == 180
    assert plan.stages == (Stage("city", per_parent=2), Stage("business"))
    assert plan.sample.total == 126
    assert plan.sample.fraction is None and plan.sample.per_stratum is None
    assert plan.sample.strata == ("city",)
    assert plan.sample.min_per_stratum == 3
    assert plan.teams == TeamSpec(count=5, members=3, avoidance="city")
    assert plan.rectification_days == {"minor": 5, "general": 10, "serious": 15}
    assert plan.as_dict()["starts_on"] == "2023-08-14"


def test_the_base_plan_is_valid() -> None:
    plan = parse_plan(render(BASE))
    assert plan.sample == SampleSpec(total=126, strata=("city",), min_per_stratum=3)
    assert plan.provinces == ("330000", "440000")


def test_every_mistake_is_reported_at_once_with_its_key_path() -> None:
    sections = copy.deepcopy(BASE)
    for change, _ in MISTAKES.values():
        change(sections)
    with pytest.raises(PlanError) as info:
        parse_plan(render(sections))
    paths = [p for p, _, _ in info.value.problems]
    assert set(paths) == {
        "campaign.kind", "campaign.ends_on", "teams.members", "sample.strata[1]", "sample",
        "sample.risk_weights.E", "scope.provinces[1]", "scope.exclusion_days", "campaign.seed",
        "campaign.office", "rectification.days.serious",
    }
    assert len(paths) == len(set(paths))
    error = info.value
    assert isinstance(error, InputError)
    assert error.code == "bad_plan"
    assert str(error).startswith(f"the plan has {len(paths)} mistake(s)")
    for path in paths:
        assert f"  {path}: " in str(error)
        assert f"  {path}：" in error.zh


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(sorted(MISTAKES))))
def test_any_set_of_mistakes_is_reported_exactly(names: set[str]) -> None:
    sections = copy.deepcopy(BASE)
    expected: set[str] = set()
    for name in names:
        change, paths = MISTAKES[name]
        change(sections)
        expected |= paths
    if not names:
        parse_plan(render(sections))
        return
    paths = paths_of(render(sections))
    assert set(paths) == expected
    assert len(paths) == len(expected)


@pytest.mark.parametrize(("raw", "expected"), [
    ('"auto"', None), (None, None), ("42", "42"), ('"0042"', "42"), ('"0"', "0"), ("0", "0"),
])
def test_seed(raw: str | None, expected: str | None) -> None:
    sections = copy.deepcopy(BASE)
    with_("campaign", "seed", raw)(sections)
    assert parse_plan(render(sections)).seed == expected


@pytest.mark.parametrize("raw", ['"abc"', "-1", "1.5", "true", '"12a"', '"１２"', '""', "[1]"])
def test_a_bad_seed_is_reported(raw: str) -> None:
    sections = copy.deepcopy(BASE)
    sections["campaign"]["seed"] = raw
    assert paths_of(render(sections)) == ["campaign.seed"]


def test_invalid_toml_is_one_problem() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan('[campaign\noffice = "x"\n')
    assert len(info.value.problems) == 1
    assert info.value.problems[0][0] == "(file)"
    assert "not valid TOML" in info.value.problems[0][1]


def test_a_date_time_is_not_a_date() -> None:
    # TOML's offset-less date-time parses to datetime, a subclass of date: it must be refused
    # like any other non-date, not crash comparing it with the date in ends_on.
    sections = copy.deepcopy(BASE)
    sections["campaign"]["starts_on"] = "2023-08-14T09:00:00"
    assert paths_of(render(sections)) == ["campaign.starts_on"]


def test_a_time_is_not_a_date() -> None:
    sections = copy.deepcopy(BASE)
    sections["campaign"]["ends_on"] = "09:00:00"
    assert paths_of(render(sections)) == ["campaign.ends_on"]


def test_an_unknown_section_is_reported() -> None:
    sections = copy.deepcopy(BASE)
    sections["sampel"] = {"total": "3"}
    assert paths_of(render(sections)) == ["sampel"]


def test_missing_sections_name_their_required_keys() -> None:
    text = render({"scope": BASE["scope"], "sample": BASE["sample"]})
    assert set(paths_of(text)) == {"campaign.office", "campaign.title", "campaign.starts_on",
                                   "campaign.ends_on", "teams.count", "teams.members"}


@pytest.mark.parametrize(("stages", "paths"), [
    ([{"unit": '"business"'}, {"unit": '"city"', "per_parent": "2"}], ["stages"]),
    ([{"unit": '"city"', "per_parent": "2"}, {"unit": '"province"', "count": "3"},
      {"unit": '"business"'}], ["stages"]),
    ([{"unit": '"province"'}, {"unit": '"business"'}], ["stages[0].count"]),
    ([{"unit": '"city"', "per_parent": "0"}, {"unit": '"business"'}], ["stages[0].per_parent"]),
    ([{"unit": '"county"'}, {"unit": '"business"'}], ["stages[0].unit"]),
    ([{"unit": '"business"'}, {"unit": '"business"'}], ["stages"]),
])
def test_stage_mistakes(stages: list[dict[str, str]], paths: list[str]) -> None:
    assert paths_of(render(BASE, stages)) == paths


def test_stages_default_to_one_business_stage() -> None:
    assert parse_plan(render(BASE, [])).stages == (Stage("business"),)


def test_province_then_city_stages() -> None:
    plan = parse_plan(render(BASE, [{"unit": '"province"', "count": "4"},
                                    {"unit": '"city"', "per_parent": "1"},
                                    {"unit": '"business"'}]))
    assert plan.stages == (Stage("province", count=4), Stage("city", per_parent=1),
                           Stage("business"))


@pytest.mark.parametrize(("changes", "paths"), [
    ({"total": None}, ["sample"]),
    ({"total": None, "fraction": "0"}, ["sample.fraction"]),
    ({"total": None, "fraction": "1.5"}, ["sample.fraction"]),
    ({"total": None, "fraction": "true"}, ["sample.fraction"]),
    ({"total": "0"}, ["sample.total"]),
    ({"per_stratum": "6"}, ["sample"]),
    ({"allocation": '"neyman"'}, ["sample.allocation"]),
    ({"min_per_stratum": "-1"}, ["sample.min_per_stratum"]),
    ({"risk_weights": "{ A = 0 }"}, ["sample.risk_weights.A"]),
    ({"risk_weights": "3"}, ["sample.risk_weights"]),
    ({"strata": '["city", "city"]'}, ["sample.strata[1]"]),
])
def test_sample_mistakes(changes: dict[str, str | None], paths: list[str]) -> None:
    sections = copy.deepcopy(BASE)
    for key, value in changes.items():
        with_("sample", key, value)(sections)
    assert paths_of(render(sections)) == paths


@pytest.mark.parametrize(("changes", "expected"), [
    ({"total": None, "fraction": "1"}, SampleSpec(fraction=1.0, strata=("city",),
                                                 min_per_stratum=3)),
    ({"total": None, "per_stratum": "6", "risk_weights": "{ D = 9 }"},
     SampleSpec(per_stratum=6, strata=("city",), min_per_stratum=3,
                risk_weights={"A": 1, "B": 2, "C": 3, "D": 9})),
])
def test_sample_variants(changes: dict[str, str | None], expected: SampleSpec) -> None:
    sections = copy.deepcopy(BASE)
    for key, value in changes.items():
        with_("sample", key, value)(sections)
    assert parse_plan(render(sections)).sample == expected


def test_defaults() -> None:
    sections = copy.deepcopy(BASE)
    del sections["rectification"]
    del sections["teams"]["avoidance"]
    del sections["campaign"]["kind"]
    del sections["scope"]["exclusion_days"]
    plan = parse_plan(render(sections))
    assert plan.kind == "inspection"
    assert plan.teams.avoidance == "city"
    assert plan.exclusion_days == 0
    assert plan.rectification_days == {"minor": 5, "general": 10, "serious": 15}
    assert (plan.lookback_grace_workdays, plan.reminder_workdays) == (5, 3)


@pytest.mark.parametrize(("section", "key", "value", "paths"), [
    ("teams", "avoidance", '"street"', ["teams.avoidance"]),
    ("teams", "count", "0", ["teams.count"]),
    ("scope", "categories", '["catering", "bakery"]', ["scope.categories[1]"]),
    ("scope", "risk_levels", '["A", "E"]', ["scope.risk_levels[1]"]),
    ("scope", "provinces", '"330000"', ["scope.provinces"]),
    ("rectification", "days", "{ minor = 5, general = 10, serious = 15, fatal = 1 }",
     ["rectification.days.fatal"]),
    ("rectification", "days", "{ minor = 0, general = true, serious = 15 }",
     ["rectification.days.minor", "rectification.days.general"]),
    ("rectification", "reminder_workdays", "-2", ["rectification.reminder_workdays"]),
    ("campaign", "title", "7", ["campaign.title"]),
])
def test_other_mistakes(section: str, key: str, value: str, paths: list[str]) -> None:
    sections = copy.deepcopy(BASE)
    sections[section][key] = value
    assert paths_of(render(sections)) == paths


# --- plan_toml: a plan filled in a form, written as the TOML a file would hold -----------------

_keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=12)
_scalars = (st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
            | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.dates()
            | st.floats(allow_nan=False))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_keys, inner, max_size=4), max_leaves=8)
_tables = st.dictionaries(_keys, _values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _tables | st.lists(_tables, min_size=1, max_size=3), max_size=4))
def test_plan_toml_reads_back_as_the_same_data(data: dict[str, object]) -> None:
    """Whatever a form holds — any text (quotes, backslashes, control characters, Chinese), any
    number, date, list or table — reads back from the TOML unchanged."""
    assert tomllib.loads(plan_toml(data)) == data


def test_a_plan_written_by_plan_toml_parses_like_the_file() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert parse_plan(plan_toml(data)) == parse_plan(EXAMPLE.read_text(encoding="utf-8"))


def test_wrong_types_from_a_form_are_reported_at_their_key_paths() -> None:
    """A form's field that is not a number or a date is written as a string, and parse_plan
    names each one with its key path, all at once."""
    data = tomllib.loads(render(BASE))
    data["sample"]["total"] = "many"
    data["teams"]["members"] = "2.5"
    data["campaign"]["ends_on"] = "2023-02-30"
    del data["campaign"]["title"]
    assert set(paths_of(plan_toml(data))) == {"sample.total", "teams.members",
                                               "campaign.ends_on", "campaign.title"}
