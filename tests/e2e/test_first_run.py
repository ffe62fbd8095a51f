"""The first flow on a machine that has never run Prefect: it must pass, and say nothing false.

Found on a fresh machine: the README's first command stopped with "Timed out while attempting to
connect to ephemeral Prefect API server" — the temporary server had to migrate a new
``PREFECT_HOME`` and ran past Prefect's 20 s start-up limit — and a successful first launch
printed Prefect ERROR tracebacks. Here each command is the real CLI in its own process, with a
new ``PREFECT_HOME``, while two CPU-bound processes load the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plans import small_plan

ROOT = Path(__file__).resolve().parents[2]
NOW = "2023-09-25T09:00:00+08:00"


@pytest.fixture
def busy() -> Iterator[None]:
    """Two processes that keep two CPUs busy for the test's length."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LOOKBACK_"))}
    env["PREFECT_HOME"] = str(home)
    return env


def _lookback(env: dict[str, str], base: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lookback.cli", *base, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
                          check=False)


def test_the_first_launch_on_a_new_prefect_home_passes_on_a_loaded_machine(
        tmp_path: Path, busy: None) -> None:
    home = tmp_path / "prefect-home"  # never used before: Prefect must create and migrate it
    env = _env(home)
    db = tmp_path / "lookback.db"
    base = ["--db", str(db), "--lang", "en", "--data-dir", str(tmp_path / "data"), "--now", NOW]
    # `init` (which prepares a Prefect database too) ran under another PREFECT_HOME.
    init = _lookback(_env(tmp_path / "other-home"), base, "init")
    assert init.returncode == 0, init.stderr
    for args in (("registry", "generate", "--businesses", "1500", "--seed", "11", "--out",
                  str(tmp_path / "reg")),
                 ("registry", "import", str(tmp_path / "reg" / "businesses.csv"), "--kind",
                  "businesses"),
                 ("registry", "import", str(tmp_path / "reg" / "inspectors.csv"), "--kind",
                  "inspectors")):
        done = _lookback(env, base, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "plan.toml").write_text(small_plan(title="首次运行测试"), encoding="utf-8")
    created = _lookback(env, base, "--json", "campaign", "create", str(tmp_path / "plan.toml"))
    assert created.returncode == 0, created.stderr
    assert not (home / "prefect.db").exists()  # nothing has touched Prefect yet

    launched = _lookback(env, base, "--json", "campaign", "launch", "1")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert json.loads(launched.stdout)["status"] == "launched"
    # Honest messages: the one-time preparation and the temporary server are announced; no
    # Prefect log line, error or traceback reaches the terminal of a command that succeeded.
    assert "Preparing Prefect's database" in launched.stderr
    assert "Starting a temporary Prefect server" in launched.stderr
    for noise in ("Traceback", "ERROR", "CancelledError", "| INFO"):
        assert noise not in launched.stderr, launched.stderr

    # The second command finds the database ready and prepares nothing.
    again = _lookback(env, base, "--json", "campaign", "launch", "1")
    assert again.returncode == 0, again.stderr
    assert "Preparing" not in again.stderr


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    """A start-up limit too short for any start: exit 2 with what to do, in both languages."""
    env = _env(tmp_path / "home")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "0"
    db = tmp_path / "lookback.db"
    base = ["--db", str(db), "--data-dir", str(tmp_path / "data"), "--now", NOW]
    assert _lookback(env, base, "init").returncode == 0
    (tmp_path / "plan.toml").write_text(small_plan(title="首次运行测试"), encoding="utf-8")
    # No registers: the launch would fail in the domain, but Prefect must start first.
    assert _lookback(env, base, "campaign", "create", str(tmp_path / "plan.toml")).returncode == 0
    for lang, words in (("en", "LOOKBACK_PREFECT_STARTUP_TIMEOUT"), ("zh", "临时服务")):
        failed = _lookback(env, ["--lang", lang, *base], "campaign", "launch", "1")
        assert failed.returncode == 2, failed.stdout + failed.stderr
        assert words in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
