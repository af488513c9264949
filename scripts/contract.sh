#!/usr/bin/env bash
# The API against its own OpenAPI document: openapi-spec-validator on
# GET /openapi.json, then schemathesis (--checks all) twice:
#   1. the dev server (`serve --dev`) with a minted token and a secret key,
#      without the database routes, which answer 503 without a database;
#   2. a server with a throwaway Postgres (bootstrap, migrations,
#      DB_ROLES with service_role), cookie sessions on, and the GoTrue test
#      double (examples/gotrue_double.rs) for sign-out: every operation.
# Prints, per run, the operations, test cases and failures; exits non-zero on
# any failure. The tools come from tests/contract/requirements.txt, in the
# virtualenv CONTRACT_VENV, made here whenever the pins change.
#
# env: CONTRACT_VENV=target/contract-venv PORT=39620
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(realpath -m "${CONTRACT_VENV:-target/contract-venv}")
PORT=${PORT:-39620}
DEV_PORT=$PORT; DB_API_PORT=$((PORT + 1)); PG_PORT=$((PORT + 2)); DOUBLE_PORT=$((PORT + 3))
# The pinned tools, made anew whenever the pins change.
if [ ! -x "$VENV/bin/schemathesis" ] || ! cmp -s tests/contract/requirements.txt "$VENV/requirements.txt"; then
  # Only ever a virtualenv, or nothing: CONTRACT_VENV may name any path.
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
    echo "contract: $VENV exists and is not a virtualenv; set CONTRACT_VENV elsewhere" >&2
    exit 1
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/contract/requirements.txt
  cp tests/contract/requirements.txt "$VENV/requirements.txt"
fi
work=$(mktemp -d)
chmod 755 "$work"
pids=()
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --locked -q --bin axum-supabase-auth --example gotrue_double
bin=target/debug/axum-supabase-auth
wait_up() { # url log
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$2"; echo "contract: the server did not start" >&2; exit 1
}
key="sb_secret_$(head -c 11 /dev/urandom | od -An -tx1 | tr -d ' \n')_contract"
summary=()
run() { # name base-url [schemathesis args...]
  local name=$1 base=$2
  shift 2
  curl -fsS "$base/openapi.json" -o "$work/$name.json"
  "$VENV/bin/openapi-spec-validator" "$work/$name.json" || return 1
  local rc=0
  # From the scratch folder, with a copy of the config: schemathesis keeps
  # its cache (.schemathesis/) beside the config, out of the source tree.
  cp tests/contract/schemathesis.toml "$work/"
  (cd "$work" && "$VENV/bin/schemathesis" run "$base/openapi.json" --checks all \
    --generation-database none --no-color --report json --report-json-path "$work/$name-report.json" "$@") \
    >"$work/$name.out" 2>&1 || rc=$?
  tail -40 "$work/$name.out"
  summary+=("$name: $(python3 - "$work/$name-report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o, t = r["operations"], r["test_cases"]
failures = sum(f.get("count", 1) for f in r.get("failures", []))
print(f"{o['tested']} operations tested of {o['total']}, {t['generated']} test cases, {failures} failures")
PY
)")
  return "$rc"
}

# 1. The dev server.
SUPABASE_SECRET_KEY="$key" BIND_ADDR="127.0.0.1:$DEV_PORT" "$bin" serve --dev >"$work/dev.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$DEV_PORT/healthz" "$work/dev.log"
rc=0
ST_TOKEN=$("$bin" mint --dev --claim user_role=admin --aal aal2) \
ST_ADMIN_TOKEN=$("$bin" mint --dev --role admin) ST_SERVICE_KEY="$key" \
  run dev "http://127.0.0.1:$DEV_PORT" --exclude-path-regex '^/api/(todos|service/todos)' || rc=$?

# 2. A database, cookie sessions, the GoTrue double.
mkdir -p "$work/pg" && { [ "$(id -u)" != 0 ] || chown postgres "$work/pg"; }
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
admin="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
DATABASE_URL=$admin "$bin" db-bootstrap-local >/dev/null
DATABASE_URL=$admin "$bin" migrate >/dev/null
secret="contract-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
publishable="sb_publishable_contract_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DOUBLE_BIND_ADDR="127.0.0.1:$DOUBLE_PORT" SUPABASE_JWT_SECRET="$secret" SUPABASE_PUBLISHABLE_KEY="$publishable" \
  target/debug/examples/gotrue_double >"$work/double.log" 2>&1 &
pids+=($!)
export SUPABASE_URL="http://127.0.0.1:$DOUBLE_PORT" SUPABASE_JWT_SECRET="$secret" SUPABASE_JWKS_URL=off
SUPABASE_SECRET_KEY="$key" SESSION_COOKIES=on SUPABASE_PUBLISHABLE_KEY="$publishable" \
  DATABASE_URL="postgresql://authenticator@127.0.0.1:$PG_PORT/postgres" DB_ROLES=anon,authenticated,service_role \
  BIND_ADDR="127.0.0.1:$DB_API_PORT" "$bin" serve >"$work/db.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$DB_API_PORT/readyz" "$work/db.log"
ST_TOKEN=$("$bin" mint --claim user_role=admin --aal aal2) ST_ADMIN_TOKEN=$("$bin" mint --role admin) \
  ST_SERVICE_KEY="$key" run database "http://127.0.0.1:$DB_API_PORT" || rc=$?
echo "== contract ($(date -u +%Y-%m-%d), schemathesis --checks all)"
printf '%s\n' "${summary[@]}"
if grep -q -e "$secret" -e "$key" "$work/dev.log" "$work/db.log"; then echo "contract: a secret is in a log" >&2; exit 1; fi
exit "$rc"
