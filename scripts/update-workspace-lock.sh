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
# every generated workspace, so this one list serves every manifest. The pipeline test builds
# the e-commerce, minimal and every-feature workspaces with `--locked` against it, and
# tests/integration/generate.rs requires its versions to agree with this repository's lock.
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

# Keep the registry packages (the workspace's own crates have no `source`); awk's paragraph
# mode reads the lock one `[[package]]` block at a time.
{
  echo "# The registry packages of a generated workspace's first Cargo.lock, pinned: written by"
  echo "# scripts/update-workspace-lock.sh, read by src/render/cargo_lock.rs. Do not edit by hand."
  awk 'BEGIN { RS = "" } /^\[\[package\]\]/ && /\nsource = / { printf "\n%s\n", $0 }' "$work/everything/Cargo.lock"
} >runtime/rust/workspace-dependencies.lock
echo "wrote runtime/rust/workspace-dependencies.lock ($(grep -c '^\[\[package\]\]' runtime/rust/workspace-dependencies.lock) packages)"
