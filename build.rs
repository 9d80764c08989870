//! Rebuilds the crate when a template or example changes: `include_dir!` and `include_str!`
//! embed them, but only `include_str!` files are tracked by cargo on stable Rust.
fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=examples");
}
