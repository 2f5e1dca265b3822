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
/// Losses to gc are not counted against a writer (gc must never starve
/// saves), up to this many, in case something runs gc without pause.
const MAX_LOSSES_TO_GC: u32 = 1024;
/// gc yields sooner: it can run again later, a save cannot wait.
const GC_COMMIT_ATTEMPTS: u32 = 8;

impl Store {
    /// Runs `plan` on the newest manifest and commits what it changed; returns
    /// the manifest as committed (or as read, when skipped) and the plan's value.
    /// `by` names the operation in the manifest it commits.
    pub(super) fn commit_planned<T>(
        &self,
        by: &'static str,
        mut plan: impl FnMut(&mut Manifest) -> Result<Plan<T>>,
    ) -> Result<(Manifest, T)> {
        let (mut attempt, mut losses_to_gc) = (0, 0);
        loop {
            let mut manifest = self.manifest()?;
            // a writer that lost to gc plans again on gc's manifest, uncounted
            let lost_to_gc = attempt > 0
                && !maintenance(Some(by))
                && maintenance(manifest.committed_by.as_deref())
                && losses_to_gc < MAX_LOSSES_TO_GC;
            if lost_to_gc {
                losses_to_gc += 1;
                attempt -= 1;
            }
            match plan(&mut manifest)? {
                Plan::Skip(value) => return Ok((manifest, value)),
                Plan::Commit(files, value) => {
                    manifest.committed_by = Some(by.to_string());
                    if self.storage.commit(&mut manifest, &files)? == Commit::Done {
                        return Ok((manifest, value));
                    }
                }
                Plan::Again => {}
            }
            let cap = if maintenance(Some(by)) {
                GC_COMMIT_ATTEMPTS
            } else {
                MAX_COMMIT_ATTEMPTS
            };
            attempt = retry_after_conflict(by, attempt, cap)?;
        }
    }
}

/// gc and compaction: they yield to writers, and writers do not count
/// commits lost to them.
fn maintenance(by: Option<&str>) -> bool {
    matches!(by, Some("gc" | "compact"))
}

/// Counts a lost commit and waits a little (jittered, growing) before the next.
fn retry_after_conflict(by: &str, attempt: u32, cap: u32) -> Result<u32> {
    let attempt = attempt + 1;
    if attempt >= cap {
        return Err(Error::CommitConflict(format!(
            "{by} gave up after {attempt} commits lost to concurrent writers; nothing was \
             changed, and it can be run again"
        )));
    }
    let jitter = u64::from_str_radix(&fsio::unique_suffix()[..4], 16).unwrap_or(0) % 20;
    let millis = (5u64 << attempt.min(6)) + jitter;
    std::thread::sleep(std::time::Duration::from_millis(millis));
    Ok(attempt)
}
