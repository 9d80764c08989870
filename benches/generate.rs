//! Generation speed: rendering in memory (divan), and `fleetwright generate` as a whole
//! process on the e-commerce example and on synthetic manifests of 10, 100 and 500 services:
//! fresh, unchanged, after an edit of the manifest, and `check`.
//! Run with `cargo bench --bench generate`; figures go in the README.

use std::path::PathBuf;
use std::process::Command;

use fleetwright::Source;
use fleetwright::model::State;
use fleetwright::model::load_source;
use fleetwright::render::Templates;

fn main() {
    divan::main();
}

fn plan(manifest: &str) -> fleetwright::plan::Plan {
    let loaded = load_source(Source::from_text("fleet.toml", manifest)).expect("valid");
    fleetwright::plan(
        &loaded.workspace,
        &Templates::embedded().expect("templates"),
        &State::default(),
    )
    .expect("renders")
    .0
}

/// Load, validate, resolve and render, without touching disk.
#[divan::bench(args = [10, 100, 500])]
fn render_in_memory(bencher: divan::Bencher, services: usize) {
    let manifest = fleetwright::examples::synthetic(services);
    bencher.bench(|| plan(divan::black_box(&manifest)));
}

#[divan::bench]
fn render_ecommerce_in_memory() -> fleetwright::plan::Plan {
    plan(divan::black_box(fleetwright::examples::ECOMMERCE))
}

/// The release binary cargo builds for this bench.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fleetwright"))
}

/// The e-commerce example for 0, else a synthetic manifest of that many services.
fn manifest_for(services: usize) -> String {
    if services == 0 {
        fleetwright::examples::ECOMMERCE.to_owned()
    } else {
        fleetwright::examples::synthetic(services)
    }
}

fn workspace(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fleet.toml"), manifest).expect("write manifest");
    dir
}

fn run(dir: &std::path::Path, command: &str) {
    let status = Command::new(binary())
        .arg(command)
        .arg("-q")
        .current_dir(dir)
        .status()
        .expect("runs");
    assert!(status.success() || command == "check");
}

/// Whole process, first generation into a new directory. Every sample's directory is kept
/// until the end: right after a large tree is deleted, ext4 takes seconds to allocate new
/// inodes, which would measure the deletion, not the generation.
#[divan::bench(args = [0, 10, 100, 500], sample_count = 10)]
fn process_generate_fresh(bencher: divan::Bencher, services: usize) {
    let manifest = manifest_for(services);
    let used = std::cell::RefCell::new(Vec::new());
    bencher.with_inputs(|| workspace(&manifest)).bench_local_values(|dir| {
        run(dir.path(), "generate");
        used.borrow_mut().push(dir);
    });
}

/// Whole process, regeneration with nothing to do (the common interactive case).
#[divan::bench(args = [0, 10, 100, 500], sample_count = 10)]
fn process_generate_unchanged(bencher: divan::Bencher, services: usize) {
    let manifest = manifest_for(services);
    let dir = workspace(&manifest);
    run(dir.path(), "generate");
    bencher.bench_local(|| run(dir.path(), "generate"));
}

/// Whole process, `check` of an up-to-date workspace (what users' CI runs).
#[divan::bench(args = [0, 500], sample_count = 10)]
fn process_check(bencher: divan::Bencher, services: usize) {
    let manifest = manifest_for(services);
    let dir = workspace(&manifest);
    run(dir.path(), "generate");
    bencher.bench_local(|| run(dir.path(), "check"));
}

/// Whole process, regeneration after an edit of the manifest (the first description changes
/// back and forth): the interactive loop of a user editing `fleet.toml`.
#[divan::bench(args = [0, 500], sample_count = 10)]
fn process_generate_after_edit(bencher: divan::Bencher, services: usize) {
    let manifest = manifest_for(services);
    let edited = manifest.replacen("description = \"", "description = \"Edited: ", 1);
    assert_ne!(edited, manifest, "the manifest has a description to edit");
    let dir = workspace(&manifest);
    run(dir.path(), "generate");
    let mut flip = false;
    bencher.bench_local(|| {
        flip = !flip;
        let text = if flip { &edited } else { &manifest };
        std::fs::write(dir.path().join("fleet.toml"), text).expect("write manifest");
        run(dir.path(), "generate");
    });
}
