#!/usr/bin/env bash
# Benchmark: GET /api/todos (10 visible rows of 100, RLS-scoped: BEGIN, the
# PostgREST-style setup, the query, COMMIT) against the same query, with the
# policy's filter written in, on the same
# pool with no transaction and no setup (GET /bench/todos-unscoped, a route of
# examples/load_server.rs only). A throwaway Postgres on loopback; the server
# on CPU 0, wrk on CPU 1, Postgres wherever the kernel puts it.
#
# Prints, for each route and round: req/s, and CPU-us per request of the
# server and of Postgres (every backend of the cluster, live or reaped, from /proc), then the
# median ratio scoped/unscoped of the total; and the scoped read once more with
# the pool over TLS (sslmode=verify-full, a CA made here), against the same
# read in plain text: a figure, not a goal. Round trips are counted apart,
# through scripts/rt-proxy.py between the pool and Postgres: the times the
# client writes again after the server has answered, over COUNT requests each.
#
# env: DURATION=8 WARMUP=2 REPEAT=3 CONNS=16 POOL=8 COUNT=200 PORT=31600 (below the kernel's ephemeral range: the pools and the proxy open many connections, and one of them once took the port from under the server)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}; WARMUP=${WARMUP:-2}; REPEAT=${REPEAT:-3}; CONNS=${CONNS:-16}; POOL=${POOL:-8}
COUNT=${COUNT:-200}; PORT=${PORT:-31600}
PG_PORT=$((PORT + 1)); PROXY_PORT=$((PORT + 2)); CONTROL_PORT=$((PORT + 3)); RT_PORT=$((PORT + 4)); TLS_PORT=$((PORT + 5))
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

. scripts/bench-lib.sh
bench_workdir
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
chmod 755 "$work"
mkdir -p "$work/pg" && { [ "$(id -u)" != 0 ] || chown postgres "$work/pg"; }
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
# A CA and a certificate for localhost, for the TLS row.
pki=$work/pg/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
  -extfile "$pki/ext" -out "$pki/server.crt" 2>/dev/null
chmod 600 "$pki/server.key"
[ "$(id -u)" != 0 ] || chown -R postgres "$pki"
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
      -c ssl=on -c ssl_cert_file=$pki/server.crt -c ssl_key_file=$pki/server.key" start >/dev/null
postmaster=$(head -1 "$work/pg/data/postmaster.pid")

cargo build --release --locked -q --example load_server --bin axum-supabase-auth
cli=target/release/axum-supabase-auth
admin="postgresql://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
DATABASE_URL=$admin $cli db-bootstrap-local >/dev/null
DATABASE_URL=$admin $cli migrate >/dev/null
caller=6811fb12-a19f-450b-ab79-711acd5e5665
psql -q "postgresql://postgres@127.0.0.1:$PG_PORT/postgres" -c "insert into public.todos (user_id, title, is_public)
  select case when g <= 10 then '$caller'::uuid else gen_random_uuid() end, 'todo ' || g, false
  from generate_series(1, 100) g; analyze public.todos;"

export SUPABASE_JWT_SECRET="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SUPABASE_URL=https://load.supabase.co SUPABASE_JWKS_URL=off RUST_LOG=warn LOG_FORMAT=json
token=$($cli mint --sub "$caller")
# The baseline reads the table without a role, so the pool connects as the owner
# for both routes; the scoped route still runs as `authenticated` under RLS.
plain_url() { echo "postgresql://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }
tls_url="postgresql://postgres@localhost:$PG_PORT/postgres?sslmode=verify-full&sslrootcert=$pki/ca.crt"
start_server() { # port database-url log
  BENCH_CALLER=$caller DATABASE_URL="$2" DB_POOL_SIZE=$POOL BIND_ADDR="127.0.0.1:$1" \
    taskset -c 0 target/release/examples/load_server >"$3" 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$1/readyz" "$3"
}

echo "== round trips per request (scripts/rt-proxy.py between the pool and Postgres, $COUNT requests each)"
python3 scripts/rt-proxy.py "$PROXY_PORT" "$PG_PORT" "$CONTROL_PORT" & pids+=($!)
sleep 0.5
start_server "$RT_PORT" "$(plain_url "$PROXY_PORT")" "$work/rt.log"
count() { curl -fsS "http://127.0.0.1:$CONTROL_PORT/"; }
for path in /api/todos /bench/todos-unscoped; do
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$RT_PORT$path" # the pool's connection is open
  c0=$(count)
  for _ in $(seq 1 "$COUNT"); do curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$RT_PORT$path"; done
  c1=$(count)
  rows=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$RT_PORT$path" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  awk -v p="$path" -v a="$c0" -v b="$c1" -v n="$COUNT" -v r="$rows" 'BEGIN { printf "%-24s %5.2f round trips/request (%d rows)\n", p, (b - a) / n, r }'
done

start_server "$PORT" "$(plain_url "$PG_PORT")" "$work/server.log"
spid=${pids[-1]}
start_server "$TLS_PORT" "$tls_url" "$work/server-tls.log"
tls_spid=${pids[-1]}
hz=$(getconf CLK_TCK)
ticks() { awk '{s += $14 + $15} END {print s}' "/proc/$1/stat"; }
# Postgres: the live backends, plus what the postmaster has reaped (its
# cutime and cstime), so that a backend ending mid-round keeps its count.
pg_ticks() {
  local s p
  s=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")
  for p in $(pgrep -P "$postmaster"); do s=$((s + $(ticks "$p" 2>/dev/null || echo 0))); done
  echo "$s"
}
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$work/auth.lua"
printf '%-5s %-22s %9s %14s %12s %12s\n' round route req/s server_us/req pg_us/req total_us/req >"$work/table"
declare -A TOTAL
for round in $(seq 1 "$REPEAT"); do
  for row in "/api/todos $PORT $spid" "/bench/todos-unscoped $PORT $spid" "/api/todos(tls) $TLS_PORT $tls_spid"; do
    read -r path port pid <<<"$row"
    url="http://127.0.0.1:$port${path%(tls)}"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$work/auth.lua" "$url" >/dev/null
    s0=$(ticks "$pid"); p0=$(pg_ticks)
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$work/auth.lua" "$url" >"$work/out"
    s1=$(ticks "$pid"); p1=$(pg_ticks)
    if grep -q Non-2xx "$work/out"; then cat "$work/out" "$work/server.log" "$work/server-tls.log" >&2; exit 1; fi
    reqs=$(awk '/requests in/ {print $1}' "$work/out")
    line=$(awk -v s0="$s0" -v s1="$s1" -v p0="$p0" -v p1="$p1" -v n="$reqs" -v hz="$hz" \
      'BEGIN { s = (s1 - s0) / hz * 1e6 / n; p = (p1 - p0) / hz * 1e6 / n; printf "%.1f %.1f %.1f", s, p, s + p }')
    read -r su pu tu <<<"$line"
    TOTAL[$path/$round]=$tu
    printf '%-5s %-22s %9s %14s %12s %12s\n' "$round" "$path" "$(awk '/^Requests\/sec/ {printf "%d", $2}' "$work/out")" \
      "$su" "$pu" "$tu" >>"$work/table"
  done
done
echo "== under load ($(date -u +%Y-%m-%d), $REPEAT rounds, ${DURATION}s, $CONNS connections, pool $POOL)"
cat "$work/table"
ratio=$(for r in $(seq 1 "$REPEAT"); do awk -v a="${TOTAL[/api/todos/$r]}" -v b="${TOTAL[/bench/todos-unscoped/$r]}" 'BEGIN { print a / b }'; done | median)
echo "scoped / unscoped CPU per request, server + Postgres (median of the rounds): ${ratio}x (goal <= 1.5)"
tls=$(for r in $(seq 1 "$REPEAT"); do awk -v a="${TOTAL[/api/todos(tls)/$r]}" -v b="${TOTAL[/api/todos/$r]}" 'BEGIN { print a / b }'; done | median)
echo "the scoped read with the pool over TLS (verify-full) / in plain text, CPU per request, server + Postgres (median): ${tls}x"
