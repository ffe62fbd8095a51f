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

import csv
import json
import sqlite3
import sys
import time
from pathlib import Path

from _common import (
    arg_parser,
    cli_args,
    connect,
    print_json,
    remove_database,
    run_cli,
    timed_child,
    work_folder,
)

COLS = ("uscc", "name", "region_code", "province_code", "category", "risk_level", "address",
        "director", "officer", "status", "import_id", "import_line")
# The baseline's pragmas: WAL and synchronous=FULL as ours, no cache or busy-timeout settings.
BASE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON")


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    work = work_folder(args.workdir, "lookback-bench-")
    regs = work / "registers"
    ours_db, base_db = work / "ours.db", work / "baseline.db"
    for p in (ours_db, base_db):
        remove_database(p)

    t = time.perf_counter()
    gen = run_cli("registry", "generate", "--businesses", str(args.rows), "--seed",
                   str(args.seed), "--out", str(regs), db=ours_db)
    if gen.returncode != 0:
        sys.exit(gen.stdout + gen.stderr)
    print(f"generated {args.rows} businesses in {time.perf_counter() - t:.1f} s")
    src = regs / "businesses.csv"
    for db in (ours_db, base_db):
        r = run_cli("init", db=db)
        if r.returncode != 0:
            sys.exit(r.stdout + r.stderr)

    # Ours: the real command, end to end, in a child process.
    out_path = work / "import.json"
    cmd = [sys.executable, *cli_args("registry", "import", str(src), "--kind", "businesses",
                                     db=ours_db)]
    m = timed_child(cmd, out_path)  # stderr discarded
    ours_s, peak_rss_mb = m.seconds, m.rss_mb  # this child only
    if m.code != 0:
        sys.exit(out_path.read_text())
    summary = json.loads(out_path.read_text())
    assert summary["inserted"] == args.rows and summary["balanced"], summary

    # Baseline: parse outside the timer, then executemany plain INSERTs.
    with src.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        rows = [(u, n, rc, rc[:2] + "0000", c, rk, a, d, o, s, None, i)
                for i, (u, n, rc, c, rk, a, d, o, s) in enumerate(reader, start=2)]
    conn = connect(base_db, BASE_PRAGMAS)
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
    print_json({"rows": args.rows, "ours_s": ours_s, "baseline_s": base_s, "ratio": ratio,
                "peak_rss_mb": peak_rss_mb})


if __name__ == "__main__":
    main()
