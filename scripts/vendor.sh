#!/usr/bin/env bash
# Fetch the vendored client libraries again from npm and check them against
# lookback/web/static/VENDOR.md (exit 1 on any difference). Needs node's npm.
#   bash scripts/vendor.sh           # check
#   bash scripts/vendor.sh --write   # replace the files (then update VENDOR.md's hashes)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=lookback/web/static/vendor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fetch() {  # package version path-in-package target
  (cd "$tmp" && npm pack -q "$1@$2" >/dev/null && tar xzf "${1}-$2.tgz" "package/$3" && mv "package/$3" "$4" && rm -rf package)
}
fetch htmx.org 2.0.11 dist/htmx.min.js htmx-2.0.11.min.js
fetch idb-keyval 6.3.0 dist/umd.js idb-keyval-6.3.0.umd.js
status=0
for f in htmx-2.0.11.min.js idb-keyval-6.3.0.umd.js; do
  want=$(grep -F "vendor/$f" lookback/web/static/VENDOR.md | awk -F'|' '{print $6}' | tr -d ' ')
  got=$(sha256sum "$tmp/$f" | cut -d' ' -f1)
  if [ "${1:-}" = "--write" ]; then cp "$tmp/$f" "$dest/$f"; echo "wrote $dest/$f ($got)"
  elif [ "$want" = "$got" ] && cmp -s "$tmp/$f" "$dest/$f"; then echo "ok $f"
  else echo "DIFFERS $f: VENDOR.md $want, npm $got"; status=1; fi
done
exit $status
