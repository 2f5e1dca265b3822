//! Compaction: runs of small, fast-compressed value segments (what saves
//! write) merged into large segments recompressed at a strong level.
//!
//! Each merged segment is one ordinary commit: it replaces a run of segments
//! adjacent in id order (so segment id ranges stay disjoint) and keeps every
//! value id, so no checkpoint file changes. A run a concurrent gc or
//! compaction changed meanwhile is left for the next time. The replaced files
//! are removed at once, as gc removes the segments it drops: a reader that
//! planned on them retries on the newer manifest, a writer's commit planned
//! on an older manifest loses its race and plans again.

use bytes::Bytes;

use super::commit::Plan;
use super::Store;
use crate::error::Result;
use crate::fsio;
use crate::hash_index;
use crate::manifest::{Manifest, Segment};
use crate::segment;

/// Bytes (as stored) of the segments merged into one: large enough that a
/// store after many reruns holds few files, small enough to hold in memory.
pub const COMPACT_TARGET_BYTES: u64 = 64 << 20;
/// gc compacts once this many segments saves wrote have piled up (a run of
/// the benchmark's pipeline writes ~25): a small store is left as it is.
pub const GC_COMPACTS_AT: usize = 16;

#[derive(Debug, Default, Clone)]
pub struct CompactReport {
    /// Segments replaced by merged ones.
    pub segments_merged: u64,
    /// Merged segments written.
    pub segments_written: u64,
    /// Bytes of the replaced segments, and of what replaced them.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl Store {
    /// Merges every run of segments not yet compacted; nothing to do is a no-op.
    pub fn compact(&self) -> Result<CompactReport> {
        let mut report = CompactReport::default();
        if !self.storage.exists()? {
            return Ok(report);
        }
        let _lock = self.storage.lock_writers()?;
        self.compact_locked(&mut report, 1)?;
        Ok(report)
    }

    /// `compact` for a caller that holds the writer lock (gc), when at least
    /// `min_segments` segments are not compacted yet.
    pub(super) fn compact_locked(
        &self,
        report: &mut CompactReport,
        min_segments: usize,
    ) -> Result<()> {
        let manifest = self.manifest()?;
        if manifest.segments.iter().filter(|s| !s.compacted).count() < min_segments {
            return Ok(());
        }
        for run in runs(&manifest) {
            self.compact_run(&run, report)?;
        }
        Ok(())
    }

    fn compact_run(&self, run: &[Segment], report: &mut CompactReport) -> Result<()> {
        let (first, last) = (&run[0], &run[run.len() - 1]);
        let mut batches = Vec::with_capacity(run.len());
        let mut entries = Vec::new();
        for seg in run {
            let path = self.data_path(&seg.file);
            let bytes = match self
                .storage
                .read_verified(&seg.file, &seg.checksum, "value segment")
            {
                // collected or merged by another process since: next time
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?,
            };
            let batch = segment::decode_full(&path, bytes)?;
            entries.extend(segment::entries(&path, &batch)?);
            batches.push(batch);
        }
        // once: a commit that loses its race plans again with the same bytes
        let merged = Bytes::from(segment::merge(&self.data_path(&first.file), &batches)?);
        drop(batches);
        let checksum = blake3::hash(&merged).to_hex().to_string();
        // a persisted dedup index beside it (local folders: lookups are
        // small positioned reads; an object store would need a request each)
        let index = self.storage.local_root().map(|_| {
            let keys = entries.iter().map(|(h, id)| (hash_index::key(h), *id));
            Bytes::from(hash_index::write(keys.collect()))
        });
        let (committed, applied) = self.commit_planned("compact", |manifest| {
            // the run must be there as it was read: else leave it
            let here = run
                .iter()
                .all(|s| manifest.segments.iter().any(|m| m.file == s.file));
            if !here {
                return Ok(Plan::Skip(false));
            }
            let stem = format!(
                "values/{:012}-{}",
                manifest.generation + 1,
                fsio::unique_suffix()
            );
            let name = format!("{stem}.parquet");
            let index_name = index.as_ref().map(|_| format!("{stem}.idx"));
            manifest
                .segments
                .retain(|m| !run.iter().any(|s| s.file == m.file));
            manifest.segments.push(Segment {
                file: name.clone(),
                bytes: merged.len() as u64,
                checksum: checksum.clone(),
                min_id: first.min_id,
                max_id: last.max_id,
                count: run.iter().map(|s| s.count).sum(),
                compacted: true,
                index: index_name.clone(),
                index_bytes: index.as_ref().map(|i| i.len() as u64),
            });
            manifest.segments.sort_by_key(|s| s.min_id);
            let mut files = vec![(name, merged.clone())];
            if let (Some(index_name), Some(index)) = (index_name, &index) {
                files.push((index_name, index.clone()));
            }
            Ok(Plan::Commit(files, true))
        })?;
        if !applied {
            return Ok(());
        }
        for seg in run {
            self.storage.remove(&seg.file)?;
            // an index file a save merged may still cover segments outside the run
            if let Some(index) = seg.index.as_ref().filter(|i| !names_index(&committed, i)) {
                self.storage.remove(index)?;
            }
        }
        report.segments_merged += run.len() as u64;
        report.segments_written += 1;
        report.bytes_before += run.iter().map(|s| s.bytes).sum::<u64>();
        report.bytes_after += merged.len() as u64;
        // object stores keep the generation this commit added (until pruned)
        if self.storage.local_root().is_none() {
            report.bytes_after += self.storage.manifest_bytes()?;
        }
        Ok(())
    }
}

/// Whether a segment of `manifest` names the index file `name`.
pub(super) fn names_index(manifest: &Manifest, name: &str) -> bool {
    manifest
        .segments
        .iter()
        .any(|s| s.index.as_deref() == Some(name))
}

/// Runs of segments, adjacent in id order and not compacted, of up to
/// `COMPACT_TARGET_BYTES`; a lone segment is recompressed too (it was
/// written at the save level).
fn runs(manifest: &Manifest) -> Vec<Vec<Segment>> {
    let mut segments = manifest.segments.clone();
    segments.sort_by_key(|s| s.min_id);
    let mut out: Vec<Vec<Segment>> = Vec::new();
    let mut current: Vec<Segment> = Vec::new();
    let mut bytes = 0;
    for seg in segments {
        if seg.compacted || bytes + seg.bytes > COMPACT_TARGET_BYTES {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            bytes = 0;
            if seg.compacted {
                continue;
            }
        }
        bytes += seg.bytes;
        current.push(seg);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
