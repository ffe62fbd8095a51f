"""`lookback up`: the whole local stack, for real — a Prefect server, a worker of the process
pool ``lookback``, the API and the scheduler — and the commands that find it.

One stack is started for the module (the Prefect server takes a while); each test uses it, and
the last stops it with `lookback down` and checks that nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lookback import stack
from tests.e2e.test_remote_cli import free_port
from tests.plans import small_plan

pytestmark = pytest.mark.skipif(bool(os.environ.get("LOOKBACK_TEST_DATABASE_URL")),
                                reason="the stack test runs once, on SQLite")

ROOT = Path(__file__).resolve().parents[2]
NOW = "2023-09-25T09:00:00+08:00"


@dataclass
class Stack:
    folder: Path
    db: Path
    data: Path
    up: subprocess.Popen[str]
    api_port: int
    prefect_port: int

    def cli(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lookback.cli", "--db", str(self.db), "--data-dir",
             str(self.data), "--lang", "en", "--now", NOW, *args], capture_output=True,
            text=True, cwd=self.folder, timeout=timeout, check=False,
            env=env or _env())

    def json(self, *args: str) -> Any:
        done = self.cli("--json", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    s = Stack(folder, folder / "lookback.db", folder / "data", None,  # type: ignore[arg-type]
              free_port(), free_port())
    for args in (("init",),
                 ("registry", "generate", "--businesses", "1500", "--seed", "11", "--out",
                  str(folder / "reg")),
                 ("registry", "import", str(folder / "reg" / "businesses.csv"), "--kind",
                  "businesses"),
                 ("registry", "import", str(folder / "reg" / "inspectors.csv"), "--kind",
                  "inspectors")):
        done = s.cli(*args)
        assert done.returncode == 0, done.stderr
    (folder / "plan.toml").write_text(small_plan(title="服务栈测试"), encoding="utf-8")
    for _ in range(2):
        assert s.cli("campaign", "create", str(folder / "plan.toml")).returncode == 0
    (folder / "big.toml").write_text(small_plan(title="服务栈测试（大批）", total=40),
                                     encoding="utf-8")
    assert s.cli("campaign", "create", str(folder / "big.toml")).returncode == 0  # campaign 3
    s.up = subprocess.Popen(
        [sys.executable, "-m", "lookback.cli", "--db", str(s.db), "--data-dir", str(s.data),
         "--lang", "en", "--now", NOW, "up", "--prefect-port", str(s.prefect_port),
         "--api-port", str(s.api_port), "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, cwd=folder, env=_env())
    deadline = time.monotonic() + 240
    while stack.read_state(s.data.resolve()) is None:
        if s.up.poll() is not None or time.monotonic() > deadline:
            out = s.up.stdout.read() if s.up.stdout else ""
            raise RuntimeError(f"`lookback up` did not come up: {out}")
        time.sleep(0.5)
    try:
        yield s
    finally:
        if s.up.poll() is None:
            s.up.send_signal(signal.SIGINT)
            try:
                s.up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                s.up.kill()


def test_status_shows_every_part_healthy(up: Stack) -> None:
    status = up.json("status")
    assert status["up"] and status["healthy"], status
    assert [p["name"] for p in status["parts"]] == ["prefect-server", "worker-1", "worker-2",
                                                    "api", "scheduler"]
    assert httpx.get(f"http://127.0.0.1:{up.api_port}/health", timeout=5).status_code == 200
    ui = httpx.get(f"http://127.0.0.1:{up.prefect_port}/", timeout=10)
    assert ui.status_code == 200  # the Prefect UI


def test_a_launch_goes_through_the_deployment_to_the_worker(up: Stack) -> None:
    """A command in another terminal finds the stack (state file) and submits the run; the
    worker, with the database in its own environment, runs it. The run's parameters hold only
    the campaign id and the clock."""
    done = up.cli("--json", "campaign", "launch", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "launched" and out["visits_planned"] == 12 and out["flow_run_id"]
    assert "Starting a temporary" not in done.stderr and "Running on the Lookback stack" in \
        done.stderr
    run = httpx.get(f"http://127.0.0.1:{up.prefect_port}/api/flow_runs/{out['flow_run_id']}",
                    timeout=10).json()
    assert run["deployment_id"] and run["state"]["type"] == "COMPLETED"
    assert run["parameters"] == {"campaign_id": 1, "now_iso": "2023-09-25T01:00:00+00:00"}
    deadline = time.monotonic() + 30  # the worker's run sends its logs in batches
    while True:
        logs = httpx.post(f"http://127.0.0.1:{up.prefect_port}/api/logs/filter", timeout=10,
                          json={"logs": {"flow_run_id": {"any_": [out["flow_run_id"]]}}}).json()
        if any("Completed" in entry["message"] for entry in logs) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any("Completed" in entry["message"] for entry in logs)  # INFO logs reach the server
    artifacts = httpx.post(f"http://127.0.0.1:{up.prefect_port}/api/artifacts/filter",
                           timeout=10, json={"artifacts": {"flow_run_id": {
                               "any_": [out["flow_run_id"]]}}}).json()
    # the result the command printed came from the run's artifact, not from Prefect's storage
    results = [a for a in artifacts if a["type"] == "lookback-result"]
    assert len(results) == 1
    assert json.loads(results[0]["data"])["visits_created"] == out["visits_created"]


def test_no_wait_returns_the_run_at_once(up: Stack) -> None:
    out = up.json("campaign", "launch", "2", "--no-wait")
    assert out["flow_run_id"] and out["state"] in ("SCHEDULED", "PENDING", "RUNNING")
    deadline = time.monotonic() + 120
    while up.json("campaign", "show", "2").get("status") != "launched":
        assert time.monotonic() < deadline, "the submitted launch never finished"
        time.sleep(1)


def test_a_notice_batch_fans_out_over_the_workers(up: Stack) -> None:
    """The rectification orders of a launched campaign: the parent run splits the pending
    notices into chunks, each a `render-notices` flow run taken by a worker; every notice is
    issued once and the numbers have no gaps."""
    visits = up.json("visit", "list", "--campaign", "1")["items"]
    for v in visits:
        done = up.cli("issue", "add", "--visit", str(v["id"]), "--category", "records",
                      "--severity", "general", "--description", "进货台账缺失",
                      "--provision", "1")
        assert done.returncode == 0, done.stderr
    out = up.json("notices", "issue", "--campaign", "1", "--kind", "rectification_order")
    assert out["issued_now"] == len(visits) == out["total"]
    serials = sorted(int(n.rsplit("〕", 1)[-1].rstrip("号")) for n in out["numbers"])
    assert serials == list(range(1, len(visits) + 1)), out["numbers"]
    api = f"http://127.0.0.1:{up.prefect_port}/api"
    runs = httpx.post(f"{api}/flow_runs/filter", timeout=10, json={
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}).json()
    flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", timeout=10,
                                                     json={}).json()}
    chunks = [r for r in runs if flows[r["flow_id"]] == "render-notices"]
    assert len(chunks) >= 2 and all(r["deployment_id"] for r in chunks), [
        (r["name"], r["parameters"], r["state"]["type"]) for r in runs]
    assert sum(len(r["parameters"]["ids"]) for r in chunks) == len(visits)
    again = up.json("notices", "issue", "--campaign", "1", "--kind", "rectification_order")
    assert again["issued_now"] == 0 and again["total"] == len(visits)


def _flow_runs(up: Stack, flow: str, **state: Any) -> list[dict[str, Any]]:
    api = f"http://127.0.0.1:{up.prefect_port}/api"
    body: dict[str, Any] = {"flows": {"name": {"any_": [flow]}}}
    if state:
        body["flow_runs"] = {"state": {"type": {"any_": state["types"]}}}
    runs: list[dict[str, Any]] = httpx.post(f"{api}/flow_runs/filter", json=body,
                                            timeout=10).json()
    return runs


def _create_running_run(api: str, deployment_id: str) -> dict[str, Any]:
    """A RUNNING flow run of the deployment. The Prefect server keeps its own SQLite file; on a
    loaded machine a write can answer 5xx ('database is locked'), so a server error is tried
    again a few times, and the last answer is shown if it never succeeds."""
    answer = None
    for _ in range(5):
        answer = httpx.post(f"{api}/deployments/{deployment_id}/create_flow_run", timeout=30,
                            json={"parameters": {"followup_ids": [999_999]},
                                  "state": {"type": "RUNNING", "name": "Running"}})
        if answer.status_code < 500:
            break
        time.sleep(2)
    assert answer is not None and answer.is_success, (answer.status_code, answer.text)
    run: dict[str, Any] = answer.json()
    return run


def test_a_run_whose_heartbeats_stop_is_marked_crashed(up: Stack) -> None:
    """The server's automation (registered by `lookback up`): a run that sent a heartbeat and
    then fell silent — its worker or process killed — becomes CRASHED once the window passes.
    The window is shortened for the test (in use it is 3 heartbeats, 90 s), which also checks
    that registering again updates the automation rather than adding a second one."""
    api = f"http://127.0.0.1:{up.prefect_port}/api"
    env = {**_env(), "PREFECT_API_URL": api}
    shorten = ("from lookback import stack; import sys; "
               "print(stack.ensure_crash_automation(int(sys.argv[1])))")
    first = subprocess.run([sys.executable, "-c", shorten, "12"], env=env, capture_output=True,
                           text=True, timeout=120, check=True).stdout.strip()
    try:
        automations = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
        assert [a["id"] for a in automations if a["name"] == stack.CRASH_AUTOMATION] == [first]
        deployment = httpx.get(f"{api}/deployments/name/lookback-review/lookback-review",
                               timeout=10).json()
        run = _create_running_run(api, deployment["id"])
        # a stand-in for a run on a worker: RUNNING, one heartbeat, then silence. No worker
        # takes it (it is not SCHEDULED).
        from datetime import UTC, datetime
        from uuid import uuid4

        beat = {"id": str(uuid4()), "occurred": datetime.now(UTC).isoformat(),
                "event": "prefect.flow-run.heartbeat",
                "resource": {"prefect.resource.id": f"prefect.flow-run.{run['id']}",
                             "prefect.resource.name": run["name"]}}
        assert httpx.post(f"{api}/events", json=[beat], timeout=10).status_code == 204
        deadline = time.monotonic() + 90
        state = run["state"]
        while state["type"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(1)
            state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()["state"]
        assert state["type"] == "CRASHED", state
        assert "heartbeat" in (state["message"] or "")
    finally:
        subprocess.run([sys.executable, "-c", shorten, str(stack.CRASH_AFTER_SECONDS)],
                       env=env, capture_output=True, timeout=120, check=True)


def test_the_consoles_launch_shows_the_prefect_run(up: Stack) -> None:
    """The office console's Launch, with the stack running: the launch is submitted to the
    `launch-campaign` deployment and the page's progress is the flow run's own state, followed
    until COMPLETED, with a link to the run in the Prefect UI."""
    import re

    created = up.json("campaign", "create", str(up.folder / "plan.toml"))
    cid = created["campaign_id"]
    first = up.json("users", "add", "stack-planner", "--role", "planner")["initial_password"]
    api = f"http://127.0.0.1:{up.api_port}"
    with httpx.Client(base_url=api, timeout=30) as c:
        form = c.get("/app/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None, form.text[:300]
        done = c.post("/app/login", data={"name": "stack-planner", "password": first,
                                          "new_password": "灶台-留样-每周排查-2026",
                                          "csrf": token[1], "next": "/app/office"})
        assert done.status_code == 303 and "lookback_session" in c.cookies, done.text[:300]
        page = c.get(f"/app/office/campaigns/{cid}")
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf is not None
        answer = c.post(f"/app/office/campaigns/{cid}/launch",
                        headers={"X-CSRF-Token": csrf[1], "Idempotency-Key": "stack-launch-1"})
        assert answer.status_code == 200, answer.text[:500]
        run = re.search(r"progress\?run=([0-9a-f-]{36})", answer.text)
        assert run is not None, answer.text[:800]
        assert f"/runs/flow-run/{run[1]}" in answer.text  # the link to the run in the UI
        deadline, state, fragment = time.monotonic() + 180, "", answer.text
        while time.monotonic() < deadline:
            found = re.search(r'data-state="([A-Z]+)"', fragment)
            state = found[1] if found else ""
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            time.sleep(1)
            fragment = c.get(f"/app/office/campaigns/{cid}/progress",
                             params={"run": run[1]}).text
        assert state == "COMPLETED", fragment[:800]
    prefect = f"http://127.0.0.1:{up.prefect_port}/api"
    flow_run = httpx.get(f"{prefect}/flow_runs/{run[1]}", timeout=10).json()
    assert flow_run["state"]["type"] == "COMPLETED"
    assert flow_run["parameters"]["campaign_id"] == cid and flow_run["deployment_id"]
    assert up.json("campaign", "show", str(cid))["status"] == "launched"


def test_down_stops_every_part(up: Stack) -> None:
    state = stack.read_state(up.data.resolve())
    assert state is not None
    done = up.cli("down")
    assert done.returncode == 0 and "Stopped" in done.stdout, done.stdout + done.stderr
    up.up.wait(timeout=60)
    assert not any(stack.alive(p.pid) for p in state.parts)
    assert not stack.state_path(up.data.resolve()).exists()
    assert "No Lookback stack" in up.cli("status").stdout
