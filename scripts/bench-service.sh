#!/usr/bin/env bash
# Throughput of a generated service against a hand-written one doing the same work.
#
# Generates the e-commerce example, builds its `products` service and the hand-written
# axum + sqlx baseline in bench/baseline (both release), starts both on loopback over the same
# SQLite file holding one product, and drives `GET /api/products/{id}` on each with wrk in
# interleaved rounds (alternating which goes first, so drifting load on a shared machine hits
# both alike). Prints req/s, p99 and the server's CPU time per request (user + system time of
# its process over the measured run, divided by the requests served) per target per round, the
# median req/s of each and the median of the per-round ratios generated/baseline; the goal is a
# ratio of at least 0.90. CPU time per request is the steadier figure on a shared machine: it
# counts only what the server itself spent, wherever the load generator and other tenants ran.
# Compare ratios from one run, never absolute figures across runs or machines.
#
# Needs cargo; installs wrk and curl with apt-get when missing. Builds go to
# $CARGO_TARGET_DIR (default ~/.cache/fleetwright/bench-target, kept between runs).
# Knobs: BENCH_ROUNDS (3), BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_THREADS (2),
# BENCH_CONNECTIONS (50), BENCH_PORT (18180: generated HTTP, +1 its gRPC, +2 baseline),
# BENCH_DB_CONNECTIONS (8, both pools), BENCH_RUST_LOG (info), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

rounds="${BENCH_ROUNDS:-3}"
duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
threads="${BENCH_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-50}"
port="${BENCH_PORT:-18180}"
db_connections="${BENCH_DB_CONNECTIONS:-8}"
rust_log="${BENCH_RUST_LOG:-info}"
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/bench-target}"

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "bench-service: $*" >&2
  exit 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/fleetwright-bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

step "build fleetwright (release)"
nice -n 10 cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"
fleetwright="$CARGO_TARGET_DIR/release/fleetwright"

step "generate the e-commerce example"
"$fleetwright" new "$work/shop" --example ecommerce >"$work/generate.log" 2>&1 || {
  cat "$work/generate.log" >&2
  die "generation failed"
}
service_dir="$work/shop/services/products"
[ -f "$service_dir/Cargo.toml" ] || die "no services/products in the generated workspace"

step "build products (release) and the hand-written baseline (release)"
(cd "$work/shop" && nice -n 10 cargo build --release --locked --quiet -p products)
nice -n 10 cargo build --release --locked --quiet --manifest-path "$repo/bench/baseline/Cargo.toml"
generated_bin="$CARGO_TARGET_DIR/release/products"
baseline_bin="$CARGO_TARGET_DIR/release/bench-baseline"

generated_url="http://127.0.0.1:$port"
baseline_url="http://127.0.0.1:$((port + 2))"
database_url="sqlite://$work/products.db?mode=rwc"

# Waits until `$1/path` answers 200, or the process `$2` has exited.
wait_for() {
  local url=$1 pid=$2 name=$3 _
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$url"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$name exited; its log: $(cat "$work/$name.log")"
    sleep 0.1
  done
  die "$name did not answer $url within 10 s; its log: $(cat "$work/$name.log")"
}

# Another server already on a port would answer in place of the one started here.
for url in "$generated_url" "$baseline_url"; do
  if curl -s -o /dev/null --max-time 1 "$url"; then
    die "something already listens on $url; stop it or choose another BENCH_PORT"
  fi
done

# The example has `[auth]`: products trusts the development key, as under ./dev.sh, reads are
# public (what wrk measures), and the product is created with an admin's token.
jwks=$(sed -n "s/.*AUTH_JWKS='\([^']*\)'.*/\1/p" "$work/shop/dev.sh" | head -n 1)
[ -n "$jwks" ] || die "no AUTH_JWKS in the generated dev.sh"
token=$("$fleetwright" -C "$work/shop" dev token --sub bench --role admin) || die "fleetwright dev token failed"

step "start products on $generated_url (SQLite file $work/products.db)"
HTTP_ADDR="127.0.0.1:$port" GRPC_ADDR="127.0.0.1:$((port + 1))" DATABASE_URL="$database_url" AUTH_JWKS="$jwks" \
  DATABASE_MAX_CONNECTIONS="$db_connections" RUST_LOG="$rust_log" "$generated_bin" >"$work/products.log" 2>&1 &
pids+=("$!")
wait_for "$generated_url/healthz" "$!" products

# The sample body the generated tests post.
# The constant may be wrapped onto a second line (rustfmt), so read the file as one line.
sample=$(tr '\n' ' ' <"$service_dir/tests/api.rs" | sed -n 's/.*const PRODUCT_SAMPLE: &str = *r#"\([^#]*\)"#;.*/\1/p')
[ -n "$sample" ] || die "no PRODUCT_SAMPLE in $service_dir/tests/api.rs"
status=$(curl -sS -o "$work/created.json" -D "$work/created.headers" -w '%{http_code}' \
  -H 'content-type: application/json' -H "authorization: Bearer $token" --data "$sample" "$generated_url/api/products")
[ "$status" = 201 ] || die "POST /api/products answered $status: $(cat "$work/created.json")"
location=$(tr -d '\r' <"$work/created.headers" | sed -n 's/^[Ll]ocation: *//p')
id=${location##*/}
[ -n "$id" ] || die "no Location header in the POST reply"
path="/api/products/$id"
echo "created $path"

step "start the baseline on $baseline_url (same SQLite file)"
HTTP_ADDR="127.0.0.1:$((port + 2))" DATABASE_URL="$database_url" DATABASE_MAX_CONNECTIONS="$db_connections" \
  "$baseline_bin" >"$work/baseline.log" 2>&1 &
pids+=("$!")
wait_for "$baseline_url$path" "$!" baseline

for target in generated baseline; do
  url="${target}_url"
  status=$(curl -sS -o "$work/$target.json" -w '%{http_code}' "${!url}$path")
  [ "$status" = 200 ] || die "GET $path on $target answered $status: $(cat "$work/$target.json")"
done
cmp -s "$work/generated.json" "$work/baseline.json" ||
  die "the two bodies differ, so the baseline no longer does the same work:
generated: $(cat "$work/generated.json")
baseline:  $(cat "$work/baseline.json")"
echo "both answer 200 with the same body: $(cat "$work/generated.json")"

# User + system CPU time of process `$1` so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# Runs wrk against `$1` (served by process `$2`) and prints
# "req/s p99_ms non2xx errors cpu_us_per_request".
measure() {
  local url=$1 pid=$2 out before after
  wrk -t"$threads" -c"$connections" -d"$warmup" "$url" >/dev/null
  before=$(cpu_ticks "$pid")
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency "$url")
  after=$(cpu_ticks "$pid")
  awk -v ticks=$((after - before)) -v hz="$ticks_per_second" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v
    }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { errors = $4 + $6 + $8 + $10 }
    END { printf "%.0f %.2f %d %d %.1f\n", rps, p99, non2xx, errors, requests ? ticks / hz * 1e6 / requests : 0 }
  ' <<<"$out"
}

step "wrk -t$threads -c$connections -d$duration ($warmup warm-up) on GET /api/products/{id}, $rounds interleaved rounds"
printf '%-6s %-10s %12s %9s %8s %7s %11s  %s\n' round target req/s p99_ms non2xx errors cpu_us/req "load (1/5/15 min)"
gen_rps=()
base_rps=()
ratios=()
gen_cpu=()
base_cpu=()
cpu_ratios=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order=(generated baseline); else order=(baseline generated); fi
  for target in "${order[@]}"; do
    load=$(loadavg)
    url="${target}_url"
    if [ "$target" = generated ]; then pid=${pids[0]}; else pid=${pids[1]}; fi
    result=$(measure "${!url}$path" "$pid")
    read -r rps p99 non2xx errors cpu <<<"$result"
    printf '%-6s %-10s %12s %9s %8s %7s %11s  %s\n' "$round" "$target" "$rps" "$p99" "$non2xx" "$errors" "$cpu" "$load"
    [ "$non2xx" = 0 ] || echo "warning: $target answered $non2xx non-2xx responses" >&2
    if [ "$target" = generated ]; then g=$rps gc=$cpu; else b=$rps bc=$cpu; fi
  done
  gen_rps+=("$g")
  base_rps+=("$b")
  ratios+=("$(awk -v g="$g" -v b="$b" 'BEGIN { printf "%.3f", g / b }')")
  gen_cpu+=("$gc")
  base_cpu+=("$bc")
  cpu_ratios+=("$(awk -v g="$gc" -v b="$bc" 'BEGIN { printf "%.3f", b / g }')")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%s", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
gen_median=$(median "${gen_rps[@]}")
base_median=$(median "${base_rps[@]}")
ratio=$(median "${ratios[@]}")
cpu_ratio=$(median "${cpu_ratios[@]}")

step "summary"
echo "generated products: median $gen_median req/s [${gen_rps[*]}]"
echo "hand-written:       median $base_median req/s [${base_rps[*]}]"
echo "ratio generated/baseline per round: ${ratios[*]}"
echo "median ratio: $ratio (goal >= 0.90: $(awk -v r="$ratio" 'BEGIN { print (r >= 0.90 ? "met" : "NOT met") }'))"
echo "CPU time per request: generated median $(median "${gen_cpu[@]}") us [${gen_cpu[*]}], hand-written median $(median "${base_cpu[@]}") us [${base_cpu[*]}]"
echo "CPU ratio baseline/generated per round (1.0: the same CPU per request): ${cpu_ratios[*]}; median $cpu_ratio"
rss() { awk '/^VmRSS/ { print $2, $3 }' "/proc/$1/status"; }
echo "resident memory: products $(rss "${pids[0]}"), baseline $(rss "${pids[1]}")"
echo "load average now: $(loadavg)"
