//! The runtime crate every Rust service depends on: `runtime/rust` in this repository, built
//! and tested there as ordinary code, embedded in the binary and written verbatim (behind the
//! managed-file header) into each workspace at the same path. Not a template: nothing in it
//! varies by manifest.

use include_dir::{Dir, include_dir};

static SOURCES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runtime/rust/src");
pub(crate) const MANIFEST: &str = include_str!("../../runtime/rust/Cargo.toml");

/// Where the crate goes in a workspace.
pub const DIR: &str = "runtime/rust";

/// Every file of the crate as (path in the workspace, text), sorted by path.
pub fn files() -> Vec<(String, &'static str)> {
    let mut files = vec![(format!("{DIR}/Cargo.toml"), MANIFEST)];
    add_files(&SOURCES, &mut files);
    files.sort_unstable();
    files
}

/// The files of `dir` and of every directory in it; paths are relative to `src`.
fn add_files(dir: &'static Dir<'static>, files: &mut Vec<(String, &'static str)>) {
    for entry in dir.entries() {
        match entry {
            include_dir::DirEntry::Dir(dir) => add_files(dir, files),
            include_dir::DirEntry::File(file) => {
                if let Some(text) = file.contents_utf8() {
                    files.push((format!("{DIR}/src/{}", file.path().to_string_lossy()), text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_whole_crate_is_embedded() {
        let files = super::files();
        let paths: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
        for expected in [
            "runtime/rust/Cargo.toml",
            "runtime/rust/src/lib.rs",
            "runtime/rust/src/events/mod.rs",
            "runtime/rust/src/events/nats.rs",
        ] {
            assert!(paths.contains(&expected), "{expected} missing from {paths:?}");
        }
        let rust_or_manifest =
            |p: &&str| std::path::Path::new(p).extension().is_some_and(|e| e == "rs") || p.ends_with("/Cargo.toml");
        assert!(paths.iter().all(rust_or_manifest), "{paths:?}");
    }
}
