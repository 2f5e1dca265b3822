//! Which earlier versions of checkpoints gc drops: the retention policy.
//! A live checkpoint is never dropped, nor a pinned version.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::{Error, Result};
use crate::manifest::{Entry, Manifest, Segment};

/// Versions of each checkpoint gc keeps when the caller names no policy.
pub const DEFAULT_KEEP_VERSIONS: u64 = 5;

/// What gc keeps of the store's history.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Keep the newest K versions of each checkpoint (the live one, or a
    /// deleted checkpoint's deletion, counts as one); None keeps every version.
    pub keep_versions: Option<u64>,
    /// Drop versions created more than this many seconds ago.
    pub older_than: Option<f64>,
    /// Drop the oldest versions while the store is larger than this.
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_versions: Some(DEFAULT_KEEP_VERSIONS),
            older_than: None,
            max_bytes: None,
        }
    }
}

impl Retention {
    /// Keeps only each checkpoint's live version: no history.
    pub fn latest_only() -> Retention {
        Retention {
            keep_versions: Some(1),
            ..Retention::default()
        }
    }

    pub fn check(&self) -> Result<()> {
        if self.keep_versions == Some(0) {
            return Err(Error::InvalidValue(
                "keep_versions must be at least 1: the latest version is never dropped".into(),
            ));
        }
        if let Some(age) = self.older_than {
            if !age.is_finite() || age < 0.0 {
                return Err(Error::InvalidValue(format!(
                    "older_than must be a number of seconds, 0 or more, got {age}"
                )));
            }
        }
        Ok(())
    }
}

/// (step, op, version): one version of one checkpoint.
pub type VersionKey = (String, String, u64);

pub fn key_of(e: &Entry) -> VersionKey {
    (e.step.clone(), e.op.clone(), e.version)
}

/// The history versions the policy drops. `refs` holds each file's value
/// ids; `store_bytes` is the store's size now (for `max_bytes`).
pub fn select(
    manifest: &Manifest,
    policy: &Retention,
    now: f64,
    refs: &HashMap<String, Vec<u64>>,
    store_bytes: u64,
) -> HashSet<VersionKey> {
    let mut dropped = HashSet::new();
    let mut by_checkpoint: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
    for e in &manifest.history {
        by_checkpoint.entry((&e.step, &e.op)).or_default().push(e);
    }
    for (_, mut versions) in by_checkpoint {
        versions.sort_by_key(|e| std::cmp::Reverse(e.version));
        // the newest state counts as one of the K kept: the live version, or
        // for a deleted checkpoint its deletion (K = 1 keeps no history)
        for (rank, e) in versions.iter().enumerate() {
            let beyond = policy.keep_versions.is_some_and(|k| rank as u64 + 1 >= k);
            let old = policy
                .older_than
                .is_some_and(|age| e.created_at < now - age);
            if !e.pinned && (beyond || old) {
                dropped.insert(key_of(e));
            }
        }
    }
    if let Some(budget) = policy.max_bytes {
        over_budget(manifest, refs, store_bytes, budget, &mut dropped);
    }
    dropped
}

/// Adds the oldest unpinned versions to `dropped` until what the store would
/// weigh without them fits `budget`: each frees its file and the values no
/// kept checkpoint references (at its segment's average stored size).
fn over_budget(
    manifest: &Manifest,
    refs: &HashMap<String, Vec<u64>>,
    store_bytes: u64,
    budget: u64,
    dropped: &mut HashSet<VersionKey>,
) {
    let mut users: HashMap<u64, u32> = HashMap::new();
    let kept_history = manifest
        .history
        .iter()
        .filter(|e| !dropped.contains(&key_of(e)));
    for e in manifest.entries.iter().chain(kept_history) {
        for &id in refs.get(&e.file).map(Vec::as_slice).unwrap_or_default() {
            *users.entry(id).or_default() += 1;
        }
    }
    let mut freed: u64 = manifest
        .history
        .iter()
        .filter(|e| dropped.contains(&key_of(e)))
        .map(|e| e.bytes)
        .sum();
    let mut candidates: Vec<&Entry> = manifest
        .history
        .iter()
        .filter(|e| !e.pinned && !dropped.contains(&key_of(e)))
        .collect();
    candidates.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
    for e in candidates {
        if store_bytes.saturating_sub(freed) <= budget {
            break;
        }
        dropped.insert(key_of(e));
        freed += e.bytes;
        for &id in refs.get(&e.file).map(Vec::as_slice).unwrap_or_default() {
            let n = users.entry(id).or_default();
            *n = n.saturating_sub(1);
            if *n == 0 {
                freed += value_bytes(&manifest.segments, id);
            }
        }
    }
}

/// A value's share of its segment's bytes.
fn value_bytes(segments: &[Segment], id: u64) -> u64 {
    segments
        .iter()
        .find(|s| id >= s.min_id && id <= s.max_id)
        .map(|s| s.bytes / s.count.max(1))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::EntryKind;

    fn entry(op: &str, version: u64, created_at: f64, pinned: bool) -> Entry {
        Entry {
            step: "s".into(),
            op: op.into(),
            kind: EntryKind::Checkpoint,
            batch_of: None,
            batch_index: None,
            file: format!("files/{op}-{version}.parquet"),
            bytes: 100,
            checksum: String::new(),
            num_rows: 1,
            columns: Vec::new(),
            logical_bytes: 1,
            value_refs: 0,
            records_digest: String::new(),
            created_at,
            meta: Default::default(),
            meta_in_file: Vec::new(),
            meta_digest: None,
            version,
            pinned,
        }
    }

    /// `a` live at version 4 with versions 1-3 kept; `gone` deleted, 1-2 kept.
    fn manifest() -> Manifest {
        Manifest {
            entries: vec![entry("a", 4, 40.0, false)],
            history: vec![
                entry("a", 1, 10.0, false),
                entry("a", 2, 20.0, true),
                entry("a", 3, 30.0, false),
                entry("gone", 1, 15.0, false),
                entry("gone", 2, 25.0, false),
            ],
            ..Manifest::default()
        }
    }

    fn drops(policy: Retention, store_bytes: u64) -> Vec<VersionKey> {
        let mut out: Vec<_> = select(&manifest(), &policy, 100.0, &HashMap::new(), store_bytes)
            .into_iter()
            .collect();
        out.sort();
        out
    }

    fn key(op: &str, v: u64) -> VersionKey {
        ("s".into(), op.into(), v)
    }

    #[test]
    fn keep_versions_counts_the_live_version_or_the_deletion_and_spares_pins() {
        let none = Retention {
            keep_versions: None,
            ..Retention::default()
        };
        assert!(drops(none, 0).is_empty());
        let two = Retention {
            keep_versions: Some(2),
            ..Retention::default()
        };
        // a: live 4 + 3 kept; 2 pinned; 1 dropped. gone: 2 kept, 1 dropped
        assert_eq!(drops(two, 0), vec![key("a", 1), key("gone", 1)]);
        assert_eq!(
            drops(Retention::latest_only(), 0),
            vec![key("a", 1), key("a", 3), key("gone", 1), key("gone", 2)]
        );
    }

    #[test]
    fn older_than_and_max_bytes_drop_the_oldest_unpinned_first() {
        let age = Retention {
            keep_versions: None,
            older_than: Some(78.0), // now is 100: before 22 goes
            max_bytes: None,
        };
        assert_eq!(drops(age, 0), vec![key("a", 1), key("gone", 1)]);
        // each dropped version frees its 100-byte file: 1000 -> 750 drops three
        let budget = Retention {
            keep_versions: None,
            older_than: None,
            max_bytes: Some(750),
        };
        assert_eq!(
            drops(budget, 1000),
            vec![key("a", 1), key("gone", 1), key("gone", 2)]
        );
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(Retention::latest_only().check().is_ok());
        for bad in [
            Retention {
                keep_versions: Some(0),
                ..Retention::default()
            },
            Retention {
                older_than: Some(f64::NAN),
                ..Retention::default()
            },
            Retention {
                older_than: Some(-1.0),
                ..Retention::default()
            },
        ] {
            assert!(matches!(bad.check(), Err(Error::InvalidValue(_))));
        }
    }
}
