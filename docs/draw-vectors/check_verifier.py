#!/usr/bin/env python3
"""Run a draw verifier against every test vector and report which checks it gets wrong.

Usage:  python docs/draw-vectors/check_verifier.py [--vectors FOLDER] -- COMMAND [ARG ...]

For each check listed in each vector's ``expected.json``, runs ``COMMAND ... RECORD FRAME`` (the
record and frame file paths appended) and compares its exit status with the expected verdict:
status 0 means OK (the record comes from the frame and seed), any other status means DIFFERENT.
Prints one line per check (PASS or FAIL) and a summary; exits 0 when every check passes, 1
otherwise. Standard library only, like docs/verify_draw.py. Examples:

    python docs/draw-vectors/check_verifier.py -- python docs/verify_draw.py
    python docs/draw-vectors/check_verifier.py -- ./my-verifier
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def checks(folder: Path) -> list[tuple[str, Path, Path, str]]:
    """(vector, record path, frame path, expected verdict) for every check, in order."""
    found = []
    for expected in sorted(folder.glob("*/expected.json")):
        data = json.loads(expected.read_text(encoding="utf-8"))
        for c in data["checks"]:
            found.append((data["vector"], expected.parent / c["record"],
                          expected.parent / c["frame"], c["verify"]))
    return found


def main(argv: list[str]) -> int:
    folder = HERE
    args = argv[1:]
    if args[:1] == ["--vectors"] and len(args) >= 2:
        folder, args = Path(args[1]), args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    todo = checks(folder)
    if not todo:
        print(f"no vectors (*/expected.json) in {folder}", file=sys.stderr)
        return 2
    failed = 0
    for vector, record, frame, verdict in todo:
        run = subprocess.run([*args, str(record), str(frame)], capture_output=True, text=True,
                             check=False)
        got = "OK" if run.returncode == 0 else "DIFFERENT"
        first = (run.stdout.strip().splitlines() or run.stderr.strip().splitlines() or [""])[0]
        status = "PASS" if got == verdict else "FAIL"
        failed += status == "FAIL"
        print(f"{status} {vector} {record.name} {frame.name}: expected {verdict}, got {got} "
              f"(exit {run.returncode}) {first[:120]}")
    print(f"{len(todo) - failed} of {len(todo)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
