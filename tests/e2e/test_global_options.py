"""Global options may stand anywhere on the command line (as `lookback draw show 1 --json`)."""

from __future__ import annotations

import json
import subprocess
import sys

from lookback.cli import hoist_globals


def test_hoist_moves_global_options_before_the_command() -> None:
    assert hoist_globals(["draw", "show", "1", "--json"]) == ["--json", "draw", "show", "1"]
    assert hoist_globals(["issue", "list", "--now", "2027-01-01", "--overdue", "--lang=en"]) == [
        "--now", "2027-01-01", "--lang=en", "issue", "list", "--overdue"]
    assert hoist_globals(["registry", "import", "f.csv", "--kind", "businesses", "--db", "x.db"]) == [
        "--db", "x.db", "registry", "import", "f.csv", "--kind", "businesses"]
    assert hoist_globals(["x", "--", "--json"]) == ["x", "--", "--json"]


def test_the_installed_command_accepts_json_at_the_end() -> None:
    out = subprocess.run([sys.executable, "-m", "lookback.cli", "draw", "size", "--population",
                          "1000", "--json"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sample_size"] == 86
