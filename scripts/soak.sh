#!/usr/bin/env bash
# Soak test: the release server under wrk on loopback for SOAK_SECS (default
# 300) with a mix of about 90% valid tokens (several users) and expired, forged
# and garbage tokens, beside a client that keeps opening silent sockets (half
# send nothing, half only the HTTP/2 preface), each of which the server must
# close at its header timeout (HEADER_TIMEOUT_SECS=2 here). Reports the status
# counts against what each class must get, the silent sockets closed, the RSS
# after warm-up and at the end (growth must stay under 10%), open file
# descriptors at the start and the end, and checks the server's log for
# tokens (there must be none). Bounded in time; everything on 127.0.0.1.
#
# env: SOAK_SECS=300 WARMUP_SECS=30 CONNS=64 PORT=39700
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECS=${SOAK_SECS:-300}; WARMUP_SECS=${WARMUP_SECS:-30}; CONNS=${CONNS:-64}; PORT=${PORT:-39700}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
fail() { echo "soak: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
spid=""
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --locked -q
bin=target/release/axum-supabase-auth
secret="soak-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SUPABASE_JWT_SECRET="$secret" SUPABASE_URL=https://soak.supabase.co SUPABASE_JWKS_URL=off
for i in 1 2 3 4 5; do "$bin" mint --email "user$i@example.com" --ttl $((SOAK_SECS + 3600)) >>"$work/valid.txt"; done
"$bin" mint --ttl -3600 >"$work/expired.txt"
SUPABASE_JWT_SECRET="forged-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$bin" mint >"$work/forged.txt"
echo "garbage.not-a.token" >"$work/garbage.txt"

# Every request is logged at info: too much to keep, so the log streams through
# a fixed-string search for anything secret and is only counted.
for t in $(cat "$work/valid.txt" "$work/expired.txt" "$work/forged.txt"); do
  printf '%s\n%s\n' "$t" "${t##*.}"
done >"$work/patterns"
echo "$secret" >>"$work/patterns"
mkfifo "$work/log.fifo"
(tee >(wc -l >"$work/log-lines") <"$work/log.fifo" | grep -F -f "$work/patterns" >"$work/leaks" || true) &
BIND_ADDR="127.0.0.1:$PORT" LOG_FORMAT=json RUST_LOG=info HEADER_TIMEOUT_SECS=2 taskset -c 0 "$bin" serve >"$work/log.fifo" 2>&1 &
spid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
fds() { ls "/proc/$spid/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$spid/status"; }
fd_start=$(fds)

# Each request picks a class; the counts of what was sent and what came back
# are compared at the end (with -t1 one Lua state sees everything).
cat >"$work/soak.lua" <<LUA
-- Counters live in the thread's Lua state; done() (main state) reads them via thread:get.
local function load(path) local t = {} for l in io.lines(path) do t[#t + 1] = l end return t end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init()
  classes = {
    { name = "valid", weight = 90, tokens = load("$work/valid.txt") },
    { name = "expired", weight = 3, tokens = load("$work/expired.txt") },
    { name = "forged", weight = 3, tokens = load("$work/forged.txt") },
    { name = "garbage", weight = 4, tokens = load("$work/garbage.txt") },
  }
  n, sent_valid, sent_expired, sent_forged, sent_garbage, st_200, st_401, st_other = 0, 0, 0, 0, 0, 0, 0, 0
  other = ""
end
function request()
  n = n + 1
  local r, acc = n % 100, 0
  for _, c in ipairs(classes) do
    acc = acc + c.weight
    if r < acc then
      _G["sent_" .. c.name] = _G["sent_" .. c.name] + 1
      return wrk.format("GET", "/api/me", { ["Authorization"] = "Bearer " .. c.tokens[n % #c.tokens + 1] })
    end
  end
end
function response(status)
  if status == 200 then st_200 = st_200 + 1
  elseif status == 401 then st_401 = st_401 + 1
  else st_other = st_other + 1; other = other .. " " .. status end
end
function done()
  for _, t in ipairs(threads) do
    for _, k in ipairs({ "sent_valid", "sent_expired", "sent_forged", "sent_garbage" }) do
      io.write(string.format("sent %s %d\n", k:sub(6), t:get(k)))
    end
    io.write(string.format("status 200 %d\nstatus 401 %d\n", t:get("st_200"), t:get("st_401")))
    if t:get("st_other") > 0 then io.write(string.format("status other %d%s\n", t:get("st_other"), t:get("other"):sub(1, 200))) end
  end
end
LUA
taskset -c 1 wrk -t1 -c"$CONNS" -d"${SOAK_SECS}s" --timeout 5s -s "$work/soak.lua" "http://127.0.0.1:$PORT" >"$work/wrk.txt" &
wrk_pid=$!
# Rounds of 20 silent sockets; each must be closed by the server within the header timeout + 2 s.
python3 - "$PORT" "$SOAK_SECS" 2 >"$work/silent.txt" <<'PY' &
import socket, sys, time
port, secs, header_timeout = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
end, opened, closed, lingered = time.time() + secs, 0, 0, 0
while time.time() < end - header_timeout - 2:
    socks = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        socks.append(s)
    opened += len(socks)
    deadline = time.time() + header_timeout + 2
    for s in socks:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            while s.recv(4096):
                pass
            closed += 1
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            lingered += 1
        s.close()
print(f"silent sockets: {opened} opened, {closed} closed by the server, {lingered} still open after the header timeout + 2 s")
PY
silent_pid=$!
sleep "$WARMUP_SECS"
rss_warm=$(rss_kib)
wait "$wrk_pid"
wait "$silent_pid"
rss_end=$(rss_kib)
sleep 1
fd_end=$(fds)

sent_valid=$(awk '$1 == "sent" && $2 == "valid" {print $3}' "$work/wrk.txt")
sent_other=$(awk '$1 == "sent" && $2 != "valid" {s += $3} END {print s + 0}' "$work/wrk.txt")
ok=$(awk '$1 == "status" && $2 == 200 {print $3}' "$work/wrk.txt"); ok=${ok:-0}
unauth=$(awk '$1 == "status" && $2 == 401 {print $3}' "$work/wrk.txt"); unauth=${unauth:-0}
unexpected=$(awk '$1 == "status" && $2 == "other" {print}' "$work/wrk.txt")
total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")

echo "== soak: ${SOAK_SECS}s, $CONNS connections, $total requests ($(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt") req/s)"
grep -E '^(sent|status) ' "$work/wrk.txt" | sort
echo "valid sent $sent_valid -> 200: $ok; expired/forged/garbage sent $sent_other -> 401: $unauth"
echo "RSS after ${WARMUP_SECS}s warm-up: $(awk -v k="$rss_warm" 'BEGIN { printf "%.1f", k / 1024 }') MiB; at the end: $(awk -v k="$rss_end" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
echo "open fds: $fd_start at the start, $fd_end at the end"
cat "$work/silent.txt"
errors=$(grep -E 'Socket errors' "$work/wrk.txt" || true)
[ -z "$errors" ] || echo "wrk: $errors"

[ -z "$unexpected" ] || fail "statuses outside the expected set: $unexpected"
grep -q ', 0 still open' "$work/silent.txt" || fail "silent sockets outlived the header timeout"
grep -q ' 0 opened' "$work/silent.txt" && fail "no silent sockets were opened"
# Requests still in flight when wrk stops have no response: allow one per connection.
awk -v a="$sent_valid" -v b="$ok" -v c="$CONNS" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= c) }' \
  || fail "valid tokens: $sent_valid sent but $ok answered 200"
awk -v a="$sent_other" -v b="$unauth" -v c="$CONNS" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= c) }' \
  || fail "invalid tokens: $sent_other sent but $unauth answered 401"
awk -v w="$rss_warm" -v e="$rss_end" 'BEGIN { exit !(e <= w * 1.10) }' || fail "RSS grew by more than 10%"
((fd_end <= fd_start + 2)) || fail "file descriptors grew from $fd_start to $fd_end"
kill "$spid"
wait "$spid" || true
spid=""
sleep 1
[ -s "$work/leaks" ] && fail "a token, signature or secret is in the server log ($(wc -l <"$work/leaks") lines)"
echo "server log: $(cat "$work/log-lines") lines streamed, no token, signature or secret"
echo "soak: OK"
