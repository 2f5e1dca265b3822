//! Garbage collection: drop values no live checkpoint references, rewrite
//! partly dead segments, sweep files no manifest names, repair user paths.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::read::ref_ids;
use super::Store;
use crate::checkpoint_file::META_KEY;
use crate::error::{IoContext, Result};
use crate::fsio::{self, WriterLock, TEMP_MARK};
use crate::manifest::{file_size, Segment};
use crate::names::STORE_DIR;
use crate::parquet_io;
use crate::segment;

#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub files_removed: u64,
    pub bytes_freed: u64,
    pub values_removed: u64,
    pub values_kept: u64,
    pub segments_rewritten: u64,
}

impl Store {
    pub fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        if !self.store_dir().is_dir() {
            return Ok(report);
        }
        let _lock = WriterLock::acquire(&self.lock_path())?;
        let mut manifest = self.manifest()?;
        let mut live: HashSet<u64> = HashSet::new();
        for entry in &manifest.entries {
            // a damaged checkpoint stops gc: its values must not be judged dead
            let (batch, meta) = self.read_file(entry)?;
            live.extend(ref_ids(&batch, &meta));
        }
        let mut kept_segments = Vec::with_capacity(manifest.segments.len());
        let mut dropped = Vec::new();
        for seg in std::mem::take(&mut manifest.segments) {
            let path = self.data_path(&seg.file);
            let ids = segment::read_ids(&path)?;
            let alive = ids.iter().filter(|id| live.contains(id)).count() as u64;
            report.values_removed += ids.len() as u64 - alive;
            report.values_kept += alive;
            if alive == ids.len() as u64 {
                kept_segments.push(seg);
                continue;
            }
            dropped.push(seg.file.clone());
            if alive == 0 {
                continue;
            }
            let batch = segment::read_full(&path, &seg.checksum)?;
            let bytes = segment::rewrite_live(&path, &batch, &|id| live.contains(&id))?;
            let name = format!(
                "values/{:012}-{}.parquet",
                manifest.generation + 1,
                fsio::unique_suffix()
            );
            fsio::write_synced(&self.data_path(&name), &bytes)?;
            let kept_ids: Vec<u64> = ids.into_iter().filter(|id| live.contains(id)).collect();
            kept_segments.push(Segment {
                file: name,
                bytes: bytes.len() as u64,
                checksum: blake3::hash(&bytes).to_hex().to_string(),
                min_id: kept_ids.first().copied().unwrap_or(seg.min_id),
                max_id: kept_ids.last().copied().unwrap_or(seg.max_id),
                count: kept_ids.len() as u64,
            });
            report.segments_rewritten += 1;
        }
        manifest.segments = kept_segments;
        if !dropped.is_empty() {
            fsio::sync_dir(&self.store_dir().join("values"))?;
            manifest.commit(&self.manifest_path())?;
        }
        let referenced: HashSet<String> = manifest
            .entries
            .iter()
            .map(|e| e.file.clone())
            .chain(manifest.segments.iter().map(|s| s.file.clone()))
            .collect();
        for sub in ["files", "values"] {
            self.sweep(&self.store_dir().join(sub), sub, &referenced, &mut report)?;
        }
        self.sweep_temps(&self.store_dir(), &mut report)?;
        self.repair_paths(&manifest, &mut report)?;
        Ok(report)
    }

    /// Removes files of `dir` the manifest does not name.
    fn sweep(
        &self,
        dir: &Path,
        prefix: &str,
        referenced: &HashSet<String>,
        report: &mut GcReport,
    ) -> Result<()> {
        let Ok(listing) = fs::read_dir(dir) else {
            return Ok(());
        };
        for item in listing {
            let item = item.at("list", dir)?;
            let name = format!("{prefix}/{}", item.file_name().to_string_lossy());
            if !referenced.contains(&name) {
                self.remove_counted(&item.path(), report)?;
            }
        }
        Ok(())
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
        let size = file_size(path)?;
        if fsio::remove_if_exists(path)? {
            report.files_removed += 1;
            report.bytes_freed += size;
        }
        Ok(())
    }

    /// Makes `<step>/<op>.parquet` point at each live file and removes the
    /// ones of deleted checkpoints (only files this store wrote).
    fn repair_paths(
        &self,
        manifest: &crate::manifest::Manifest,
        report: &mut GcReport,
    ) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let live: HashSet<(String, String)> = manifest
            .entries
            .iter()
            .map(|e| (e.step.clone(), e.op.clone()))
            .collect();
        for e in &manifest.entries {
            let alias = self.alias_path(&e.step, &e.op);
            let target = self.data_path(&e.file);
            let same = match (fs::metadata(&alias), fs::metadata(&target)) {
                (Ok(a), Ok(t)) => a.ino() == t.ino() && a.dev() == t.dev(),
                _ => false,
            };
            if !same {
                fsio::create_dir_synced(alias.parent().unwrap_or(self.root()))?;
                fsio::link_replace(&target, &alias)?;
            }
        }
        let Ok(steps) = fs::read_dir(self.root()) else {
            return Ok(());
        };
        for step in steps {
            let step = step.at("list", self.root())?;
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
