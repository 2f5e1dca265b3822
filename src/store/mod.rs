//! The store under one folder: paths, the save-time dedup index, and the
//! operations split by topic (save, read, gc, inspect).

mod cache;
mod commit;
mod compact;
mod gc;
mod index;
mod index_gc;
mod inspect;
mod rare_rows;
pub mod read;
mod recover;
mod retention;
mod save;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

pub use compact::CompactReport;
pub use gc::GcReport;
pub use inspect::{Stats, VerifyReport};
pub use rare_rows::{no_column, TableColumn};
pub use read::{CellRef, Loaded, ReadMode};
pub use recover::RecoverReport;
pub use retention::{Retention, VersionKey, DEFAULT_KEEP_VERSIONS};
pub use stream::BatchStream;

use crate::error::Result;
use crate::manifest::{Entry, Manifest};
use crate::names;
use crate::storage::{self, Storage};

pub struct Store {
    storage: Storage,
    /// hash -> value id of every stored value, for dedup; refreshed from new segments.
    index: Mutex<index::ValueIndex>,
    /// Decoded value segments, shared by reads of this store.
    cache: cache::SegmentCache,
}

impl Store {
    /// A store in the local folder `root`; nothing is created until the first write.
    pub fn open(root: impl Into<PathBuf>) -> Store {
        Store::on(Storage::Local(storage::Local::new(root)))
    }

    /// A store at a local folder or an `s3://bucket/prefix` URL (see `storage`).
    pub fn open_location(location: &str, options: &BTreeMap<String, String>) -> Result<Store> {
        Ok(Store::on(Storage::open(location, options)?))
    }

    pub fn on(storage: Storage) -> Store {
        Store {
            storage,
            index: Mutex::new(index::ValueIndex::default()),
            cache: cache::SegmentCache::default(),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// A path (or URL) naming a file of the store folder.
    pub fn data_path(&self, relative: &str) -> PathBuf {
        self.storage.location(relative)
    }

    /// `<root>/<step>/<op>.parquet`, the user-facing name of a local
    /// checkpoint's file; None on object stores, which keep no aliases.
    pub fn alias_path(&self, step: &str, op: &str) -> Option<PathBuf> {
        let root = self.storage.local_root()?;
        Some(
            root.join(&*names::file_component(step))
                .join(format!("{}.parquet", names::file_component(op))),
        )
    }

    /// Where a user finds the data of (step, op) stored in `file`: its alias,
    /// or its object's URL.
    pub fn user_path(&self, step: &str, op: &str, file: &str) -> PathBuf {
        self.alias_path(step, op)
            .unwrap_or_else(|| self.data_path(file))
    }

    pub fn manifest(&self) -> Result<Manifest> {
        self.storage.manifest()
    }

    /// Every entry, its meta whole (large values read from the files' footers).
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut entries = self.manifest()?.entries;
        for e in &mut entries {
            self.complete_meta(e)?;
        }
        Ok(entries)
    }

    pub fn entry(&self, step: &str, op: &str) -> Result<Option<Entry>> {
        self.entry_at(step, op, None)
    }

    /// The entry of version `version` (see `Manifest::find_version`).
    pub fn entry_at(&self, step: &str, op: &str, version: Option<i64>) -> Result<Option<Entry>> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        let mut entry = self.manifest()?.find_version(step, op, version)?.cloned();
        if let Some(e) = &mut entry {
            self.complete_meta(e)?;
        }
        Ok(entry)
    }

    /// Every kept version of (step, op), oldest first, as the manifest has
    /// them (meta values kept in the files are not read), and the live one
    /// among them, from one read of the manifest.
    pub fn versions(&self, step: &str, op: &str) -> Result<(Vec<Entry>, Option<Entry>)> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        let manifest = self.manifest()?;
        let versions = manifest.versions(step, op).into_iter().cloned().collect();
        Ok((versions, manifest.find(step, op).cloned()))
    }

    /// Pins (never dropped by a retention policy) or unpins version
    /// `version` of (step, op); false when there is no such version.
    pub fn set_pinned(&self, step: &str, op: &str, version: i64, pinned: bool) -> Result<bool> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        if !self.storage.exists()? {
            return Ok(false);
        }
        let _lock = self.storage.lock_writers()?;
        let (_, found) = self.commit_planned("pin", |manifest| {
            let Some(target) = manifest.find_version(step, op, Some(version))? else {
                return Ok(commit::Plan::Skip(false));
            };
            let (file, v) = (target.file.clone(), target.version);
            let e = manifest
                .entries
                .iter_mut()
                .chain(manifest.history.iter_mut())
                .find(|e| e.step == step && e.op == op && e.version == v && e.file == file)
                .ok_or_else(|| crate::error::Error::Internal("version vanished".into()))?;
            if e.pinned == pinned {
                return Ok(commit::Plan::Skip(true));
            }
            e.pinned = pinned;
            Ok(commit::Plan::Commit(Vec::new(), true))
        })?;
        Ok(found)
    }

    /// Puts back the meta values the manifest keeps in the checkpoint file.
    fn complete_meta(&self, entry: &mut Entry) -> Result<()> {
        if entry.meta_in_file.is_empty() {
            return Ok(());
        }
        let file = self
            .storage
            .open_parquet(&entry.file, entry.bytes)
            .map_err(crate::error::Error::missing_is_damage)?;
        let path = self.data_path(&entry.file);
        let layout = crate::checkpoint_file::file_meta(&path, file.schema().as_ref())?;
        let meta = layout.origin.map(|o| o.meta).unwrap_or_default();
        for key in std::mem::take(&mut entry.meta_in_file) {
            let value = meta.get(&key).ok_or_else(|| {
                crate::error::Error::corrupt(&path, format!("meta {key:?} is not in the file"))
            })?;
            entry.meta.insert(key, value.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod object_tests;
#[cfg(test)]
mod rare_store_tests;
#[cfg(test)]
mod recover_tests;
#[cfg(test)]
mod tests;
