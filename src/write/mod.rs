//! Plan (see [`crate::plan`]) → disk. The only module that touches the workspace: it compares
//! the plan with what is on disk and what `fleet.lock` says was generated last time, decides
//! per file ([`decide`], merging hand edits three ways through [`merge`] against the [`base`]
//! mirror), and then writes (atomically, through [`filesystem`]), checks, or only reports
//! ([`apply`]). A writing run holds the [`flock`] on the workspace throughout.

pub(crate) mod apply;
pub(crate) mod base;
pub(crate) mod decide;
pub(crate) mod filesystem;
pub(crate) mod flock;
pub mod lockfile;
pub(crate) mod merge;
pub(crate) mod regions;
pub(crate) mod survey;

pub(crate) use apply::{Header, apply};
pub use apply::{Mode, Options, Outcome, Upgrade};
pub use decide::{Action, Conflict, FileReport};
pub(crate) use filesystem::write_file_atomic;
pub(crate) use flock::Flock;
pub use lockfile::Lockfile;
pub(crate) use survey::survey;
