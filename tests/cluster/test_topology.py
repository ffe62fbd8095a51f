"""The national topology, for real, on one machine (``scripts/cluster.py``): Lookback on
PostgreSQL, a Prefect server on its own PostgreSQL database, two workers of the pool
``lookback``, two API processes and a scheduler leader with a standby.

One cluster is started for the module, on fresh databases; the tests run in order and the kill
test comes last. They need PostgreSQL: ``scripts/test.sh`` runs them in its PostgreSQL pass (the
URL of ``LOOKBACK_TEST_DATABASE_URL`` names the server; the cluster's own two databases are
created beside it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import pytest

from tests.e2e.test_remote_cli import free_port
from tests.plans import small_plan

BASE_URL = os.environ.get("LOOKBACK_TEST_DATABASE_URL", "")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not BASE_URL, reason="needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass")]

ROOT = Path(__file__).resolve().parents[2]
NOW = "2023-09-25T09:00:00+08:00"  # the campaign's time, and the clock the cluster runs from
EARLIER = "2023-09-04T09:00:00+08:00"  # an issue found then has its follow-ups due by NOW
CHUNK_TIMEOUT = 20  # seconds before the parent of a fanned-out batch resubmits a lost chunk


def _db(name: str) -> str:
    parts = urlsplit(BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _recreate(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit((parts.scheme.split("+", 1)[0], parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


@dataclass
class Cluster:
    run_dir: Path
    db: str
    state: dict[str, Any]

    @property
    def api(self) -> str:
        return str(self.state["prefect_api_url"])

    def part(self, name: str) -> dict[str, Any]:
        return next(p for p in self.state["parts"] if p["name"] == name)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LOOKBACK_"))}
        return {**base, **self.state["client_env"], "PREFECT_HOME": str(self.run_dir / "cli-home")}

    def cli(self, *args: str, now: str | None = NOW,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        clock = ["--now", now] if now else []
        return subprocess.run(
            [sys.executable, "-m", "lookback.cli", "--db", self.db, "--data-dir",
             self.state["data_dir"], "--lang", "en", *clock, *args], capture_output=True,
            text=True, cwd=ROOT, timeout=timeout, check=False, env=self.env())

    def json(self, *args: str, now: str | None = NOW) -> Any:
        done = self.cli("--json", *args, now=now)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.db) as conn:
            return list(conn.execute(query, params).fetchall())

    def runs(self, flow: str, **filters: Any) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"flows": {"name": {"any_": [flow]}}, **filters}
        runs: list[dict[str, Any]] = httpx.post(f"{self.api}/flow_runs/filter", json=body,
                                                timeout=10).json()
        return runs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    run_dir = tmp_path_factory.mktemp("cluster")
    db, prefect_db = _db("lookback_cluster_test"), _db("lookback_prefect_test")
    _recreate(db)
    _recreate(prefect_db)
    script = [sys.executable, str(ROOT / "scripts" / "cluster.py")]
    up = subprocess.run(
        [*script, "up", "--run-dir", str(run_dir), "--database-url", db,
         "--prefect-database-url", prefect_db, "--prefect-port", str(free_port()),
         "--api-port", str(free_port(2)), "--apis", "2", "--workers", "2", "--schedulers", "2",
         "--lease-seconds", "6", "--sweep-seconds", "5", "--chunk-timeout", str(CHUNK_TIMEOUT),
         "--now", NOW],
        capture_output=True, text=True, cwd=ROOT, timeout=400, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        c = Cluster(run_dir, db, json.loads((run_dir / "cluster.json").read_text("utf-8")))
        reg = run_dir / "reg"
        for args in (("registry", "generate", "--businesses", "1500", "--seed", "11", "--out",
                      str(reg)),
                     ("registry", "import", str(reg / "businesses.csv"), "--kind", "businesses"),
                     ("registry", "import", str(reg / "inspectors.csv"), "--kind",
                      "inspectors")):
            done = c.cli(*args)
            assert done.returncode == 0, done.stderr
        for title, total, office in (("集群测试", 24, "某市食品安全委员会办公室"),
                                     ("集群测试（杀进程）", 40, "某省食品安全委员会办公室")):
            (run_dir / "plan.toml").write_text(small_plan(title=title, total=total,
                                                          office=office), encoding="utf-8")
            assert c.cli("campaign", "create", str(run_dir / "plan.toml")).returncode == 0
        yield c
    finally:
        subprocess.run([*script, "down", "--run-dir", str(run_dir)], capture_output=True,
                       timeout=120, check=False)
        for p in json.loads((run_dir / "cluster.json").read_text("utf-8"))["parts"] \
                if (run_dir / "cluster.json").exists() else []:
            assert not psutil.pid_exists(p["pid"]) or \
                psutil.Process(p["pid"]).status() == psutil.STATUS_ZOMBIE


def _add_issues(c: Cluster, campaign: int) -> list[dict[str, Any]]:
    visits: list[dict[str, Any]] = c.json("visit", "list", "--campaign",
                                          str(campaign))["items"]
    for v in visits:
        done = c.cli("issue", "add", "--visit", str(v["id"]), "--category", "records",
                     "--severity", "general", "--description", "进货台账缺失", "--provision", "1")
        assert done.returncode == 0, done.stderr
    return visits


def _serials(numbers: list[str]) -> list[int]:
    return sorted(int(n.rsplit("〕", 1)[-1].rstrip("号")) for n in numbers)


def test_1_a_launch_goes_through_the_deployment(cluster: Cluster) -> None:
    """The CLI on another machine (here: with the client environment of the cluster) submits
    the launch to the `launch-campaign` deployment; a worker, with the database in its own
    environment, runs it. The run's parameters hold no credentials."""
    for campaign in (1, 2):
        done = cluster.cli("--json", "campaign", "launch", str(campaign))
        assert done.returncode == 0, done.stdout + done.stderr
        out = json.loads(done.stdout)
        assert out["status"] == "launched" and out["flow_run_id"]
        assert "Submitting to the workers" in done.stderr
        assert "Starting a temporary" not in done.stderr
        run = httpx.get(f"{cluster.api}/flow_runs/{out['flow_run_id']}", timeout=10).json()
        assert run["deployment_id"] and run["state"]["type"] == "COMPLETED"
        assert "lookback:" not in json.dumps(run["parameters"])  # no password in the UI
        assert run["parameters"]["campaign_id"] == campaign


def test_2_notices_are_rendered_by_both_workers_once_without_gaps(cluster: Cluster) -> None:
    visits = _add_issues(cluster, 1)
    out = cluster.json("notices", "issue", "--campaign", "1", "--kind", "rectification_order")
    assert out["issued_now"] == len(visits) == out["total"] == 24, out
    assert _serials(out["numbers"]) == list(range(1, 25)), out["numbers"]
    rows = cluster.sql("SELECT number, status FROM notice WHERE campaign_id = 1 AND "
                       "kind = 'rectification_order'")
    assert len(rows) == 24 == len({n for n, _ in rows}) and {s for _, s in rows} == {"issued"}
    chunks = cluster.runs("render-notices", flow_runs={
        "state": {"type": {"any_": ["COMPLETED"]}}})
    assert sum(len(r["parameters"]["ids"]) for r in chunks) == 24 and len(chunks) >= 2
    # Both workers took chunks (the server labels each run with the worker that took it).
    takers = {r["labels"].get("prefect.worker.name") for r in chunks}
    assert takers == {"cluster-worker-1", "cluster-worker-2"}, [r["labels"] for r in chunks]


def test_3_two_api_processes_take_concurrent_interview_writes(cluster: Cluster) -> None:
    """Twenty clients spread over the two API processes record interviews at once; every
    request succeeds and every interview is stored once. A retried request with the same
    Idempotency-Key, sent to both processes at once, is stored once."""
    from domain.checklists import default_checklists

    ports = [urlsplit(p["url"]).port for p in cluster.state["parts"]
             if p["name"].startswith("api-")]
    assert len(ports) == 2
    visits = cluster.json("visit", "list", "--campaign", "1")["items"]
    teams = sorted({v["team"] for v in visits})
    tokens = {t: cluster.json("users", "add", f"cluster-team-{t}", "--role", "auditor",
                              "--team", str(t), "--campaign", "1")["token"] for t in teams}
    items = [i.id for i in default_checklists().for_role("owner")]
    results: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        team = teams[k % len(teams)]
        mine = [v for v in visits if v["team"] == team]
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[k % 2]}", timeout=60, headers={
                "Authorization": f"Bearer {tokens[team]}"}) as http:
            for n in range(10):
                v = mine[n % len(mine)]
                name = f"业主{k:02d}{n:02d}"
                r = http.post(f"/visits/{v['id']}/interviews", json={
                    "role": "owner", "name": name,
                    "answers": [{"item_id": i, "result": "pass", "note": ""} for i in items]})
                with lock:
                    results.append((v["id"], r.status_code, name))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [s for _, s, _ in results if s != 201] == [], results[:5]
    stored = cluster.sql("SELECT visit_id, name FROM interview WHERE role = 'owner' AND "
                         "name LIKE '业主%%'")
    assert sorted(stored) == sorted((v, n) for v, _, n in results)

    key = str(uuid.uuid4())
    v = visits[0]
    body = {"role": "director", "name": "重试的总监",
            "answers": [{"item_id": i.id, "result": "pass", "note": ""}
                        for i in default_checklists().for_role("director")]}
    answers: list[int] = []

    def send(port: int) -> None:
        r = httpx.post(f"http://127.0.0.1:{port}/visits/{v['id']}/interviews", json=body,
                       timeout=60, headers={"Authorization": f"Bearer {tokens[v['team']]}",
                                            "Idempotency-Key": key})
        answers.append(r.status_code)

    pair = [threading.Thread(target=send, args=(p,)) for p in ports]
    for th in pair:
        th.start()
    for th in pair:
        th.join()
    assert 201 in answers and all(s in (201, 409) for s in answers), answers
    assert cluster.sql("SELECT count(*) FROM interview WHERE name = '重试的总监'") == [(1,)]


def test_3b_notices_through_the_api_are_a_job_on_the_workers(cluster: Cluster) -> None:
    """With the APIs' flows on the workers, issuing notices answers 202 with a job at once;
    any API process follows it to COMPLETED, with done/total counted from the records."""
    token = cluster.json("users", "add", "cluster-office", "--role", "office")["token"]
    ports = [urlsplit(p["url"]).port for p in cluster.state["parts"]
             if p["name"].startswith("api-")]
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"http://127.0.0.1:{ports[0]}/campaigns/1/notices", headers=auth,
                   json={"kind": "circular", "lang": "zh"}, timeout=60)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}" and job["kind"] == "issue-notices"
    assert job["campaign_id"] == 1 and job["notice_kind"] == "circular"
    deadline = time.monotonic() + 120
    while job["state"] not in ("COMPLETED", "FAILED", "CRASHED"):
        assert time.monotonic() < deadline, job
        time.sleep(1)
        got = httpx.get(f"http://127.0.0.1:{ports[1]}/jobs/{job['id']}", headers=auth,
                        timeout=30)
        assert got.status_code == 200, got.text
        job = got.json()
    assert job["state"] == "COMPLETED" and job["done"] == job["total"] == 1, job
    assert cluster.sql("SELECT status FROM notice WHERE campaign_id = 1 AND kind = 'circular'"
                       ) == [("issued",)]
    # An auditor may not follow an office's job; an unknown job is a 404, not a 500.
    auditor = cluster.json("users", "add", "cluster-auditor", "--role", "auditor", "--team", "1",
                           "--campaign", "1")["token"]
    assert httpx.get(f"http://127.0.0.1:{ports[0]}/jobs/{job['id']}", timeout=30, headers={
        "Authorization": f"Bearer {auditor}"}).status_code == 403
    for bad in (str(uuid.uuid4()), "not-a-job"):
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/jobs/{bad}", headers=auth,
                         timeout=30).status_code == 404


def _leader(c: Cluster, not_: str = "") -> dict[str, Any]:
    """The scheduler part that holds the lease (other than ``not_``)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lease = c.json("scheduler", "status", now=None)["lease"]
        if lease and lease["alive"]:
            pid = int(lease["holder"].rsplit(":", 1)[1])
            found = [p for p in c.state["parts"] if p["pid"] == pid and p["name"] != not_]
            if found:
                return found[0]
        time.sleep(0.5)
    raise AssertionError("no scheduler holds the lease")


def test_4_a_due_look_back_fires_once_through_the_deployment_across_a_failover(
        cluster: Cluster) -> None:
    """A look-back already due is fired through scheduler → `lookback-review` deployment →
    worker, exactly once, although the leader is SIGKILLed and the standby takes over: one
    issue is added just before the kill, one while nobody leads. Both were found three weeks
    before the cluster's clock, so their reminder and review are due at once."""
    leader = _leader(cluster)
    visits = cluster.json("visit", "list", "--campaign", "1")["items"]

    def add(visit: dict[str, Any]) -> int:
        out = cluster.json("issue", "add", "--visit", str(visit["id"]), "--category", "records",
                           "--severity", "general", "--description", "索证索票不全",
                           "--provision", "1", now=EARLIER)
        return int(out["id"])

    before = add(visits[0])
    os.killpg(leader["pid"], signal.SIGKILL)
    after = add(visits[1])
    standby = _leader(cluster, not_=leader["name"])
    fu_ids = [r[0] for r in cluster.sql(
        "SELECT id FROM followup WHERE issue_id IN (%s, %s)", before, after)]
    assert len(fu_ids) == 4  # a reminder and a review each, both due by the cluster's clock
    deadline = time.monotonic() + 120
    while cluster.sql("SELECT count(*) FROM followup WHERE id = ANY(%s) AND status = 'pending'",
                      fu_ids) != [(0,)]:
        assert time.monotonic() < deadline, cluster.sql(
            "SELECT id, status, fired_by FROM followup WHERE id = ANY(%s)", fu_ids)
        time.sleep(1)
    fired = cluster.sql("SELECT issue_id, fired_by FROM followup WHERE id = ANY(%s)", fu_ids)
    assert all(by.startswith("flow:lookback-review:") for _, by in fired), fired
    # What came due while nobody led was submitted by the standby that took over.
    assert all(by.endswith(f":{standby['pid']}") for i, by in fired if i == after), fired
    events = cluster.sql("SELECT entity, count(*) FROM event WHERE entity = ANY(%s) AND kind IN "
                         "('followup.opened', 'followup.reminded', 'followup.cancelled') "
                         "GROUP BY entity", [f"followup:{i}" for i in fu_ids])
    assert sorted(events) == sorted((f"followup:{i}", 1) for i in fu_ids)
    # Each was fired by exactly one run; a run finishes a moment after its row is written.
    deadline = time.monotonic() + 60
    while True:
        runs = cluster.runs("lookback-review")
        mine = {i: [r for r in runs if r["parameters"].get("followup_ids") == [i]]
                for i in fu_ids}
        done = all(len(m) == 1 and m[0]["state"]["type"] == "COMPLETED" for m in mine.values())
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert all(len(m) == 1 for m in mine.values()), mine
    assert done, {i: m[0]["state"]["type"] for i, m in mine.items()}


def _flow_run_processes(api: str, worker_pid: int) -> dict[str, psutil.Process]:
    """The running flow runs a worker has started: flow run id → process. The server knows each
    run's process id (``infrastructure_pid``); it is one of the worker's descendants (Lookback's
    worker forks them from its fork server, so their environment does not name the run)."""
    try:
        descendants = {p.pid: p for p in psutil.Process(worker_pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return {}
    runs = httpx.post(f"{api}/flow_runs/filter", timeout=10, json={
        "flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}).json()
    return {r["id"]: descendants[int(pid)] for r in runs
            if (pid := str(r.get("infrastructure_pid") or "")).isdigit()
            and int(pid) in descendants}


def test_5_a_worker_killed_midway_leaves_nothing_undone_or_twice(cluster: Cluster) -> None:
    """A batch of 40 rectification orders fans out over both workers; the worker that does not
    run the parent is SIGKILLed, with its flow runs, while it renders a chunk. The parent takes
    the lost chunk for lost after its time, submits it again, and the other worker finishes it:
    every notice is issued once and the numbers have no gaps."""
    visits = _add_issues(cluster, 2)
    assert len(visits) == 40
    batch = subprocess.Popen(
        [sys.executable, "-m", "lookback.cli", "--db", cluster.db, "--data-dir",
         cluster.state["data_dir"], "--lang", "en", "--now", NOW, "--json", "notices", "issue",
         "--campaign", "2", "--kind", "rectification_order"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env=cluster.env())
    workers = [cluster.part("worker-1"), cluster.part("worker-2")]
    chunk_flow = {f["id"] for f in httpx.post(f"{cluster.api}/flows/filter", timeout=10, json={
        "flows": {"name": {"any_": ["render-notices"]}}}).json()}
    victim, killed_runs = None, []
    deadline = time.monotonic() + 120
    while victim is None:
        assert time.monotonic() < deadline and batch.poll() is None, "no chunk to interrupt"
        for w in workers:
            procs = _flow_run_processes(cluster.api, w["pid"])
            kinds = {rid: httpx.get(f"{cluster.api}/flow_runs/{rid}", timeout=10).json()
                     for rid in procs}
            if procs and all(r.get("flow_id") in chunk_flow for r in kinds.values()):
                victim, killed_runs = w, list(procs)
                for p in [psutil.Process(w["pid"]), *procs.values()]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
                break
        time.sleep(0.2)
    out, err = batch.communicate(timeout=CHUNK_TIMEOUT * 3 + 240)
    assert batch.returncode == 0, out + err
    result = json.loads(out)
    assert result["issued_now"] == 40 == result["total"], result
    rows = cluster.sql("SELECT number FROM notice WHERE campaign_id = 2 AND "
                       "kind = 'rectification_order' AND status = 'issued'")
    assert _serials([n for (n,) in rows]) == list(range(1, 41))
    assert cluster.sql("SELECT count(*) FROM notice WHERE campaign_id = 2") == [(40,)]
    lost = [httpx.get(f"{cluster.api}/flow_runs/{rid}", timeout=10).json() for rid in
            killed_runs]
    # Nothing is left RUNNING: the lost chunk was given up (CRASHED), unless it had stored its
    # notices in the instant before the kill.
    assert all(r["state"]["type"] in ("CRASHED", "COMPLETED") for r in lost), lost
    events = cluster.sql("SELECT entity, count(*) FROM event WHERE kind = 'notice.issued' "
                         "AND entity = ANY(%s) GROUP BY entity",
                         [f"notice:{i}" for (i,) in cluster.sql(
                             "SELECT id FROM notice WHERE campaign_id = 2")])
    assert len(events) == 40 and {n for _, n in events} == {1}
