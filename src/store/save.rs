//! Saving a checkpoint: write only the values the store lacks and a new
//! checkpoint file, then commit the manifest. Nothing is visible before that.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Store;
use crate::checkpoint_file;
use crate::encode::{self, Encoded};
use crate::error::{Error, Result};
use crate::fsio::{self, WriterLock};
use crate::manifest::{Entry, EntryKind, Manifest, Segment};
use crate::names;
use crate::segment;
use crate::value::Record;

/// What a save is for: a checkpoint (step, op) or batch `index` of `op`.
pub enum Target<'a> {
    Checkpoint { step: &'a str, op: &'a str },
    Batch { op: &'a str, index: u64 },
}

impl Store {
    pub fn save(
        &self,
        step: &str,
        op: &str,
        records: &[Record],
        meta: BTreeMap<String, String>,
    ) -> Result<PathBuf> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        self.save_target(Target::Checkpoint { step, op }, records, meta)
    }

    pub fn save_batch(
        &self,
        op: &str,
        index: u64,
        records: &[Record],
        meta: BTreeMap<String, String>,
    ) -> Result<PathBuf> {
        names::validate("operation", op)?;
        self.save_target(Target::Batch { op, index }, records, meta)
    }

    fn save_target(
        &self,
        target: Target,
        records: &[Record],
        meta: BTreeMap<String, String>,
    ) -> Result<PathBuf> {
        let encoded = encode::encode(records);
        let (step, op, kind, batch_of, batch_index) = match target {
            Target::Checkpoint { step, op } => (
                step.to_string(),
                op.to_string(),
                EntryKind::Checkpoint,
                None,
                None,
            ),
            Target::Batch { op, index } => {
                let (s, o) = names::batch_key(op, index);
                (s, o, EntryKind::Batch, Some(op.to_string()), Some(index))
            }
        };
        let digest = blake3::Hash::from(encoded.records_digest())
            .to_hex()
            .to_string();
        fsio::create_dir_synced(&self.store_dir().join("files"))?;
        fsio::create_dir_synced(&self.store_dir().join("values"))?;
        let _lock = WriterLock::acquire(&self.lock_path())?;
        let mut manifest = self.manifest()?;
        let previous = manifest.find(&step, &op).cloned();
        if let Some(prev) = &previous {
            if prev.kind != kind {
                return Err(Error::Conflict(format!(
                    "{step}/{op}.parquet already holds a {:?}; choose another name",
                    prev.kind
                )));
            }
        }
        let reusable = previous.as_ref().filter(|p| p.records_digest == digest);
        let (file, bytes, checksum) = match reusable {
            // a rerun saving the same records: only the manifest changes
            Some(prev) => (prev.file.clone(), prev.bytes, prev.checksum.clone()),
            None => self.write_files(&encoded, &mut manifest)?,
        };
        let entry = Entry {
            step: step.clone(),
            op: op.clone(),
            kind,
            batch_of,
            batch_index,
            file: file.clone(),
            bytes,
            checksum,
            num_rows: records.len() as u64,
            columns: encoded.columns.iter().map(|c| c.key.to_string()).collect(),
            logical_bytes: encoded.logical_bytes,
            value_refs: encoded.value_refs,
            records_digest: digest,
            created_at: fsio::now_seconds(),
            meta,
        };
        manifest.entries.retain(|e| !(e.step == step && e.op == op));
        manifest.entries.push(entry);
        manifest.commit(&self.manifest_path())?;
        // Committed. The user-facing path and the old file are housekeeping:
        // a failure here leaves the store valid, and gc repairs it.
        let alias = self.alias_path(&step, &op);
        fsio::create_dir_synced(alias.parent().unwrap_or(self.root()))?;
        fsio::link_replace(&self.data_path(&file), &alias)?;
        if let Some(prev) = previous.filter(|p| p.file != file) {
            if !manifest.entries.iter().any(|e| e.file == prev.file) {
                fsio::remove_if_exists(&self.data_path(&prev.file))?;
            }
        }
        Ok(alias)
    }

    /// Writes the new values' segment and the checkpoint file (both fsynced)
    /// and records the segment in `manifest`. Returns (file, size, checksum).
    fn write_files(
        &self,
        encoded: &Encoded,
        manifest: &mut Manifest,
    ) -> Result<(String, u64, String)> {
        let index = self.refresh_index(manifest)?;
        let mut ids = Vec::with_capacity(encoded.large.len());
        let mut fresh = Vec::new();
        for value in &encoded.large {
            let id = match index.ids.get(&value.hash) {
                Some(&id) => id,
                None => {
                    let id = manifest.next_value_id;
                    manifest.next_value_id += 1;
                    fresh.push((id, value));
                    id
                }
            };
            ids.push(id);
        }
        drop(index);
        let stamp = format!("{:012}-{}", manifest.generation + 1, fsio::unique_suffix());
        if let (Some(first), Some(last)) = (fresh.first(), fresh.last()) {
            let bytes = segment::write(&fresh)?;
            let name = format!("values/{stamp}.parquet");
            fsio::write_synced(&self.data_path(&name), &bytes)?;
            manifest.segments.push(Segment {
                file: name,
                bytes: bytes.len() as u64,
                checksum: blake3::hash(&bytes).to_hex().to_string(),
                min_id: first.0,
                max_id: last.0,
                count: fresh.len() as u64,
            });
            fsio::sync_dir(&self.store_dir().join("values"))?;
        }
        let bytes = checkpoint_file::write(encoded, &ids)?;
        let name = format!("files/{stamp}.parquet");
        fsio::write_synced(&self.data_path(&name), &bytes)?;
        fsio::sync_dir(&self.store_dir().join("files"))?;
        Ok((
            name,
            bytes.len() as u64,
            blake3::hash(&bytes).to_hex().to_string(),
        ))
    }

    /// Removes (step, op) from the manifest; its values go at the next gc.
    pub fn delete(&self, step: &str, op: &str) -> Result<bool> {
        if !self.manifest_path().exists() {
            return Ok(false);
        }
        let _lock = WriterLock::acquire(&self.lock_path())?;
        let mut manifest = self.manifest()?;
        let Some(gone) = manifest.find(step, op).cloned() else {
            return Ok(false);
        };
        manifest.entries.retain(|e| !(e.step == step && e.op == op));
        manifest.commit(&self.manifest_path())?;
        fsio::remove_if_exists(&self.alias_path(step, op))?;
        if !manifest.entries.iter().any(|e| e.file == gone.file) {
            fsio::remove_if_exists(&self.data_path(&gone.file))?;
        }
        Ok(true)
    }

    /// Removes every checkpoint and batch in one commit, then collects garbage.
    pub fn clear(&self) -> Result<usize> {
        if !self.manifest_path().exists() {
            return Ok(0);
        }
        let removed = {
            let _lock = WriterLock::acquire(&self.lock_path())?;
            let mut manifest = self.manifest()?;
            let gone = std::mem::take(&mut manifest.entries);
            manifest.commit(&self.manifest_path())?;
            for e in &gone {
                fsio::remove_if_exists(&self.alias_path(&e.step, &e.op))?;
            }
            gone.len()
        };
        self.gc()?;
        Ok(removed)
    }
}
