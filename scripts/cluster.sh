#!/usr/bin/env bash
# The national topology on one machine (PostgreSQL, Prefect server, workers, APIs, schedulers):
#   scripts/cluster.sh up|down|status [--run-dir DIR] [--workers N] [--apis N] ...
# See scripts/cluster.py and docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/cluster.py "$@"
