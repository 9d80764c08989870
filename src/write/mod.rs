//! Plan (see [`crate::plan`]) → disk. The only module that touches the workspace: it compares
//! the plan with what is on disk and what `fleet.lock` says was generated last time, decides
//! per file ([`decide`]), and then writes (atomically, through [`filesystem`]), checks, or
//! only reports ([`apply`]). A writing run holds the [`flock`] on the workspace throughout.

pub mod apply;
pub mod decide;
pub mod filesystem;
pub mod flock;
pub mod lockfile;
pub mod regions;

pub use apply::{Header, Mode, Options, Outcome, apply};
pub use decide::{Action, Conflict, FileReport};
pub use filesystem::write_file_atomic;
pub use flock::Flock;
pub use lockfile::{LOCK_FILE, Lockfile};
