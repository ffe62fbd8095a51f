"""Campaigns against a real database: launch is idempotent, crash-safe and safe to run twice at once;
the frame is frozen; the exclusion window works; a tampered record is caught."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import campaigns as svc
from domain.clock import FixedClock
from domain.importing import import_register
from domain.registers import RegisterKind
from storage.readers import RegisterFile
from storage.reports import ListProblemSink
from storage.synthetic import generate
from storage.uow import SqlUnitOfWork

CLOCK = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

PLAN = """
[campaign]
office = "某市食品安全委员会办公室"
title = "测试督查"
kind = "inspection"
starts_on = {starts}
ends_on = 2027-06-30
seed = {seed}

[scope]
provinces = ["370000", "410000", "440000", "320000"]
exclusion_days = {exclusion}

[[stages]]
unit = "city"
per_parent = 2

[[stages]]
unit = "business"

[sample]
total = {total}
strata = ["city"]
allocation = "proportional"
min_per_stratum = 1

[teams]
count = 3
members = 2
avoidance = "city"
"""


def plan(*, seed: int = 7, total: int = 40, starts: str = "2026-03-02", exclusion: int = 0) -> str:
    return PLAN.format(seed=seed, total=total, starts=starts, exclusion=exclusion)


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("registers")
    generate(folder, businesses=4000, seed=11)
    return folder


def load(uow_factory: Callable[[], SqlUnitOfWork], registers: Path) -> None:
    for kind in (RegisterKind.BUSINESSES, RegisterKind.INSPECTORS):
        f = RegisterFile(registers / f"{kind.value}.csv", kind)
        s = import_register(kind, f.rows(), uow_factory=uow_factory, clock=CLOCK,
                            sink=ListProblemSink(), source="t", sha256=f.sha256)
        assert s.rejected == 0


@pytest.fixture
def loaded(uow_factory: Callable[[], SqlUnitOfWork], registers: Path) -> Callable[[], SqlUnitOfWork]:
    load(uow_factory, registers)
    return uow_factory


def state(engine: Engine, cid: int) -> dict[str, object]:
    """Everything a launch writes, in a comparable form."""
    with engine.connect() as conn:
        visits = sorted(conn.execute(text(
            "SELECT uscc, team_no, status, stratum FROM visit WHERE campaign_id = :c"),
            {"c": cid}).all())
        members = sorted(conn.execute(text(
            "SELECT inspector_id, team_no, rank FROM team_member WHERE campaign_id = :c"),
            {"c": cid}).all())
        records = conn.execute(text(
            "SELECT record_json FROM draw_record WHERE campaign_id = :c"), {"c": cid}).all()
        frames = conn.execute(text(
            "SELECT sha256 FROM campaign_frame WHERE campaign_id = :c"), {"c": cid}).all()
        status = conn.execute(text("SELECT status FROM campaign WHERE id = :c"),
                              {"c": cid}).scalar_one()
    record = json.loads(records[0][0]) if records else None
    if record:
        record.pop("campaign")
    return {"visits": visits, "members": members, "records": len(records), "record": record,
            "frames": [f[0] for f in frames], "status": status}


def create(uow_factory: Callable[[], SqlUnitOfWork], text_: str) -> int:
    return svc.create_campaign(text_, source="plan.toml", uow_factory=uow_factory, clock=CLOCK,
                               new_seed=lambda: "424242")


def test_launch_twice_draws_nothing_new(loaded: Callable[[], SqlUnitOfWork], engine: Engine) -> None:
    cid = create(loaded, plan())
    record = svc.launch(cid, uow_factory=loaded, clock=CLOCK)
    first = state(engine, cid)
    assert first["status"] == "launched"
    assert len(first["visits"]) == record["total"] == 40  # type: ignore[arg-type]
    assert first["records"] == 1 and len(first["frames"]) == 1  # type: ignore[arg-type]
    again = svc.launch(cid, uow_factory=loaded, clock=CLOCK)
    assert again == record
    assert state(engine, cid) == first
    assert svc.verify_campaign(cid, uow_factory=loaded).ok


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_a_launch_interrupted_after_any_step_completes_to_the_same_state(
        loaded: Callable[[], SqlUnitOfWork], engine: Engine, steps: int) -> None:
    clean = create(loaded, plan())
    svc.launch(clean, uow_factory=loaded, clock=CLOCK)
    crashed = create(loaded, plan())
    # Each step commits on its own, so a crash can only fall between steps (or inside one,
    # which rolls it back): run the first `steps` steps, then launch again.
    svc.freeze_frame(crashed, uow_factory=loaded, clock=CLOCK)
    if steps >= 2:
        record = svc.run_draw(crashed, uow_factory=loaded, clock=CLOCK)
    if steps >= 3:
        svc.plan_teams(crashed, record, uow_factory=loaded)
    if steps >= 4:
        svc.plan_visits(crashed, svc.visit_rows(record)[:7], uow_factory=loaded)
    svc.launch(crashed, uow_factory=loaded, clock=CLOCK, chunk_rows=6)
    a, b = state(engine, clean), state(engine, crashed)
    assert a["visits"] == b["visits"] and a["members"] == b["members"]
    assert a["record"] == b["record"] and a["frames"] == b["frames"]
    assert b["status"] == "launched" and b["records"] == 1


def test_two_launches_at_once_end_with_one_draw(loaded: Callable[[], SqlUnitOfWork],
                                                engine: Engine) -> None:
    cid = create(loaded, plan(total=60))
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            barrier.wait()
            svc.launch(cid, uow_factory=loaded, clock=CLOCK, chunk_rows=5)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = state(engine, cid)
    assert s["records"] == 1 and len(s["frames"]) == 1  # type: ignore[arg-type]
    assert len(s["visits"]) == 60  # type: ignore[arg-type]
    assert len({v[0] for v in s["visits"]}) == 60  # type: ignore[union-attr]
    assert svc.verify_campaign(cid, uow_factory=loaded).ok


def test_frame_is_frozen_at_launch(loaded: Callable[[], SqlUnitOfWork], engine: Engine) -> None:
    cid = create(loaded, plan())
    svc.launch(cid, uow_factory=loaded, clock=CLOCK)
    before = state(engine, cid)
    with engine.begin() as conn:  # the register changes after the launch
        conn.execute(text("UPDATE business SET status = 'closed' WHERE province_code = '370000'"))
    svc.launch(cid, uow_factory=loaded, clock=CLOCK)
    assert state(engine, cid) == before
    assert svc.verify_campaign(cid, uow_factory=loaded).ok


def test_same_seed_and_registers_give_the_same_draw_in_another_campaign(
        loaded: Callable[[], SqlUnitOfWork], engine: Engine) -> None:
    a = create(loaded, plan(seed=99))
    b = create(loaded, plan(seed=99))
    c = create(loaded, plan(seed=100))
    ra = svc.launch(a, uow_factory=loaded, clock=CLOCK)
    # b's frame is frozen before a's visits count for exclusion (exclusion_days = 0 here).
    rb = svc.launch(b, uow_factory=loaded, clock=CLOCK)
    rc = svc.launch(c, uow_factory=loaded, clock=CLOCK)
    picks = [{p["unit"] for p in r["stages"][-1]["chosen"]} for r in (ra, rb, rc)]
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]


def test_exclusion_window_leaves_out_recently_inspected_businesses(
        loaded: Callable[[], SqlUnitOfWork], engine: Engine) -> None:
    first = create(loaded, plan(total=60, starts="2026-01-05"))
    r1 = svc.launch(first, uow_factory=loaded, clock=CLOCK)
    visited = {p["unit"] for p in r1["stages"][-1]["chosen"]}
    later = create(loaded, plan(total=60, starts="2026-03-02", exclusion=180))
    svc.freeze_frame(later, uow_factory=loaded, clock=CLOCK)
    with loaded() as uow:
        frame = uow.campaigns.get_frame(later)
    assert frame is not None
    in_frame = {ln.split(",")[1] for ln in frame.lines if ln.startswith("business,")}
    assert visited and not (visited & in_frame)
    outside = create(loaded, plan(total=60, starts="2026-12-01", exclusion=30))
    svc.freeze_frame(outside, uow_factory=loaded, clock=CLOCK)
    with loaded() as uow:
        frame2 = uow.campaigns.get_frame(outside)
    assert frame2 is not None
    assert visited <= {ln.split(",")[1] for ln in frame2.lines if ln.startswith("business,")}


def test_tampered_record_in_the_database_is_caught(loaded: Callable[[], SqlUnitOfWork],
                                                   engine: Engine) -> None:
    cid = create(loaded, plan())
    record = svc.launch(cid, uow_factory=loaded, clock=CLOCK)
    chosen = record["stages"][-1]["chosen"]
    with loaded() as uow:
        frame = uow.campaigns.get_frame(cid)
    assert frame is not None
    picked = {p["unit"] for p in chosen}
    outsider = next(ln.split(",")[1] for ln in frame.lines
                    if ln.startswith("business,") and ln.split(",")[1] not in picked)
    tampered = json.loads(json.dumps(record))
    tampered["stages"][-1]["chosen"][0]["unit"] = outsider
    with engine.begin() as conn:
        conn.execute(text("UPDATE draw_record SET record_json = :r WHERE campaign_id = :c"),
                     {"r": json.dumps(tampered, ensure_ascii=False), "c": cid})
    result = svc.verify_campaign(cid, uow_factory=loaded)
    assert not result.ok
    assert result.difference is not None and "stages[1].chosen" in result.difference


def test_extension_keeps_every_pick_and_plans_new_visits(loaded: Callable[[], SqlUnitOfWork],
                                                         engine: Engine) -> None:
    cid = create(loaded, plan(total=30))
    before = svc.launch(cid, uow_factory=loaded, clock=CLOCK)
    teams_before = {a["uscc"]: a["team"] for a in before["assignments"]}
    after = svc.extend_campaign(cid, 45, uow_factory=loaded, clock=CLOCK)
    teams_after = {a["uscc"]: a["team"] for a in after["assignments"]}
    assert after["total"] == 45 and len(teams_after) == 45
    assert all(teams_after[u] == t for u, t in teams_before.items())
    assert len(state(engine, cid)["visits"]) == 45  # type: ignore[arg-type]
    assert svc.verify_campaign(cid, uow_factory=loaded).ok


def test_launch_through_the_prefect_flow(loaded: Callable[[], SqlUnitOfWork], engine: Engine,
                                         db_url: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Prefect flow (temporary local server), run twice: one draw, same state. The
    database comes from the process's settings: the flow run's parameters hold only the
    campaign id and the clock, no URL and no password."""
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("LOOKBACK_DATABASE_URL", db_url)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.launch import launch_campaign

    cid = create(loaded, plan())
    direct = create(loaded, plan())
    svc.launch(direct, uow_factory=loaded, clock=CLOCK)
    state_of_run = launch_campaign(cid, CLOCK.now().isoformat(), return_state=True)
    result = state_of_run.result()
    assert result["sampled"] == 40 and result["visits_created"] == 40
    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state_of_run.state_details.flow_run_id])))
    assert run.parameters == {"campaign_id": cid, "now_iso": CLOCK.now().isoformat()}
    first = state(engine, cid)
    again = launch_campaign(cid, CLOCK.now().isoformat())
    assert again["visits_created"] == 0
    assert state(engine, cid) == first
    expected = state(engine, direct)
    assert first["visits"] == expected["visits"] and first["record"] == expected["record"]
