#!/usr/bin/env bash
# Writes per second with the optimistic-concurrency version check and without it (issue 14).
#
# Generates a one-entity workspace (`notes`, entity `Note`), builds a small benchmark program
# against the generated service's own library (release), and runs, in interleaved rounds over
# one database (alternating which goes first, so drifting load on a shared machine hits all
# alike):
#   checked    the write the service does for a PUT: in one transaction, read the record, then
#              `store::update_note_at` (UPDATE ... WHERE "id" = $n AND "version" = $m);
#   unchecked  the same transaction with `store::update_note` (UPDATE ... WHERE "id" = $n), the
#              write without the check, which no REST or gRPC route uses;
#   http-put   the whole PUT /api/notes/{id} with If-Match through the running service (one
#              client, a new loopback connection per request), for what a client sees.
# Writes are spread round-robin over BENCH_ROWS records, one at a time (no contention: the
# check's cost, not conflicts, is measured). Prints writes/s per round and target, the medians,
# and the median ratio unchecked/checked. Compare figures within one run only.
#
# "Without the check" is measured at the store, not over HTTP: every route checks the version,
# and a production switch to turn that off would be a way to lose writes.
#
# Needs cargo. Builds go to $CARGO_TARGET_DIR (default ~/.cache/fleetwright/bench-target).
# Knobs: BENCH_DATABASE_URL (default a SQLite file in the temp dir; a postgres:// URL names a
# database, created when missing), BENCH_ROUNDS (3), BENCH_SECONDS (5, per target and round),
# BENCH_ROWS (64), BENCH_PROFILE (release; `dev` for a quicker debug build), FLEETWRIGHT_BIN (a fleetwright binary to generate with; default: build it
# in release), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

rounds="${BENCH_ROUNDS:-3}"
seconds="${BENCH_SECONDS:-5}"
rows="${BENCH_ROWS:-64}"
profile="${BENCH_PROFILE:-release}"
if [ "$profile" = dev ]; then profile_dir=debug; else profile_dir=$profile; fi
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/bench-target}"

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "bench-writes: $*" >&2
  exit 1
}
command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/fleetwright-bench-writes.XXXXXX")
cleanup() {
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
database_url="${BENCH_DATABASE_URL:-sqlite://$work/notes.db?mode=rwc}"

if [ -n "${FLEETWRIGHT_BIN:-}" ]; then
  fleetwright=$FLEETWRIGHT_BIN
else
  step "build fleetwright (release)"
  nice -n 10 cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml"
  fleetwright="$CARGO_TARGET_DIR/release/fleetwright"
fi

step "generate a workspace with one entity"
mkdir -p "$work/bench"
cat >"$work/bench/fleet.toml" <<'TOML'
version = 1
[project]
name = "bench"

[services.notes]
route = "/api/notes"

[services.notes.entities.Note]
title = "string"
body = "text"
stars = "int32"
TOML
(cd "$work/bench" && "$fleetwright" generate >"$work/generate.log" 2>&1) || {
  cat "$work/generate.log" >&2
  die "generation failed"
}

# The benchmark is a cargo example of the generated service crate: it uses the service's own
# store, app and HTTP API, as hand-written code in that crate would.
mkdir -p "$work/bench/services/notes/examples"
cat >"$work/bench/services/notes/examples/write_bench.rs" <<'RUST'
//! Writes per second with the version check and without it; see scripts/bench-writes.sh.

use std::time::{Duration, Instant};

use fleetwright_runtime::testing::TestService;
use notes::model::NoteInput;
use notes::{App, Config, store};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Target {
    Checked,
    Unchecked,
    HttpPut,
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn input(n: usize) -> NoteInput {
    NoteInput { title: format!("note {n}"), body: "the same body every time".into(), stars: (n % 5) as i32 }
}

/// One write as the service makes it: read the record, then write it, in one transaction.
async fn store_write(app: &App, target: Target, id: Uuid, n: usize) -> anyhow::Result<()> {
    let mut tx = app.begin().await?;
    let current = store::get_note(tx.conn(), id).await?;
    match target {
        Target::Checked => {
            store::update_note_at(tx.conn(), &current, input(n)).await?.expect("nothing else writes");
        }
        Target::Unchecked => {
            store::update_note(tx.conn(), id, input(n)).await?;
        }
        Target::HttpPut => unreachable!("not a store write"),
    }
    tx.commit().await?;
    Ok(())
}

/// Writes per second of `target` over `ids` for `seconds`.
async fn measure(
    service: &TestService<App>,
    target: Target,
    ids: &[Uuid],
    etags: &mut [String],
    seconds: f64,
) -> anyhow::Result<f64> {
    if let Target::HttpPut = target {
        // The store writes moved the versions on: read the current ones (untimed).
        for (id, etag) in ids.iter().zip(etags.iter_mut()) {
            let reply = service.http("GET", &format!("/api/notes/{id}"), None).await;
            *etag = reply.header("etag").expect("an ETag").to_owned();
        }
    }
    let started = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    let mut n = 0;
    while started.elapsed() < limit {
        let slot = n % ids.len();
        match target {
            Target::HttpPut => {
                let body = serde_json::to_string(&serde_json::json!({
                    "title": format!("note {n}"), "body": "the same body every time", "stars": (n % 5) as i32,
                }))?;
                let path = format!("/api/notes/{}", ids[slot]);
                let reply = service.http_with("PUT", &path, Some(&body), &[("if-match", &etags[slot])]).await;
                anyhow::ensure!(reply.status == 200, "PUT {path}: {} {}", reply.status, reply.body);
                etags[slot] = reply.header("etag").expect("an ETag").to_owned();
            }
            store => store_write(&service.app, store, ids[slot], n).await?,
        }
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = setting("BENCH_ROUNDS", 3);
    let seconds: f64 = setting("BENCH_SECONDS", 5.0);
    let rows: usize = setting("BENCH_ROWS", 64);
    let service = TestService::serve(notes::start(Config::from_env()?).await?);
    let mut ids = Vec::with_capacity(rows);
    for n in 0..rows {
        ids.push(service.app.create_note(input(n)).await?.id);
    }
    let mut etags = vec![String::new(); rows];
    // Warm-up: every path once through the pool and the caches.
    for target in [Target::Checked, Target::Unchecked, Target::HttpPut] {
        measure(&service, target, &ids, &mut etags, seconds / 5.0).await?;
    }
    println!("{:<6} {:<10} {:>10}  load (1/5/15 min)", "round", "target", "writes/s");
    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let mut order = [Target::Checked, Target::Unchecked, Target::HttpPut];
        if round % 2 == 0 {
            order.reverse();
        }
        let mut this = [0.0; 3];
        for target in order {
            let before = load();
            let rate = measure(&service, target, &ids, &mut etags, seconds).await?;
            println!("{round:<6} {:<10} {rate:>10.0}  {before}", format!("{target:?}").to_lowercase());
            this[target as usize] = rate;
            rates[target as usize].push(rate);
        }
        ratios.push(this[1] / this[0]);
    }
    println!();
    println!("checked (read + UPDATE ... AND version = $m): median {:.0} writes/s", median(&rates[0]));
    println!("unchecked (read + UPDATE ... WHERE id = $n):  median {:.0} writes/s", median(&rates[1]));
    println!("PUT with If-Match over HTTP:                  median {:.0} writes/s", median(&rates[2]));
    println!("ratio unchecked/checked per round: {ratios:.3?}; median {:.3}", median(&ratios));
    println!("load average now: {}", load());
    Ok(())
}
RUST

step "build the benchmark ($profile)"
(cd "$work/bench" && nice -n 10 cargo build --profile "$profile" --locked --quiet -p notes --example write_bench)

step "run: $rounds interleaved rounds of ${seconds}s per target on $database_url"
(cd "$work/bench" && DATABASE_URL="$database_url" RUST_LOG="${BENCH_RUST_LOG:-warn}" HTTP_ADDR=127.0.0.1:0 GRPC_ADDR=127.0.0.1:0 \
  BENCH_ROUNDS="$rounds" BENCH_SECONDS="$seconds" BENCH_ROWS="$rows" "$CARGO_TARGET_DIR/$profile_dir/examples/write_bench")
