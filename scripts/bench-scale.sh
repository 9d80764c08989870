#!/usr/bin/env bash
# Scale of generation: whole-process `fleetwright generate` (fresh, then again with nothing
# changed) and `fleetwright check` on synthetic manifests of 10, 100 and 1,000 services,
# with `cp -r` of the generated tree beside the fresh run: the filesystem's own cost of
# creating that many files, measured under the same conditions
# (`fleetwright::examples::synthetic`: two entities and an event each, calls to the two
# previous services), release build. Prints the median wall-clock time of RUNS runs and the
# largest peak resident memory seen (GNU time's "Maximum resident set size"), as a Markdown
# table for the README, with the load average at the start: on a shared machine outside
# load moves these figures by tens of percent. A benchmark, not a test: it asserts nothing
# about speed, only that every run succeeds.
#
# Usage: scripts/bench-scale.sh [SERVICES...]   (default: 10 100 1000; RUNS=3)
# Targets (issue #6): 1,000 services generate in < 5 s, check in < 2 s, peak < 200 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/bench-target}"
runs="${RUNS:-3}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)

if [ ! -x /usr/bin/time ]; then
  echo "bench-scale: apt-get install time (GNU time, for peak memory)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends time >/dev/null
fi

echo "build fleetwright and the synthetic manifest printer (release, not timed)"
cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin fleetwright --example synthetic
bin="$CARGO_TARGET_DIR/release/fleetwright"
synthetic="$CARGO_TARGET_DIR/release/examples/synthetic"

work=$(mktemp -d "${TMPDIR:-/tmp}/fleetwright-bench-scale.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Runs `fleetwright ARGS` in DIR under GNU time; appends "seconds kib" to FILE.
measure() {
  local file=$1 dir=$2
  shift 2
  /usr/bin/time -v -o "$work/time.txt" "$bin" -C "$dir" -q "$@" >/dev/null
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
    /Maximum resident set size/ { kib = $2 }
    END { printf "%.3f %d\n", s, kib }' "$work/time.txt" >>"$file"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
peak_mb() { awk '$2 > m { m = $2 } END { printf "%.0f", m / 1024 }' "$@"; }

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $runs runs each"
rows=()
for n in "${sizes[@]}"; do
  "$synthetic" "$n" >"$work/fleet-$n.toml"
  : >"$work/fresh" && : >"$work/copy" && : >"$work/again" && : >"$work/check"
  # Each run into a new directory, as a user's `fleetwright new` is, and no tree is deleted
  # before the last measurement: for minutes after many files are deleted, ext4 skips their
  # inodes one by one when allocating new ones, which would time the deletion, not
  # fleetwright (seconds at a thousand services). Run it after other benchmarks have settled.
  for run in $(seq "$runs"); do
    dir="$work/ws-$n-$run"
    mkdir -p "$dir"
    cp "$work/fleet-$n.toml" "$dir/fleet.toml"
    measure "$work/fresh" "$dir" generate
    /usr/bin/time -f "%e %M" -o "$work/time.txt" cp -r "$dir" "$work/copy-$n-$run"
    cat "$work/time.txt" >>"$work/copy"
    # Written data reaches the disk before the next measurement, which would otherwise
    # compete with that writeback (over a gigabyte at a thousand services).
    sync
    measure "$work/again" "$dir" generate
    measure "$work/check" "$dir" check
  done
  files=$(find "$dir" -type f | wc -l)
  row="| $n services ($files files) | $(cut -d' ' -f1 "$work/fresh" | median) s | $(cut -d' ' -f1 "$work/copy" | median) s | $(cut -d' ' -f1 "$work/again" | median) s | $(cut -d' ' -f1 "$work/check" | median) s | $(peak_mb "$work/fresh" "$work/again" "$work/check") MB |"
  echo "$row"
  rows+=("$row")
done

echo
echo "| manifest | fresh generate | cp -r of its output | generate again, nothing changed | check | peak memory |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
