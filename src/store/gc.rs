//! Garbage collection: drop values no live checkpoint references, rewrite
//! partly dead segments, sweep files no manifest names, repair user paths.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::commit::Plan;
use super::read::ref_ids;
use super::Store;
use crate::checkpoint_file::META_KEY;
use crate::error::{IoContext, Result};
use crate::fsio::{self, TEMP_MARK};
use crate::manifest::{Manifest, Segment};
use crate::names::{self, STORE_DIR};
use crate::parquet_io;
use crate::segment;

#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub files_removed: u64,
    /// The net change of the store's size: bytes removed less bytes gc wrote
    /// (rewritten segments, the new manifest); measured by inode locally.
    pub bytes_freed: i64,
    pub values_removed: u64,
    pub values_kept: u64,
    pub segments_rewritten: u64,
    /// Segments merged by the compaction each gc ends with.
    pub segments_compacted: u64,
}

/// The segments of a manifest after gc's liveness pass.
struct SegmentSplit {
    kept: Vec<Segment>,
    /// New files (name, bytes) holding the live values of partly dead segments.
    rewritten: Vec<(String, Bytes)>,
    dropped: Vec<Segment>,
}

impl Store {
    pub fn gc(&self) -> Result<GcReport> {
        if !self.storage.exists()? {
            return Ok(GcReport::default());
        }
        let _lock = self.storage.lock_writers()?;
        let before = self.storage.footprint()?;
        let (manifest, (dropped, mut report)) = self.commit_planned("gc", |manifest| {
            let mut report = GcReport::default();
            let split = match self.collect_segments(manifest, &mut report) {
                // a writer replaced a file since (object stores: no lock holds it
                // off): judge liveness again on the newer manifest
                Err(e)
                    if e.is_not_found() && self.manifest()?.generation != manifest.generation =>
                {
                    return Ok(Plan::Again);
                }
                other => other?,
            };
            if split.dropped.is_empty() {
                return Ok(Plan::Skip((split.dropped, report)));
            }
            manifest.segments = split.kept;
            report.bytes_freed = -split
                .rewritten
                .iter()
                .map(|(_, b)| b.len() as i64)
                .sum::<i64>();
            Ok(Plan::Commit(split.rewritten, (split.dropped, report)))
        })?;
        if report.segments_rewritten > 0 || !dropped.is_empty() {
            // object stores add a manifest generation (pruned ones count below)
            if self.storage.local_root().is_none() {
                report.bytes_freed -= self.storage.manifest_bytes()? as i64;
            }
        }
        // Live until this commit, so no writer's commit in flight can name them
        // (its manifest is older and its commit loses): they go at once.
        for seg in &dropped {
            if self.storage.remove(&seg.file)? {
                report.files_removed += 1;
                report.bytes_freed += seg.bytes as i64;
            }
            let shared = |i: &&String| super::compact::names_index(&manifest, i);
            if let Some(index) = seg.index.as_ref().filter(|i| !shared(i)) {
                report.files_removed += self.storage.remove(index)? as u64;
            }
        }
        let foreign = self.storage.foreign_manifests()?;
        let referenced: HashSet<&str> = std::iter::once(&manifest)
            .chain(&foreign)
            .flat_map(|m| {
                m.entries
                    .iter()
                    .map(|e| e.file.as_str())
                    .chain(m.segments.iter().map(|s| s.file.as_str()))
                    .chain(m.segments.iter().filter_map(|s| s.index.as_deref()))
            })
            .collect();
        // Files no manifest names: leftovers of interrupted or lost commits, or
        // (on object stores) a commit in flight, which the grace period spares.
        let grace = self.storage.gc_grace();
        for folder in ["files", "values"] {
            for file in self.storage.list(folder)? {
                let stray = !referenced.contains(file.name.as_str()) && file.age >= grace;
                if stray && self.storage.remove(&file.name)? {
                    report.files_removed += 1;
                    report.bytes_freed += file.size as i64;
                }
            }
        }
        for pruned in self.storage.prune_manifests()? {
            report.files_removed += 1;
            report.bytes_freed += pruned.size as i64;
        }
        // compaction runs here, off the saves' path, under the same lock
        let mut compacted = super::compact::CompactReport::default();
        // best effort here: a compaction that yielded to writers runs next time
        match self.compact_locked(&mut compacted, super::compact::GC_COMPACTS_AT) {
            Err(crate::error::Error::CommitConflict(_)) => {}
            other => other?,
        }
        report.segments_compacted = compacted.segments_merged;
        report.files_removed += compacted.segments_merged;
        report.bytes_freed += compacted.bytes_before as i64 - compacted.bytes_after as i64;
        if let Some(root) = self.storage.local_root() {
            self.sweep_temps(&root.join(STORE_DIR), &mut report)?;
            self.repair_paths(root, &manifest, &mut report)?;
            // hardlinks and rewrites make per-file sums wrong: the folder's
            // size by inode, before and after, under the writer lock
            if let (Some(before), Some(after)) = (before, self.storage.footprint()?) {
                report.bytes_freed = before as i64 - after as i64;
            }
        }
        Ok(report)
    }

    /// Splits the manifest's segments by liveness: kept as they are, rewritten
    /// with their live values only (new files), or dropped from the manifest.
    fn collect_segments(&self, manifest: &Manifest, report: &mut GcReport) -> Result<SegmentSplit> {
        let mut live: HashSet<u64> = HashSet::new();
        for entry in &manifest.entries {
            // a damaged checkpoint stops gc: its values must not be judged dead
            let (batch, meta) = self.read_file(entry)?;
            live.extend(ref_ids(&batch, &meta));
        }
        let (mut kept, mut rewritten, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for seg in &manifest.segments {
            let ids = segment::read_ids(self.storage.open_parquet(&seg.file, seg.bytes)?)?;
            let alive = ids.iter().filter(|id| live.contains(id)).count() as u64;
            report.values_removed += ids.len() as u64 - alive;
            report.values_kept += alive;
            if alive == ids.len() as u64 {
                kept.push(seg.clone());
                continue;
            }
            dropped.push(seg.clone());
            if alive == 0 {
                continue;
            }
            let path = self.data_path(&seg.file);
            let bytes = self
                .storage
                .read_verified(&seg.file, &seg.checksum, "value segment")?;
            let batch = segment::decode_full(&path, bytes)?;
            let bytes =
                segment::rewrite_live(&path, &batch, &|id| live.contains(&id), seg.compacted)?;
            let name = format!(
                "values/{:012}-{}.parquet",
                manifest.generation + 1,
                fsio::unique_suffix()
            );
            let kept_ids: Vec<u64> = ids.into_iter().filter(|id| live.contains(id)).collect();
            kept.push(Segment {
                file: name.clone(),
                bytes: bytes.len() as u64,
                checksum: blake3::hash(&bytes).to_hex().to_string(),
                min_id: kept_ids.first().copied().unwrap_or(seg.min_id),
                max_id: kept_ids.last().copied().unwrap_or(seg.max_id),
                count: kept_ids.len() as u64,
                compacted: seg.compacted,
                // the index of the old file no longer matches: none (the
                // store reads this segment's hashes) until compaction
                index: None,
                index_bytes: None,
            });
            rewritten.push((name, Bytes::from(bytes)));
            report.segments_rewritten += 1;
        }
        Ok(SegmentSplit {
            kept,
            rewritten,
            dropped,
        })
    }

    /// Removes everything in the store folder but the manifest, lock and data
    /// folders: leftovers of interrupted commits (writers are locked out now).
    fn sweep_temps(&self, dir: &Path, report: &mut GcReport) -> Result<()> {
        let Ok(listing) = fs::read_dir(dir) else {
            return Ok(());
        };
        for item in listing {
            let item = item.at("list", dir)?;
            let name = item.file_name().to_string_lossy().into_owned();
            let ours = ["manifest.json", "lock", "files", "values"].contains(&name.as_str());
            if !ours && !item.path().is_dir() {
                self.remove_counted(&item.path(), report)?;
            }
        }
        Ok(())
    }

    fn remove_counted(&self, path: &Path, report: &mut GcReport) -> Result<()> {
        if fsio::remove_if_exists(path)? {
            report.files_removed += 1;
        }
        Ok(())
    }

    /// Makes `<step>/<op>.parquet` point at each live file and removes the
    /// ones of deleted checkpoints (only files this store wrote).
    fn repair_paths(&self, root: &Path, manifest: &Manifest, report: &mut GcReport) -> Result<()> {
        // (step folder, op file stem) of live checkpoints, as their links are named
        let live: HashSet<(String, String)> = manifest
            .entries
            .iter()
            .map(|e| {
                (
                    names::file_component(&e.step).into_owned(),
                    names::file_component(&e.op).into_owned(),
                )
            })
            .collect();
        for e in &manifest.entries {
            let Some(alias) = self.alias_path(&e.step, &e.op) else {
                continue;
            };
            let target = self.data_path(&e.file);
            if !fsio::same_file(&alias, &target) {
                fsio::create_dir_synced(alias.parent().unwrap_or(root))?;
                fsio::link_replace(&target, &alias)?;
            }
        }
        let Ok(steps) = fs::read_dir(root) else {
            return Ok(());
        };
        for step in steps {
            let step = step.at("list", root)?;
            let step_name = step.file_name().to_string_lossy().into_owned();
            if step_name == STORE_DIR || !step.path().is_dir() {
                continue;
            }
            let Ok(files) = fs::read_dir(step.path()) else {
                continue;
            };
            for file in files {
                let file = file.at("list", &step.path())?;
                let name = file.file_name().to_string_lossy().into_owned();
                let path = file.path();
                let stale = match name.strip_suffix(".parquet") {
                    Some(op) => {
                        !live.contains(&(step_name.clone(), op.to_string())) && written_by_us(&path)
                    }
                    None => name.contains(TEMP_MARK) && name.starts_with('.'),
                };
                if stale {
                    self.remove_counted(&path, report)?;
                }
            }
        }
        Ok(())
    }
}

/// True for Parquet files carrying this store's layout metadata.
fn written_by_us(path: &Path) -> bool {
    parquet_io::open_metadata(path)
        .map(|(_, meta)| meta.schema().metadata().contains_key(META_KEY))
        .unwrap_or(false)
}
