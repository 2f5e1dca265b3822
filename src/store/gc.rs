//! Garbage collection: drop values no live checkpoint references, rewrite
//! partly dead segments, sweep files no manifest names, repair user paths.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::commit::Plan;
use super::read::ref_ids;
use super::retention::{self, Retention, VersionKey};
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
    /// Earlier versions the retention policy dropped (or, in a dry run, would).
    pub versions_dropped: Vec<VersionKey>,
    /// A dry run: nothing changed; `bytes_freed` is what gc would free
    /// (less what its compaction would save).
    pub dry_run: bool,
}

/// What one gc plan decided, for the work after its commit.
struct Decided {
    /// Segments and checkpoint files of dropped versions to remove.
    dropped: Vec<Segment>,
    files: Vec<(String, u64)>,
    report: GcReport,
    /// A new manifest generation is (or, in a dry run, would be) committed.
    commits: bool,
}

/// The segments of a manifest after gc's liveness pass.
struct SegmentSplit {
    kept: Vec<Segment>,
    /// New files (name, bytes) holding the live values of partly dead segments.
    rewritten: Vec<(String, Bytes)>,
    dropped: Vec<Segment>,
}

impl Store {
    /// gc keeping the default number of versions of each checkpoint.
    pub fn gc(&self) -> Result<GcReport> {
        self.gc_with(&Retention::default(), false)
    }

    /// Drops the versions `policy` lets go, then every value and file no kept
    /// version references; `dry_run` only reports what that would do.
    pub fn gc_with(&self, policy: &Retention, dry_run: bool) -> Result<GcReport> {
        policy.check()?;
        if !self.storage.exists()? {
            return Ok(GcReport {
                dry_run,
                ..GcReport::default()
            });
        }
        let _lock = self.storage.lock_writers()?;
        let before = self.storage.footprint()?;
        let now = fsio::now_seconds();
        let (manifest, decided) = self.commit_planned("gc", |manifest| {
            let mut report = GcReport {
                dry_run,
                ..GcReport::default()
            };
            let planned = self.refs_by_file(manifest).and_then(|refs| {
                let size = match before {
                    Some(size) => size,
                    None => self.object_bytes()?,
                };
                let dropped = retention::select(manifest, policy, now, &refs, size);
                Ok((refs, dropped))
            });
            let planned = match planned {
                // a writer replaced a file since (object stores: no lock holds it
                // off): judge liveness again on the newer manifest
                Err(e)
                    if e.is_not_found() && self.manifest()?.generation != manifest.generation =>
                {
                    return Ok(Plan::Again);
                }
                other => other?,
            };
            let (refs, dropped_versions) = planned;
            let mut files = Vec::new();
            manifest.history.retain(|e| {
                let drop = dropped_versions.contains(&retention::key_of(e));
                if drop {
                    report.versions_dropped.push(retention::key_of(e));
                    files.push((e.file.clone(), e.bytes));
                }
                !drop
            });
            report.versions_dropped.sort();
            files.retain(|(f, _)| !manifest.all_entries().any(|e| &e.file == f));
            let live: HashSet<u64> = manifest
                .all_entries()
                .flat_map(|e| refs.get(&e.file).into_iter().flatten().copied())
                .collect();
            let mut split = self.collect_segments(manifest, &live, &mut report)?;
            let nothing = split.dropped.is_empty() && report.versions_dropped.is_empty();
            manifest.segments = std::mem::take(&mut split.kept);
            let thinned = self.thin_indexes(manifest)?;
            let nothing = nothing && thinned.is_empty();
            split.rewritten.extend(thinned);
            report.bytes_freed = -split
                .rewritten
                .iter()
                .map(|(_, b)| b.len() as i64)
                .sum::<i64>();
            let decided = Decided {
                dropped: split.dropped,
                files,
                report,
                commits: !nothing,
            };
            if nothing || dry_run {
                return Ok(Plan::Skip(decided));
            }
            Ok(Plan::Commit(split.rewritten, decided))
        })?;
        let Decided {
            dropped,
            files,
            mut report,
            commits,
        } = decided;
        if dry_run {
            // the planned manifest no longer names what the plan drops: those
            // are counted once, as dropped, not again as strays (index files
            // no kept segment names are strays: gc removes them so)
            let counted: HashSet<&str> = dropped
                .iter()
                .map(|s| s.file.as_str())
                .chain(files.iter().map(|(f, _)| f.as_str()))
                .collect();
            let strays = self.strays(&manifest)?;
            let strays = strays.iter().filter(|f| !counted.contains(f.name.as_str()));
            report.bytes_freed += dropped.iter().map(|s| s.bytes as i64).sum::<i64>()
                + files.iter().map(|(_, b)| *b as i64).sum::<i64>()
                + strays.map(|f| f.size as i64).sum::<i64>();
            if commits {
                // the manifest gc would commit: replacing the one there
                // (local), or one generation more (object stores)
                let mut next = manifest.clone();
                next.committed_by = Some("gc".to_string());
                let planned = next.next_text()?.len() as i64;
                let replaced = match self.storage.local_root() {
                    Some(_) => self.storage.manifest_bytes()? as i64,
                    None => 0,
                };
                report.bytes_freed += replaced - planned;
            }
            return Ok(report);
        }
        if commits {
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
        for (file, bytes) in &files {
            if self.storage.remove(file)? {
                report.files_removed += 1;
                report.bytes_freed += *bytes as i64;
            }
        }
        for file in self.strays(&manifest)? {
            if self.storage.remove(&file.name)? {
                report.files_removed += 1;
                report.bytes_freed += file.size as i64;
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
    fn collect_segments(
        &self,
        manifest: &Manifest,
        live: &HashSet<u64>,
        report: &mut GcReport,
    ) -> Result<SegmentSplit> {
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

    /// The value ids each checkpoint file the manifest names references
    /// (live and history). A damaged checkpoint stops gc: its values must
    /// not be judged dead.
    fn refs_by_file(&self, manifest: &Manifest) -> Result<HashMap<String, Vec<u64>>> {
        let mut refs = HashMap::new();
        for entry in manifest.all_entries() {
            if !refs.contains_key(&entry.file) {
                let (batch, meta) = self.read_file(entry)?;
                refs.insert(entry.file.clone(), ref_ids(&batch, &meta));
            }
        }
        Ok(refs)
    }

    /// Files no manifest names (this store's or a foreign one's): leftovers
    /// of interrupted or lost commits, or (on object stores) a commit in
    /// flight, which the grace period spares.
    fn strays(&self, manifest: &Manifest) -> Result<Vec<crate::storage::Listed>> {
        let foreign = self.storage.foreign_manifests()?;
        let referenced: HashSet<&str> = std::iter::once(manifest)
            .chain(&foreign)
            .flat_map(|m| {
                m.all_entries()
                    .map(|e| e.file.as_str())
                    .chain(m.segments.iter().map(|s| s.file.as_str()))
                    .chain(m.segments.iter().filter_map(|s| s.index.as_deref()))
            })
            .collect();
        let grace = self.storage.gc_grace();
        let mut out = Vec::new();
        for folder in ["files", "values"] {
            for file in self.storage.list(folder)? {
                if !referenced.contains(file.name.as_str()) && file.age >= grace {
                    out.push(file);
                }
            }
        }
        Ok(out)
    }

    /// An object store's size: every object under the store's prefix.
    fn object_bytes(&self) -> Result<u64> {
        let mut total = self.storage.manifest_bytes()?;
        for folder in ["files", "values"] {
            total += self
                .storage
                .list(folder)?
                .iter()
                .map(|f| f.size)
                .sum::<u64>();
        }
        Ok(total)
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
