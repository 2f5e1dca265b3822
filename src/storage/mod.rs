//! Where a store's files live: a local folder, or an object store (S3, or a
//! `file://` folder through object_store's local backend).
//!
//! Both keep the same layout under `.docetl_checkpoint/`: immutable data
//! files with unique names, and one commit point for the manifest. A local
//! folder commits by rename under an flock; an object store commits by
//! creating the next generation's manifest object with a conditional PUT,
//! so writers on many machines need no lock server (see `object.rs`).

mod fetched;
mod local;
mod object;
mod options;
mod runtime;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;

pub use self::local::Local;
pub use self::object::IoCounters;
pub use self::object::Remote;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::parquet_io::{self, ReadPlan};

/// The backend of one store.
pub enum Storage {
    Local(local::Local),
    Object(Box<object::Remote>),
}

/// A file of the store, as a listing shows it.
pub struct Listed {
    /// Name relative to the store folder (`values/...`).
    pub name: String,
    pub size: u64,
    /// Time since it was last written (zero when unknown).
    pub age: Duration,
}

/// How a commit ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Commit {
    Done,
    /// Another writer committed first: re-read the manifest and try again.
    Conflict,
}

/// Holds other writers off until dropped (local folders; object stores use
/// conditional commits instead).
pub enum WriterGuard {
    Local(crate::fsio::WriterLock),
    None,
}

impl Storage {
    /// A local folder path, an `s3://bucket/prefix` URL with options
    /// (object_store's S3 keys, plus `gc_grace_seconds`), or a `file:///folder`
    /// URL: the object-store protocol on a (possibly shared) folder.
    pub fn open(location: &str, options: &BTreeMap<String, String>) -> Result<Storage> {
        if options::is_url(location) {
            return Ok(Storage::Object(Box::new(object::Remote::open(
                location, options,
            )?)));
        }
        if !options.is_empty() {
            return Err(Error::InvalidValue(format!(
                "storage options are for s3:// and file:// locations; {location:?} is a local folder"
            )));
        }
        Ok(Storage::Local(local::Local::new(location)))
    }

    /// The local folder, when the store is one.
    pub fn local_root(&self) -> Option<&Path> {
        match self {
            Storage::Local(l) => Some(l.root()),
            Storage::Object(_) => None,
        }
    }

    /// A path (or URL) naming `name` (relative to the store folder) in messages.
    pub fn location(&self, name: &str) -> PathBuf {
        match self {
            Storage::Local(l) => l.path(name),
            Storage::Object(o) => PathBuf::from(o.url(name)),
        }
    }

    /// True once anything was committed here.
    pub fn exists(&self) -> Result<bool> {
        match self {
            Storage::Local(l) => Ok(l.exists()),
            Storage::Object(o) => o.exists(),
        }
    }

    /// The latest committed manifest; an empty one before the first commit.
    pub fn manifest(&self) -> Result<Manifest> {
        match self {
            Storage::Local(l) => l.manifest(),
            Storage::Object(o) => o.manifest(),
        }
    }

    /// Bytes of the manifest (stats).
    pub fn manifest_bytes(&self) -> Result<u64> {
        match self {
            Storage::Local(l) => l.manifest_bytes(),
            Storage::Object(o) => Ok(o.manifest_bytes()),
        }
    }

    pub fn lock_writers(&self) -> Result<WriterGuard> {
        match self {
            Storage::Local(l) => l.lock().map(WriterGuard::Local),
            Storage::Object(_) => Ok(WriterGuard::None),
        }
    }

    /// Writes `files` (new, uniquely named) and `manifest` as the next generation.
    pub fn commit(&self, manifest: &mut Manifest, files: &[(String, Bytes)]) -> Result<Commit> {
        match self {
            Storage::Local(l) => l.commit(manifest, files).map(|_| Commit::Done),
            Storage::Object(o) => o.commit(manifest, files),
        }
    }

    pub fn read(&self, name: &str) -> Result<Bytes> {
        match self {
            Storage::Local(l) => l.read(name),
            Storage::Object(o) => o.read(name),
        }
    }

    /// The whole file, checked against the blake3 checksum recorded at commit.
    pub fn read_verified(&self, name: &str, checksum: &str, what: &str) -> Result<Bytes> {
        let bytes = self.read(name)?;
        if blake3::hash(&bytes).to_hex().as_str() != checksum {
            return Err(Error::corrupt(
                &self.location(name),
                format!("{what} does not match its checksum"),
            ));
        }
        Ok(bytes)
    }

    /// A Parquet file opened for partial reads: its footer only, so far.
    /// `size` is the one the manifest records (object stores fetch the tail).
    pub fn open_parquet(&self, name: &str, size: u64) -> Result<Opened<'_>> {
        let path = self.location(name);
        match self {
            Storage::Local(l) => {
                let (file, meta) = parquet_io::open_metadata(&l.path(name))?;
                Ok(Opened {
                    path,
                    meta,
                    source: Source::File(file),
                })
            }
            Storage::Object(o) => {
                let (remote, meta) = o.open_parquet(name, size)?;
                Ok(Opened {
                    path,
                    meta,
                    source: Source::Remote(o, remote),
                })
            }
        }
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        match self {
            Storage::Local(l) => l.remove(name),
            Storage::Object(o) => o.remove(name),
        }
    }

    /// Files under `folder` (`files` or `values`).
    pub fn list(&self, folder: &str) -> Result<Vec<Listed>> {
        match self {
            Storage::Local(l) => l.list(folder),
            Storage::Object(o) => o.list(folder),
        }
    }

    /// How long an unreferenced file must have existed before gc removes it:
    /// zero locally (writers are locked out), the grace period on object stores.
    pub fn gc_grace(&self) -> Duration {
        match self {
            Storage::Local(_) => Duration::ZERO,
            Storage::Object(o) => o.grace(),
        }
    }

    /// Removes old manifest generations (object stores keep one object per generation).
    pub fn prune_manifests(&self) -> Result<Vec<Listed>> {
        match self {
            Storage::Local(_) => Ok(Vec::new()),
            Storage::Object(o) => o.prune_manifests(),
        }
    }

    /// Manifests of the other protocol in the same folder (a store a path and
    /// a `file://` URL both wrote before 0.2): gc keeps what they name.
    pub fn foreign_manifests(&self) -> Result<Vec<Manifest>> {
        match self {
            Storage::Local(l) => l.foreign_manifests(),
            Storage::Object(o) => o.foreign_manifests(),
        }
    }

    /// Bytes the store takes on a local disk, each inode counted once (its
    /// folder, and the `<step>/<op>.parquet` links); None on object stores.
    pub fn footprint(&self) -> Result<Option<u64>> {
        match self {
            Storage::Local(l) => l.footprint().map(Some),
            Storage::Object(_) => Ok(None),
        }
    }

    /// The highest manifest generation stored, readable or not (0 locally,
    /// where one file holds the manifest).
    pub fn highest_generation(&self) -> Result<u64> {
        match self {
            Storage::Local(_) => Ok(0),
            Storage::Object(o) => o.highest_generation(),
        }
    }

    /// Requests and bytes sent to the object store so far (zeros locally).
    pub fn io_counters(&self) -> IoCounters {
        match self {
            Storage::Local(_) => IoCounters::default(),
            Storage::Object(o) => o.counters(),
        }
    }
}

/// A Parquet file whose footer is read; `decode` reads what a plan needs.
pub struct Opened<'a> {
    pub path: PathBuf,
    pub meta: ArrowReaderMetadata,
    source: Source<'a>,
}

enum Source<'a> {
    File(std::fs::File),
    Remote(&'a object::Remote, object::RemoteFile),
}

impl Opened<'_> {
    pub fn schema(&self) -> &SchemaRef {
        self.meta.schema()
    }

    /// Decodes the planned row groups and columns: an object store fetches only
    /// their byte ranges, in one coalesced round of range requests.
    pub fn decode(self, plan: ReadPlan) -> Result<RecordBatch> {
        match self.source {
            Source::File(file) => parquet_io::decode(&self.path, file, Some(self.meta), plan),
            Source::Remote(store, file) => {
                let fetched = file.fetch_for(store, &self.path, self.meta.metadata(), &plan)?;
                parquet_io::decode(&self.path, fetched, Some(self.meta), plan)
            }
        }
    }
}
