#!/usr/bin/env bash
# Fuzzes manifest loading (decoding, TOML, schema, every validation rule, resolution) and the
# rendering of its diagnostics with cargo-fuzz (libFuzzer), for a bounded time. A crash fails
# the run and leaves its input in fuzz/artifacts/manifest/.
#
# Works on the stable toolchain: with `--sanitizer none` cargo-fuzz passes no nightly-only
# flags (coverage instrumentation and libFuzzer need none). AddressSanitizer would need
# `-Zsanitizer` (RUSTC_BOOTSTRAP=1 lets stable accept it), but the crate forbids unsafe
# code, so a panic is the finding that matters, and debug assertions stay on.
#
# Usage: scripts/fuzz.sh [SECONDS]   (default 60). The corpus grows across runs in the cache.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
tools="$cache/tools"
pin=0.13.2
if ! "$tools/cargo-fuzz/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$pin"; then
  echo "fuzz: cargo install cargo-fuzz@$pin"
  cargo install --locked --quiet "cargo-fuzz@$pin" --root "$tools/cargo-fuzz"
fi
export PATH="$tools/cargo-fuzz/bin:$PATH"
# Its own target directory: the instrumented build shares nothing with the normal one.
export CARGO_TARGET_DIR="$cache/fuzz-target"

# Seeds: the examples (valid) and one invalid manifest per diagnostic.
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
for example in examples/*/fleet.toml; do
  cp "$example" "$seeds/example-$(basename "$(dirname "$example")").toml"
done
cp tests/fixtures/invalid/*.toml "$seeds/"
corpus="$cache/fuzz-corpus/manifest"
mkdir -p "$corpus"

cargo fuzz build --sanitizer none manifest
# libFuzzer reports every new input; keep the log to its end, where a crash and the final
# statistics are (pipefail keeps the fuzzer's exit status).
cargo fuzz run --sanitizer none manifest "$corpus" "$seeds" -- \
  -max_total_time="$seconds" -dict=fuzz/manifest.dict -print_final_stats=1 2>&1 | tail -n 40
