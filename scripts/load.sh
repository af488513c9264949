#!/usr/bin/env bash
# Load test: the release server (examples/load_server.rs: the production app plus
# a bench-only no-auth twin of /api/me, same process, same middleware) under wrk
# on loopback. Server pinned to CPU 0, wrk to CPU 1, 64 connections, fixed time.
# Prints req/s, p50/p99, server CPU-us per request and peak RSS for:
#   the no-auth twin; HS256 with 1 token and with 10,000 distinct tokens;
#   ES256 with 1 token and with 10,000 distinct tokens.
# Then runs ../shared/bench/peers.sh (ONLY="fastify-cache express") and prints
# our ratios against the peers from the same run.
#
# env: DURATION=10 CONNS=64 COUNT=10000 PORT=39500 PEERS=1 (0 skips the peers)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; CONNS=${CONNS:-64}; COUNT=${COUNT:-10000}; PORT=${PORT:-39500}
JWKS_PORT=$((PORT + 1))
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

export SUPABASE_JWT_SECRET="load-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cargo build --release --locked -q --example load_server --example load_tokens
target/release/examples/load_tokens "$work" "$COUNT"
(cd "$work" && exec python3 -m http.server "$JWKS_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
sleep 0.5

SUPABASE_URL=https://load.supabase.co SUPABASE_JWKS_URL="http://127.0.0.1:$JWKS_PORT/jwks.json" \
  BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn LOG_FORMAT=json \
  taskset -c 0 target/release/examples/load_server >"$work/server.log" 2>&1 &
spid=$!
pids+=("$spid")
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$work/server.log"; echo "server not ready" >&2; exit 1; }

cat >"$work/tokens.lua" <<'LUA'
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
LUA
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$spid/stat"; }
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v); print v } else { sub(/s/, "", v); print v * 1000 } }'; }

printf '%-22s %10s %8s %8s %12s %9s\n' scenario req/s p50_ms p99_ms cpu_us/req rss_MiB >"$work/table"
declare -A CPU
run() { # name path [tokens-file]
  local name=$1 path=$2 tokens=${3:-} c0 c1 out reqs non2xx
  out="$work/$name.wrk"
  c0=$(cpu_ticks)
  if [ -n "$tokens" ]; then
    TOKENS="$tokens" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$work/tokens.lua" "http://127.0.0.1:$PORT" >"$out"
  else
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path" >"$out"
  fi
  c1=$(cpu_ticks)
  reqs=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  [ -z "$non2xx" ] || { cat "$out"; echo "$name: $non2xx non-2xx responses" >&2; exit 1; }
  CPU[$name]=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }')
  printf '%-22s %10s %8s %8s %12s %9s\n' "$name" "$(awk '/^Requests\/sec/ {printf "%d", $2}' "$out")" \
    "$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")" "$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")" \
    "${CPU[$name]}" "$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$spid/status")" >>"$work/table"
}

run noauth-twin /noauth
run hs256-1-token "" "$work/hs256-one.txt"
run es256-1-token "" "$work/es256-one.txt"
run hs256-10k-tokens "" "$work/hs256-many.txt"
run es256-10k-tokens "" "$work/es256-many.txt"
echo "== ours ($(date -u +%Y-%m-%d), ${DURATION}s per run, $CONNS connections, server on CPU 0, wrk on CPU 1)"
cat "$work/table"
echo "(rss_MiB is the server's peak RSS so far: after the 10k runs the token cache holds $(($COUNT * 2)) tokens, capped at its default 16384)"
ratio() { awk -v a="${CPU[$1]}" -v b="${CPU[noauth-twin]}" 'BEGIN { printf "%.2f", a / b }'; }
echo "CPU per request against the no-auth twin: HS256 1 token $(ratio hs256-1-token)x (goal <= 1.15), HS256 10k $(ratio hs256-10k-tokens)x (goal <= 1.5), ES256 1 token $(ratio es256-1-token)x (goal <= 1.3), ES256 10k $(ratio es256-10k-tokens)x"

if [ "${PEERS:-1}" = 1 ]; then
  peers_out="$work/peers.tsv"
  ONLY="fastify-cache express" MODES=pinned DURATION="$DURATION" CONNS="$CONNS" OUT="$peers_out" \
    bash ../shared/bench/peers.sh >"$work/peers.log" 2>&1 || { tail -20 "$work/peers.log"; exit 1; }
  echo "== peers (same run)"
  column -t -s $'\t' "$peers_out" | cut -c1-150
  peer_cpu() { awk -F'\t' -v n="$1" '$2 == n && $1 == "pinned" {print $8}' "$peers_out" | head -1; }
  fc=$(peer_cpu fastify-cache); ex=$(peer_cpu express)
  awk -v us="${CPU[hs256-1-token]}" -v fc="$fc" -v ex="$ex" 'BEGIN {
    printf "HS256 /api/me CPU per request: %.1fx cheaper than fastify + fast-jwt with cache (goal >= 3), %.0fx cheaper than express + jsonwebtoken (goal >= 80)\n", fc / us, ex / us }'
fi
