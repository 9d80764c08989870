//! The flock: an exclusive OS-level lock on the workspace directory, held by a writing run
//! from reading `fleet.lock` (the lockfile, a different thing) to writing it, so two runs
//! never interleave. It knows nothing of what is written.

use std::fs;
use std::path::Path;

use crate::error::Error;

/// An exclusive lock on the workspace directory for the length of a run, so two runs never
/// interleave their writes. A second run waits briefly, then gives up with [`Error::Busy`].
pub(crate) struct Flock {
    _dir: fs::File,
}

impl Flock {
    /// Takes the flock, waiting up to ten seconds for another run to finish.
    ///
    /// # Errors
    /// [`Error::Busy`] when another run keeps it, [`Error::Io`] when the directory cannot be opened.
    pub(crate) fn acquire(root: &Path) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(|e| Error::io("create directory", root, e))?;
        let dir = fs::File::open(root).map_err(|e| Error::io("open", root, e))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match dir.try_lock() {
                // Filesystems without locking support: proceed unlocked rather than refuse.
                Ok(()) | Err(fs::TryLockError::Error(_)) => return Ok(Self { _dir: dir }),
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(Error::Busy(root.to_owned())),
            }
        }
    }
}
