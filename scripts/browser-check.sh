#!/usr/bin/env bash
# Proves the browser path with Debian's headless Chromium: a page served from one
# loopback origin calls /api/me on the API's origin with fetch() and an
# Authorization: Bearer header.
# - From the allowed origin (CORS_ALLOWED_ORIGINS), the preflight succeeds and the
#   page shows the user.
# - From another origin, the browser blocks the call.
# Installs chromium when missing (needs root). Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

API_PORT=${API_PORT:-39401}
PAGE_PORT=${PAGE_PORT:-39402}
fail() { echo "browser-check: FAIL: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  echo "installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

cargo build --locked -q
bin=target/debug/axum-supabase-auth
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

allowed="http://127.0.0.1:$PAGE_PORT"
secret="browser-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SUPABASE_JWT_SECRET="$secret" SUPABASE_URL=https://browser.supabase.co SUPABASE_JWKS_URL=off
CORS_ALLOWED_ORIGINS="$allowed" BIND_ADDR="127.0.0.1:$API_PORT" LOG_FORMAT=json RUST_LOG=info \
  "$bin" serve >"$work/server.log" 2>&1 &
pids+=($!)
token=$("$bin" mint --email browser@example.com)

# The page: one fetch with the Bearer header, its outcome written into the DOM.
cat >"$work/index.html" <<EOF
<!doctype html>
<html><body><p id="out">PENDING</p>
<script>
fetch("http://127.0.0.1:$API_PORT/api/me", { headers: { "Authorization": "Bearer $token" } })
  .then(r => r.json().then(j => { document.getElementById("out").textContent = "USER " + r.status + " " + j.email; }))
  .catch(e => { document.getElementById("out").textContent = "BLOCKED " + e.name; });
</script></body></html>
EOF
(cd "$work" && exec python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 >"$work/page.log" 2>&1) &
pids+=($!)

for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && curl -fsS "$allowed/" >/dev/null 2>&1 && break
  sleep 0.2
done

visit() {
  local profile
  profile=$(mktemp -d -p "$work")
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=5000 --dump-dom "$1" 2>/dev/null
}

dom=$(visit "$allowed/")
echo "$dom" | grep -o '<p id="out">[^<]*</p>' || true
grep -q 'USER 200 browser@example.com' <<<"$dom" || fail "the allowed origin did not get the user"
grep -q '"method":"OPTIONS"' "$work/server.log" || fail "no preflight reached the server"
echo "allowed origin $allowed: preflight passed, page shows the user"

# localhost:PORT is a different origin from 127.0.0.1:PORT, and not allowed.
dom=$(visit "http://localhost:$PAGE_PORT/")
echo "$dom" | grep -o '<p id="out">[^<]*</p>' || true
grep -q 'BLOCKED' <<<"$dom" || fail "the browser did not block another origin"
echo "other origin http://localhost:$PAGE_PORT: blocked by the browser"

if grep -q -e "$token" -e "$secret" "$work/server.log"; then fail "a token or the secret is in the server log"; fi
echo "browser-check: OK"
