"""Benchmark: `lookback registry import` against plain `sqlite3.executemany`, in one run.

    python bench/import_registry.py --rows 1000000     # the issue's size
    python bench/import_registry.py --rows 10000       # what CI runs

Our path: a fresh database (`lookback init`), then `lookback registry import FILE --kind
businesses` as a subprocess, timed end to end (process start, encoding check, parsing, validation,
duplicate and update accounting, batched upserts), with the child's peak RSS.

Baseline: a second fresh database with the same schema and the same pragmas (WAL,
synchronous=FULL); the same file parsed with `csv` *outside* the timer into the same column values
our import stores; then one `executemany` of plain INSERTs in a single transaction, timed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLS = ("uscc", "name", "region_code", "province_code", "category", "risk_level", "address",
        "director", "officer", "status", "import_id", "import_line")


def lookback(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "lookback.cli", "--db", str(db), "--json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="lookback-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    regs = work / "registers"
    ours_db, base_db = work / "ours.db", work / "baseline.db"
    for p in (ours_db, base_db):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)

    t = time.perf_counter()
    gen = lookback("registry", "generate", "--businesses", str(args.rows), "--seed",
                   str(args.seed), "--out", str(regs), db=ours_db)
    if gen.returncode != 0:
        sys.exit(gen.stdout + gen.stderr)
    print(f"generated {args.rows} businesses in {time.perf_counter() - t:.1f} s")
    src = regs / "businesses.csv"
    for db in (ours_db, base_db):
        r = lookback("init", db=db)
        if r.returncode != 0:
            sys.exit(r.stdout + r.stderr)

    # Ours: the real command, end to end, in a child process.
    out_path = work / "import.json"
    cmd = [sys.executable, "-m", "lookback.cli", "--db", str(ours_db), "--json", "registry",
           "import", str(src), "--kind", "businesses"]
    with out_path.open("w") as out_f:
        t = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out_f, stderr=subprocess.DEVNULL, cwd=ROOT)
        _pid, status, usage = os.wait4(child.pid, 0)
        ours_s = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    peak_rss_mb = usage.ru_maxrss / 1024  # this child only (Linux reports kB)
    if child.returncode != 0:
        sys.exit(out_path.read_text())
    summary = json.loads(out_path.read_text())
    assert summary["inserted"] == args.rows and summary["balanced"], summary

    # Baseline: parse outside the timer, then executemany plain INSERTs.
    with src.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        rows = [(u, n, rc, rc[:2] + "0000", c, rk, a, d, o, s, None, i)
                for i, (u, n, rc, c, rk, a, d, o, s) in enumerate(reader, start=2)]
    conn = sqlite3.connect(base_db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    sql = f"INSERT INTO business ({', '.join(COLS)}) VALUES ({', '.join('?' for _ in COLS)})"
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
    base_s = time.perf_counter() - t
    stored = conn.execute("SELECT COUNT(*) FROM business").fetchone()[0]
    conn.close()
    assert stored == args.rows

    ours_n = sqlite3.connect(ours_db).execute("SELECT COUNT(*) FROM business").fetchone()[0]
    assert ours_n == args.rows
    ratio = ours_s / base_s
    print(f"rows                          {args.rows}")
    print(f"lookback registry import      {ours_s:8.2f} s  ({args.rows / ours_s:,.0f} rows/s)")
    print(f"baseline sqlite3.executemany  {base_s:8.2f} s  ({args.rows / base_s:,.0f} rows/s)")
    print(f"ratio (ours / baseline)       {ratio:8.2f}   goal <= 3")
    print(f"peak RSS of the import        {peak_rss_mb:8.1f} MB goal <= 500")
    if os.environ.get("BENCH_JSON"):
        print(json.dumps({"rows": args.rows, "ours_s": ours_s, "baseline_s": base_s,
                          "ratio": ratio, "peak_rss_mb": peak_rss_mb}))


if __name__ == "__main__":
    main()
