# Shared by scripts/load.sh and scripts/profile.sh (and `median` by the
# container check's BENCH): sourced, not run. Defining these has no side effect.

# The median of the numbers on standard input, to two decimals.
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Makes the temporary $work and the $pids list; on exit, kills those pids and
# removes $work.
bench_workdir() {
  work=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
}

# bench_tokens EXAMPLES_DIR COUNT JWKS_PORT: under a fresh random secret, mints
# COUNT HS256 and COUNT ES256 tokens into $work (examples/load_tokens.rs), serves
# their $work/jwks.json on 127.0.0.1:JWKS_PORT, and sets SERVER_ENV: the load
# server's environment (BIND_ADDR aside) for both key sources.
bench_tokens() {
  local examples=$1 count=$2 jwks_port=$3
  export SUPABASE_JWT_SECRET="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  "$examples/load_tokens" "$work" "$count"
  (cd "$work" && exec python3 -m http.server "$jwks_port" --bind 127.0.0.1 >/dev/null 2>&1) &
  pids+=($!)
  SERVER_ENV=(SUPABASE_URL=https://load.supabase.co SUPABASE_JWKS_URL="http://127.0.0.1:$jwks_port/jwks.json"
    RUST_LOG=warn LOG_FORMAT=json)
}

# wait_ready URL LOG: waits up to 30 s for URL to answer 2xx; fails with LOG if it never does.
wait_ready() {
  local i
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.3
  done
  cat "$2" >&2
  echo "not ready: $1" >&2
  exit 1
}
