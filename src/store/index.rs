//! The save-time dedup index: hash -> value id of every stored value.
//!
//! On local folders every segment a save or compaction writes is covered by
//! a persisted index file (`hash_index`), named in its manifest entry; a new
//! process's first save looks its hashes up there (a filter check per file,
//! about one block read per hash) instead of reading every segment's hashes.
//! Segments without one (written by an earlier release, rewritten by gc, or
//! on an object store, where each block would be a request) are read whole
//! into an in-memory map, on all cores, as before.
//!
//! A save merges the index files of the newest segments into the one it
//! writes while they hold no more entries than it has merged so far (a
//! binary counter): a store keeps O(log n) index files and an entry is
//! rewritten O(log n) times over its life. So one file may be named by many
//! segments; an id it holds counts only if a segment naming the file covers
//! that id (gc and compaction replace segments, and the file keeps the old
//! entries until a save merges it again).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::Store;
use crate::canonical::Hash;
use crate::digest_map::KeyMap;
use crate::error::Result;
use crate::hash_index::{self, key, IndexFile, Key};
use crate::manifest::{Manifest, Segment};
use crate::parallel::parallel_map;
use crate::segment;

/// An index file and the segments naming it that this process looks up there.
struct Covered {
    file: Arc<IndexFile>,
    members: Vec<Segment>,
}

impl Covered {
    /// The id of `hash` if a member segment holds it.
    fn get(&self, hash: &Hash) -> Result<Option<u64>> {
        let id = self.file.get(hash)?;
        Ok(id.filter(|&id| covers(&self.members, id)))
    }
}

/// Whether a segment of `members` (sorted by `min_id`; id ranges never
/// overlap) covers `id`.
fn covers(members: &[Segment], id: u64) -> bool {
    let after = members.partition_point(|s| s.min_id <= id);
    after > 0 && members[after - 1].max_id >= id
}

#[derive(Default)]
pub(super) struct ValueIndex {
    ids: KeyMap<Hash, u64>,
    /// Segments whose values are in the map or in `files`.
    segments: HashSet<String>,
    /// Persisted indexes, by name.
    files: HashMap<String, Covered>,
    /// Index files found damaged or missing: their segments were read.
    unreadable: HashSet<String>,
}

/// The persisted index a save writes beside its new segment.
pub(super) struct NewIndex {
    pub bytes: Bytes,
    /// Index files it replaces: every segment naming one names the new file.
    pub replaces: Vec<String>,
    /// Segments with no readable index that it covers (their hashes were
    /// read into the map): they name the new file too.
    pub adopts: Vec<String>,
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
        // segments with a persisted index are looked up there, not read
        let local = self.storage.local_root().is_some();
        let mut looked_up = Vec::new();
        for seg in &new {
            let Some(name) = seg.index.as_ref().filter(|_| local) else {
                continue;
            };
            if !index.files.contains_key(name) {
                // unreadable or damaged: the segment is read instead
                let Ok(file) = IndexFile::open(&self.data_path(name)) else {
                    index.unreadable.insert(name.clone());
                    continue;
                };
                let file = Arc::new(file);
                let members = Vec::new();
                index.files.insert(name.clone(), Covered { file, members });
            }
            if let Some(covered) = index.files.get_mut(name) {
                let at = covered.members.partition_point(|s| s.min_id < seg.min_id);
                covered.members.insert(at, (*seg).clone());
                looked_up.push(seg.file.clone());
            }
        }
        new.retain(|s| !looked_up.contains(&s.file));
        index.segments.extend(looked_up);
        self.read_segments(&mut index, &new)?;
        Ok(index)
    }

    /// Reads the hashes of `segments` into the in-memory map.
    fn read_segments(&self, index: &mut ValueIndex, segments: &[&Segment]) -> Result<()> {
        let read = |seg: &&Segment| {
            segment::read_index(self.storage.open_parquet(&seg.file, seg.bytes)?, seg)
        };
        let lists = parallel_map(segments, read)?;
        // one map filled on one thread: splitting it by hash over threads
        // measured slower (thread start-up and a second pass over the lists)
        index
            .ids
            .reserve(segments.iter().map(|s| s.count as usize).sum());
        index.ids.extend(lists.into_iter().flatten());
        index
            .segments
            .extend(segments.iter().map(|s| s.file.clone()));
        Ok(())
    }

    /// The id of a stored value with this hash. An index file that turns out
    /// damaged is dropped and its segments' hashes read instead: a save never
    /// stores a value twice, nor takes a wrong id, for a damaged index.
    pub(super) fn lookup(&self, index: &mut ValueIndex, hash: &Hash) -> Result<Option<u64>> {
        if let Some(&id) = index.ids.get(hash) {
            return Ok(Some(id));
        }
        let mut damaged = None;
        for (name, covered) in &index.files {
            match covered.get(hash) {
                Ok(Some(id)) => return Ok(Some(id)),
                Ok(None) => {}
                Err(_) => {
                    damaged = Some(name.clone());
                    break;
                }
            }
        }
        let Some(name) = damaged else {
            return Ok(None);
        };
        index.unreadable.insert(name.clone());
        if let Some(covered) = index.files.remove(&name) {
            let members: Vec<&Segment> = covered.members.iter().collect();
            self.read_segments(index, &members)?;
        }
        self.lookup(index, hash)
    }

    /// The index file of a save's new values (`fresh`, ids ascending), with
    /// the index files of the newest segments of `manifest` merged in while
    /// each holds no more entries than merged so far, and the entries of
    /// segments without a readable index (a store of an earlier release, a
    /// segment gc rewrote, a damaged file), which this save read anyway: the
    /// next process finds them in a file. None on object stores.
    pub(super) fn new_index(
        &self,
        index: &ValueIndex,
        manifest: &Manifest,
        fresh: &[(Hash, u64)],
    ) -> Result<Option<NewIndex>> {
        if self.storage.local_root().is_none() {
            return Ok(None);
        }
        let mut entries: Vec<(Key, u64)> = fresh.iter().map(|(h, id)| (key(h), *id)).collect();
        let no_index = |s: &&Segment| match &s.index {
            None => true,
            Some(name) => index.unreadable.contains(name),
        };
        let mut adopted: Vec<Segment> =
            manifest.segments.iter().filter(no_index).cloned().collect();
        adopted.sort_by_key(|s| s.min_id);
        if !adopted.is_empty() {
            let known = index.ids.iter().filter(|(_, &id)| covers(&adopted, id));
            entries.extend(known.map(|(h, id)| (key(h), *id)));
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let mut replaces: Vec<String> = (adopted.iter()).filter_map(|s| s.index.clone()).collect();
        replaces.dedup();
        // index files by their newest segment, newest first
        let mut groups: Vec<(&str, u64, Vec<Segment>)> = Vec::new();
        for seg in &manifest.segments {
            let Some(name) = seg
                .index
                .as_deref()
                .filter(|n| !index.unreadable.contains(*n))
            else {
                continue;
            };
            match groups.iter_mut().find(|g| g.0 == name) {
                Some(g) => {
                    g.1 = g.1.max(seg.max_id);
                    g.2.push(seg.clone());
                }
                None => groups.push((name, seg.max_id, vec![seg.clone()])),
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.1));
        for g in &mut groups {
            g.2.sort_by_key(|s| s.min_id);
        }
        for (name, _, members) in groups {
            let count: u64 = members.iter().map(|s| s.count).sum();
            if count > entries.len() as u64 {
                break;
            }
            let opened = match index.files.get(name) {
                Some(c) => Ok(c.file.clone()),
                None => IndexFile::open(&self.data_path(name)).map(Arc::new),
            };
            // a damaged file is left as it is (its segments are read instead)
            let Ok(old) = opened.and_then(|f| f.entries()) else {
                break;
            };
            entries.extend(old.into_iter().filter(|e| covers(&members, e.1)));
            replaces.push(name.to_string());
        }
        Ok(Some(NewIndex {
            bytes: Bytes::from(hash_index::write(entries)),
            replaces,
            adopts: adopted.into_iter().map(|s| s.file).collect(),
        }))
    }

    /// After a commit: the values of the segment this process wrote go into
    /// the map (its next save need not look them up in files), and the index
    /// files the commit replaced are removed (a failure leaves a file no
    /// manifest names, which gc removes).
    pub(super) fn index_committed(
        &self,
        segment: Option<(String, Vec<(Hash, u64)>)>,
        replaced: &[String],
    ) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((segment, fresh)) = segment {
            if index.segments.insert(segment) {
                index.ids.extend(fresh);
            }
        }
        for name in replaced {
            let _ = self.storage.remove(name);
        }
    }
}
