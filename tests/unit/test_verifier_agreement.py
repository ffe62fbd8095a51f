"""The two verifiers of a published draw agree, and agree with docs/draw.md, on what they reject.

``lookback draw verify --record --frame`` (``domain.campaigns.verify_record`` on the files read as
the command reads them) and ``docs/verify_draw.py`` (its ``main``, and its ``check_params``) are
two independent implementations. Each test below runs both on the same input: the parameter table
of docs/draw.md ("Parameter values"), JSON integers in compared fields, the frame's line ends and
repeated ids, and the commitment's fields.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from domain.campaigns import Commitment, draw_params, verify_record
from domain.errors import InputError
from domain.plan import parse_plan
from domain.sampling import (
    PARAM_FIELDS,
    DrawParams,
    FrameBusiness,
    FrameInspector,
    commitment_difference,
    draw,
    frame_lines,
    params_difference,
    parse_frame,
    split_frame_text,
)
from lookback.cli import app
from lookback.cli_campaign import new_seed
from lookback.draw_files import frame_csv, record_json
from tests.draws import (
    BUSINESSES,
    INSPECTORS,
    SEED,
    make_params,
    make_record,
    verify_script,
)

ROOT = Path(__file__).resolve().parents[2]


SCRIPT = verify_script()
FRAME_TEXT = frame_csv(frame_lines(BUSINESSES, INSPECTORS))


def verdicts(folder: Path, record: dict[str, Any],
             frame_text: str = FRAME_TEXT) -> tuple[tuple[bool, str], tuple[bool, str]]:
    """((ok, difference) of ``lookback draw verify``, (ok, output) of verify_draw.py)."""
    rec, frame = folder / "record.json", folder / "frame.csv"
    rec.write_text(record_json(record), encoding="utf-8")
    frame.write_bytes(frame_text.encode("utf-8"))
    result = verify_record(json.loads(rec.read_text(encoding="utf-8-sig")),
                           split_frame_text(frame.read_text(encoding="utf-8-sig")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = SCRIPT.main(["verify_draw.py", str(rec), str(frame)])
    return (result.ok, result.difference or ""), (status == 0, out.getvalue())


def script_params_ok(p: dict[str, Any]) -> bool:
    try:
        SCRIPT.check_params(p)
    except SCRIPT.Mismatch:
        return False
    return True


# --- the parameter table ------------------------------------------------------------------------

def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(p: dict[str, Any]) -> None:
        p[field] = value
    return change


def _weights(**w: Any) -> Callable[[dict[str, Any]], None]:
    return _set("risk_weights", {"A": 1, "B": 2, "C": 3, "D": 4, **w})


# name -> (parameter the message must name, change to the engine's params)
OUT_OF_TABLE: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "total 0": ("total", _set("total", 0)),
    "total -3": ("total", _set("total", -3)),
    "total 4.0": ("total", _set("total", 4.0)),
    "total true": ("total", _set("total", True)),
    "total as text": ("total", _set("total", "4")),
    "no sample size": ("total", _set("total", None)),
    "two sample sizes": ("total", _set("per_stratum", 1)),
    "fraction 0": ("fraction", lambda p: p.update(total=None, fraction=0.0)),
    "fraction 1.5": ("fraction", lambda p: p.update(total=None, fraction=1.5)),
    "fraction NaN": ("fraction", lambda p: p.update(total=None, fraction=math.nan)),
    "fraction true": ("fraction", lambda p: p.update(total=None, fraction=True)),
    "per_stratum 0": ("per_stratum", lambda p: p.update(total=None, per_stratum=0)),
    "min_per_stratum -1": ("min_per_stratum", _set("min_per_stratum", -1)),
    "min_per_stratum 1.0": ("min_per_stratum", _set("min_per_stratum", 1.0)),
    "teams 0": ("teams", _set("teams", 0)),
    "teams true": ("teams", _set("teams", True)),
    "members 1": ("members", _set("members", 1)),
    "members 2.0": ("members", _set("members", 2.0)),
    "weight 2.0": ("risk_weights", _weights(B=2.0)),
    "weight -1": ("risk_weights", _weights(A=-1)),
    "weight true": ("risk_weights", _weights(A=True)),
    "weights not an object": ("risk_weights", _set("risk_weights", [1, 2, 3, 4])),
    "unknown stratum name": ("strata", _set("strata", ["ward"])),
    "stratum twice": ("strata", _set("strata", ["risk_level", "risk_level"])),
    "strata not a list": ("strata", _set("strata", "risk_level")),
    "unknown allocation": ("allocation", _set("allocation", "random")),
    "unknown avoidance": ("avoidance", _set("avoidance", "town")),
    "provinces unsorted": ("provinces", _set("provinces", ["350000", "330000"])),
    "province twice": ("provinces", _set("provinces", ["330000", "330000"])),
    "a city as province": ("provinces", _set("provinces", ["330100"])),
    "province as a number": ("provinces", _set("provinces", [330000])),
    "seed with a leading zero": ("seed", _set("seed", "0" + SEED)),
    "seed as a number": ("seed", _set("seed", int(SEED))),
    "seed with full-width digits": ("seed", _set("seed", "２０２３")),
    "seed empty": ("seed", _set("seed", "")),
    "middle stage county": ("stages", _set("stages", [{"unit": "county", "per_parent": 1},
                                                      {"unit": "business"}])),
    "extra key in a middle stage": ("stages", _set("stages", [
        {"unit": "city", "per_parent": 1, "note": "x"}, {"unit": "business"}])),
    "anything in the last stage": ("stages", _set("stages", [{"unit": "business", "count": 3}])),
    "last stage not business": ("stages", _set("stages", [{"unit": "city", "per_parent": 1}])),
    "province count 0": ("stages", _set("stages", [{"unit": "province", "count": 0},
                                                   {"unit": "business"}])),
    "per_parent 1.0": ("stages", _set("stages", [{"unit": "city", "per_parent": 1.0},
                                                 {"unit": "business"}])),
    "city before province": ("stages", _set("stages", [
        {"unit": "city", "per_parent": 1}, {"unit": "province", "count": 1},
        {"unit": "business"}])),
    "province twice as a stage": ("stages", _set("stages", [
        {"unit": "province", "count": 1}, {"unit": "province", "count": 1},
        {"unit": "business"}])),
    "no stages": ("stages", _set("stages", [])),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_TABLE))
def test_both_verifiers_reject_a_parameter_outside_the_table(case: str, tmp_path: Path) -> None:
    name, change = OUT_OF_TABLE[case]
    record = make_record()
    change(record["params"])
    record["seed"] = record["params"]["seed"]
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record)
    assert not ok and difference.startswith(f"the record is malformed: params.{name}"), difference
    assert not script_ok and out.startswith(f"DIFFERENT: params.{name}"), out
    # The parameter check alone says the same (so it is not some later step that noticed).
    assert params_difference(record["params"]) is not None
    assert not script_params_ok(record["params"])


BUSINESSES_B = [*BUSINESSES, FrameBusiness("91330106MA2XXXXX7Q", "330106", "market", "D")]
WITHIN_TABLE: dict[str, tuple[DrawParams, tuple[int, ...]]] = {
    "zero risk weights": (make_params(allocation="risk_weighted",
                                      risk_weights={"A": 0, "B": 0, "C": 0, "D": 0}), (5,)),
    "an extra weight key (ignored)": (make_params(risk_weights={"A": 1, "B": 2, "C": 3, "D": 4,
                                                                "E": 9}), ()),
    "fraction 1 (a census)": (make_params(total=None, fraction=1.0), ()),
    "seed 0": (make_params(seed="0"), ()),
    "a 39-digit seed": (make_params(seed=str(2**128 - 1)), ()),
    "min_per_stratum 0 and 2": (make_params(strata=["city"], min_per_stratum=2, total=5), ()),
    "province and city stages": (make_params(
        stages=[{"unit": "province", "count": 2}, {"unit": "city", "per_parent": 1},
                {"unit": "business"}], strata=["county"], total=1), ()),
    "provinces sorted": (make_params(provinces=["330000", "350000"], per_stratum=1, total=None,
                                     strata=["category", "province"]), ()),
}


@pytest.mark.parametrize("case", sorted(WITHIN_TABLE))
def test_both_verifiers_accept_every_value_the_table_allows(case: str, tmp_path: Path) -> None:
    p, tos = WITHIN_TABLE[case]
    record = make_record(p, tos, BUSINESSES_B)
    frame = frame_csv(frame_lines(BUSINESSES_B, INSPECTORS))
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record, frame)
    assert ok, difference
    assert script_ok, out


def test_a_json_integer_fraction_is_a_number(tmp_path: Path) -> None:
    record = make_record(make_params(total=None, fraction=1.0))
    record["params"]["fraction"] = 1  # JSON "1": a number in (0, 1]
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record)
    assert ok and script_ok, (difference, out)


PLAN = """
[campaign]
office = "食安办"
title = "督查"
starts_on = 2023-08-14
ends_on = 2023-09-15
seed = {seed}
[scope]
provinces = {provinces}
{stages}
[sample]
{size}
strata = {strata}
allocation = "{allocation}"
min_per_stratum = {minimum}
risk_weights = {{ {weights} }}
[teams]
count = {teams}
members = {members}
avoidance = "{avoidance}"
"""

STAGES = ['', '[[stages]]\nunit = "province"\ncount = {n}\n[[stages]]\nunit = "business"',
          '[[stages]]\nunit = "city"\nper_parent = {n}\n[[stages]]\nunit = "business"',
          '[[stages]]\nunit = "province"\ncount = {n}\n[[stages]]\nunit = "city"\nper_parent = {n}'
          '\n[[stages]]\nunit = "business"']
PROVINCE_CODES = ["110000", "330000", "350000", "440000", "510000"]


@st.composite
def plans(draw_: st.DrawFn) -> str:
    """A valid plan: every parameter of the table drawn from what a plan may give."""
    n = draw_(st.integers(1, 9))
    size = draw_(st.one_of(st.integers(1, 10**6).map(lambda t: f"total = {t}"),
                           st.floats(1e-9, 1.0).map(lambda f: f"fraction = {f!r}"),
                           st.just("fraction = 1"),
                           st.integers(1, 50).map(lambda k: f"per_stratum = {k}"),
                           st.just("all = true")))
    strata = draw_(st.permutations(["province", "city", "county", "category", "risk_level"])
                   .flatmap(lambda names: st.integers(0, 5).map(lambda k: names[:k])))
    weights = draw_(st.dictionaries(st.sampled_from("ABCD"), st.integers(1, 100)))
    seed = draw_(st.one_of(st.integers(0, 2**63 - 1).map(str),
                           st.text("0123456789", min_size=1, max_size=45).map(json.dumps)))
    return PLAN.format(
        seed=seed, provinces=json.dumps(draw_(st.lists(st.sampled_from(PROVINCE_CODES),
                                                         unique=True))),
        stages=draw_(st.sampled_from(STAGES)).format(n=n), size=size,
        strata=json.dumps(strata),
        allocation=draw_(st.sampled_from(["proportional", "equal", "risk_weighted"])),
        minimum=draw_(st.integers(0, 10)),
        weights=", ".join(f"{k} = {v}" for k, v in weights.items()),
        teams=draw_(st.integers(1, 20)), members=draw_(st.integers(2, 6)),
        avoidance=draw_(st.sampled_from(["city", "province", "county"])))


@settings(max_examples=300, deadline=None)
@given(plans())
def test_the_params_of_every_valid_plan_are_within_the_table(text: str) -> None:
    plan = parse_plan(text)
    params = draw_params(plan.as_dict(), plan.seed or new_seed()).as_dict()
    params = json.loads(json.dumps(params))  # as a verifier reads them back from record.json
    assert params_difference(params) is None
    assert script_params_ok(params)


@pytest.mark.parametrize("name", ["plan-2023-two-responsibilities.toml", "plan-lookback.toml"])
def test_the_example_plans_give_params_within_the_table(name: str) -> None:
    plan = parse_plan((ROOT / "examples" / name).read_text(encoding="utf-8"))
    params = draw_params(plan.as_dict(), plan.seed or new_seed()).as_dict()
    assert params_difference(params) is None
    assert script_params_ok(params)


def test_new_seed_is_a_decimal_of_at_most_39_digits() -> None:
    for _ in range(200):
        seed = new_seed()
        assert params_difference({**make_params().as_dict(), "seed": seed}) is None
        assert 1 <= len(seed) <= 39 and int(seed) < 2**128
    assert len(str(2**128 - 1)) == 39


JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 5), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1.0, 2.0, -0.0]),
    st.text(max_size=6),
    st.sampled_from(["0", "01", "42", "330000", "330100", "000000", "city", "province", "county",
                     "business", "category", "risk_level", "equal", "proportional",
                     "risk_weighted", "A", "unit", "count", "per_parent"]))
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["unit", "count", "per_parent", "A", "B", "x"]), inner, max_size=3),
    max_leaves=8)


BOUNDARIES = st.sampled_from([-1, 0, 1, 2, 3, 0.0, 1.0, 2.0, 1e-300, True, False, None, "", []])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PARAM_FIELDS), st.one_of(BOUNDARIES, JSON_VALUES))
def test_the_two_parameter_checks_agree_on_any_json_value(field: str, value: Any) -> None:
    p = make_params().as_dict()
    p[field] = value
    assert (params_difference(p) is None) == script_params_ok(p), (field, value)


STAGE_ENTRIES = st.fixed_dictionaries(
    {"unit": st.sampled_from(["province", "city", "business", "county"])},
    optional={"count": st.sampled_from([0, 1, 2, 1.0, True]),
              "per_parent": st.sampled_from([0, 1, 3, 2.0]), "x": st.just(1)})


@settings(max_examples=800, deadline=None)
@given(st.lists(STAGE_ENTRIES, max_size=4))
def test_the_two_checks_agree_on_stage_lists(stages: list[dict[str, Any]]) -> None:
    p = {**make_params().as_dict(), "stages": stages}
    assert (params_difference(p) is None) == script_params_ok(p), stages


# --- compared fields are JSON integers -----------------------------------------------------------

def _at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = record
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return change


def _float(path: str) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        node: Any = record
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key = int(last) if last.isdigit() else last
        node[key] = float(node[key])
    return change


NOT_INTEGERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "total 4.0": _float("total"),
    "frame.businesses 6.0": _float("frame.businesses"),
    "stage frame_size 6.0": _float("stages.0.frame_size"),
    "allocated as a float": _float("stages.0.strata.0.allocated"),
    "team number true": _at("teams.0.team", True),
    "team number 1.0": _at("teams.0.team", 1.0),
    "assignment team 1.0": _float("assignments.0.team"),
    "extension to 5.0": _float("extensions.0.to"),
    "extension allocation as a float": _float("extensions.0.allocation.risk_level=A"),
}


@pytest.mark.parametrize("case", sorted(NOT_INTEGERS))
def test_a_float_or_boolean_for_an_integer_is_a_difference(case: str, tmp_path: Path) -> None:
    record = make_record(extensions=(5,))
    good = verdicts(tmp_path, record)
    assert good[0][0] and good[1][0], good
    NOT_INTEGERS[case](record)
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record)
    assert not ok, difference
    assert not script_ok and out.startswith("DIFFERENT:"), out


# --- extra fields in a stage or a team ----------------------------------------------------------

@pytest.mark.parametrize("where", ["stages", "teams"])
def test_both_reject_an_extra_field_in_a_stage_or_a_team(where: str, tmp_path: Path) -> None:
    record = make_record()
    record[where][0]["note"] = "x"
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record)
    assert not ok and "note" in difference
    assert not script_ok and "fields" in out and "note" in out


# --- the frame: line ends and repeated ids ------------------------------------------------------

NOT_LINE_ENDS = ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_split_frame_text_splits_at_lf_crlf_and_cr_only() -> None:
    assert split_frame_text("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert split_frame_text("a\n\nb\n") == ["a", "", "b", ""]
    for ch in NOT_LINE_ENDS:
        assert split_frame_text(f"a{ch}b\nc") == [f"a{ch}b", "c"]


@pytest.mark.parametrize("ch", NOT_LINE_ENDS, ids=[hex(ord(c)) for c in NOT_LINE_ENDS])
def test_other_line_breaks_do_not_end_a_frame_line(ch: str, tmp_path: Path) -> None:
    record = make_record()
    # Two rows joined by the character: one line of nine fields, so a malformed frame.
    joined = FRAME_TEXT.replace("\n", ch, 2).replace(ch, "\n", 1)
    assert joined.count("\n") == FRAME_TEXT.count("\n") - 1
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record, joined)
    assert not ok and not script_ok, (difference, out)
    # The same character inside a value is part of the value (and of the hash): the engine's
    # draw from that frame verifies with both.
    odd = [*BUSINESSES[:-1], FrameBusiness(BUSINESSES[-1].uscc, BUSINESSES[-1].region_code,
                                           f"production{ch}x", "B")]
    record = make_record(businesses=odd)
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record,
                                                  frame_csv(frame_lines(odd, INSPECTORS)))
    assert ok and script_ok, (difference, out)


@pytest.mark.parametrize("kind", ["business", "inspector"])
def test_both_reject_a_frame_repeating_an_id_and_name_it(kind: str, tmp_path: Path) -> None:
    if kind == "business":  # the same USCC in another county: a different line, the same id
        businesses = [*BUSINESSES, FrameBusiness(BUSINESSES[1].uscc, "330199", "sales", "A")]
        inspectors, uid = INSPECTORS, BUSINESSES[1].uscc
    else:
        businesses, inspectors = BUSINESSES, [*INSPECTORS, FrameInspector("I0002", "440100")]
        uid = "I0002"
    d = draw(make_params(), businesses, inspectors)  # the engine does not parse its own frames
    record = d.as_record()
    text = frame_csv(frame_lines(businesses, inspectors))
    (ok, difference), (script_ok, out) = verdicts(tmp_path, record, text)
    assert not ok and f"{kind} {uid} appears more than once" in difference
    # The line named is the second one of the file with that id (the header is line 1).
    second = [n for n, ln in enumerate(text.split("\n"), 1) if ln.startswith(f"{kind},{uid},")][1]
    assert difference.startswith(f"the frame is malformed: frame line {second}: ")
    assert not script_ok and f"{kind} {uid} appears more than once" in out


def test_parse_frame_rejects_a_repeated_id_naming_the_line() -> None:
    with pytest.raises(InputError, match="frame line 3: business B1 appears more than once") as e:
        parse_frame(["kind,id,region,category,risk_level", "business,B1,330102,sales,A",
                     "business,B1,330103,sales,B"])
    assert e.value.code == "duplicate_frame_id" and "B1" in e.value.zh
    # The same id under the two kinds is no repetition.
    b, i = parse_frame(["business,X1,330102,sales,A", "inspector,X1,330100,,"])
    assert len(b) == len(i) == 1


# --- the commitment's fields --------------------------------------------------------------------

def _committed() -> dict[str, Any]:
    sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    c = Commitment(1, sha, datetime(2026, 12, 10, 2, 30, tzinfo=UTC), "福彩3D第2026330期",
                   date(2026, 12, 20), "7 2 9")
    return {"seed": c.seed, "frame": {"sha256": sha}, "commitment": c.as_record()}


@pytest.mark.parametrize("where", ["commitment", "commitment.beacon"])
def test_both_reject_an_extra_field_in_the_commitment(where: str) -> None:
    record = _committed()
    assert commitment_difference(record) is None
    SCRIPT.check_commitment(record, record["frame"]["sha256"])
    bad = copy.deepcopy(record)
    (bad["commitment"] if where == "commitment" else bad["commitment"]["beacon"])["note"] = "x"
    difference = commitment_difference(bad)
    assert difference is not None and difference.startswith(where + ":")
    with pytest.raises(SCRIPT.Mismatch, match=f"^{where}: expected the fields"):
        SCRIPT.check_commitment(bad, bad["frame"]["sha256"])


# --- the command: a malformed record is a MISMATCH, not an internal error ------------------------

def test_the_command_reports_a_record_without_a_sample_size_as_a_mismatch(tmp_path: Path) -> None:
    record = make_record()
    record["params"]["total"] = None
    rec, frame = tmp_path / "record.json", tmp_path / "frame.csv"
    rec.write_text(record_json(record), encoding="utf-8")
    frame.write_text(FRAME_TEXT, encoding="utf-8")
    result = CliRunner().invoke(app, ["--lang", "en", "draw", "verify", "--record", str(rec),
                                      "--frame", str(frame)])
    assert result.exit_code == 1, result.output
    assert "MISMATCH: the record is malformed: params.total" in result.output
    assert "Traceback" not in result.output
