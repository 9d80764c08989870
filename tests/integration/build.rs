//! Builds and tests the generated e-commerce workspace with cargo: slow, so `#[ignore]`d in
//! the fast loop; `.ci/run` runs it. Set `FLEETWRIGHT_TARGET_DIR` to share one target
//! directory between runs (CI caches it under the home directory).

use crate::support::{ECOMMERCE, Scratch};

#[test]
#[ignore = "builds the generated workspace (minutes); run by .ci/run"]
fn generated_ecommerce_workspace_builds_and_passes_its_tests() {
    let scratch = Scratch::with_manifest(ECOMMERCE);
    scratch.run(&["generate"]).assert_code(0);
    let target = std::env::var("FLEETWRIGHT_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/generated").to_owned());
    let status = std::process::Command::new(env!("CARGO"))
        .args(["test", "--workspace"])
        .current_dir(scratch.path())
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo test failed in the generated workspace");
}
