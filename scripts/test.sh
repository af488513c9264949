#!/usr/bin/env bash
# The test command: makes sure the database tests have what they start
# (Postgres server binaries and PgBouncer) and the cookie tests their Node
# fixture (the real @supabase/ssr), then runs `cargo test --locked`.
# With TEST_DATABASE_URL set, the tests use that server instead of their own
# throwaway cluster; PgBouncer is still needed for the pooler tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing for the database tests: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "the database tests need: ${need[*]} (Debian: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

bash scripts/node-fixture.sh

exec cargo test --locked "$@"
