//! Rebuilding a lost or unreadable manifest from the data files that remain.
//!
//! Every checkpoint file (format 2) says which checkpoint it was written for
//! (`FileMeta::origin`); every value segment holds its ids and each value's
//! hash. A checkpoint is restored only when its records, rebuilt from the
//! segments chosen for it, match the record hashes it stores: files of a save
//! that never committed, or ids a crashed save reused, can never come back
//! as wrong data, only as "not restored".

use std::collections::BTreeMap;

use arrow_array::Array;
use std::sync::Arc;

use super::read::{ref_ids, Loaded};
use super::Store;
use crate::checkpoint_file::{self, FileMeta, Origin};
use crate::error::{Error, Result};
use crate::manifest::{Entry, EntryKind, Manifest, Segment};
use crate::parquet_io::{self, ReadPlan};
use crate::segment::SegmentValues;
use crate::storage::Commit;

#[derive(Debug, Default, Clone)]
pub struct RecoverReport {
    /// False when the manifest was readable: nothing was changed.
    pub needed: bool,
    /// (step, op) of every checkpoint the new manifest names.
    pub restored: Vec<(String, String)>,
    pub segments: u64,
    /// Earlier versions of restored checkpoints, put back as their history.
    pub versions: u64,
    /// (file, why) of data files left out.
    pub not_restored: Vec<(String, String)>,
}

/// A value segment found on disk.
struct Found {
    segment: Segment,
    values: Arc<SegmentValues>,
}

/// A checkpoint file found on disk, with what it says it is.
struct Candidate {
    file: String,
    bytes: u64,
    checksum: String,
    batch: arrow_array::RecordBatch,
    meta: FileMeta,
    origin: Origin,
}

impl Store {
    /// Rebuilds the manifest from the files in the store when it is missing
    /// or unreadable; a readable manifest is left alone (`needed` false).
    pub fn recover(&self) -> Result<RecoverReport> {
        let _lock = self.storage.lock_writers()?;
        match self.manifest() {
            Ok(_) => return Ok(RecoverReport::default()),
            Err(Error::Corrupt { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut report = RecoverReport {
            needed: true,
            ..RecoverReport::default()
        };
        let found = self.found_segments(&mut report)?;
        let mut candidates = self.found_checkpoints(&mut report)?;
        // newest first within each (step, op): the last save is the one to restore
        candidates.sort_by(|a, b| {
            (&a.origin.step, &a.origin.op)
                .cmp(&(&b.origin.step, &b.origin.op))
                .then(b.origin.created_at.total_cmp(&a.origin.created_at))
        });
        let mut manifest = Manifest {
            next_value_id: found
                .iter()
                .map(|f| f.segment.max_id + 1)
                .max()
                .unwrap_or(0),
            ..Manifest::default()
        };
        let mut chosen: Vec<usize> = Vec::new();
        for candidate in candidates {
            let key = (candidate.origin.step.clone(), candidate.origin.op.clone());
            let older = manifest.find(&key.0, &key.1).is_some();
            // an older copy of a checkpoint is an earlier version (history);
            // batches keep none
            if older && candidate.origin.kind != EntryKind::Checkpoint {
                report.not_restored.push((
                    candidate.file.clone(),
                    format!("an older copy of {}/{}", key.0, key.1),
                ));
                continue;
            }
            match self.restorable(&candidate, &found, &chosen) {
                Ok((entry, segments)) => {
                    for s in segments {
                        if !chosen.contains(&s) {
                            chosen.push(s);
                        }
                    }
                    if older {
                        manifest.history.push(entry);
                        report.versions += 1;
                    } else {
                        manifest.entries.push(entry);
                        report.restored.push(key);
                    }
                }
                Err(why) => report.not_restored.push((candidate.file.clone(), why)),
            }
        }
        number_versions(&mut manifest);
        // segments no id of another overlaps are kept whether used or not (gc
        // judges them); of overlapping ones, only those a restored file chose
        for (i, f) in found.iter().enumerate() {
            if chosen.contains(&i) || overlaps(&found, i).is_empty() {
                manifest.segments.push(f.segment.clone());
            } else {
                report.not_restored.push((
                    f.segment.file.clone(),
                    "its ids overlap another segment's and no restored checkpoint uses it"
                        .to_string(),
                ));
            }
        }
        manifest.segments.sort_by_key(|s| s.min_id);
        report.segments = manifest.segments.len() as u64;
        // past every generation there is, damaged ones included (object
        // stores: the commit creates the next one, or loses to a writer)
        manifest.generation = self.storage.highest_generation()?;
        manifest.committed_by = Some("recover".to_string());
        if self.storage.commit(&mut manifest, &[])? == Commit::Conflict {
            return Err(Error::CommitConflict(
                "another writer committed while the manifest was rebuilt: run recover again"
                    .to_string(),
            ));
        }
        Ok(report)
    }

    fn found_segments(&self, report: &mut RecoverReport) -> Result<Vec<Found>> {
        let mut found = Vec::new();
        for file in self.storage.list("values")? {
            if !file.name.ends_with(".parquet") {
                continue;
            }
            let path = self.data_path(&file.name);
            let checked = self.storage.read(&file.name).and_then(|bytes| {
                let checksum = blake3::hash(&bytes).to_hex().to_string();
                let len = bytes.len() as u64;
                Ok((SegmentValues::from_unvouched(&path, bytes)?, checksum, len))
            });
            match checked {
                Ok((values, checksum, bytes)) if !values.ids().is_empty() => {
                    let ids = values.ids();
                    found.push(Found {
                        segment: Segment {
                            file: file.name.clone(),
                            bytes,
                            checksum,
                            min_id: ids[0],
                            max_id: ids[ids.len() - 1],
                            count: ids.len() as u64,
                            // unknown: a later compaction may merge it again
                            compacted: false,
                            index: None,
                            index_bytes: None,
                        },
                        values: Arc::new(values),
                    });
                }
                Ok(_) => report
                    .not_restored
                    .push((file.name.clone(), "an empty segment".to_string())),
                Err(e) => report.not_restored.push((file.name.clone(), e.to_string())),
            }
        }
        Ok(found)
    }

    fn found_checkpoints(&self, report: &mut RecoverReport) -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for file in self.storage.list("files")? {
            if !file.name.ends_with(".parquet") {
                continue;
            }
            let path = self.data_path(&file.name);
            let read = self.storage.read(&file.name).and_then(|bytes| {
                let checksum = blake3::hash(&bytes).to_hex().to_string();
                let len = bytes.len() as u64;
                let batch = parquet_io::decode(&path, bytes, None, ReadPlan::default())?;
                let meta = checkpoint_file::file_meta(&path, batch.schema().as_ref())?;
                Ok((batch, meta, checksum, len))
            });
            let (batch, meta, checksum, bytes) = match read {
                Ok(x) => x,
                Err(e) => {
                    report.not_restored.push((file.name.clone(), e.to_string()));
                    continue;
                }
            };
            // a file of an earlier release with no link left to name it is kept
            // under a name of its own, not dropped: gc would delete it
            let origin = meta
                .origin
                .clone()
                .or_else(|| self.origin_from_alias(&file.name))
                .unwrap_or_else(|| unnamed(&file.name));
            out.push(Candidate {
                file: file.name,
                bytes,
                checksum,
                batch,
                meta,
                origin,
            });
        }
        Ok(out)
    }

    /// What a format-1 file was saved as, from the `<step>/<op>.parquet` link
    /// to it (local folders only); its meta is lost.
    fn origin_from_alias(&self, name: &str) -> Option<Origin> {
        let root = self.storage.local_root()?;
        let target = self.data_path(name);
        for step in std::fs::read_dir(root).ok()?.flatten() {
            let step_name = step.file_name().to_string_lossy().into_owned();
            // plain files beside the step folders are not links: skip them
            let Ok(files) = std::fs::read_dir(step.path()) else {
                continue;
            };
            for file in files.flatten() {
                let file_name = file.file_name().to_string_lossy().into_owned();
                let Some(op) = file_name.strip_suffix(".parquet") else {
                    continue;
                };
                if crate::fsio::same_file(&file.path(), &target) {
                    let created_at = std::fs::metadata(&target)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    let batch = step_name
                        .strip_suffix("_batches")
                        .zip(op.strip_prefix("batch_").and_then(|i| i.parse().ok()));
                    return Some(Origin {
                        step: step_name.clone(),
                        op: op.to_string(),
                        kind: if batch.is_some() {
                            EntryKind::Batch
                        } else {
                            EntryKind::Checkpoint
                        },
                        batch_of: batch.map(|(of, _)| of.to_string()),
                        batch_index: batch.map(|(_, i)| i),
                        created_at,
                        logical_bytes: 0,
                        value_refs: 0,
                        records_digest: String::new(),
                        meta: BTreeMap::new(),
                    });
                }
            }
        }
        None
    }

    /// The entry of `c` and the segments it reads, when its records rebuilt
    /// from them match their stored hashes; else why not.
    fn restorable(
        &self,
        c: &Candidate,
        found: &[Found],
        chosen: &[usize],
    ) -> std::result::Result<(Entry, Vec<usize>), String> {
        let mut ids = ref_ids(&c.batch, &c.meta);
        ids.sort_unstable();
        ids.dedup();
        // for each id, the segments holding it; ambiguous ids prefer a segment
        // already chosen, then try each holder
        let holders = |id: u64| -> Vec<usize> {
            (0..found.len())
                .filter(|&i| found[i].values.ids().binary_search(&id).is_ok())
                .collect()
        };
        let mut fixed: Vec<usize> = Vec::new();
        let mut open: Vec<Vec<usize>> = Vec::new();
        for &id in &ids {
            let h = holders(id);
            match h.as_slice() {
                [] => return Err(format!("references value {id}, which no segment holds")),
                [one] => {
                    if !fixed.contains(one) {
                        fixed.push(*one)
                    }
                }
                many => {
                    if let Some(&c) = many.iter().find(|i| chosen.contains(i)) {
                        if !fixed.contains(&c) {
                            fixed.push(c)
                        }
                    } else if !open.contains(&many.to_vec()) {
                        open.push(many.to_vec());
                    }
                }
            }
        }
        let mut tries: Vec<Vec<usize>> = vec![fixed];
        for options in open {
            tries = tries
                .into_iter()
                .flat_map(|t| {
                    options.iter().map(move |&o| {
                        let mut t = t.clone();
                        if !t.contains(&o) {
                            t.push(o);
                        }
                        t
                    })
                })
                .take(64)
                .collect();
        }
        let entry = self.entry_of(c);
        let mut last = String::from("no segment set fits");
        for segments in tries {
            match self.check_records(c, &entry, found, &segments, &ids) {
                Ok(()) => return Ok((entry, segments)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    fn check_records(
        &self,
        c: &Candidate,
        entry: &Entry,
        found: &[Found],
        segments: &[usize],
        ids: &[u64],
    ) -> Result<()> {
        let path = self.data_path(&c.file);
        let mut loaded = Loaded::new(entry.clone(), path.clone(), c.batch.clone(), c.meta.clone())?;
        for &s in segments {
            let wanted: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| found[s].values.ids().binary_search(id).is_ok())
                .collect();
            loaded.values.add(found[s].values.clone(), &wanted);
        }
        if loaded.values.len() != ids.len() {
            return Err(Error::corrupt(&path, "references values the segments lack"));
        }
        loaded.verify_records()
    }

    fn entry_of(&self, c: &Candidate) -> Entry {
        let o = &c.origin;
        let refs = ref_ids(&c.batch, &c.meta).len() as u64;
        let hashes = c
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::FixedSizeBinaryArray>();
        let digest = match (o.records_digest.is_empty(), hashes) {
            (true, Some(h)) => blake3::Hash::from(crate::encode::records_digest(
                (0..h.len()).map(|i| h.value(i)),
            ))
            .to_hex()
            .to_string(),
            _ => o.records_digest.clone(),
        };
        let mut entry = Entry {
            step: o.step.clone(),
            op: o.op.clone(),
            kind: o.kind,
            batch_of: o.batch_of.clone(),
            batch_index: o.batch_index,
            file: c.file.clone(),
            bytes: c.bytes,
            checksum: c.checksum.clone(),
            num_rows: c.batch.num_rows() as u64,
            columns: c.meta.table_columns(),
            logical_bytes: o.logical_bytes,
            value_refs: if o.value_refs > 0 { o.value_refs } else { refs },
            records_digest: digest,
            created_at: o.created_at,
            meta: BTreeMap::new(),
            meta_in_file: Vec::new(),
            meta_digest: None,
            version: 1,
            pinned: false,
        };
        entry.set_meta(&o.meta);
        entry
    }
}

/// Numbers each restored checkpoint's versions from 1 in the order they
/// were saved (files do not record their number).
fn number_versions(manifest: &mut Manifest) {
    manifest.history.sort_by(|a, b| {
        (&a.step, &a.op)
            .cmp(&(&b.step, &b.op))
            .then(a.created_at.total_cmp(&b.created_at))
    });
    let mut previous: Option<(String, String)> = None;
    let mut n = 0;
    for e in &mut manifest.history {
        let key = (e.step.clone(), e.op.clone());
        n = if previous.as_ref() == Some(&key) {
            n + 1
        } else {
            1
        };
        e.version = n;
        previous = Some(key);
    }
    for live in &mut manifest.entries {
        live.version = manifest
            .history
            .iter()
            .filter(|h| h.step == live.step && h.op == live.op)
            .count() as u64
            + 1;
    }
}

/// Where `recover` puts a checkpoint file that does not say what it was
/// saved as (format 1, and no link names it).
pub const RECOVERED_STEP: &str = "_recovered";

fn unnamed(file: &str) -> Origin {
    let stem = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".parquet");
    Origin {
        step: RECOVERED_STEP.to_string(),
        op: stem.to_string(),
        kind: EntryKind::Checkpoint,
        batch_of: None,
        batch_index: None,
        created_at: 0.0,
        logical_bytes: 0,
        value_refs: 0,
        records_digest: String::new(),
        meta: BTreeMap::from([("recovered_from".to_string(), file.to_string())]),
    }
}

/// Indexes of the other segments whose id ranges overlap segment `i`'s.
fn overlaps(found: &[Found], i: usize) -> Vec<usize> {
    let a = &found[i].segment;
    (0..found.len())
        .filter(|&j| {
            let b = &found[j].segment;
            j != i && a.min_id <= b.max_id && b.min_id <= a.max_id
        })
        .collect()
}
