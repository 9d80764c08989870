#!/usr/bin/env bash
# The generated e-commerce system, running (release builds, started by its own ./dev.sh):
#
# 1. Gateway overhead: wrk drives `GET /api/products/{id}` through Envoy (:8080) and straight
#    to the products service (:8082) in interleaved rounds, in the same run; prints req/s and
#    p99 latency of each, per round, and their medians.
# 2. Order to paid: places BENCH_ORDERS orders one after another (draft, one line, placed) and
#    measures, for each, the time from the placing request to the moment `GET` shows it paid
#    (OrderPlaced -> payments -> PaymentCompleted -> orders); prints the median, p90 and max.
#
# Needs cargo, envoy (ENVOY or PATH; scripts/tools.sh installs it under ~/.cache/fleetwright),
# nats-server, wrk, curl and python3. Builds go to $CARGO_TARGET_DIR (default
# ~/.cache/fleetwright/bench-target). Knobs: BENCH_ROUNDS (3), BENCH_DURATION (10s),
# BENCH_THREADS (2), BENCH_CONNECTIONS (50), BENCH_ORDERS (100), BENCH_KEEP=1 keeps the temp dir.
# Uses the example's fixed ports (8080-8084, 50051-50054, 4222).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

rounds="${BENCH_ROUNDS:-3}"
duration="${BENCH_DURATION:-10s}"
threads="${BENCH_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-50}"
orders="${BENCH_ORDERS:-100}"
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/bench-target}"
export ENVOY="${ENVOY:-$(command -v envoy || echo "$cache/tools/venv/bin/envoy")}"

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "bench-system: $*" >&2
  exit 1
}
for tool in cargo wrk curl python3 nats-server "$ENVOY"; do
  command -v "$tool" >/dev/null 2>&1 || die "\`$tool\` is not installed (scripts/tools.sh installs the test tools)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/fleetwright-bench-system.XXXXXX")
cleanup() {
  if [ -x "$work/shop/dev.sh" ]; then DEV_PROFILE=release "$work/shop/dev.sh" down >/dev/null 2>&1 || true; fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

step "build fleetwright and generate the e-commerce example"
cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"
"$CARGO_TARGET_DIR/release/fleetwright" new "$work/shop" --example ecommerce --quiet

step "build the system (release) and start it with ./dev.sh"
cd "$work/shop"
RUST_LOG=warn DEV_PROFILE=release ./dev.sh up

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
post() { curl -sf -X "$1" -H 'content-type: application/json' -d "$3" "http://127.0.0.1:8080$2"; }

user=$(post POST /api/users '{"email":"bench@example.com","display_name":"Bench","marketing_opt_in":false}' | json_field id)
product=$(post POST /api/products '{"sku":"BENCH-1","name":"Bench","description":null,"price_cents":1000,"tags":[]}' | json_field id)

step "gateway overhead: GET /api/products/{id}, $rounds rounds of $duration, $connections connections"
wrk_run() {
  # Prints "req/s p99-ms".
  wrk -t "$threads" -c "$connections" -d "$duration" --latency "$1" |
    awk '/Requests\/sec/ {rps=$2} /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p99=v} END {printf "%.0f %.2f\n", rps, p99}'
}
gateway_rps=() direct_rps=() gateway_p99=() direct_p99=()
for round in $(seq 1 "$rounds"); do
  read -r rps p99 < <(wrk_run "http://127.0.0.1:8080/api/products/$product")
  gateway_rps+=("$rps") gateway_p99+=("$p99")
  echo "round $round  via Envoy: $rps req/s, p99 $p99 ms"
  read -r rps p99 < <(wrk_run "http://127.0.0.1:8082/api/products/$product")
  direct_rps+=("$rps") direct_p99+=("$p99")
  echo "round $round  direct:    $rps req/s, p99 $p99 ms"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "median via Envoy: $(median "${gateway_rps[@]}") req/s, p99 $(median "${gateway_p99[@]}") ms"
echo "median direct:    $(median "${direct_rps[@]}") req/s, p99 $(median "${direct_p99[@]}") ms"

step "order to paid: $orders orders, one after another"
python3 - "$user" "$product" "$orders" <<'EOF'
import json, statistics, sys, time, urllib.request

user, product, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = "http://127.0.0.1:8080"

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)

def order(status):
    return {"customer_id": user, "status": status, "total_cents": 0, "note": None,
            "placed_at": "2026-01-01T00:00:00Z"}

latencies = []
for _ in range(count):
    draft = call("POST", "/api/orders", order("draft"))
    call("POST", "/api/orders/order-lines",
         {"order_id": draft["id"], "product_id": product, "quantity": 1, "unit_price_cents": 0})
    started = time.monotonic()
    call("PUT", f"/api/orders/{draft['id']}", order("pending"))
    while call("GET", f"/api/orders/{draft['id']}")["status"] != "paid":
        if time.monotonic() - started > 30:
            sys.exit(f"order {draft['id']} not paid after 30 s")
        time.sleep(0.002)
    latencies.append((time.monotonic() - started) * 1000)

latencies.sort()
print(f"order placed -> paid over {count} orders: median {statistics.median(latencies):.1f} ms, "
      f"p90 {latencies[int(len(latencies) * 0.9) - 1]:.1f} ms, max {latencies[-1]:.1f} ms")
EOF
