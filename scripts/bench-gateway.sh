#!/usr/bin/env bash
# What token validation costs at the gateway: requests/s and p99 through the generated Envoy
# config (`gateway/envoy.local.yaml` of a manifest with [auth]) on one route that needs a
# token, sent with a valid development token, beside the same kind of route that is public,
# sent without one. Both routes reach an upstream that is a second Envoy answering 200 from
# memory, so the figures are the gateway's own.
#
# Runs are interleaved (public, token, then token, public, ...) so drifting load on a shared
# machine hits both alike; prints each run, the median of each and the load average. Compare
# the two figures of one run, never absolute figures across runs or machines.
#
# Needs envoy (FLEETWRIGHT_TOOLS or PATH), wrk and a built fleetwright (FLEETWRIGHT, default
# target/release/fleetwright, else target/debug/fleetwright).
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_PORT (18480).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${BENCH_ROUNDS:-3}"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-50}"
port="${BENCH_PORT:-18480}"
envoy="${FLEETWRIGHT_TOOLS:+$FLEETWRIGHT_TOOLS/}envoy"
fleetwright="${FLEETWRIGHT:-}"
if [ -z "$fleetwright" ]; then
  for candidate in "${CARGO_TARGET_DIR:-target}/release/fleetwright" "${CARGO_TARGET_DIR:-target}/debug/fleetwright"; do
    if [ -x "$candidate" ]; then
      fleetwright="$candidate"
      break
    fi
  done
fi

die() {
  echo "bench-gateway: $*" >&2
  exit 1
}
command -v "$envoy" >/dev/null 2>&1 || die "envoy not found (source scripts/tools.sh)"
command -v wrk >/dev/null 2>&1 || die "wrk not found (apt-get install wrk)"
[ -n "$fleetwright" ] || die "no fleetwright binary: cargo build --release, or set FLEETWRIGHT"
fleetwright="$(realpath "$fleetwright")"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

gateway=$port admin=$((port + 10)) public=$((port + 1)) guarded=$((port + 2)) upstream_admin=$((port + 20))
cat > "$work/fleet.toml" <<EOF
version = 1

[project]
name = "bench"

[gateway]
port = $gateway
admin_port = $admin
rate_limit = 1000000

[auth]
issuer = "https://id.example.com/realms/bench"
audiences = ["bench"]
jwks_uri = "https://id.example.com/realms/bench/certs"

[messaging]
broker = "none"

[services.open]
route = "/api/open"
database = "sqlite"
ports = { http = $public, grpc = $((port + 3)) }
access = { read = "public" }

[services.open.entities.Item]
name = "string"

[services.guarded]
route = "/api/guarded"
database = "sqlite"
ports = { http = $guarded, grpc = $((port + 4)) }
access = { read = "authenticated" }

[services.guarded.entities.Item]
name = "string"
EOF
(cd "$work" && "$fleetwright" generate -q)
# The local gateway exports its spans to 127.0.0.1:4318; point them at a closed port instead,
# so a receiver someone runs there gets none (both routes pay for tracing alike).
sed -i "s/port_value: 4318/port_value: $((port + 50))/" "$work/gateway/envoy.local.yaml"
token="$(cd "$work" && "$fleetwright" dev token --sub bench --ttl 1h)"

# The upstream: one Envoy listening on both services' ports, answering 200 itself.
{
  echo "admin: { address: { socket_address: { address: 127.0.0.1, port_value: $upstream_admin } } }"
  echo "static_resources:"
  echo "  listeners:"
  for p in "$public" "$guarded"; do
    cat <<EOF
    - name: upstream_$p
      address: { socket_address: { address: 127.0.0.1, port_value: $p } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: upstream
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          direct_response: { status: 200, body: { inline_string: "{\"id\":\"1\",\"name\":\"x\"}" } }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
EOF
  done
} > "$work/upstream.yaml"

"$envoy" -c "$work/upstream.yaml" --concurrency 1 --log-level error --base-id $((port + 30)) &
pids+=("$!")
"$envoy" -c "$work/gateway/envoy.local.yaml" --concurrency 1 --log-level critical --base-id $((port + 40)) >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  if curl -fs "http://127.0.0.1:$gateway/api/open/items/1" >/dev/null &&
    curl -fs -H "authorization: Bearer $token" "http://127.0.0.1:$gateway/api/guarded/items/1" >/dev/null; then
    break
  fi
  sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gateway/api/guarded/items/1")" = 401 ] ||
  die "the guarded route does not refuse a request without a token"

# One wrk run: "req/s p99_ms".
run() {
  local out
  if [ "$1" = token ]; then
    out="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "authorization: Bearer $token" "http://127.0.0.1:$gateway/api/guarded/items/1")"
  else
    out="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$gateway/api/open/items/1")"
  fi
  if echo "$out" | grep -q "Non-2xx"; then
    die "non-2xx answers in a $1 run: $out"
  fi
  local rps p99
  rps="$(echo "$out" | awk '/Requests\/sec/ { printf "%d", $2 }')"
  p99="$(echo "$out" | awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.2f", v }')"
  echo "$rps $p99"
}

wrk -t2 -c"$connections" -d2s "http://127.0.0.1:$gateway/api/open/items/1" >/dev/null
declare -a public_runs token_runs
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="public token"; else order="token public"; fi
  for kind in $order; do
    result="$(run "$kind")"
    echo "round $round $kind: $result (req/s, p99 ms)"
    if [ "$kind" = token ]; then token_runs+=("$result"); else public_runs+=("$result"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
echo "median public (no token):  $(median "${public_runs[@]}")"
echo "median token (verified):   $(median "${token_runs[@]}")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $(date -u +%Y-%m-%d)"
