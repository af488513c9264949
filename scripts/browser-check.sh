#!/usr/bin/env bash
# Proves the browser path with Debian's headless Chromium: a page served from one
# loopback origin calls /api/me on the API's origin with fetch() and an
# Authorization: Bearer header.
# - From the allowed origin (CORS_ALLOWED_ORIGINS), the preflight succeeds and the
#   page shows the user.
# - From another origin, the browser blocks the call.
# Then cookie sessions, against the GoTrue test double (examples/gotrue_double.rs,
# a stand-in for GoTrue's API, not GoTrue): a page on the allowed origin signs in
# with the real @supabase/ssr browser client (createBrowserClient, bundled by
# esbuild from tests/node), calls /api/me with credentials: 'include' and only
# the session cookie, and gets the user; once the token is within the refresh
# margin it gets the user again through our server's refresh, and a new
# createBrowserClient reads the refreshed cookie as its session.
# Installs chromium when missing (needs root). Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

API_PORT=${API_PORT:-39401}
PAGE_PORT=${PAGE_PORT:-39402}
DOUBLE_PORT=${DOUBLE_PORT:-39403}
COOKIE_API_PORT=${COOKIE_API_PORT:-39404}
fail() { echo "browser-check: FAIL: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  echo "installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

cargo build --locked -q
cargo build --locked -q --example gotrue_double
bash scripts/node-fixture.sh
bin=target/debug/axum-supabase-auth
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits up to 10 s for every URL to answer; the checks that follow say what did not.
wait_for() {
  local url up
  for _ in $(seq 1 50); do
    up=1
    for url in "$@"; do curl -fsS "$url" >/dev/null 2>&1 || { up=0; break; }; done
    ((up)) && return 0
    sleep 0.2
  done
}

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

wait_for "http://127.0.0.1:$API_PORT/healthz" "$allowed/"

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

# Cookie sessions. The double's sign-in tokens live 95 s: just outside the
# 90 s refresh margin at first, inside it after the page waits 6 s.
key="sb_publishable_browser-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
auth_url="http://127.0.0.1:$DOUBLE_PORT"
DOUBLE_BIND_ADDR="127.0.0.1:$DOUBLE_PORT" SUPABASE_JWT_SECRET="$secret" SUPABASE_PUBLISHABLE_KEY="$key" \
  SIGN_IN_EXPIRES_IN=95 target/debug/examples/gotrue_double >"$work/double.log" 2>&1 &
pids+=($!)
SUPABASE_URL="$auth_url" SESSION_COOKIES=on SUPABASE_PUBLISHABLE_KEY="$key" \
  CORS_ALLOWED_ORIGINS="$allowed" BIND_ADDR="127.0.0.1:$COOKIE_API_PORT" LOG_FORMAT=json RUST_LOG=debug \
  "$bin" serve >"$work/cookie-server.log" 2>&1 &
pids+=($!)
tests/node/node_modules/.bin/esbuild tests/node/browser-entry.mjs --bundle --format=esm --platform=browser \
  --log-level=warning --outfile="$work/ssr.js"
cat >"$work/cookies.html" <<EOF
<!doctype html>
<html><body><p id="out">PENDING</p>
<script type="module">
import { createBrowserClient } from "./ssr.js";
const API = "http://127.0.0.1:$COOKIE_API_PORT", AUTH = "$auth_url", KEY = "$key";
const out = (text) => { document.getElementById("out").textContent = text; };
const me = async () => {
  const r = await fetch(API + "/api/me", { credentials: "include" });
  return r.status + " " + (await r.json()).email;
};
const refreshes = async () => (await (await fetch(AUTH + "/__double/stats")).json()).refresh;
try {
  const options = { auth: { autoRefreshToken: false }, isSingleton: false };
  const { data, error } = await createBrowserClient(AUTH, KEY, options)
    .auth.signInWithPassword({ email: "cookie@example.com", password: "browser-check" });
  if (error) throw error;
  const first = await me();
  const before = await refreshes();
  await fetch(AUTH + "/__double/sleep?ms=6000");
  const second = await me();
  const after = await refreshes();
  const session = (await createBrowserClient(AUTH, KEY, options).auth.getSession()).data.session;
  const rotated = !!session && session.refresh_token !== data.session.refresh_token;
  const later = !!session && session.expires_at > data.session.expires_at;
  out("FIRST " + first + " REFRESHES " + before + " SECOND " + second + " REFRESHES " + after
    + " ROTATED " + rotated + " LATER " + later);
} catch (e) { out("ERROR " + e); }
</script></body></html>
EOF

wait_for "http://127.0.0.1:$COOKIE_API_PORT/healthz" "$auth_url/__double/stats"
dom=$(visit "$allowed/cookies.html")
echo "$dom" | grep -o '<p id="out">[^<]*</p>' || true
expected='FIRST 200 cookie@example.com REFRESHES 0 SECOND 200 cookie@example.com REFRESHES 1 ROTATED true LATER true'
grep -q "$expected" <<<"$dom" || fail "the cookie session did not work end to end (want: $expected)"
echo "cookie session from $allowed: the user by cookie, refreshed once by our server, read back by createBrowserClient"
grep -q '"status":200' "$work/cookie-server.log" || fail "the cookie server logged no served request"
if grep -q -e "$key" -e "base64-" -e "eyJ" "$work/cookie-server.log"; then
  fail "an API key, a cookie or a token is in the cookie server's log"
fi
echo "browser-check: OK"
