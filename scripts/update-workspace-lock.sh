#!/usr/bin/env bash
# Refreshes runtime/rust/workspace-dependencies.lock: the third-party packages, pinned, that
# every generated workspace's first Cargo.lock holds (fleetwright adds the workspace's own
# crates to them when it writes the lock; see src/render/cargo_lock.rs).
#
# Run it after changing a dependency of the runtime crate or of the service template
# (templates/services/rust/Cargo.toml.jinja, templates/workspace/Cargo.toml.jinja). It generates
# the manifest that uses every feature, seeds its lock with fleetwright's own Cargo.lock (so the
# runtime crate gets exactly the versions fleetwright's CI builds and tests it with) and lets
# cargo add what only services use and drop what only fleetwright uses. A Cargo workspace's
# lock is resolved with every feature of every member on, and the runtime crate is a member of
# every generated workspace, so this one list serves every manifest: the tests hold every
# generated workspace to it with `--locked`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/self-target}"

work=$(mktemp -d "${TMPDIR:-/tmp}/fleetwright-lock.XXXXXX")
trap 'rm -rf "$work"' EXIT

cargo build --locked --quiet --manifest-path "$repo/Cargo.toml"
cp -r tests/fixtures/everything "$work/everything"
"$CARGO_TARGET_DIR/debug/fleetwright" -C "$work/everything" generate --quiet
cp "$repo/Cargo.lock" "$work/everything/Cargo.lock"
(cd "$work/everything" && cargo update --workspace --quiet)

# Keep the registry packages (the workspace's own crates have no `source`).
python3 - "$work/everything/Cargo.lock" >runtime/rust/workspace-dependencies.lock <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
blocks = text.split("\n[[package]]\n")[1:]
print("# The registry packages of a generated workspace's first Cargo.lock, pinned: written by")
print("# scripts/update-workspace-lock.sh, read by src/render/cargo_lock.rs. Do not edit by hand.")
for block in blocks:
    if "\nsource = " in block:
        print("\n[[package]]\n" + block.rstrip("\n"))
PY
echo "wrote runtime/rust/workspace-dependencies.lock ($(grep -c '^\[\[package\]\]' runtime/rust/workspace-dependencies.lock) packages)"
