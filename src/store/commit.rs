//! The one way a store changes: plan on the newest manifest, commit, and when
//! another writer committed first, plan again on top of its manifest.

use bytes::Bytes;

use super::Store;
use crate::error::{Error, Result};
use crate::fsio;
use crate::manifest::Manifest;
use crate::storage::Commit;

/// What one planning pass on the newest manifest decided.
pub(super) enum Plan<T> {
    /// Commit the changed manifest, with these new files (name, bytes).
    Commit(Vec<(String, Bytes)>, T),
    /// Nothing to commit.
    Skip(T),
    /// The store changed under the plan: read the manifest and plan again.
    Again,
}

/// Commits that lose to other writers retry; this many losses in a row
/// means the store is too contended (or something keeps rewriting it).
const MAX_COMMIT_ATTEMPTS: u32 = 64;

impl Store {
    /// Runs `plan` on the newest manifest and commits what it changed; returns
    /// the manifest as committed (or as read, when skipped) and the plan's value.
    pub(super) fn commit_planned<T>(
        &self,
        mut plan: impl FnMut(&mut Manifest) -> Result<Plan<T>>,
    ) -> Result<(Manifest, T)> {
        let mut attempt = 0;
        loop {
            let mut manifest = self.manifest()?;
            match plan(&mut manifest)? {
                Plan::Skip(value) => return Ok((manifest, value)),
                Plan::Commit(files, value) => {
                    if self.storage.commit(&mut manifest, &files)? == Commit::Done {
                        return Ok((manifest, value));
                    }
                }
                Plan::Again => {}
            }
            attempt = retry_after_conflict(attempt)?;
        }
    }
}

/// Counts a lost commit and waits a little (jittered, growing) before the next.
fn retry_after_conflict(attempt: u32) -> Result<u32> {
    let attempt = attempt + 1;
    if attempt >= MAX_COMMIT_ATTEMPTS {
        return Err(Error::CommitConflict(format!(
            "gave up after {attempt} commits lost to concurrent writers"
        )));
    }
    let jitter = u64::from_str_radix(&fsio::unique_suffix()[..4], 16).unwrap_or(0) % 20;
    let millis = (5u64 << attempt.min(6)) + jitter;
    std::thread::sleep(std::time::Duration::from_millis(millis));
    Ok(attempt)
}
