//! The store under one folder: paths, the save-time dedup index, and the
//! operations split by topic (save, read, gc, inspect).

mod cache;
mod gc;
mod inspect;
pub mod read;
mod save;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use gc::GcReport;
pub use inspect::{Stats, VerifyReport};
pub use read::{CellRef, Loaded, ReadMode};

use crate::canonical::Hash;
use crate::error::Result;
use crate::manifest::{Entry, Manifest};
use crate::names::STORE_DIR;
use crate::segment;

pub struct Store {
    root: PathBuf,
    /// hash -> value id of every stored value, for dedup; refreshed from new segments.
    index: Mutex<ValueIndex>,
    /// Decoded value segments, shared by reads of this store.
    cache: cache::SegmentCache,
}

#[derive(Default)]
struct ValueIndex {
    ids: HashMap<Hash, u64>,
    segments: HashSet<String>,
}

impl Store {
    /// A store over `root`; nothing is created until the first write.
    pub fn open(root: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            index: Mutex::new(ValueIndex::default()),
            cache: cache::SegmentCache::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn store_dir(&self) -> PathBuf {
        self.root.join(STORE_DIR)
    }

    fn manifest_path(&self) -> PathBuf {
        self.store_dir().join("manifest.json")
    }

    fn lock_path(&self) -> PathBuf {
        self.store_dir().join("lock")
    }

    /// Absolute path of a file named relative to the store folder.
    pub fn data_path(&self, relative: &str) -> PathBuf {
        self.store_dir().join(relative)
    }

    /// `<root>/<step>/<op>.parquet`: the user-facing name of a checkpoint's file.
    pub fn alias_path(&self, step: &str, op: &str) -> PathBuf {
        self.root.join(step).join(format!("{op}.parquet"))
    }

    pub fn manifest(&self) -> Result<Manifest> {
        Manifest::load(&self.manifest_path())
    }

    pub fn entries(&self) -> Result<Vec<Entry>> {
        Ok(self.manifest()?.entries)
    }

    pub fn entry(&self, step: &str, op: &str) -> Result<Option<Entry>> {
        Ok(self.manifest()?.find(step, op).cloned())
    }

    /// Brings the dedup index up to the segments of `manifest`.
    fn refresh_index(&self, manifest: &Manifest) -> Result<std::sync::MutexGuard<'_, ValueIndex>> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let live: HashSet<&str> = manifest.segments.iter().map(|s| s.file.as_str()).collect();
        if index.segments.iter().any(|s| !live.contains(s.as_str())) {
            // gc rewrote or dropped a segment: rebuild from scratch
            *index = ValueIndex::default();
        }
        for seg in &manifest.segments {
            if index.segments.contains(&seg.file) {
                continue;
            }
            for (hash, id) in segment::read_index(&self.data_path(&seg.file))? {
                index.ids.insert(hash, id);
            }
            index.segments.insert(seg.file.clone());
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests;
