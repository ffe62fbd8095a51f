#!/usr/bin/env bash
# The test command: lint, layering, types, the whole suite on SQLite, the storage tests again on a
# real PostgreSQL, and the benchmarks at a small size (they must run; they are not timed tests).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

echo "== ruff"; .venv/bin/ruff check .
echo "== import-linter (layering)"; .venv/bin/lint-imports
echo "== mypy --strict domain/"; .venv/bin/mypy
echo "== pytest (SQLite)"; $PY -m pytest -q -p no:cacheprovider

# PostgreSQL: use LOOKBACK_TEST_DATABASE_URL if given, else start the local cluster (as root).
if [ -z "${LOOKBACK_TEST_DATABASE_URL:-}" ] && command -v pg_lsclusters >/dev/null 2>&1 \
    && [ "$(id -u)" = "0" ]; then
  read -r PGVER PGCLUSTER _ < <(pg_lsclusters -h | head -1)
  pg_ctlcluster "$PGVER" "$PGCLUSTER" start 2>/dev/null || true
  for _ in $(seq 1 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='lookback'\"" | grep -q 1 \
    || su postgres -c "psql -qc \"CREATE ROLE lookback LOGIN SUPERUSER PASSWORD 'lookback'\""
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='lookback_test'\"" | grep -q 1 \
    || su postgres -c "createdb -O lookback lookback_test"
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='lookback_bench_api'\"" \
    | grep -q 1 || su postgres -c "createdb -O lookback lookback_bench_api"
  export LOOKBACK_TEST_DATABASE_URL="postgresql://lookback:lookback@127.0.0.1:5432/lookback_test"
fi
if [ -n "${LOOKBACK_TEST_DATABASE_URL:-}" ]; then
  echo "== pytest storage tests (PostgreSQL)"
  $PY -m pytest -q -p no:cacheprovider -m "not sqlite_only" tests/integration
  echo "== pytest the national topology (scripts/cluster.py: PostgreSQL, Prefect server, workers)"
  $PY -m pytest -q -p no:cacheprovider tests/cluster
  echo "== benchmark at a small size: the API on PostgreSQL, several processes"
  LOOKBACK_BENCH_DATABASE_URL="${LOOKBACK_TEST_DATABASE_URL%/*}/lookback_bench_api" \
    $PY bench/api_cluster.py --clients 5 --seconds 3 --rate 20 --processes 2
else
  echo "== PostgreSQL not available: storage tests ran on SQLite only"
fi

echo "== benchmarks at a small size (they must run; the figures are not checked)"
$PY bench/import_registry.py --rows 10000
$PY bench/draw.py --frame 20000 --sample 500 --launch-businesses 3000 --launch-sample 300
$PY bench/fieldwork.py --answers 5000
if [ -f bench/notices.py ]; then $PY bench/notices.py --notices 20; fi
$PY bench/followups.py --followups 2000
$PY bench/api_load.py --clients 5 --seconds 3
$PY bench/cli_startup.py --runs 2
$PY bench/flow_cost.py --runs 1
$PY bench/notice_workers.py --notices 20
$PY bench/rollup.py --businesses 20000 --issues 2000 --supervision 2000 --runs 2
$PY bench/console_dashboard.py --businesses 20000 --issues 2000 --supervision 2000 --runs 2
$PY bench/web_first_load.py --visits 200
$PY bench/web_pages.py --users 3 --seconds 2
