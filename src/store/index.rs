//! The save-time dedup index: hash -> value id of every stored value. A
//! process's first save builds it from the hashes of every segment, read on
//! all cores.

use std::collections::HashSet;

use super::Store;
use crate::canonical::Hash;
use crate::digest_map::KeyMap;
use crate::error::Result;
use crate::manifest::{Manifest, Segment};
use crate::parallel::parallel_map;
use crate::segment;

#[derive(Default)]
pub(super) struct ValueIndex {
    ids: KeyMap<Hash, u64>,
    /// Segments whose values are in the map.
    segments: HashSet<String>,
}

impl ValueIndex {
    pub(super) fn get(&self, hash: &Hash) -> Option<u64> {
        self.ids.get(hash).copied()
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
        let new: Vec<&Segment> = (manifest.segments.iter())
            .filter(|s| !index.segments.contains(&s.file))
            .collect();
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
