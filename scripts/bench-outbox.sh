#!/usr/bin/env bash
# Outbox throughput (events/s) with one relay and with two relays sharing one PostgreSQL
# database, as two replicas of a service would.
#
# Each run fills the outbox of a fresh database with BENCH_EVENTS events (transactions of 100),
# starts the relays and times how long they take to publish everything to a local nats-server
# with JetStream (the runtime's ignored test `outbox_throughput`, built in release, or in the
# dev profile with BENCH_PROFILE=dev, which reuses a test build and saves disk). Runs are
# interleaved (1 relay, 2 relays, then 2, 1, ...) so drifting load on a shared machine hits
# both alike; prints each run, the median of each and the load average. Compare the two figures
# of one run, never absolute figures across runs or machines.
#
# Needs cargo, nats-server and PostgreSQL: the server at FLEETWRIGHT_TEST_POSTGRES, else one
# started with scripts/postgres.sh on PGPORT (default 15452) and stopped at the end.
# Builds go to $CARGO_TARGET_DIR (default ~/.cache/fleetwright/bench-target, kept between runs).
# Knobs: BENCH_ROUNDS (3), BENCH_EVENTS (20000), BENCH_NATS_PORT (14290), BENCH_PROFILE (release).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${BENCH_ROUNDS:-3}"
events="${BENCH_EVENTS:-20000}"
nats_port="${BENCH_NATS_PORT:-14290}"
profile="${BENCH_PROFILE:-release}"
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/bench-target}"

die() {
  echo "bench-outbox: $*" >&2
  exit 1
}
command -v nats-server >/dev/null || die "nats-server is not on PATH (scripts/tools.sh installs it)"

tmp=$(mktemp -d)
nats_pid=
own_postgres=
cleanup() {
  if [ -n "$nats_pid" ]; then kill "$nats_pid" 2>/dev/null || true; fi
  if [ -n "$own_postgres" ]; then FLEETWRIGHT_PG_DIR="$tmp/postgres" scripts/postgres.sh stop; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

postgres="${FLEETWRIGHT_TEST_POSTGRES:-}"
if [ -z "$postgres" ]; then
  own_postgres=1
  postgres=$(PGPORT="${PGPORT:-15452}" FLEETWRIGHT_PG_DIR="$tmp/postgres" scripts/postgres.sh start)
fi

nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$tmp/nats" >"$tmp/nats.log" 2>&1 &
nats_pid=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; then break; fi
  sleep 0.05
done

echo "==> building the benchmark ($profile)"
cargo test --profile "$profile" --locked -p fleetwright-runtime --all-features --test outbox_throughput --no-run

run() {
  local relays=$1 round=$2
  DATABASE_URL="$postgres/bench_outbox_$$_${round}_$relays" NATS_URL="nats://127.0.0.1:$nats_port" \
    BENCH_RELAYS="$relays" BENCH_EVENTS="$events" \
    cargo test --profile "$profile" --locked -q -p fleetwright-runtime --all-features --test outbox_throughput \
    -- --ignored --nocapture 2>/dev/null | grep '^relays=' | tee -a "$tmp/results"
}

echo "==> $rounds rounds of $events events ($profile build); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="1 2"; else order="2 1"; fi
  for relays in $order; do run "$relays" "$round"; done
done

median() {
  grep "^relays=$1 " "$tmp/results" | sed 's/.*events_per_second=//' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "==> median events/s: one relay $(median 1), two relays $(median 2); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
