//! Plan (see [`crate::plan`]) → disk. The only module that touches the workspace: it compares the plan with what is
//! on disk and what `fleet.lock` says was generated last time, decides per file, and then
//! writes (atomically), checks, or only reports.

pub mod apply;
pub mod lockfile;
pub mod regions;

pub use apply::{Action, Header, Mode, Options, Outcome, WorkspaceLock, apply, write_file_atomic};
pub use lockfile::{LOCK_FILE, Lockfile};
