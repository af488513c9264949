#!/usr/bin/env bash
# Builds the unmodified Dockerfile with podman and proves the image works:
# /healthz answers, the HEALTHCHECK passes, /api/me accepts a minted token and
# rejects a bad one, the process is not root, `podman stop` ends it with exit
# code 0 in under 10 s, and the image is within the size goal. Then, against a
# Postgres with TLS and a CA made here: the image migrates and serves with the
# CA mounted read-only, `sslmode=verify-full`, and its secrets from podman
# secrets (`*_FILE`).
#
# No image can be pulled here, so the base images the Dockerfile names are built
# locally (debootstrap for debian:bookworm-slim; the host's Rust toolchain on top
# of it for rust:1.95-slim-bookworm) and reused on later runs. Needs root.
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${CONTAINER_WORK:-/var/tmp/asa-container}
IMAGE=localhost/axum-supabase-auth:check
NAME=asa-check
PORT=${CHECK_PORT:-39300}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-40}
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm

fail() { echo "container-check: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "tools"
missing=()
for tool in podman buildah runc fuse-overlayfs newuidmap debootstrap curl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah runc fuse-overlayfs uidmap debootstrap curl ca-certificates >/dev/null
fi

# This sandbox refuses podman's default rlimits and crun's hybrid cgroups, and
# has no systemd: runc, cgroupfs, file events, our own storage.
mkdir -p "$WORK"
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
export CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf"

DB_PORT=$((PORT + 2))
DB_DIR="$WORK/tls-db"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
  podman rm -f "$NAME" "$NAME-tls" >/dev/null 2>&1 || true
  podman secret rm asa-check-db asa-check-jwt >/dev/null 2>&1 || true
  if [ -f "$DB_DIR/data/postmaster.pid" ]; then as_pg "$PG_BIN/pg_ctl" -D "$DB_DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$DB_DIR"
}
trap cleanup EXIT
cleanup

step "base image $DEBIAN_IMAGE"
if ! podman image exists "$DEBIAN_IMAGE"; then
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  tar -C "$WORK/rootfs" -c . | podman import - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs"
else
  echo "reusing the local image"
fi

step "builder image $RUST_IMAGE"
if ! podman image exists "$RUST_IMAGE"; then
  grep -q x86_64-unknown-linux-musl <<<"$(rustup target list --installed)" || rustup target add x86_64-unknown-linux-musl
  ctx="$WORK/rust-image"
  rm -rf "$ctx" && mkdir -p "$ctx/ca"
  # Outbound HTTPS here is re-signed by a CA the host trusts; cargo inside the build needs it too.
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  cat >"$ctx/Containerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
    && update-ca-certificates && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /usr/local/rustup/toolchains /usr/local/cargo/bin \
    && cp -a /host-toolchain /usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu \
    && rm -rf /usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/share \
    && cp /host-rustup /usr/local/cargo/bin/rustup \
    && for t in cargo rustc rustdoc; do ln -s rustup /usr/local/cargo/bin/$t; done \
    && printf 'version = "12"\ndefault_toolchain = "1.95.0-x86_64-unknown-linux-gnu"\nprofile = "minimal"\n\n[overrides]\n' \
       > /usr/local/rustup/settings.toml \
    && cargo --version && rustc --version
EOF
  podman build --pull=never --network host \
    -v "$(rustc --print sysroot):/host-toolchain:ro" -v "$(command -v rustup):/host-rustup:ro" \
    -t "$RUST_IMAGE" "$ctx" || fail "building $RUST_IMAGE"
  rm -rf "$ctx"
else
  echo "reusing the local image"
fi

step "build the Dockerfile"
start=$(date +%s)
podman build --format docker --pull=never --network host -t "$IMAGE" -f Dockerfile . || fail "podman build"
echo "built in $(($(date +%s) - start)) s"

step "run"
secret="check-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
run_env=(-e SUPABASE_JWT_SECRET="$secret" -e SUPABASE_URL=https://check.supabase.co -e SUPABASE_JWKS_URL=off)
# (--format docker above: OCI images drop HEALTHCHECK.)
# Host networking: podman's bridge forwards to a private range we must not use.
# The image's default 0.0.0.0:3000 is overridden to stay on loopback here.
# No systemd here: health checks run on demand (podman healthcheck run), not on a timer.
podman run -d --name "$NAME" --network host --health-interval=disable "${run_env[@]}" \
  -e BIND_ADDR="127.0.0.1:$PORT" "$IMAGE" >/dev/null
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 50); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/healthz" | grep -q '"status":"ok"' || { podman logs "$NAME"; fail "/healthz does not answer"; }
echo "/healthz: ok"

podman healthcheck run "$NAME" >/dev/null || fail "the image's HEALTHCHECK fails"
echo "HEALTHCHECK: passes"

token=$(podman run --rm --network host --no-healthcheck "${run_env[@]}" "$IMAGE" mint --email container@example.com)
status=$(curl -s -o /tmp/asa-me.json -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/me")
[ "$status" = 200 ] && grep -q container@example.com /tmp/asa-me.json || fail "/api/me with a minted token gave $status"
echo "/api/me with a minted token: 200"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token}x" "$base/api/me")
[ "$status" = 401 ] || fail "/api/me with a bad token gave $status"
echo "/api/me with a bad token: 401"

user=$(podman inspect --format '{{.Config.User}}' "$NAME")
pid=$(podman inspect --format '{{.State.Pid}}' "$NAME")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" != 0 ] || fail "the process runs as root"
echo "runs as uid $uid (USER $user)"
echo "resident memory after these requests: $(awk '/^VmRSS:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")"
# Read the logs once: with pipefail, `podman logs | head -1` can fail when head
# closes the pipe before podman has written everything (SIGPIPE).
logs=$(podman logs "$NAME" 2>&1)
if grep -q -e "$secret" -e "$token" <<<"$logs"; then fail "a secret or token is in the logs"; fi
grep -m1 '"message"' <<<"$logs" | grep -q '"message":"starting"' || {
  printf '%s\n' "$logs" | head -5
  fail "no JSON startup line"
}
echo "logs: JSON, no secret, no token"

step "a TLS database: the CA mounted read-only, verify-full, secrets from files"
[ -x "$PG_BIN/initdb" ] || fail "no Postgres server binaries (apt-get install postgresql)"
mkdir -p "$DB_DIR/pki"
# A CA and a certificate for localhost, made now, as Supabase's prod-ca-2021.crt stands in for.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=check CA" -keyout "$DB_DIR/pki/ca.key" \
  -out "$DB_DIR/pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$DB_DIR/pki/server.key" \
  -out "$DB_DIR/pki/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$DB_DIR/pki/ext"
openssl x509 -req -in "$DB_DIR/pki/server.csr" -CA "$DB_DIR/pki/ca.crt" -CAkey "$DB_DIR/pki/ca.key" \
  -CAcreateserial -days 2 -extfile "$DB_DIR/pki/ext" -out "$DB_DIR/pki/server.crt" 2>/dev/null
chmod 600 "$DB_DIR/pki/server.key"
chmod 644 "$DB_DIR/pki/ca.crt"
chown -R postgres "$DB_DIR"
as_pg "$PG_BIN/initdb" -D "$DB_DIR/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$DB_DIR/data" -l "$DB_DIR/log" -w -o "-p $DB_PORT -k $DB_DIR \
  -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$DB_DIR/pki/server.crt \
  -c ssl_key_file=$DB_DIR/pki/server.key" start >/dev/null || fail "the TLS Postgres did not start"
tls="sslmode=verify-full&sslrootcert=/etc/supabase/ca.crt"
ca_mount=(-v "$DB_DIR/pki/ca.crt:/etc/supabase/ca.crt:ro")
admin_url="postgresql://postgres@localhost:$DB_PORT/postgres?$tls"
for job in db-bootstrap-local migrate; do
  podman run --rm --network host --no-healthcheck "${ca_mount[@]}" -e DATABASE_URL="$admin_url" "$IMAGE" "$job" \
    >/dev/null || fail "$job over verify-full"
done
echo "db-bootstrap-local and migrate from the image over verify-full: ok"
printf '%s\n' "postgresql://authenticator@localhost:$DB_PORT/postgres?$tls" | podman secret create asa-check-db - >/dev/null
printf '%s\n' "$secret" | podman secret create asa-check-jwt - >/dev/null
tls_port=$((PORT + 3))
podman run -d --name "$NAME-tls" --network host --health-interval=disable "${ca_mount[@]}" \
  --secret asa-check-db --secret asa-check-jwt \
  -e DATABASE_URL_FILE=/run/secrets/asa-check-db -e SUPABASE_JWT_SECRET_FILE=/run/secrets/asa-check-jwt \
  -e SUPABASE_URL=https://check.supabase.co -e SUPABASE_JWKS_URL=off \
  -e BIND_ADDR="127.0.0.1:$tls_port" "$IMAGE" >/dev/null
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$tls_port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$tls_port/readyz" | grep -q '"reachable":true' \
  || { podman logs "$NAME-tls"; fail "/readyz: the database is not reachable over verify-full"; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$tls_port/api/todos")
[ "$status" = 200 ] || { podman logs "$NAME-tls"; fail "/api/todos over TLS gave $status"; }
ssl=$(as_pg "$PG_BIN/psql" -h "$DB_DIR" -p "$DB_PORT" -U postgres -d postgres -Atc \
  "select count(*) filter (where s.ssl) || '/' || count(*) from pg_stat_ssl s join pg_stat_activity a using (pid) where a.usename = 'authenticator'")
case "$ssl" in 0/*|*/0) fail "authenticator's connections over TLS: $ssl" ;; esac
[ "${ssl%/*}" = "${ssl#*/}" ] || fail "authenticator's connections over TLS: $ssl"
tls_logs=$(podman logs "$NAME-tls" 2>&1)
if grep -q -e "$secret" <<<"$tls_logs"; then fail "the JWT secret is in the logs"; fi
podman stop -t 10 "$NAME-tls" >/dev/null
echo "serve with DATABASE_URL_FILE and SUPABASE_JWT_SECRET_FILE (podman secrets): /readyz ready, /api/todos 200, authenticator's connections over TLS: $ssl"

start_ns=$(date +%s%N)
podman stop -t 10 "$NAME" >/dev/null
stop_ms=$((($(date +%s%N) - start_ns) / 1000000))
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { podman logs "$NAME" | tail -5; fail "exit code $code after SIGTERM"; }
((stop_ms < 10000)) || fail "stop took ${stop_ms} ms"
echo "podman stop: exit 0 after ${stop_ms} ms"

bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000000 }')
((bytes <= MAX_IMAGE_MB * 1000000)) || fail "image is $mb MB, over $MAX_IMAGE_MB MB"
echo "image size: $mb MB (goal <= $MAX_IMAGE_MB MB)"

if [ "${BENCH:-0}" = 1 ]; then
  step "req/s on /api/me: the container's static musl binary against the host's glibc build"
  command -v wrk >/dev/null || apt-get install -y -qq --no-install-recommends wrk >/dev/null
  cargo build --release --locked -q
  printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$WORK/auth.lua"
  glibc_port=$((PORT + 1))
  # Both servers pinned to CPU 0, wrk to CPU 1, one loaded at a time. Runs
  # alternate (BENCH_ROUNDS pairs) and the medians are compared: single runs on
  # this shared machine moved the ratio between 0.83 and 1.04.
  bench() { # port
    taskset -c 1 wrk -t1 -c64 -d"${BENCH_SECS:-10}"s -s "$WORK/auth.lua" "http://127.0.0.1:$1/api/me" \
      | awk '/Requests\/sec/ {print $2}'
  }
  . scripts/bench-lib.sh # median
  podman rm -f "$NAME" >/dev/null
  podman run -d --name "$NAME" --network host --health-interval=disable --cpuset-cpus 0 "${run_env[@]}" \
    -e BIND_ADDR="127.0.0.1:$PORT" -e RUST_LOG=warn "$IMAGE" >/dev/null
  SUPABASE_JWT_SECRET="$secret" SUPABASE_URL=https://check.supabase.co SUPABASE_JWKS_URL=off \
    BIND_ADDR="127.0.0.1:$glibc_port" RUST_LOG=warn LOG_FORMAT=json \
    taskset -c 0 target/release/axum-supabase-auth serve >/dev/null &
  glibc_pid=$!
  sleep 1
  bench "$PORT" >/dev/null && bench "$glibc_port" >/dev/null # warm-up
  musl_runs=() glibc_runs=()
  for _ in $(seq 1 "${BENCH_ROUNDS:-5}"); do
    musl_runs+=("$(bench "$PORT")")
    glibc_runs+=("$(bench "$glibc_port")")
  done
  kill "$glibc_pid"
  wait "$glibc_pid" || true
  podman stop -t 10 "$NAME" >/dev/null
  musl=$(printf '%s\n' "${musl_runs[@]}" | median)
  glibc=$(printf '%s\n' "${glibc_runs[@]}" | median)
  ratio=$(awk -v m="$musl" -v g="$glibc" 'BEGIN { printf "%.2f", m / g }')
  echo "container (musl) runs: ${musl_runs[*]} req/s; host glibc build runs: ${glibc_runs[*]} req/s"
  echo "medians: container $musl, glibc $glibc, both with mimalloc; ratio $ratio (goal >= 0.90)"
  awk -v r="$ratio" 'BEGIN { exit !(r >= 0.9) }' || fail "the container binary is below 0.9x the glibc build"
fi

echo "container-check: OK"
