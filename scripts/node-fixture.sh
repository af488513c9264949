#!/usr/bin/env bash
# Installs the Node fixture (tests/node: @supabase/ssr, supabase-js and
# esbuild, pinned by its lockfile) when it is missing or older than the
# lockfile. The cookie tests and the browser check use the real libraries.
set -euo pipefail
cd "$(dirname "$0")/../tests/node"

command -v node >/dev/null || { echo "the cookie tests need Node.js 20 or newer, with npm" >&2; exit 1; }
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "installing the Node fixture (npm ci in tests/node)"
  # supabase-js asks for Node 22; on Node 20 the tests give it a realtime transport (ssr.mjs says why).
  npm ci --no-audit --no-fund --loglevel=error
fi
