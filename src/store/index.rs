//! The save-time dedup index: hash -> value id of every stored value. A
//! process's first save builds it from the hashes of every segment, read on
//! all cores, except compacted segments with a persisted index
//! (`hash_index`), which are looked up in place: after compaction a new
//! process's first save costs what its new values cost, not the store's size.

use std::collections::HashSet;
use std::sync::Arc;

use super::Store;
use crate::canonical::Hash;
use crate::digest_map::KeyMap;
use crate::error::Result;
use crate::hash_index::IndexFile;
use crate::manifest::{Manifest, Segment};
use crate::parallel::parallel_map;
use crate::segment;

#[derive(Default)]
pub(super) struct ValueIndex {
    ids: KeyMap<Hash, u64>,
    /// Segments whose values are in the map or in `files`.
    segments: HashSet<String>,
    /// Persisted indexes of compacted segments.
    files: Vec<Arc<IndexFile>>,
}

impl ValueIndex {
    /// The id of a stored value with this hash. A persisted index that fails
    /// to read counts as a miss: the value is stored again, never mistaken.
    pub(super) fn get(&self, hash: &Hash) -> Option<u64> {
        if let Some(&id) = self.ids.get(hash) {
            return Some(id);
        }
        self.files.iter().find_map(|f| f.get(hash).ok().flatten())
    }
}

impl Store {
    /// Brings the dedup index up to the segments of `manifest`.
    pub(super) fn refresh_index(
        &self,
        manifest: &Manifest,
    ) -> Result<std::sync::MutexGuard<'_, ValueIndex>> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let live: HashSet<&str> = manifest.segments.iter().map(|s| s.file.as_str()).collect();
        if index.segments.iter().any(|s| !live.contains(s.as_str())) {
            // gc rewrote or dropped a segment: rebuild from scratch
            *index = ValueIndex::default();
        }
        let mut new: Vec<&Segment> = (manifest.segments.iter())
            .filter(|s| !index.segments.contains(&s.file))
            .collect();
        // compacted segments with a persisted index are not read: looked up
        let mut persisted = Vec::new();
        new.retain(|seg| {
            let opened = seg
                .index
                .as_ref()
                .filter(|_| self.storage.local_root().is_some())
                .and_then(|name| IndexFile::open(&self.data_path(name)).ok());
            match opened {
                Some(file) => {
                    persisted.push((seg.file.clone(), Arc::new(file)));
                    false
                }
                None => true,
            }
        });
        for (file, opened) in persisted {
            index.segments.insert(file);
            index.files.push(opened);
        }
        let read = |seg: &&Segment| {
            segment::read_index(self.storage.open_parquet(&seg.file, seg.bytes)?, seg)
        };
        let lists = parallel_map(&new, read)?;
        // one map filled on one thread: splitting it by hash over threads
        // measured slower (thread start-up and a second pass over the lists)
        index
            .ids
            .reserve(new.iter().map(|s| s.count as usize).sum());
        index.ids.extend(lists.into_iter().flatten());
        index.segments.extend(new.iter().map(|s| s.file.clone()));
        Ok(index)
    }
}
