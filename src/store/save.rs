//! Saving a checkpoint: write only the values the store lacks and a new
//! checkpoint file, then commit the manifest. Nothing is visible before that.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;

use super::commit::Plan;
use super::Store;
use crate::canonical::Hash;
use crate::checkpoint_file::{self, Origin};
use crate::encode::{self, Encoded};
use crate::error::{Error, Result};
use crate::fsio;
use crate::manifest::{Entry, EntryKind, Manifest, Segment};
use crate::names;
use crate::segment;
use crate::value::Record;

/// Files a save writes before its commit; empty when the data file is reused.
struct Staged {
    file: String,
    bytes: u64,
    checksum: String,
    /// (name in the store folder, bytes) of new files.
    writes: Vec<(String, Bytes)>,
    /// The new segment's name and (hash, id) pairs, and the index files its
    /// index replaces (`index_committed`).
    fresh: Option<(String, Vec<(Hash, u64)>)>,
    replaced_indexes: Vec<String>,
}

impl Staged {
    fn reuse(entry: &Entry) -> Staged {
        Staged {
            file: entry.file.clone(),
            bytes: entry.bytes,
            checksum: entry.checksum.clone(),
            writes: Vec::new(),
            fresh: None,
            replaced_indexes: Vec::new(),
        }
    }
}

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
        let _lock = self.storage.lock_writers()?;
        let (manifest, file) = self.commit_planned("save", |manifest| {
            let previous = manifest.find(&step, &op).cloned();
            if let Some(prev) = &previous {
                if prev.kind != kind {
                    return Err(Error::NameClash(format!(
                        "{step}/{op}.parquet already holds a {:?}; choose another name",
                        prev.kind
                    )));
                }
            }
            let origin = Origin {
                step: step.clone(),
                op: op.clone(),
                kind,
                batch_of: batch_of.clone(),
                batch_index,
                created_at: fsio::now_seconds(),
                logical_bytes: encoded.logical_bytes,
                value_refs: encoded.value_refs,
                records_digest: digest.clone(),
                meta: meta.clone(),
            };
            // the file says what it was saved as (for `recover`): reused only
            // when that is unchanged but for the time
            let meta_digest = crate::manifest::meta_digest(&meta);
            let reusable = previous
                .as_ref()
                .filter(|p| p.records_digest == digest && p.full_meta_digest() == meta_digest);
            let staged = match reusable {
                // a rerun saving the same records: only the manifest changes
                Some(prev) => Staged::reuse(prev),
                None => match self.stage(&encoded, manifest, &origin) {
                    // gc or compaction replaced a segment the dedup index
                    // was reading: plan again on the newer manifest
                    Err(e)
                        if e.is_not_found()
                            && self.manifest()?.generation != manifest.generation =>
                    {
                        return Ok(Plan::Again);
                    }
                    other => other?,
                },
            };
            let version = match (&previous, reusable) {
                // the same records and meta again: the same version
                (Some(prev), Some(_)) => prev.version,
                _ => manifest.next_version(&step, &op),
            };
            let pinned = reusable.is_some_and(|p| p.pinned);
            manifest.entries.retain(|e| !(e.step == step && e.op == op));
            // a checkpoint's replaced version stays readable (history);
            // batches are parts of one run's op and keep none
            if let Some(prev) = previous.as_ref().filter(|_| reusable.is_none()) {
                if kind == EntryKind::Checkpoint {
                    manifest.history.push(prev.clone());
                }
            }
            let mut entry = Entry {
                step: step.clone(),
                op: op.clone(),
                kind,
                batch_of: batch_of.clone(),
                batch_index,
                file: staged.file.clone(),
                bytes: staged.bytes,
                checksum: staged.checksum,
                num_rows: records.len() as u64,
                columns: encoded.table_columns(),
                logical_bytes: encoded.logical_bytes,
                value_refs: encoded.value_refs,
                records_digest: digest.clone(),
                created_at: origin.created_at,
                meta: BTreeMap::new(),
                meta_in_file: Vec::new(),
                meta_digest: None,
                version,
                pinned,
            };
            entry.set_meta(&meta);
            manifest.entries.push(entry);
            let indexed = (staged.fresh, staged.replaced_indexes);
            Ok(Plan::Commit(
                staged.writes,
                (staged.file, previous, indexed),
            ))
        })?;
        let (file, previous, (fresh, replaced)) = file;
        self.index_committed(fresh, &replaced);
        // Committed. The user-facing path and the old file are housekeeping:
        // a failure here leaves the store valid, and gc repairs it.
        if let Some(alias) = self.alias_path(&step, &op) {
            fsio::create_dir_synced(alias.parent().unwrap_or(&alias))?;
            fsio::link_replace(&self.data_path(&file), &alias)?;
        }
        if let Some(prev) = previous.filter(|p| p.file != file) {
            if !manifest.all_entries().any(|e| e.file == prev.file) {
                self.storage.remove(&prev.file)?;
            }
        }
        Ok(self.user_path(&step, &op, &file))
    }

    /// Encodes the new values' segment and the checkpoint file (in parallel,
    /// in memory) and records the segment in `manifest`.
    fn stage(&self, encoded: &Encoded, manifest: &mut Manifest, origin: &Origin) -> Result<Staged> {
        let mut index = self.refresh_index(manifest)?;
        let mut ids = Vec::with_capacity(encoded.large.len());
        let mut fresh = Vec::new();
        for value in &encoded.large {
            let id = match self.lookup(&mut index, &value.hash)? {
                Some(id) => id,
                None => {
                    let id = manifest.next_value_id;
                    manifest.next_value_id += 1;
                    fresh.push((id, value));
                    id
                }
            };
            ids.push(id);
        }
        let entries: Vec<(Hash, u64)> = fresh.iter().map(|(id, v)| (v.hash, *id)).collect();
        let new_index = self.new_index(&index, manifest, &entries)?;
        drop(index);
        let (segment_bytes, file_bytes) = std::thread::scope(|s| {
            let seg = s.spawn(|| {
                (!fresh.is_empty())
                    .then(|| segment::write(&fresh))
                    .transpose()
            });
            let file = checkpoint_file::write(encoded, &ids, origin);
            let seg = seg
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("segment encoder panicked".into())));
            (seg, file)
        });
        let (segment_bytes, file_bytes) = (segment_bytes?, file_bytes?);
        let stamp = format!("{:012}-{}", manifest.generation + 1, fsio::unique_suffix());
        let mut writes = Vec::new();
        let mut new_segment = None;
        let index_name = new_index.as_ref().map(|_| format!("values/{stamp}.idx"));
        let mut replaced_indexes = Vec::new();
        let index_bytes = new_index.as_ref().map(|i| i.bytes.len() as u64);
        if let (Some(index_name), Some(new_index)) = (&index_name, new_index) {
            // the segments of the merged index files, and those it adopts,
            // name the new one
            for seg in &mut manifest.segments {
                let replaced = (seg.index.as_ref()).is_some_and(|i| new_index.replaces.contains(i));
                if replaced || new_index.adopts.contains(&seg.file) {
                    seg.index = Some(index_name.clone());
                    seg.index_bytes = index_bytes;
                }
            }
            writes.push((index_name.clone(), new_index.bytes));
            replaced_indexes = new_index.replaces;
        }
        if let (Some(bytes), Some(first), Some(last)) = (segment_bytes, fresh.first(), fresh.last())
        {
            let name = format!("values/{stamp}.parquet");
            manifest.segments.push(Segment {
                file: name.clone(),
                bytes: bytes.len() as u64,
                checksum: blake3::hash(&bytes).to_hex().to_string(),
                min_id: first.0,
                max_id: last.0,
                count: fresh.len() as u64,
                compacted: false,
                index: index_name,
                index_bytes,
            });
            writes.push((name.clone(), Bytes::from(bytes)));
            new_segment = Some((name, entries));
        }
        let name = format!("files/{stamp}.parquet");
        let (bytes, checksum) = (
            file_bytes.len() as u64,
            blake3::hash(&file_bytes).to_hex().to_string(),
        );
        writes.push((name.clone(), Bytes::from(file_bytes)));
        Ok(Staged {
            file: name,
            bytes,
            checksum,
            writes,
            fresh: new_segment,
            replaced_indexes,
        })
    }

    /// Removes (step, op) from the manifest; its values go at the next gc.
    pub fn delete(&self, step: &str, op: &str) -> Result<bool> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        if !self.storage.exists()? {
            return Ok(false);
        }
        let _lock = self.storage.lock_writers()?;
        let (manifest, gone) = self.commit_planned("delete", |manifest| {
            let Some(gone) = manifest.find(step, op).cloned() else {
                return Ok(Plan::Skip(None));
            };
            manifest.entries.retain(|e| !(e.step == step && e.op == op));
            // a deleted checkpoint's versions stay until retention drops them
            if gone.kind == EntryKind::Checkpoint {
                manifest.history.push(gone.clone());
            }
            Ok(Plan::Commit(Vec::new(), Some(gone)))
        })?;
        let Some(gone) = gone else {
            return Ok(false);
        };
        if let Some(alias) = self.alias_path(step, op) {
            fsio::remove_if_exists(&alias)?;
        }
        if !manifest.all_entries().any(|e| e.file == gone.file) {
            self.storage.remove(&gone.file)?;
        }
        Ok(true)
    }

    /// Sets (or, with None, removes) a note of the store, in one commit;
    /// a note of up to `META_INLINE_BYTES`, as it lives in the manifest.
    pub fn set_note(&self, key: &str, value: Option<&str>) -> Result<()> {
        if value.is_some_and(|v| v.len() > crate::manifest::META_INLINE_BYTES) {
            return Err(Error::InvalidValue(format!(
                "note {key:?} is longer than {} bytes",
                crate::manifest::META_INLINE_BYTES
            )));
        }
        let _lock = self.storage.lock_writers()?;
        self.commit_planned("note", |manifest| {
            if manifest.notes.get(key).map(String::as_str) == value {
                return Ok(Plan::Skip(()));
            }
            match value {
                Some(v) => manifest.notes.insert(key.to_string(), v.to_string()),
                None => manifest.notes.remove(key),
            };
            Ok(Plan::Commit(Vec::new(), ()))
        })?;
        Ok(())
    }

    /// Removes every checkpoint and batch, and their history, in one commit,
    /// then collects garbage.
    pub fn clear(&self) -> Result<usize> {
        self.clear_with(false)
    }

    /// `clear`; with `keep_history`, each checkpoint's live version joins its
    /// history (as `delete` does) and gc keeps what the default policy keeps.
    pub fn clear_with(&self, keep_history: bool) -> Result<usize> {
        if !self.storage.exists()? {
            return Ok(0);
        }
        let (_, gone) = {
            let _lock = self.storage.lock_writers()?;
            self.commit_planned("clear", |manifest| {
                let gone = std::mem::take(&mut manifest.entries);
                if keep_history {
                    let checkpoints = gone.iter().filter(|e| e.kind == EntryKind::Checkpoint);
                    manifest.history.extend(checkpoints.cloned());
                } else {
                    manifest.history.clear();
                }
                Ok(Plan::Commit(Vec::new(), gone))
            })?
        };
        for e in &gone {
            if let Some(alias) = self.alias_path(&e.step, &e.op) {
                fsio::remove_if_exists(&alias)?;
            }
        }
        self.gc()?;
        Ok(gone.len())
    }
}
