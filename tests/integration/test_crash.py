"""Crash safety of a register import: a `lookback registry import` process killed with SIGKILL
leaves only whole batches, each equal to the file's rows, and a rerun ends in the same state as
an uninterrupted import. Runs on SQLite, and on PostgreSQL too when LOOKBACK_TEST_DATABASE_URL is
set."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import make_engine
from storage.synthetic import generate
from tests.integration._support import (
    BUSINESS_COLUMNS,
    expected_business,
    read_csv,
    rows_of,
)

ROOT = Path(__file__).resolve().parents[2]
BUSINESSES = 40_000
BATCH = 500

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _cli(db_url: str, data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lookback.cli", "--db", db_url, "--lang", "en",
            "--data-dir", str(data_dir), *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKBACK_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120,
                          check=False)


def _business_counter(db_url: str) -> tuple[Callable[[], int], Callable[[], None]]:
    """A cheap way to count stored businesses while another process writes."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        conn = sqlite3.connect(url.database, timeout=5, isolation_level=None)

        def count_sqlite() -> int:
            return int(conn.execute("SELECT COUNT(*) FROM business").fetchone()[0])

        return count_sqlite, conn.close
    import psycopg

    pg = psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True)

    def count_pg() -> int:
        row = pg.execute("SELECT COUNT(*) FROM business").fetchone()
        assert row is not None
        return int(row[0])

    return count_pg, pg.close


def test_killed_import_keeps_whole_batches_and_a_rerun_completes_it(db_url: str,
                                                                    tmp_path: Path) -> None:
    made = generate(tmp_path / "registers", businesses=BUSINESSES, seed=31)
    file_rows = read_csv(made.businesses)
    assert len(file_rows) == BUSINESSES
    data_dir = tmp_path / "data"

    init = _run(_cli(db_url, data_dir, "init"), tmp_path)
    assert init.returncode == 0, init.stderr

    # Start the import and kill it as soon as the first batches are visible.
    importer = subprocess.Popen(
        _cli(db_url, data_dir, "registry", "import", str(made.businesses), "--kind",
             "businesses", "--batch-rows", str(BATCH)),
        cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    count, close = _business_counter(db_url)
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while importer.poll() is None and time.monotonic() < deadline:
            seen = count()
            if seen > 0:
                break
            time.sleep(0.002)
        assert importer.poll() is None, (
            f"the import finished (exit {importer.returncode}) before it could be killed")
        assert seen > 0, "no row appeared within 60 s"
        os.kill(importer.pid, signal.SIGKILL)
        assert importer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
        close()

    engine = make_engine(db_url)
    try:
        stored = rows_of(engine, "business", (*BUSINESS_COLUMNS, "import_line"))
    finally:
        engine.dispose()
    k = len(stored)
    assert 0 < k < BUSINESSES
    assert k % BATCH == 0, f"{k} rows stored: not whole batches of {BATCH}"
    # Batches are written in file order, so what survived is exactly the first k rows, each
    # equal to its line of the file.
    expected_prefix = sorted((*expected_business(r), line)
                             for line, r in enumerate(file_rows[:k], start=2))
    assert stored == expected_prefix

    # Rerun the same import to completion.
    rerun = _run(_cli(db_url, data_dir, "--json", "registry", "import", str(made.businesses),
                      "--kind", "businesses", "--batch-rows", str(BATCH)), tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["read"], summary["inserted"], summary["updated"], summary["rejected"]) == (
        BUSINESSES, BUSINESSES - k, k, 0)
    assert summary["balanced"] is True

    # The same file imported without interruption into another fresh database.
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    assert _run(_cli(reference_url, data_dir, "init"), tmp_path).returncode == 0
    straight = _run(_cli(reference_url, data_dir, "registry", "import", str(made.businesses),
                         "--kind", "businesses", "--batch-rows", str(BATCH)), tmp_path)
    assert straight.returncode == 0, straight.stderr

    engine, reference = make_engine(db_url), make_engine(reference_url)
    try:
        final = rows_of(engine, "business", BUSINESS_COLUMNS)
        assert final == rows_of(reference, "business", BUSINESS_COLUMNS)
    finally:
        engine.dispose()
        reference.dispose()
    assert final == sorted(expected_business(r) for r in file_rows)
