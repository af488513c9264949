#!/usr/bin/env bash
# A local Postgres for the todos demo, without the Supabase CLI:
#   bash scripts/dev-db.sh          start it (initdb the first time), bootstrap, migrate
#   bash scripts/dev-db.sh stop     stop it
# It lives in target/dev-db, listens on 127.0.0.1:${DEV_DB_PORT:-54329} only, trusts local
# connections, and is for this machine alone. Then run the server as it prints.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${DEV_DB_PORT:-54329}
dir=$PWD/target/dev-db
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no Postgres server binaries (Debian: apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-start}" = stop ]; then
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop
  exit 0
fi

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
fi
if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
fi

cargo build -q --locked
admin=postgresql://postgres@127.0.0.1:$port/postgres
DATABASE_URL=$admin ./target/debug/axum-supabase-auth db-bootstrap-local
DATABASE_URL=$admin ./target/debug/axum-supabase-auth migrate

cat <<EOT

Postgres is up on 127.0.0.1:$port. Run the server against it (as authenticator, as on Supabase):

  DATABASE_URL=postgresql://authenticator@127.0.0.1:$port/postgres cargo run -- serve --dev

Stop it with: bash scripts/dev-db.sh stop
EOT
