"""The published draw test vectors (docs/draw-vectors/) hold what they claim.

Every check of every vector gets its expected verdict from both verifiers: the project's
(``lookback draw verify --record R --frame F``) and the outsider's (``docs/verify_draw.py``, run as
a third party would); a verifier that says OK to everything fails; each vector's expected result
is what the engine recomputes; every branch of the specification has a vector that observably
goes through it (and the engine's own allocation and assignment code is fully run by them); and
the generator reproduces the committed files byte for byte.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

import domain.sampling as sampling
from domain.campaigns import verify_record
from domain.sampling import DrawParams, beacon_seed, commitment_difference, parse_frame, replay
from lookback.cli import app
from lookback.draw_files import frame_csv, record_json

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "docs" / "draw-vectors"
SCRIPT = ROOT / "docs" / "verify_draw.py"
GENERATOR = VECTORS / "make_vectors.py"
HAND_WRITTEN = {"make_vectors.py", "check_verifier.py"}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in docs/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


MV = load_generator()


def expectations() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(VECTORS.glob("*/expected.json"))]


CHECKS = [pytest.param(e["vector"], c, id=f"{e['vector']}:{c['record']}+{c['frame']}")
          for e in expectations() for c in e["checks"]]

PROJECT_CHECKS = CHECKS


def test_there_are_vectors_and_negative_checks() -> None:
    verdicts = [c.values[1]["verify"] for c in CHECKS]
    assert len(expectations()) >= 12
    assert verdicts.count("DIFFERENT") >= 5 and verdicts.count("OK") >= 12


@pytest.mark.parametrize(("vector", "check"), CHECKS)
def test_the_standalone_verifier_gives_the_expected_verdict(vector: str,
                                                            check: dict[str, str]) -> None:
    folder = VECTORS / vector
    run = subprocess.run([sys.executable, str(SCRIPT), str(folder / check["record"]),
                          str(folder / check["frame"])], capture_output=True, text=True,
                         check=False)
    if check["verify"] == "OK":
        assert run.returncode == 0 and run.stdout.startswith("OK: "), run.stdout + run.stderr
    else:
        assert run.returncode == 1 and run.stdout.startswith("DIFFERENT: "), \
            run.stdout + run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("vector", "check"), PROJECT_CHECKS)
def test_the_project_verifier_gives_the_expected_verdict(vector: str,
                                                         check: dict[str, str]) -> None:
    folder = VECTORS / vector
    result = CliRunner().invoke(app, ["--lang", "en", "--json", "draw", "verify", "--record",
                                      str(folder / check["record"]), "--frame",
                                      str(folder / check["frame"])])
    assert "Traceback" not in result.output
    out = json.loads(result.stdout)
    if check["verify"] == "OK":
        assert result.exit_code == 0 and out["ok"] is True, result.output
        assert out["difference"] is None
    else:
        assert result.exit_code == 1 and out["ok"] is False and out["difference"], result.output


def test_a_verifier_that_always_says_ok_fails_the_runner(tmp_path: Path) -> None:
    runner = VECTORS / "check_verifier.py"
    lax = subprocess.run([sys.executable, str(runner), "--", sys.executable, "-c", "pass"],
                         capture_output=True, text=True, check=False)
    assert lax.returncode == 1
    assert lax.stdout.count("FAIL ") == sum(c.values[1]["verify"] == "DIFFERENT"
                                            for c in CHECKS)
    good = subprocess.run([sys.executable, str(runner), "--", sys.executable, str(SCRIPT)],
                          capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stdout
    assert good.stdout.splitlines()[-1] == f"{len(CHECKS)} of {len(CHECKS)} checks passed"


@pytest.mark.parametrize("expected", expectations(), ids=lambda e: e["vector"])
def test_expected_result_is_what_the_engine_recomputes(expected: dict[str, Any]) -> None:
    folder = VECTORS / expected["vector"]
    record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    lines = (folder / "frame.csv").read_text(encoding="utf-8").splitlines()
    businesses, inspectors = parse_frame(lines)
    again = replay(DrawParams.from_dict(record["params"]), businesses, inspectors,
                   record["extensions"]).as_record()
    assert MV.result_of(again) == expected["result"]
    assert expected["result"]["total"] == len(expected["result"]["chosen"]["business"])
    # The published bytes are exactly what lookback/draw_files.py writes.
    assert (folder / "record.json").read_text(encoding="utf-8") == record_json(record)
    body = [ln for ln in lines[1:] if ln]
    assert (folder / "frame.csv").read_text(encoding="utf-8") == frame_csv(body)
    assert lines[0] == sampling.FRAME_HEADER and body == sorted(body)


def _frame(folder: Path) -> Any:
    builder = MV.FrameBuilder()
    lines = (folder / "frame.csv").read_text(encoding="utf-8").splitlines()
    builder.businesses, builder.inspectors = parse_frame(lines)
    return builder


@pytest.mark.parametrize("expected", expectations(), ids=lambda e: e["vector"])
def test_each_vector_exercises_the_branches_it_lists(expected: dict[str, Any]) -> None:
    folder = VECTORS / expected["vector"]
    record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    seen = MV.observe(record, _frame(folder), record["campaign"]["kind"])
    seen |= {c["branch"] for c in expected["checks"] if "branch" in c}
    assert set(expected["branches"]) == seen
    assert set(expected["branches"]) <= set(MV.BRANCHES)


def test_every_branch_of_the_spec_has_a_vector() -> None:
    index = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
    covered = {b for e in expectations() for b in e["branches"]}
    listed = {row["id"]: row for row in index["branches"]}
    assert set(listed) == set(MV.BRANCHES)
    for bid in MV.BRANCHES:
        if bid in MV.PENDING:
            assert bid not in covered and listed[bid]["pending"], bid
        else:
            assert bid in covered, f"branch {bid} has no vector"
            assert listed[bid]["vectors"], bid
    # The headline branches asked of the vectors, by name.
    assert {"stage.province", "stage.city", "size.total", "size.fraction", "size.per_stratum",
            "lr.remainder_tie.proportional", "alloc.equal", "alloc.risk_weighted",
            "lr.zero_weights.from_start", "lr.cap_resplit", "avoid.province", "avoid.city",
            "avoid.county", "avoid.home_province_code", "avoid.home_city_code", "ext.one",
            "ext.two", "lookback.census", "seed.commitment"} <= covered
    assert set(MV.PENDING) == set()
    # Every reject.* branch is a DIFFERENT check, every vector has an OK check of its record.
    for e in expectations():
        assert {"record": "record.json", "frame": "frame.csv", "verify": "OK"} in [
            {k: c[k] for k in ("record", "frame", "verify")} for c in e["checks"]]
        for c in e["checks"]:
            if c.get("branch", "").startswith("reject."):
                assert c["verify"] == "DIFFERENT"


def test_every_record_carries_a_commitment_as_the_engine_writes_it() -> None:
    """`commitment` is null without one (as domain.campaigns.run_draw stores it), and the
    committed vector's holds by the engine's own check."""
    committed = []
    for e in expectations():
        record = json.loads((VECTORS / e["vector"] / "record.json").read_text(encoding="utf-8"))
        assert "commitment" in record, e["vector"]
        if record["commitment"] is not None:
            committed.append(e["vector"])
            assert commitment_difference(record) is None
            c = record["commitment"]
            assert record["seed"] == beacon_seed(c["frame_sha256"], c["beacon"]["value"])
            assert c["frame_sha256"] == record["frame"]["sha256"]
    assert committed == ["13-committed-seed"]


COMMITMENT_VARIANTS = [pytest.param(e["vector"], c, id=f"{e['vector']}:{c['record']}")
                       for e in expectations() for c in e["checks"]
                       if c.get("branch", "").startswith("reject.commitment_")]


@pytest.mark.parametrize(("vector", "check"), COMMITMENT_VARIANTS)
def test_a_commitment_variant_is_wrong_only_in_its_commitment(vector: str,
                                                              check: dict[str, str]) -> None:
    """Without its commitment the variant verifies: only a verifier that checks the commitment
    calls it DIFFERENT (so it tests that check, not the draw)."""
    folder = VECTORS / vector
    record = json.loads((folder / check["record"]).read_text(encoding="utf-8"))
    lines = (folder / check["frame"]).read_text(encoding="utf-8").splitlines()
    assert not verify_record(record, lines).ok
    record["commitment"] = None
    assert verify_record(record, lines).ok


def test_a_false_branch_claim_stops_the_generator(tmp_path: Path) -> None:
    vector = MV.v10()
    vector.branches.append("lr.cap_resplit")  # an equal split of one stratum: never capped
    with pytest.raises(SystemExit, match="claims branches it does not exercise"):
        MV.write_vector(vector, tmp_path)


def test_the_generator_reproduces_the_files_byte_for_byte(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-B", str(GENERATOR), str(tmp_path / "out")],
                         capture_output=True, text=True, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr

    def files(base: Path) -> dict[str, bytes]:
        return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts and p.name not in HAND_WRITTEN}

    generated, committed = files(tmp_path / "out"), files(VECTORS)
    assert sorted(generated) == sorted(committed)
    for name, data in generated.items():
        assert data == committed[name], f"{name} differs from what make_vectors.py writes"


# --- mechanically: the engine's branches run by the vectors -----------------------------------

ENGINE_FUNCTIONS = ["largest_remainder", "allocate", "extend_allocation", "stratum_of",
                    "avoided_prefix", "_pool_after", "_upper_stages", "_keyed_strata",
                    "_risk_weights", "_picks", "draw", "draw_teams", "assign_visits", "extend",
                    "replay"]


def _statement_lines(name: str) -> tuple[set[int], set[int]]:
    """(every statement line of the function, the lines no valid draw can reach: ``raise``
    statements and the 'never reached' else of extend_allocation)."""
    source, start = inspect.getsourcelines(getattr(sampling, name))
    func = ast.parse("".join(source)).body[0]
    assert isinstance(func, ast.FunctionDef)
    body = func.body
    if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:]  # the docstring
    lines: set[int] = set()
    unreachable: set[int] = set()
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.stmt):
            lines.add(node.lineno + start - 1)
        if isinstance(node, ast.Raise):
            unreachable.add(node.lineno + start - 1)
        if isinstance(node, ast.If) and isinstance(node.body[-1], ast.Raise):
            # a failing draw's path (its lines up to the raise)
            unreachable |= {n.lineno + start - 1 for stmt in node.body
                            for n in ast.walk(stmt) if isinstance(n, ast.stmt)}
        if name == "extend_allocation" and isinstance(node, ast.If) and node.orelse:
            unreachable |= {n.lineno + start - 1 for stmt in node.orelse
                            for n in ast.walk(stmt) if isinstance(n, ast.stmt)}
    return lines, unreachable


@pytest.fixture
def executed_lines() -> Iterator[set[int]]:
    hit: set[int] = set()
    path = sampling.__file__

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != path:
            return None
        if event == "line":
            hit.add(frame.f_lineno)
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield hit
    finally:
        sys.settrace(previous)


def test_the_vectors_run_every_reachable_line_of_the_engine(executed_lines: set[int]) -> None:
    for e in expectations():
        folder = VECTORS / e["vector"]
        record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
        businesses, inspectors = parse_frame(
            (folder / "frame.csv").read_text(encoding="utf-8").splitlines())
        replay(DrawParams.from_dict(record["params"]), businesses, inspectors,
               record["extensions"])
    sys.settrace(None)
    missed = {}
    for name in ENGINE_FUNCTIONS:
        lines, unreachable = _statement_lines(name)
        left = sorted(lines - unreachable - executed_lines)
        if left:
            missed[name] = left
    assert not missed, f"lines of domain/sampling.py no vector runs: {missed}"
