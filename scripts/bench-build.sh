#!/usr/bin/env bash
# Cold build time of the generated e-commerce workspace.
#
# Generates the example into a temp dir, downloads its dependencies (`cargo fetch`, not
# timed), then times `cargo build --workspace` (debug) and `cargo build --workspace --release`,
# each into a fresh, empty target dir that is deleted afterwards, under `nice -n 10`. Prints
# wall-clock seconds (and CPU seconds) for each, with the load average at the start: on a
# shared machine the outside load moves these numbers by tens of percent.
#
# Needs cargo. fleetwright itself is built into $CARGO_TARGET_DIR (default
# ~/.cache/fleetwright/bench-target); that build is not timed. RUSTC_WRAPPER (a compiler
# cache) is unset for the timed builds, which would otherwise not be cold.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/bench-target}"

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "bench-build: $*" >&2
  exit 1
}
command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/fleetwright-bench-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

step "build fleetwright (release, not timed)"
nice -n 10 cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"

step "generate the e-commerce example and fetch its dependencies (not timed)"
"$CARGO_TARGET_DIR/release/fleetwright" new "$work/shop" --example ecommerce >"$work/generate.log" 2>&1 || {
  cat "$work/generate.log" >&2
  die "generation failed"
}
(cd "$work/shop" && cargo fetch --quiet)
echo "rustc: $(rustc --version)"
services=("$work"/shop/services/*/)
echo "services: ${#services[@]} ($(basename -a "${services[@]}" | paste -sd' '))"

# Times one cold build of the whole workspace; `$1` is the profile, the rest cargo flags.
cold_build() {
  local profile=$1 target units wall user sys
  shift
  target="$work/target-$profile"
  mkdir "$target"
  step "cold $profile build: cargo build --workspace${*:+ $*} (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  TIMEFORMAT='%R %U %S'
  if ! { time (cd "$work/shop" && env -u RUSTC_WRAPPER CARGO_TARGET_DIR="$target" \
    nice -n 10 cargo build --workspace --frozen "$@" >"$work/build-$profile.log" 2>&1); } 2>"$work/time-$profile"; then
    tail -n 30 "$work/build-$profile.log" >&2
    die "$profile build failed"
  fi
  read -r wall user sys <"$work/time-$profile"
  units=$(grep -c '^ *Compiling ' "$work/build-$profile.log" || true)
  printf '%s: %.1f s wall, %.1f s CPU (user %.1f + sys %.1f), %s crates compiled, target/ %s\n' \
    "$profile" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$user" "$sys" "$units" \
    "$(du -sh "$target" | cut -f1)"
  rm -rf "$target"
  results+=("$(printf '%-8s %8.1f s' "$profile" "$wall")")
}

results=()
cold_build debug
cold_build release --release

step "summary (wall clock, cold, registry already downloaded)"
printf '%s\n' "${results[@]}"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
