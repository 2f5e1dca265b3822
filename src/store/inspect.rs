//! Whole-store questions: what it holds and weighs (stats), and whether every
//! file still matches its checksum (verify).

use std::collections::HashSet;

use arrow_array::{Array, FixedSizeBinaryArray};

use super::read::ref_ids;
use super::Store;
use crate::error::{Error, Result};
use crate::hash_index::IndexFile;
use crate::manifest::Manifest;
use crate::parquet_io::ReadPlan;

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub checkpoints: u64,
    pub batches: u64,
    pub logical_records: u64,
    pub unique_records: u64,
    pub stored_values: u64,
    pub value_refs: u64,
    pub logical_bytes: u64,
    pub dataset_size_bytes: u64,
    pub index_size_bytes: u64,
    pub total_size_bytes: u64,
    pub generation: u64,
    /// Earlier versions kept (history), and the bytes of their own
    /// checkpoint files (their values are in `dataset_size_bytes`).
    pub history_versions: u64,
    pub history_size_bytes: u64,
}

#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub intact: Vec<(String, String)>,
    /// (step, op, file, error)
    pub damaged: Vec<(String, String, String, String)>,
    /// (step, op, version, file, error) of earlier versions (history).
    pub damaged_versions: Vec<(String, String, u64, String, String)>,
    /// (file, error)
    pub damaged_segments: Vec<(String, String)>,
    pub files_checked: u64,
    /// Why the manifest could not be read (missing while data files remain,
    /// or damaged): then nothing else was checked.
    pub manifest_error: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.damaged.is_empty()
            && self.damaged_versions.is_empty()
            && self.damaged_segments.is_empty()
            && self.manifest_error.is_none()
    }
}

impl Store {
    pub fn stats(&self) -> Result<Stats> {
        let manifest = self.manifest()?;
        let mut stats = Stats {
            generation: manifest.generation,
            ..Stats::default()
        };
        let mut files = HashSet::new();
        let mut records: HashSet<Vec<u8>> = HashSet::new();
        for e in &manifest.entries {
            match e.kind {
                crate::manifest::EntryKind::Checkpoint => stats.checkpoints += 1,
                crate::manifest::EntryKind::Batch => stats.batches += 1,
            }
            stats.logical_records += e.num_rows;
            stats.value_refs += e.value_refs;
            stats.logical_bytes += e.logical_bytes;
            if files.insert(e.file.clone()) {
                stats.index_size_bytes += e.bytes;
                let plan = ReadPlan {
                    columns: Some(vec![0]),
                    ..Default::default()
                };
                let batch = self
                    .storage
                    .open_parquet(&e.file, e.bytes)
                    .and_then(|file| file.decode(plan))
                    .map_err(Error::missing_is_damage)?;
                if let Some(hashes) = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                {
                    records.extend((0..hashes.len()).map(|i| hashes.value(i).to_vec()));
                }
            }
        }
        stats.unique_records = records.len() as u64;
        for s in &manifest.segments {
            stats.stored_values += s.count;
            stats.dataset_size_bytes += s.bytes;
        }
        for e in &manifest.history {
            stats.history_versions += 1;
            if files.insert(e.file.clone()) {
                stats.history_size_bytes += e.bytes;
            }
        }
        stats.index_size_bytes += self.storage.manifest_bytes()?;
        // persisted dedup indexes (one file may cover many segments)
        let mut indexes = HashSet::new();
        for s in &manifest.segments {
            if let (Some(name), Some(bytes)) = (&s.index, s.index_bytes) {
                if indexes.insert(name.as_str()) {
                    stats.index_size_bytes += bytes;
                }
            }
        }
        stats.total_size_bytes =
            stats.dataset_size_bytes + stats.index_size_bytes + stats.history_size_bytes;
        Ok(stats)
    }

    /// Checks every file against its recorded checksum and every reference
    /// against the segments; lists which checkpoints are damaged and which intact.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let manifest = match self.manifest() {
            Ok(m) => m,
            Err(e @ Error::Corrupt { .. }) => {
                report.manifest_error = Some(e.to_string());
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        let mut bad_segments = Vec::new();
        for seg in &manifest.segments {
            report.files_checked += 1;
            let problem = self
                .storage
                .read_verified(&seg.file, &seg.checksum, "value segment")
                .err()
                .map(|e| e.to_string());
            if let Some(problem) = problem {
                report.damaged_segments.push((seg.file.clone(), problem));
                bad_segments.push(seg);
            }
        }
        self.verify_indexes(&manifest, &mut report);
        let live = manifest.entries.len();
        for (i, e) in manifest.all_entries().enumerate() {
            report.files_checked += 1;
            let problem = match self.read_file(e) {
                Err(err) => Some((e.file.clone(), err.to_string())),
                Ok((batch, meta)) => {
                    let ids = ref_ids(&batch, &meta);
                    let hit = bad_segments
                        .iter()
                        .find(|s| ids.iter().any(|&id| id >= s.min_id && id <= s.max_id));
                    let unknown = ids.iter().any(|&id| {
                        !manifest
                            .segments
                            .iter()
                            .any(|s| id >= s.min_id && id <= s.max_id)
                    });
                    match (hit, unknown) {
                        (Some(s), _) => Some((
                            s.file.clone(),
                            format!("references values in damaged segment {}", s.file),
                        )),
                        (None, true) => Some((
                            e.file.clone(),
                            "references values no segment holds".to_string(),
                        )),
                        _ => None,
                    }
                }
            };
            let (step, op) = (e.step.clone(), e.op.clone());
            match problem {
                Some((file, error)) if i < live => report.damaged.push((step, op, file, error)),
                Some((file, error)) => report
                    .damaged_versions
                    .push((step, op, e.version, file, error)),
                None if i < live => report.intact.push((step, op)),
                None => {}
            }
        }
        Ok(report)
    }

    /// Persisted dedup indexes: each block against its checksum. A damaged
    /// one costs no value (a save reads the segments instead, and indexes
    /// them again) but is reported, as it says the disk damages files.
    fn verify_indexes(&self, manifest: &Manifest, report: &mut VerifyReport) {
        if self.storage.local_root().is_none() {
            return;
        }
        let mut seen = HashSet::new();
        for seg in &manifest.segments {
            let Some(name) = seg.index.as_ref().filter(|n| seen.insert(n.as_str())) else {
                continue;
            };
            report.files_checked += 1;
            let path = self.data_path(name);
            let checked = IndexFile::open(&path).and_then(|f| match seg.index_bytes {
                Some(b) if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(b) => Err(
                    Error::corrupt(&path, "value index size differs from the manifest's"),
                ),
                _ => f.check_all(),
            });
            if let Err(e) = checked {
                report.damaged_segments.push((name.clone(), e.to_string()));
            }
        }
    }
}
