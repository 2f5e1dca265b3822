//! The store under one folder: paths, the save-time dedup index, and the
//! operations split by topic (save, read, gc, inspect).

mod cache;
mod gc;
mod inspect;
pub mod read;
mod save;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

pub use gc::GcReport;
pub use inspect::{Stats, VerifyReport};
pub use read::{CellRef, Loaded, ReadMode};

use crate::canonical::Hash;
use crate::digest_map::KeyMap;
use crate::error::Result;
use crate::manifest::{Entry, Manifest, Segment};
use crate::segment;
use crate::storage::{self, Storage};

pub struct Store {
    storage: Storage,
    /// hash -> value id of every stored value, for dedup; refreshed from new segments.
    index: Mutex<ValueIndex>,
    /// Decoded value segments, shared by reads of this store.
    cache: cache::SegmentCache,
}

#[derive(Default)]
struct ValueIndex {
    ids: KeyMap<Hash, u64>,
    segments: HashSet<String>,
}

impl Store {
    /// A store in the local folder `root`; nothing is created until the first write.
    pub fn open(root: impl Into<PathBuf>) -> Store {
        Store::on(Storage::Local(storage::Local::new(root)))
    }

    /// A store at a local folder or an `s3://bucket/prefix` URL (see `storage`).
    pub fn open_location(location: &str, options: &BTreeMap<String, String>) -> Result<Store> {
        Ok(Store::on(Storage::open(location, options)?))
    }

    pub fn on(storage: Storage) -> Store {
        Store {
            storage,
            index: Mutex::new(ValueIndex::default()),
            cache: cache::SegmentCache::default(),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// A path (or URL) naming a file of the store folder.
    pub fn data_path(&self, relative: &str) -> PathBuf {
        self.storage.location(relative)
    }

    /// `<root>/<step>/<op>.parquet`, the user-facing name of a local
    /// checkpoint's file; None on object stores, which keep no aliases.
    pub fn alias_path(&self, step: &str, op: &str) -> Option<PathBuf> {
        let root = self.storage.local_root()?;
        Some(root.join(step).join(format!("{op}.parquet")))
    }

    /// Where a user finds the data of (step, op) stored in `file`: its alias,
    /// or its object's URL.
    pub fn user_path(&self, step: &str, op: &str, file: &str) -> PathBuf {
        self.alias_path(step, op)
            .unwrap_or_else(|| self.data_path(file))
    }

    pub fn manifest(&self) -> Result<Manifest> {
        self.storage.manifest()
    }

    pub fn entries(&self) -> Result<Vec<Entry>> {
        Ok(self.manifest()?.entries)
    }

    pub fn entry(&self, step: &str, op: &str) -> Result<Option<Entry>> {
        Ok(self.manifest()?.find(step, op).cloned())
    }

    /// Brings the dedup index up to the segments of `manifest`. A process's
    /// first save reads the hashes of every segment: that runs on all cores.
    fn refresh_index(&self, manifest: &Manifest) -> Result<std::sync::MutexGuard<'_, ValueIndex>> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let live: HashSet<&str> = manifest.segments.iter().map(|s| s.file.as_str()).collect();
        if index.segments.iter().any(|s| !live.contains(s.as_str())) {
            // gc rewrote or dropped a segment: rebuild from scratch
            *index = ValueIndex::default();
        }
        let new: Vec<&Segment> = (manifest.segments.iter())
            .filter(|s| !index.segments.contains(&s.file))
            .collect();
        let read = |seg: &&Segment| {
            segment::read_index(self.storage.open_parquet(&seg.file, seg.bytes)?, seg)
        };
        let parts = parallel_map(&new, read)?;
        index
            .ids
            .reserve(new.iter().map(|s| s.count as usize).sum());
        for (seg, part) in new.iter().zip(parts) {
            index.ids.extend(part);
            index.segments.insert(seg.file.clone());
        }
        Ok(index)
    }
}

/// `f` of every item, in order, computed on up to one thread per core.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if items.len() < 2 || threads < 2 {
        return items.iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| s.spawn(|| chunk.iter().map(&f).collect::<Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            let part = worker.join().unwrap_or_else(|_| {
                Err(crate::error::Error::InvalidValue(
                    "an index reader panicked".into(),
                ))
            })?;
            out.extend(part);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod object_tests;
#[cfg(test)]
mod tests;
