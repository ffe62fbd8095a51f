#!/usr/bin/env bash
# Install what Lookback needs on a fresh Debian machine, then the project into ./.venv.
#   - Debian packages (as root): Noto CJK fonts and HarfBuzz's subsetter for the PDF notices
#     (without libharfbuzz-subset0 WeasyPrint falls back to fontTools and a Chinese page takes
#     seconds), Pango for WeasyPrint, and PostgreSQL for the test run at scale (with its client
#     tools pg_dump and pg_restore, which `lookback backup` / `restore` use on PostgreSQL).
#     Chromium (Debian's package) for the browser tests: Playwright drives it through its path
#     and never downloads a browser of its own.
#   - Python packages: the project and its dev tools, in a virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 postgresql
          postgresql-client chromium)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "bootstrap: apt-get install ${PACKAGES[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
else
  echo "bootstrap: not root or no apt-get; make sure these Debian packages are installed: ${PACKAGES[*]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
# Prefect's local database, migrated once now so that the first flow never waits for it.
.venv/bin/lookback init --prefect-only
echo "bootstrap: done; the CLI is .venv/bin/lookback"
