"""A command loads only what it uses.

Found: ``import lookback.cli`` alone took about 1.0 s and loaded 661 modules — the composition
root pulled in the whole storage layer, and SQLAlchemy, SQLModel, pydantic-settings and httpx
loaded at once — so ``lookback --help`` took 1.2 s. (The wall times are measured, not tested:
``bench/cli_startup.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lookback.cli import COMMANDS, GROUPS, build, command_name, hoist_globals

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import runpy, sys, json\n"
         "sys.argv = ['lookback', *json.loads(sys.argv[1])]\n"
         "try:\n"
         "    runpy.run_module('lookback.cli', run_name='__main__')\n"
         "except SystemExit:\n"
         "    pass\n"
         "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n")


def _loaded(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_loads_no_database_web_or_workflow_library() -> None:
    loaded = _loaded("--help")
    assert not loaded & {"sqlalchemy", "sqlmodel", "pydantic_settings", "httpx", "prefect",
                         "fastapi", "weasyprint", "storage", "flows"}, loaded


def test_a_read_loads_its_storage_but_no_workflow_web_or_pdf_library(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    loaded = _loaded("--db", str(db), "issue", "show", "1")
    assert "sqlalchemy" in loaded
    assert not loaded & {"prefect", "fastapi", "uvicorn", "weasyprint", "httpx", "flows"}, loaded


def test_every_group_and_command_is_named_in_the_root_help() -> None:
    from typer.testing import CliRunner

    shown = CliRunner().invoke(build(""), ["--help"], terminal_width=200).output
    for name in (*GROUPS, *COMMANDS, "init"):
        assert f" {name} " in shown, name


@pytest.mark.parametrize("name", [*GROUPS, *COMMANDS])
def test_each_group_loads_alone_and_matches_the_whole(name: str) -> None:
    """The group built alone is the group of the whole command line (same subcommands)."""
    import typer.main

    alone = typer.main.get_command(build(name)).commands[name]  # type: ignore[attr-defined]
    whole = typer.main.get_command(build()).commands[name]  # type: ignore[attr-defined]
    assert sorted(getattr(alone, "commands", {})) == sorted(getattr(whole, "commands", {}))
    assert alone.help == whole.help


def test_the_command_name_is_found_past_global_options() -> None:
    assert command_name(hoist_globals(["draw", "show", "1", "--json", "--db", "x.db"])) == "draw"
    assert command_name(["--db", "issue", "--lang", "en", "issue", "show"]) == "issue"
    assert command_name(["--help"]) is None
    assert command_name(["nonsense"]) is None
