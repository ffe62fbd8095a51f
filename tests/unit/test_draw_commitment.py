"""The draw commitment: the seed derived from the committed frame hash and a public beacon value
(``lookback-seed/1``), its check in a record (engine and stand-alone verifier alike), the plan's
``campaign.seed = { beacon = …, published_on = … }`` table, and the publication's lines."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.campaigns import Commitment
from domain.clock import china_date
from domain.plan import PlanError, SeedBeacon, parse_plan
from domain.sampling import (
    COMMITTED_AT_FORMAT,
    SEED_DERIVATION,
    beacon_seed,
    commitment_difference,
    commitment_summary,
)
from report_templates import render
from report_templates.samples import sample
from tests.draws import verify_script

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plan-2023-two-responsibilities.toml"
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


VERIFY = verify_script()


# --- the derivation ------------------------------------------------------------------------

def test_known_answer() -> None:
    """Fixed by docs/draw.md: anyone re-implementing the derivation must get these values
    (checked with `sha256sum` and `bc` when written)."""
    assert SEED_DERIVATION == "lookback-seed/1"
    assert beacon_seed(EMPTY_SHA, "7 2 9") == (
        "75681431440626094417494120159878973979689815828418280174900866106386909145232")
    assert beacon_seed(EMPTY_SHA, "双色球2026150期：03 07 12 19 25 31+09") == (
        "65518594510367095677560863878473955034599088568373037326607675766528994907957")


hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
values = st.text(min_size=1, max_size=60)


@settings(max_examples=200)
@given(hex64, values)
def test_seed_is_a_decimal_string_and_both_implementations_agree(sha: str, value: str) -> None:
    seed = beacon_seed(sha, value)
    assert seed.isascii() and seed.isdigit() and (seed == "0" or not seed.startswith("0"))
    assert int(seed) < 2 ** 256
    assert seed == beacon_seed(sha, value)  # deterministic
    assert seed == VERIFY.committed_seed(sha, value)  # the outsider's code says the same


@given(hex64, values, values)
def test_seed_depends_on_the_value_and_the_frame(sha: str, a: str, b: str) -> None:
    if a != b:
        assert beacon_seed(sha, a) != beacon_seed(sha, b)
    other = sha[:-1] + ("0" if sha[-1] != "0" else "1")
    assert beacon_seed(sha, a) != beacon_seed(other, a)


# --- the record's commitment ----------------------------------------------------------------

def _record(committed_at: datetime = datetime(2026, 12, 10, 2, 30, tzinfo=UTC),
            published_on: date = date(2026, 12, 20), value: str = "7 2 9") -> dict[str, Any]:
    c = Commitment(1, EMPTY_SHA, committed_at, "福彩3D第2026330期", published_on, value)
    assert c.seed is not None
    return {"seed": c.seed, "frame": {"sha256": EMPTY_SHA}, "commitment": c.as_record()}


def _engine_and_script(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """(engine's difference, script's difference): None where the commitment holds."""
    try:
        VERIFY.check_commitment(record, record["frame"]["sha256"])
        script = None
    except VERIFY.Mismatch as e:
        script = str(e)
    return commitment_difference(record), script


def test_record_commitment_shape_and_check() -> None:
    r = _record()
    assert r["commitment"] == {
        "seed_derivation": "lookback-seed/1", "frame_sha256": EMPTY_SHA,
        "committed_at": "2026-12-10T02:30:00Z", "committed_on": "2026-12-10",
        "beacon": {"name": "福彩3D第2026330期", "published_on": "2026-12-20", "value": "7 2 9"}}
    assert _engine_and_script(r) == (None, None)
    assert "seed committed" in commitment_summary(r)[0]
    assert commitment_summary({"commitment": None})[0] == "seed not committed"
    assert commitment_summary({})[0] == "seed not committed"
    assert commitment_difference({"seed": "1"}) is None  # an older record: nothing to check


TAMPERING = {
    "beacon value": lambda r: r["commitment"]["beacon"].update(value="7 2 8"),
    "seed": lambda r: r.update(seed=str(int(r["seed"]) + 1)),
    "frame hash": lambda r: r["commitment"].update(frame_sha256="0" * 64),
    "derivation": lambda r: r["commitment"].update(seed_derivation="lookback-seed/2"),
    "time vs date": lambda r: r["commitment"].update(committed_at="2026-12-11T02:30:00Z"),
    "too late": lambda r: r["commitment"].update(committed_at="2026-12-19T16:00:00Z",
                                                  committed_on="2026-12-20"),
    "beacon date": lambda r: r["commitment"]["beacon"].update(published_on="2026-12-10"),
    "bad time": lambda r: r["commitment"].update(committed_at="10 December 2026"),
    "no value": lambda r: r["commitment"]["beacon"].update(value=None),
    "no beacon name": lambda r: r["commitment"]["beacon"].pop("name"),
    "extra field": lambda r: r["commitment"].update(note="trust me"),
    "not an object": lambda r: r.update(commitment="committed"),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampered_commitment_is_caught_by_both(name: str) -> None:
    r = _record()
    TAMPERING[name](r)
    engine, script = _engine_and_script(r)
    assert engine is not None and script is not None, name


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
       st.integers(min_value=-3, max_value=3))
def test_commitment_must_predate_the_beacon_by_china_date(at: datetime, days: int) -> None:
    """Whatever the instant, the record holds exactly when its China date is before the
    beacon's date; the engine and the stand-alone script agree (midnight in China included)."""
    at = at.replace(tzinfo=UTC, microsecond=0)
    published = china_date(at) + timedelta(days=days)
    engine, script = _engine_and_script(_record(at, published))
    holds = china_date(at) < published
    assert (engine is None) == holds and (script is None) == holds


def test_committed_at_is_utc_to_the_second() -> None:
    at = datetime(2026, 12, 9, 16, 0, 5, tzinfo=UTC)  # 2026-12-10 00:00:05 in China
    c = Commitment(1, EMPTY_SHA, at, "x", date(2026, 12, 20))
    assert c.as_record()["committed_at"] == at.strftime(COMMITTED_AT_FORMAT)
    assert c.as_record()["committed_on"] == "2026-12-10"
    assert c.seed is None and c.as_record()["beacon"]["value"] is None


# --- the plan -------------------------------------------------------------------------------

def _plan(seed: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "seed = 20230814" in text
    return text.replace("seed = 20230814", f"seed = {seed}")


def test_plan_names_the_beacon() -> None:
    plan = parse_plan(_plan('{ beacon = " 福彩3D第2026330期 ", published_on = 2026-12-20 }'))
    assert plan.beacon == SeedBeacon("福彩3D第2026330期", date(2026, 12, 20))
    assert plan.seed is None
    assert plan.as_dict()["beacon"] == {"name": "福彩3D第2026330期", "published_on": "2026-12-20"}


@pytest.mark.parametrize("seed", ["20230814", '"auto"', '"007"'])
def test_a_plain_seed_has_no_beacon(seed: str) -> None:
    plan = parse_plan(_plan(seed))
    assert plan.beacon is None and plan.as_dict()["beacon"] is None


BAD_TABLES = {
    "{ published_on = 2026-12-20 }": {"campaign.seed.beacon"},
    '{ beacon = "x" }': {"campaign.seed.published_on"},
    '{ beacon = "", published_on = 2026-12-20 }': {"campaign.seed.beacon"},
    '{ beacon = 3, published_on = "2026-12-20" }': {"campaign.seed.beacon",
                                                    "campaign.seed.published_on"},
    '{ beacon = "x", published_on = 2026-12-20T10:00:00 }': {"campaign.seed.published_on"},
    '{ beacon = "x", published_on = 2026-12-20, value = "1" }': {"campaign.seed.value"},
    '{ beacon = "a\\nb", published_on = 2026-12-20 }': {"campaign.seed.beacon"},
    "[1, 2]": {"campaign.seed"},
}


@pytest.mark.parametrize("seed", sorted(BAD_TABLES))
def test_bad_seed_table_names_each_key_path(seed: str) -> None:
    with pytest.raises(PlanError) as e:
        parse_plan(_plan(seed))
    assert {p[0] for p in e.value.problems} == BAD_TABLES[seed]
    assert all(p[2] for p in e.value.problems)  # every mistake in Chinese too


@given(st.text(min_size=1, max_size=40).filter(
    lambda s: s.strip() and all(ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in s)))
def test_any_one_line_name_round_trips(name: str) -> None:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    plan = parse_plan(_plan(f'{{ beacon = "{escaped}", published_on = 2026-12-20 }}'))
    assert plan.beacon is not None and plan.beacon.name == name.strip()


# --- the publication ------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_publication_prints_commitment_beacon_and_seed(lang: str) -> None:
    content = sample("draw_publication", lang)
    r = _record()
    content["draw"]["seed"] = r["seed"]
    content["draw"]["commitment"] = copy.deepcopy(r["commitment"])
    html = render.render_html(content)
    for text in (r["seed"], "福彩3D第2026330期", "7 2 9", "2026-12-10T02:30:00Z", "lookback-seed/1"):
        assert text in html, text
    content["draw"]["commitment"] = None
    plain = render.render_html(content)
    assert "7 2 9" not in plain
    assert ("未事先承诺" if lang == "zh" else "not committed in advance") in plain
