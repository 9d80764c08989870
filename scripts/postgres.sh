#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1:$PGPORT (default 15432) for the tests, or
# stops it: `scripts/postgres.sh start|stop`. Prints the server URL on start.
set -euo pipefail
# Not under $HOME: the postgres user cannot enter /root.
dir="${FLEETWRIGHT_PG_DIR:-/tmp/fleetwright-postgres}"
port="${PGPORT:-15432}"
pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

case "${1:-start}" in
  start)
    # A fresh cluster every run: tests must not depend on leftovers.
    if [ -f "$dir/data/postmaster.pid" ]; then as_postgres "$pg_bin/pg_ctl -D '$dir/data' -m immediate -w stop" >/dev/null 2>&1 || true; fi
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_postgres "$pg_bin/initdb -D '$dir/data' -U postgres --auth=trust" >/dev/null
    as_postgres "$pg_bin/pg_ctl -D '$dir/data' -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir'\" -l '$dir/pg.log' -w start" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    as_postgres "$pg_bin/pg_ctl -D '$dir/data' -m fast -w stop" >/dev/null 2>&1 || true
    ;;
esac
