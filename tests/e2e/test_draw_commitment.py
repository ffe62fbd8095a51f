"""The draw commitment end to end through the CLI: a plan names a public beacon, the planner
commits the frame before the beacon's date, enters the value once published, launches, and both
verifiers (`lookback draw verify` and the standalone docs/verify_draw.py) check that the seed
derives from the committed frame hash and the beacon value, committed before the beacon."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.sampling import beacon_seed
from lookback.cli import app

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plan-2023-two-responsibilities.toml"
SCRIPT = ROOT / "docs" / "verify_draw.py"
BEACON = "福彩3D第2026330期开奖号码"
PUBLISHED = "2026-12-20"
VALUE = "7 2 9"
BEFORE = "2026-12-10T10:30:00+08:00"  # China date 2026-12-10, before the beacon
EVE = "2026-12-20T07:59:00+08:00"  # still 2026-12-19 in UTC, already 2026-12-20 in China
DAY_BEFORE = "2026-12-19T23:59:00+08:00"
AFTER = "2026-12-20T21:00:00+08:00"


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result.stdout if "--json" in args else result.output


def beacon_plan(folder: Path, published_on: str = PUBLISHED) -> Path:
    text = PLAN.read_text(encoding="utf-8")
    assert "seed = 20230814" in text
    plan = folder / f"beacon-{published_on}.toml"
    plan.write_text(text.replace(
        "seed = 20230814", f'seed = {{ beacon = "{BEACON}", published_on = {published_on} }}'),
        encoding="utf-8")
    return plan


def verify_script(record: Path, frame: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(record), str(frame)],
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Registers, a beacon campaign (1) committed, entered and launched, and its first answers."""
    folder = tmp_path_factory.mktemp("commitment")
    base = ["--db", str(folder / "lookback.db"), "--lang", "en", "--data-dir",
            str(folder / "data")]
    run(*base, "init")
    run(*base, "registry", "generate", "--businesses", "3000", "--seed", "5", "--out",
        str(folder / "reg"))
    for kind in ("businesses", "inspectors"):
        run(*base, "registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    plan = beacon_plan(folder)
    created = json.loads(run(*base, "--now", BEFORE, "--json", "campaign", "create", str(plan)))
    cid = str(created["campaign_id"])
    assert created["seed"] == "" and created["seed_auto"] is False

    # Launching before the commitment is refused, naming the command to run.
    early = run(*base, "--now", BEFORE, "campaign", "launch", cid, code=4)
    assert f"lookback draw commit {cid}" in early

    first = json.loads(run(*base, "--now", BEFORE, "--json", "draw", "commit", cid))
    # Committing again (even later) gives the same answer and changes nothing.
    again = json.loads(run(*base, "--now", AFTER, "--json", "draw", "commit", cid))
    human = run(*base, "--now", BEFORE, "draw", "commit", cid)

    # Before the beacon's date (China) the value is refused, and so is a launch without it.
    refused_day_before = run(*base, "--now", DAY_BEFORE, "draw", "beacon", cid, VALUE, code=4)
    no_value = run(*base, "--now", BEFORE, "campaign", "launch", cid, code=4)
    entered = json.loads(run(*base, "--now", EVE, "--json", "draw", "beacon", cid, VALUE))
    # The same value again is the same answer.
    entered_again = json.loads(run(*base, "--now", AFTER, "--json", "draw", "beacon", cid, VALUE))
    launched = json.loads(run(*base, "--now", AFTER, "--json", "campaign", "launch", cid))
    return {"base": base, "folder": folder, "cid": cid, "first": first, "again": again,
            "human": human, "refused_day_before": refused_day_before, "no_value": no_value,
            "entered": entered, "entered_again": entered_again, "launched": launched}


def test_commit_freezes_the_frame_and_is_safe_to_repeat(site: dict[str, Any]) -> None:
    first, again = site["first"], site["again"]
    c = first["commitment"]
    assert first == again
    assert c["committed_at"] == "2026-12-10T02:30:00Z" and c["committed_on"] == "2026-12-10"
    assert c["beacon"] == {"name": BEACON, "published_on": PUBLISHED, "value": None}
    assert c["seed_derivation"] == "lookback-seed/1" and c["seed"] is None
    assert c["frame_sha256"] == first["frame"]["sha256"] and first["frame"]["businesses"] > 0
    # The launch reuses the frame frozen by the commitment.
    assert site["launched"]["frame"]["sha256"] == c["frame_sha256"]
    assert c["frame_sha256"] in site["human"] and PUBLISHED in site["human"]


def test_beacon_value_refused_before_its_date_and_launch_refused_without_it(site: dict[str, Any]) -> None:
    cid = site["cid"]
    assert "2026-12-20" in site["refused_day_before"]
    assert "on or after" in site["refused_day_before"]
    assert f"lookback draw beacon {cid} VALUE" in site["no_value"]


def test_seed_is_derived_from_the_frame_hash_and_the_beacon_value(site: dict[str, Any]) -> None:
    frame_sha = site["first"]["commitment"]["frame_sha256"]
    seed = beacon_seed(frame_sha, VALUE)
    assert site["entered"]["seed"] == seed == site["entered_again"]["seed"]
    record = json.loads(run(*site["base"], "--json", "draw", "show", site["cid"]))
    assert record["seed"] == record["params"]["seed"] == seed
    assert record["commitment"] == {
        "seed_derivation": "lookback-seed/1", "frame_sha256": frame_sha,
        "committed_at": "2026-12-10T02:30:00Z", "committed_on": "2026-12-10",
        "beacon": {"name": BEACON, "published_on": PUBLISHED, "value": VALUE}}
    shown = run(*site["base"], "draw", "show", site["cid"])
    assert BEACON in shown and VALUE in shown and frame_sha in shown
    campaign = run(*site["base"], "campaign", "show", site["cid"])
    assert seed[:20] in campaign and BEACON in campaign


def test_value_cannot_change_after_the_launch(site: dict[str, Any]) -> None:
    out = run(*site["base"], "--now", AFTER, "draw", "beacon", site["cid"], "1 2 3", code=4)
    assert "launched" in out
    # The same value is still a harmless repeat.
    run(*site["base"], "--now", AFTER, "draw", "beacon", site["cid"], VALUE)


def test_both_verifiers_accept_the_committed_draw_and_catch_tampering(site: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    base, cid = site["base"], site["cid"]
    ok = run(*base, "draw", "verify", cid)
    assert "OK" in ok and "seed committed" in ok
    run(*base, "draw", "export", cid, str(tmp_path / "pub"))
    rec, frame = tmp_path / "pub" / "record.json", tmp_path / "pub" / "frame.csv"
    ok = run("--lang", "en", "draw", "verify", "--record", str(rec), "--frame", str(frame))
    assert "OK" in ok and "seed committed" in ok
    script = verify_script(rec, frame)
    assert script.returncode == 0, script.stdout + script.stderr
    assert script.stdout.startswith("OK:") and "seed committed on 2026-12-10" in script.stdout

    original = json.loads(rec.read_text(encoding="utf-8"))

    def tampered(change: Callable[[dict[str, Any]], object], name: str) -> Path:
        data = json.loads(json.dumps(original))
        change(data)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    cases = {
        "value": lambda d: d["commitment"]["beacon"].update(value="7 2 8"),
        # Moved to the beacon's date (China), with a consistent China date: too late.
        "late": lambda d: d["commitment"].update(committed_at="2026-12-19T16:00:00Z",
                                                  committed_on="2026-12-20"),
        # The instant changed, the China date left as it was: inconsistent.
        "time": lambda d: d["commitment"].update(committed_at="2026-12-12T02:30:00Z"),
        "frame": lambda d: d["commitment"].update(frame_sha256="0" * 64),
        "published": lambda d: d["commitment"]["beacon"].update(published_on="2026-12-09"),
    }
    for name, change in cases.items():
        bad = tampered(change, name)
        out = run("--json", "draw", "verify", "--record", str(bad), "--frame", str(frame),
                  code=1)
        assert json.loads(out)["ok"] is False, name
        human = run("--lang", "en", "draw", "verify", "--record", str(bad), "--frame",
                    str(frame), code=1)
        assert "MISMATCH" in human and ("commitment" in human or "seed" in human), name
        script = verify_script(bad, frame)
        assert script.returncode == 1 and script.stdout.startswith("DIFFERENT:"), (name,
                                                                                  script.stdout)
        assert "commitment" in script.stdout or "seed" in script.stdout, (name, script.stdout)


def test_a_plain_seed_still_verifies_and_says_not_committed(site: dict[str, Any], tmp_path: Path) -> None:
    base = site["base"]
    cid = str(json.loads(run(*base, "--now", BEFORE, "--json", "campaign", "create",
                             str(PLAN)))["campaign_id"])
    refused = run(*base, "--now", BEFORE, "draw", "commit", cid, code=4)
    assert "plain seed" in refused
    refused = run(*base, "--now", BEFORE, "draw", "beacon", cid, VALUE, code=4)
    assert "plain seed" in refused
    run(*base, "--now", BEFORE, "campaign", "launch", cid)
    record = json.loads(run(*base, "--json", "draw", "show", cid))
    assert record["commitment"] is None and record["seed"] == "20230814"
    assert "not committed" in run(*base, "draw", "show", cid)
    ok = run(*base, "draw", "verify", cid)
    assert "OK" in ok and "seed not committed" in ok
    run(*base, "draw", "export", cid, str(tmp_path / "pub"))
    rec, frame = tmp_path / "pub" / "record.json", tmp_path / "pub" / "frame.csv"
    script = verify_script(rec, frame)
    assert script.returncode == 0 and script.stdout.rstrip().endswith("seed not committed")
    # A record published before commitments existed (no such field) verifies as before.
    data = json.loads(rec.read_text(encoding="utf-8"))
    del data["commitment"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert "seed not committed" in run("--lang", "en", "draw", "verify", "--record", str(old),
                                       "--frame", str(frame))
    assert verify_script(old, frame).returncode == 0
    # Committing a launched campaign is refused.
    assert "draft" in run(*base, "draw", "commit", cid, code=4)


def test_commit_refused_on_or_after_the_beacon_date(site: dict[str, Any]) -> None:
    base, folder = site["base"], site["folder"]
    plan = beacon_plan(folder, "2026-12-11")
    cid = str(json.loads(run(*base, "--now", BEFORE, "--json", "campaign", "create",
                             str(plan)))["campaign_id"])
    # 2026-12-11 00:30 in China is still 2026-12-10 in UTC: the China date decides.
    out = run(*base, "--now", "2026-12-11T00:30:00+08:00", "draw", "commit", cid, code=4)
    assert "too late" in out and "2026-12-11" in out
    out = run(*base, "--now", "2026-12-11T09:00:00+08:00", "draw", "beacon", cid, VALUE, code=4)
    assert f"lookback draw commit {cid}" in out
    # Nothing was frozen or recorded by the refusal.
    shown = json.loads(run(*base, "--json", "campaign", "show", cid))
    assert shown["frame_businesses"] is None and shown["status"] == "draft"


def test_a_bad_seed_table_names_its_key_path(site: dict[str, Any], tmp_path: Path) -> None:
    base = site["base"]
    plan = tmp_path / "bad.toml"
    plan.write_text(PLAN.read_text(encoding="utf-8").replace(
        "seed = 20230814", 'seed = { beacon = "", published_on = "soon", when = 1 }'),
        encoding="utf-8")
    out = run(*base, "--lang", "en", "campaign", "create", str(plan), code=2)
    for path in ("campaign.seed.beacon", "campaign.seed.published_on", "campaign.seed.when"):
        assert path in out



def test_migration_0017_adds_and_removes_the_commitment_table(tmp_path: Path) -> None:
    """0016 → 0017 adds draw_commitment next to an existing campaign; 0017 → 0016 removes it."""
    from alembic import command
    from sqlalchemy import inspect, text

    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0016")
    with engine.begin() as c:
        c.execute(text("INSERT INTO campaign (office, office_short, title, kind, status, "
                       "starts_on, ends_on, seed, seed_auto, plan_json, plan_source, created_at) "
                       "VALUES ('o', '', 't', 'inspection', 'draft', '2026-12-01', '2026-12-31', "
                       "'1', 0, '{}', '', '2026-12-01')"))
    assert "draw_commitment" not in inspect(engine).get_table_names()
    assert migrate.upgrade(engine) == ("0016", "0017") and migrate.HEAD == "0017"
    with engine.begin() as c:
        c.execute(text("INSERT INTO draw_commitment (campaign_id, frame_sha256, committed_at, "
                       "beacon_name, published_on) VALUES (1, :s, '2026-12-10 02:00:00', 'b', "
                       "'2026-12-20')"), {"s": "0" * 64})
        row = c.execute(text("SELECT beacon_value FROM draw_commitment")).one()
    assert row == (None,)
    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    assert "draw_commitment" not in inspect(engine).get_table_names()
    assert migrate.current_revision(engine) == "0016"
