//! gc's part in the persisted dedup indexes: an index file outlives the
//! segments gc drops as long as another segment names it, so its entries of
//! dropped values are rewritten away once they are most of it.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Store;
use crate::error::Result;
use crate::fsio;
use crate::hash_index::{self, IndexFile};
use crate::manifest::Manifest;

impl Store {
    /// New index files (name, bytes) for the ones of `manifest` (as gc plans
    /// it) that are mostly stale, its segments renamed to them. A file that
    /// does not open or check is left as it is: a save then reads the
    /// segment's hashes instead (and indexes them again).
    pub(super) fn thin_indexes(&self, manifest: &mut Manifest) -> Result<Vec<(String, Bytes)>> {
        if self.storage.local_root().is_none() {
            return Ok(Vec::new());
        }
        let mut named: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in manifest.segments.iter().enumerate() {
            if let Some(index) = &s.index {
                named.entry(index.clone()).or_default().push(i);
            }
        }
        let mut writes = Vec::new();
        for (name, segments) in named {
            let Ok(entries) = IndexFile::open(&self.data_path(&name)).and_then(|f| f.entries())
            else {
                continue;
            };
            // an entry counts only where a segment naming the file covers its id
            let covered = |id: u64| {
                segments.iter().any(|&i| {
                    let s = &manifest.segments[i];
                    id >= s.min_id && id <= s.max_id
                })
            };
            let total = entries.len();
            let live: Vec<_> = entries.into_iter().filter(|(_, id)| covered(*id)).collect();
            if live.len() * 2 >= total {
                continue;
            }
            let bytes = Bytes::from(hash_index::write(live));
            let file = format!(
                "values/{:012}-{}.idx",
                manifest.generation + 1,
                fsio::unique_suffix()
            );
            for &i in &segments {
                manifest.segments[i].index = Some(file.clone());
                manifest.segments[i].index_bytes = Some(bytes.len() as u64);
            }
            writes.push((file, bytes));
        }
        Ok(writes)
    }
}
