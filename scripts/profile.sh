#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the noise-free
# companion of scripts/load.sh. Wall-clock CPU per request on a shared 2-core
# machine swings by a third between runs; user-space instruction counts for the
# same binary and requests do not. (Kernel time, about half of each request,
# is not counted here: load.sh measures it.)
#
# For each scenario the release load server (examples/load_server.rs) runs under
# callgrind with instrumentation off, takes a 2 s warm-up from wrk (which also
# fills the token cache), then counts a 5 s run of 8 connections.
# Scenarios: the no-auth twin, HS256 and ES256 with one token (and HS256 at the
# container's default logging, RUST_LOG=info and JSON), HS256 with 1000 tokens;
# and, when peers.sh has built it, the peers' bare axum yardstick (`/noauth`, no
# middleware, no auth) and its jsonwebtoken `/api/me`.
#
# env: TOP=0 (N > 0 also prints the N costliest functions of one run: TOP_RUN, default hs256-1-token)
#      PORT=39510  PROTO=<path of peers.sh's axum yardstick binary>
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=${TOP:-0}; TOP_RUN=${TOP_RUN:-hs256-1-token}; PORT=${PORT:-39510}; JWKS_PORT=$((PORT + 1))
PROTO=${PROTO:-${PEERS_WORKDIR:-$HOME/.cache/peer-baselines}/rust-proto/target/release/proto}
missing=()
for tool in valgrind wrk curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

. scripts/bench-lib.sh
bench_workdir
# Line tables only, so that TOP can name functions; the code is the release build's.
export CARGO_TARGET_DIR=target/profile CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
cargo build --release --locked -q --example load_server --example load_tokens
bin=target/profile/release/examples
bench_tokens "$bin" 1000 "$JWKS_PORT"

load() { # seconds out path [tokens-file]
  local args=(-t1 -c8 -d"$1s")
  [ -n "${4:-}" ] && args+=(-s scripts/tokens.lua)
  TOKENS=${4:-} wrk "${args[@]}" "http://127.0.0.1:$PORT$3" >"$2"
}

declare -A IR
printf '%-26s %9s %14s\n' scenario requests instr/request >"$work/table"
count() { # name path tokens-file ready-path binary [VAR=value...]
  local name=$1 path=$2 tokens=$3 ready=$4 binary=$5 spid reqs ir
  shift 5
  # The variables go to valgrind, not through `env`: valgrind does not follow an exec.
  env "$@" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.$name" "$binary" \
    >"$work/$name.log" 2>&1 &
  spid=$!
  pids+=("$spid")
  wait_ready "http://127.0.0.1:$PORT$ready" "$work/$name.log"
  load 2 "$work/$name.warm" "$path" "$tokens"
  callgrind_control -i on "$spid" >/dev/null
  load 5 "$work/$name.wrk" "$path" "$tokens"
  callgrind_control -i off "$spid" >/dev/null
  callgrind_control -d "$spid" >/dev/null
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  if grep -q Non-2xx "$work/$name.wrk"; then cat "$work/$name.wrk"; echo "$name: non-2xx responses" >&2; exit 1; fi
  reqs=$(awk '/requests in/ {print $1}' "$work/$name.wrk")
  ir=$(callgrind_annotate "$work/cg.$name.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  [ -n "$ir" ] || { echo "$name: no callgrind totals" >&2; exit 1; }
  IR[$name]=$((ir / reqs))
  printf '%-26s %9s %14s\n' "$name" "$reqs" "${IR[$name]}" >>"$work/table"
}

# Ours is ready once the JWKS keys are loaded; the yardstick has no /readyz.
ours=(/readyz "$bin/load_server" "${SERVER_ENV[@]}" BIND_ADDR="127.0.0.1:$PORT")
count noauth-twin /noauth "" "${ours[@]}"
count hs256-1-token "" "$work/hs256-one.txt" "${ours[@]}"
# The container's default logging: every request a JSON line at info (the writer thread counted too).
count hs256-1-token-info "" "$work/hs256-one.txt" "${ours[@]}" RUST_LOG=info
count es256-1-token "" "$work/es256-one.txt" "${ours[@]}"
count hs256-1000-tokens "" "$work/hs256-many.txt" "${ours[@]}"
if [ -x "$PROTO" ]; then
  yardstick=(/noauth "$PROTO" PORT="$PORT" JWT_BACKEND=aws_lc_rs)
  count yardstick-axum-noauth /noauth "" "${yardstick[@]}"
  count yardstick-axum-jwt-me "" "$work/hs256-one.txt" "${yardstick[@]}"
else
  echo "(no yardstick: run ../shared/bench/peers.sh with ONLY=axum-noauth once to build $PROTO)"
fi

echo "== user-space instructions per request ($(date -u +%Y-%m-%d), callgrind, 8 connections)"
cat "$work/table"
ratio() { awk -v a="${IR[$1]}" -v b="${IR[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
echo "logging at info (JSON) against warn, HS256 1 token: $(ratio hs256-1-token-info hs256-1-token)x"
echo "against our no-auth twin: HS256 1 token $(ratio hs256-1-token noauth-twin)x, ES256 1 token $(ratio es256-1-token noauth-twin)x, HS256 1000 tokens $(ratio hs256-1000-tokens noauth-twin)x"
if [ -n "${IR[yardstick-axum-noauth]:-}" ]; then
  echo "against bare axum with no auth: our twin $(ratio noauth-twin yardstick-axum-noauth)x, our HS256 /api/me $(ratio hs256-1-token yardstick-axum-noauth)x, axum + jsonwebtoken /api/me $(ratio yardstick-axum-jwt-me yardstick-axum-noauth)x"
fi
if ((TOP > 0)); then
  echo "== the $TOP costliest functions (self) of the $TOP_RUN run, instructions per request"
  reqs=$(awk '/requests in/ {print $1}' "$work/$TOP_RUN.wrk")
  callgrind_annotate --threshold=100 "$work/cg.$TOP_RUN.1" 2>/dev/null \
    | awk -v n="$reqs" -v top="$TOP" '/^ *[0-9,]+ \(/ && !/PROGRAM TOTALS/ { # reads to the end: no SIGPIPE
        c = $1; gsub(",", "", c); $1 = ""; $2 = ""; sub(/^ +/, ""); sub(/ \[.*$/, "")
        if (k++ < top) printf "%8.0f  %s\n", c / n, substr($0, 1, 140) }'
fi
