//! The manifest: the one small file naming every live checkpoint and value
//! segment. Replacing it atomically is what commits a save, delete or gc.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// A manifest without history: what every release reads.
pub const FORMAT: &str = "docetl-checkpoint/1";
/// A manifest holding earlier versions (`history`). Releases before history
/// refuse it rather than rewrite it without them (dropping the versions) or
/// collect the files only they name.
pub const FORMAT_HISTORY: &str = "docetl-checkpoint/2";
const CHECKSUM_PREFIX: &str = "blake3:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Checkpoint,
    Batch,
}

/// One live checkpoint (or batch).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub step: String,
    pub op: String,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_index: Option<u64>,
    /// Data file, relative to the store folder.
    pub file: String,
    pub bytes: u64,
    /// blake3 of the data file.
    pub checksum: String,
    pub num_rows: u64,
    pub columns: Vec<String>,
    pub logical_bytes: u64,
    pub value_refs: u64,
    /// blake3 over the record hashes: equal digests, equal records.
    pub records_digest: String,
    pub created_at: f64,
    /// The checkpoint's meta, less values over `META_INLINE_BYTES`: those
    /// stay in the checkpoint file only (`origin`), named in `meta_in_file`.
    /// A pipeline over thousands of parsed files records a digest of each;
    /// repeated in every entry, the manifest every commit rewrites would grow
    /// with files x checkpoints.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta_in_file: Vec<String>,
    /// blake3 of the whole meta: equal digests, equal meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_digest: Option<String>,
    /// Which save of (step, op) this is, from 1 (entries written before
    /// history have none: they are version 1).
    #[serde(default = "first_version")]
    pub version: u64,
    /// Never dropped by a retention policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

fn first_version() -> u64 {
    1
}

/// Meta values up to this size stay in the manifest.
pub const META_INLINE_BYTES: usize = 1024;

/// blake3 over a meta map's JSON (keys sorted: a BTreeMap).
pub fn meta_digest(meta: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_vec(meta).unwrap_or_default();
    blake3::hash(&json).to_hex().to_string()
}

impl Entry {
    /// Sets the meta: small values inline, large ones named as in the file.
    pub fn set_meta(&mut self, meta: &BTreeMap<String, String>) {
        self.meta_digest = Some(meta_digest(meta));
        self.meta_in_file.clear();
        self.meta = BTreeMap::new();
        for (k, v) in meta {
            if v.len() > META_INLINE_BYTES {
                self.meta_in_file.push(k.clone());
            } else {
                self.meta.insert(k.clone(), v.clone());
            }
        }
    }

    /// The digest of the whole meta (entries of earlier releases hold it all).
    pub fn full_meta_digest(&self) -> String {
        self.meta_digest
            .clone()
            .unwrap_or_else(|| meta_digest(&self.meta))
    }
}

/// One value segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Segment {
    pub file: String,
    pub bytes: u64,
    pub checksum: String,
    pub min_id: u64,
    pub max_id: u64,
    pub count: u64,
    /// Written by compaction (merged, strong compression): compaction leaves
    /// it alone. Absent in manifests written before compaction existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compacted: bool,
    /// Its persisted dedup index (`hash_index`) on local folders, which
    /// other segments may name too: a new process's first save looks hashes
    /// up there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The size of `index` (written with it since saves index their
    /// segments), so `stats` counts it without reading the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub generation: u64,
    /// What made this generation ("save", "delete", "clear", "gc", "recover"):
    /// a writer that lost its commit to gc retries without counting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_by: Option<String>,
    pub next_value_id: u64,
    pub entries: Vec<Entry>,
    pub segments: Vec<Segment>,
    /// Small notes about the store as a whole, committed like checkpoints
    /// (the DocETL adapter records the latest run here, which may have
    /// reused every checkpoint and so written none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// Earlier versions of checkpoints (replaced or deleted), kept until a
    /// retention policy drops them; their files and values stay live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Entry>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: FORMAT.to_string(),
            generation: 0,
            committed_by: None,
            next_value_id: 0,
            entries: Vec::new(),
            segments: Vec::new(),
            notes: BTreeMap::new(),
            history: Vec::new(),
        }
    }
}

impl Manifest {
    /// Parses and checks a manifest's bytes; `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::corrupt(path, "manifest is not UTF-8"))?;
        let (body, trailer) = text
            .strip_suffix('\n')
            .and_then(|t| t.rsplit_once('\n'))
            .ok_or_else(|| Error::corrupt(path, "manifest has no checksum line"))?;
        let expected = trailer
            .strip_prefix(CHECKSUM_PREFIX)
            .ok_or_else(|| Error::corrupt(path, "manifest has no checksum line"))?;
        if blake3::hash(body.as_bytes()).to_hex().as_str() != expected {
            return Err(Error::corrupt(path, "manifest does not match its checksum"));
        }
        let manifest: Manifest = serde_json::from_str(body)
            .map_err(|e| Error::corrupt(path, format!("manifest: {e}")))?;
        if manifest.format != FORMAT && manifest.format != FORMAT_HISTORY {
            return Err(Error::corrupt(
                path,
                format!("unknown manifest format {:?}", manifest.format),
            ));
        }
        Ok(manifest)
    }

    /// Moves to the next generation and returns the file text that commits it.
    pub fn next_text(&mut self) -> Result<String> {
        self.generation += 1;
        self.entries
            .sort_by(|a, b| (&a.step, &a.op).cmp(&(&b.step, &b.op)));
        self.history
            .sort_by(|a, b| (&a.step, &a.op, a.version).cmp(&(&b.step, &b.op, b.version)));
        self.format = if self.history.is_empty() {
            FORMAT
        } else {
            FORMAT_HISTORY
        }
        .to_string();
        self.text()
    }

    /// The file text of this generation as it is.
    pub fn text(&self) -> Result<String> {
        let body = serde_json::to_string(self).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(format!(
            "{body}\n{CHECKSUM_PREFIX}{}\n",
            blake3::hash(body.as_bytes()).to_hex()
        ))
    }

    pub fn find(&self, step: &str, op: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.step == step && e.op == op)
    }

    /// Every kept version of (step, op), oldest first: its history, then the
    /// live entry (absent once deleted).
    pub fn versions(&self, step: &str, op: &str) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = self
            .history
            .iter()
            .filter(|e| e.step == step && e.op == op)
            .collect();
        out.sort_by_key(|e| e.version);
        out.extend(self.find(step, op));
        out
    }

    /// The version `which` of (step, op): None the live entry, n >= 1 that
    /// version, a negative number counts back from the newest (-1 newest).
    pub fn find_version(&self, step: &str, op: &str, which: Option<i64>) -> Result<Option<&Entry>> {
        let Some(which) = which else {
            return Ok(self.find(step, op));
        };
        let versions = self.versions(step, op);
        Ok(match which {
            0 => {
                return Err(Error::InvalidValue(
                    "version 0: versions count from 1, and negative numbers count back \
                     from the newest (-1)"
                        .into(),
                ))
            }
            n if n > 0 => versions.into_iter().find(|e| e.version == n as u64),
            n => {
                let back = n.unsigned_abs() as usize;
                versions.len().checked_sub(back).map(|i| versions[i])
            }
        })
    }

    /// The number the next save of (step, op) takes: one past every kept version.
    pub fn next_version(&self, step: &str, op: &str) -> u64 {
        self.versions(step, op)
            .iter()
            .map(|e| e.version)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Every checkpoint file the manifest names: live entries and history.
    pub fn all_entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().chain(&self.history)
    }

    /// Segments whose id range may hold one of `ids` (ascending).
    pub fn segments_for<'a>(
        &'a self,
        ids: &'a [u64],
    ) -> impl Iterator<Item = (&'a Segment, &'a [u64])> {
        self.segments.iter().filter_map(move |s| {
            let lo = ids.partition_point(|&id| id < s.min_id);
            let hi = ids.partition_point(|&id| id <= s.max_id);
            (lo < hi).then(|| (s, &ids[lo..hi]))
        })
    }
}

/// The error of a store whose manifest is gone while its data files are not:
/// damage to report (and `recover`), never an empty store.
pub fn missing(manifest: &Path, data_files: usize, store: &str) -> Error {
    Error::corrupt(
        manifest,
        format!(
            "the manifest is missing but {data_files} data file(s) remain: nothing is \
             readable or collectable until `docetl-checkpoint recover {store}` rebuilds it"
        ),
    )
}

/// Size of a file on disk, 0 if it is gone.
pub fn file_size(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).at("stat", path),
    }
}
