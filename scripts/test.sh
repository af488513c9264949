#!/usr/bin/env bash
# The test command: makes sure the database tests have what they start
# (Postgres server binaries and PgBouncer), the cookie tests their Node
# fixture (the real @supabase/ssr) and the contract tests python3-venv and
# curl, then runs `cargo test --locked` and, unless arguments narrow the run,
# scripts/contract.sh: the API against its own OpenAPI document (it makes
# the virtualenv target/contract-venv from tests/contract/requirements.txt).
# With TEST_DATABASE_URL set, the tests use that server instead of their own
# throwaway cluster; PgBouncer is still needed for the pooler tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
command -v curl >/dev/null || need+=(curl)
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

cargo test --locked "$@"
if (($# == 0)); then
  bash scripts/contract.sh
fi
