//! A store on an object store (S3 and compatibles), many writers, no lock server.
//!
//! Data objects are immutable and uniquely named. Generation g of the manifest
//! is the object `manifests/<g, 20 digits>.json`, created with a conditional
//! PUT (`If-None-Match: *`): of two writers that read generation g, exactly
//! one creates g+1; the other gets a conflict, re-reads and re-plans its save
//! on top of the winner's, so both commits land and neither is lost.
//! Readers take the greatest generation a listing shows.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::join_all;
use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::file::metadata::ParquetMetaData;

use super::fetched::Fetched;
use super::runtime::block_on;
use super::{options, Commit, Listed};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::names::STORE_DIR;
use crate::parquet_io::{self, ReadPlan};

const MANIFESTS: &str = "manifests";
/// The manifest of a store committed through a folder path (`storage/local.rs`).
const LOCAL_MANIFEST: &str = "/manifest.json";
/// Footer bytes fetched on open: most footers fit, so one request reads it.
const FOOTER_GUESS: u64 = 64 << 10;

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix/.docetl_checkpoint`, for messages.
    url: String,
    dir: Key,
    grace: Duration,
    latest: Mutex<Option<Latest>>,
    counters: Counters,
}

/// The newest manifest this process has seen; a listing past it finds newer ones.
#[derive(Clone)]
struct Latest {
    manifest: Manifest,
    bytes: u64,
    /// The object's ETag when known: a generation deleted and written again
    /// (by a writer that saw the one before) is another object.
    tag: Option<String>,
}

/// Requests and bytes of one store's object-store traffic.
#[derive(Debug, Default, Clone, Copy)]
pub struct IoCounters {
    pub gets: u64,
    pub puts: u64,
    pub lists: u64,
    pub deletes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

#[derive(Default)]
struct Counters {
    gets: AtomicU64,
    puts: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Remote {
    pub fn open(location: &str, opts: &BTreeMap<String, String>) -> Result<Remote> {
        if location.starts_with("file://") {
            let parsed = options::parse_file(location, opts)?;
            let folder = &parsed.folder;
            // rooted at the nearest folder that exists, the rest a key prefix:
            // reading a store that is not there creates nothing (the first
            // write makes its folders)
            let base = folder
                .ancestors()
                .find(|a| a.is_dir())
                .unwrap_or(std::path::Path::new("/"));
            let rest = folder
                .strip_prefix(base)
                .unwrap_or(std::path::Path::new(""));
            let prefix = rest
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let store = object_store::local::LocalFileSystem::new_with_prefix(base)
                .map_err(|e| Error::InvalidValue(format!("cannot open {location:?}: {e}")))?
                .with_fsync(true);
            let root = format!("file://{}", folder.display())
                .trim_end_matches('/')
                .to_string();
            return Remote::with_store(Arc::new(store), &root, &prefix, parsed.grace);
        }
        let parsed = options::parse(location, opts)?;
        // rustls needs a process-wide crypto provider for HTTPS; an error means
        // one (ours, or the embedding program's) is installed already
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = parsed.builder.build().map_err(|e| {
            Error::InvalidValue(format!("cannot open object store {location:?}: {e}"))
        })?;
        let root = match parsed.prefix.as_str() {
            "" => format!("s3://{}", parsed.bucket),
            p => format!("s3://{}/{p}", parsed.bucket),
        };
        Remote::with_store(Arc::new(store), &root, &parsed.prefix, parsed.grace)
    }

    /// Over any object store (tests use object_store's in-memory one).
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        root_url: &str,
        prefix: &str,
        grace: Duration,
    ) -> Result<Remote> {
        let prefix = Key::parse(prefix).map_err(|e| {
            Error::InvalidValue(format!("invalid object key prefix {prefix:?}: {e}"))
        })?;
        Ok(Remote {
            store,
            url: format!("{root_url}/{STORE_DIR}"),
            dir: prefix.join(STORE_DIR),
            grace,
            latest: Mutex::new(None),
            counters: Counters::default(),
        })
    }

    /// The store's URL as the user gave it (without the store folder).
    pub fn root_url(&self) -> String {
        self.url
            .strip_suffix(&format!("/{STORE_DIR}"))
            .unwrap_or(&self.url)
            .to_string()
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    fn key(&self, name: &str) -> Key {
        name.split('/')
            .fold(self.dir.clone(), |key, part| key.join(part))
    }

    fn fail(&self, op: &'static str, name: &str, e: object_store::Error) -> Error {
        use std::io::ErrorKind;
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            object_store::Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        };
        Error::io(op, Path::new(&self.url(name)), std::io::Error::new(kind, e))
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub fn counters(&self) -> IoCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IoCounters {
            gets: get(&c.gets),
            puts: get(&c.puts),
            lists: get(&c.lists),
            deletes: get(&c.deletes),
            bytes_read: get(&c.bytes_read),
            bytes_written: get(&c.bytes_written),
        }
    }

    // -- requests, counted --------------------------------------------------

    fn get(&self, name: &str) -> Result<Bytes> {
        bump(&self.counters.gets, 1);
        let key = self.key(name);
        let bytes = block_on(async { self.store.get(&key).await?.bytes().await })
            .map_err(|e| self.fail("read", name, e))?;
        bump(&self.counters.bytes_read, bytes.len() as u64);
        Ok(bytes)
    }

    fn get_range(&self, name: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        bump(&self.counters.gets, 1);
        let bytes = block_on(self.store.get_range(&self.key(name), range))
            .map_err(|e| self.fail("read range of", name, e))?;
        bump(&self.counters.bytes_read, bytes.len() as u64);
        Ok(bytes)
    }

    fn get_ranges(&self, name: &str, ranges: &[std::ops::Range<u64>]) -> Result<Vec<Bytes>> {
        let key = self.key(name);
        bump(&self.counters.gets, requests_for(ranges));
        let chunks = block_on(self.store.get_ranges(&key, ranges))
            .map_err(|e| self.fail("read range of", name, e))?;
        bump(
            &self.counters.bytes_read,
            chunks.iter().map(|c| c.len() as u64).sum(),
        );
        Ok(chunks)
    }

    /// Creates `name`; `Ok(false)` when it already exists.
    async fn create(&self, name: &str, bytes: Bytes) -> Result<bool> {
        Ok(self.create_tagged(name, bytes).await?.is_some())
    }

    /// Creates `name`: Some(its ETag, when the server gives one), or None
    /// when it already exists.
    async fn create_tagged(&self, name: &str, bytes: Bytes) -> Result<Option<Option<String>>> {
        bump(&self.counters.puts, 1);
        bump(&self.counters.bytes_written, bytes.len() as u64);
        let key = self.key(name);
        let payload = PutPayload::from(bytes);
        match self
            .store
            .put_opts(&key, payload, PutMode::Create.into())
            .await
        {
            Ok(put) => Ok(Some(put.e_tag)),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(None),
            Err(e) => Err(self.fail("write", name, e)),
        }
    }

    /// A data object's unique name is taken: another writer's object, never replaced.
    fn taken(&self, name: &str) -> Error {
        Error::CommitConflict(format!("{} already exists", self.url(name)))
    }

    fn delete(&self, name: &str) -> Result<()> {
        bump(&self.counters.deletes, 1);
        match block_on(self.store.delete(&self.key(name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail("remove", name, e)),
        }
    }

    fn list_metas(&self, folder: &str, after: Option<&str>) -> Result<Vec<ObjectMeta>> {
        bump(&self.counters.lists, 1);
        let prefix = match folder {
            "" => self.dir.clone(),
            _ => self.key(folder),
        };
        let stream = match after {
            Some(name) => self.store.list_with_offset(Some(&prefix), &self.key(name)),
            None => self.store.list(Some(&prefix)),
        };
        block_on(stream.try_collect()).map_err(|e| self.fail("list", folder, e))
    }

    // -- the manifest -------------------------------------------------------

    fn generation_name(generation: u64) -> String {
        format!("{MANIFESTS}/{generation:020}.json")
    }

    /// The generation a manifest object's name (or key) holds.
    fn generation_of(name: &str) -> Option<u64> {
        name.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
    }

    pub fn exists(&self) -> Result<bool> {
        Ok(self.manifest()?.generation > 0)
    }

    /// The newest generation: a listing past the last one seen, then one GET
    /// of the newest it shows (none when nothing changed).
    pub fn manifest(&self) -> Result<Manifest> {
        for _ in 0..5 {
            let known = self
                .latest
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            // the listing starts at the known generation itself: it must
            // still be the object this process read (a generation deleted
            // and written again by another writer is not)
            let after = known
                .as_ref()
                .and_then(|l| l.manifest.generation.checked_sub(1))
                .map(Self::generation_name);
            let listed = self.list_metas(MANIFESTS, after.as_deref())?;
            let newest = listed
                .iter()
                .filter_map(|meta| Some((Self::generation_of(meta.location.as_ref())?, meta)))
                .max_by_key(|(g, _)| *g);
            let Some((generation, meta)) = newest else {
                match known {
                    // the generation this process knew was deleted and none
                    // is newer: the store was rolled back; read it afresh
                    Some(_) => {
                        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        continue;
                    }
                    // Some(()): a first commit raced the listing, list again
                    None => match self.no_manifest()? {
                        Some(()) => continue,
                        None => return Ok(Manifest::default()),
                    },
                }
            };
            if let Some(l) = &known {
                let same = match (&l.tag, &meta.e_tag) {
                    (Some(a), Some(b)) => a == b,
                    _ => meta.size == l.bytes,
                };
                if generation == l.manifest.generation && same {
                    return Ok(l.manifest.clone());
                }
            }
            let tag = meta.e_tag.clone();
            let name = Self::generation_name(generation);
            match self.get(&name) {
                Ok(bytes) => {
                    let manifest = Manifest::parse(Path::new(&self.url(&name)), &bytes)?;
                    if manifest.generation != generation {
                        return Err(Error::corrupt(
                            Path::new(&self.url(&name)),
                            "manifest generation does not match its name",
                        ));
                    }
                    self.remember(&manifest, bytes.len() as u64, tag);
                    return Ok(manifest);
                }
                // pruned after the listing: a newer generation exists, list again
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::CommitConflict(format!(
            "the manifest of {} kept changing while being read",
            self.url
        )))
    }

    /// A store with no manifest generation: new, or its manifests were lost.
    /// Every store's first commit creates generation 0 before any data object
    /// (see `commit`), so data objects here mean the manifests were deleted.
    /// None for a new, empty store; Some(()) when a generation exists now.
    fn no_manifest(&self) -> Result<Option<()>> {
        let listed = self.list_metas("", None)?;
        if listed
            .iter()
            .any(|m| m.location.as_ref().ends_with(LOCAL_MANIFEST))
        {
            return Err(Error::InvalidValue(format!(
                "{} holds a store committed through a plain folder path: open it as \
                 that path, not as a URL (one folder holds one store)",
                self.url
            )));
        }
        let data = listed
            .iter()
            .filter(|m| m.location.as_ref().ends_with(".parquet"))
            .count();
        if data == 0 {
            return Ok(None);
        }
        // generation 0 is made before any data object: a first commit that
        // raced the listing shows it now
        if !self.list_metas(MANIFESTS, None)?.is_empty() {
            return Ok(Some(()));
        }
        Err(crate::manifest::missing(
            Path::new(&self.url(MANIFESTS)),
            data,
            &self.root_url(),
        ))
    }

    /// Keeps `manifest` as the newest known, unless a newer one is known;
    /// the same generation replaces it (it was deleted and written again).
    fn remember(&self, manifest: &Manifest, bytes: u64, tag: Option<String>) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest
            .as_ref()
            .is_none_or(|l| l.manifest.generation <= manifest.generation)
        {
            *latest = Some(Latest {
                manifest: manifest.clone(),
                bytes,
                tag,
            });
        }
    }

    pub fn manifest_bytes(&self) -> u64 {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.as_ref().map(|l| l.bytes).unwrap_or(0)
    }

    /// Uploads the data objects, then creates the next manifest generation.
    pub fn commit(&self, manifest: &mut Manifest, files: &[(String, Bytes)]) -> Result<Commit> {
        if manifest.generation == 0 {
            // generation 0, empty, before the first data object (taken: fine)
            let empty = Bytes::from(Manifest::default().text()?);
            block_on(self.create(&Self::generation_name(0), empty))?;
        }
        let text = Bytes::from(manifest.next_text()?);
        let started = Instant::now();
        let uploads = files
            .iter()
            .map(|(name, bytes)| async move { (name, self.create(name, bytes.clone()).await) });
        for (name, created) in block_on(join_all(uploads)) {
            if !created? {
                return Err(self.taken(name));
            }
        }
        let uploaded = || files.iter().map(|(name, _)| name.as_str());
        // (a zero grace period is a promise that no commit is in flight)
        if !files.is_empty() && !self.grace.is_zero() && started.elapsed() > self.grace / 2 {
            // gc may judge objects this old unreferenced: upload afresh
            self.discard(uploaded());
            return Ok(Commit::Conflict);
        }
        let name = Self::generation_name(manifest.generation);
        if let Some(tag) = block_on(self.create_tagged(&name, text.clone()))? {
            self.remember(manifest, text.len() as u64, tag);
            return Ok(Commit::Done);
        }
        // Taken: by another writer, or by this one when a retried PUT had in
        // fact landed. Only the bytes tell, and ours are unique (new names).
        if self.get(&name).ok().as_ref() == Some(&text) {
            self.remember(manifest, text.len() as u64, None);
            return Ok(Commit::Done);
        }
        self.discard(uploaded());
        Ok(Commit::Conflict)
    }

    /// Removes objects of a commit that lost; gc's sweep catches any left.
    fn discard<'a>(&self, names: impl Iterator<Item = &'a str>) {
        for name in names {
            let _ = self.delete(name);
        }
    }

    /// The folder-path protocol's manifest, when an earlier release let this
    /// folder hold such a store beside ours.
    pub fn foreign_manifests(&self) -> Result<Vec<Manifest>> {
        match self.get("manifest.json") {
            Ok(bytes) => Ok(vec![Manifest::parse(
                Path::new(&self.url("manifest.json")),
                &bytes,
            )?]),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    pub fn highest_generation(&self) -> Result<u64> {
        Ok(self
            .list_metas(MANIFESTS, None)?
            .iter()
            .filter_map(|m| Self::generation_of(m.location.as_ref()))
            .max()
            .unwrap_or(0))
    }

    /// Removes manifest generations older than the newest and than the grace
    /// period (a reader may still be fetching a recent one).
    pub fn prune_manifests(&self) -> Result<Vec<Listed>> {
        let listed = self.list(MANIFESTS)?;
        let generation = |file: &Listed| Self::generation_of(&file.name);
        let Some(newest) = listed.iter().filter_map(generation).max() else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        for file in listed {
            if generation(&file).is_some_and(|g| g < newest) && file.age >= self.grace {
                self.delete(&file.name)?;
                removed.push(file);
            }
        }
        Ok(removed)
    }

    // -- data objects -------------------------------------------------------

    pub fn read(&self, name: &str) -> Result<Bytes> {
        self.get(name)
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        self.delete(name).map(|_| true)
    }

    pub fn list(&self, folder: &str) -> Result<Vec<Listed>> {
        let base = self.dir.as_ref().len() + 1;
        Ok(self
            .list_metas(folder, None)?
            .iter()
            .map(|meta| Listed {
                name: meta.location.as_ref()[base..].to_string(),
                size: meta.size,
                age: age(meta),
            })
            .collect())
    }

    /// Fetches a Parquet file's footer: one ranged GET for most files.
    pub fn open_parquet(&self, name: &str, len: u64) -> Result<(RemoteFile, ArrowReaderMetadata)> {
        let path = self.url(name);
        let path = Path::new(&path);
        if len < 12 {
            return Err(Error::corrupt(path, "too short to be a Parquet file"));
        }
        let guess = len.min(FOOTER_GUESS);
        let mut footer = (len - guess, self.get_range(name, len - guess..len)?);
        let tail = &footer.1[footer.1.len() - 8..];
        if &tail[4..] != b"PAR1" {
            return Err(Error::corrupt(path, "no Parquet footer"));
        }
        let needed = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64 + 8;
        if needed > len {
            return Err(Error::corrupt(path, "Parquet footer longer than the file"));
        }
        if needed > guess {
            footer = (len - needed, self.get_range(name, len - needed..len)?);
        }
        let meta = parquet_io::metadata_of(path, &Fetched::new(len, vec![footer.clone()]))?;
        let file = RemoteFile {
            name: name.to_string(),
            len,
            footer,
        };
        Ok((file, meta))
    }
}

/// Requests object_store sends for `ranges`: it merges ranges closer than
/// its coalesce distance into one GET.
fn requests_for(ranges: &[std::ops::Range<u64>]) -> u64 {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut requests = 0;
    let mut end: Option<u64> = None;
    for r in sorted {
        match end {
            Some(e) if r.start <= e.saturating_add(object_store::OBJECT_STORE_COALESCE_DEFAULT) => {
                end = Some(e.max(r.end));
            }
            _ => {
                requests += 1;
                end = Some(r.end);
            }
        }
    }
    requests
}

/// Time since an object was written, by the server's clock against ours.
fn age(meta: &ObjectMeta) -> Duration {
    let written =
        UNIX_EPOCH + Duration::from_millis(meta.last_modified.timestamp_millis().max(0) as u64);
    SystemTime::now()
        .duration_since(written)
        .unwrap_or_default()
}

/// A remote Parquet file whose footer is fetched.
pub struct RemoteFile {
    name: String,
    len: u64,
    footer: (u64, Bytes),
}

impl RemoteFile {
    /// Fetches the column chunks `plan` decodes, in one coalesced round.
    pub fn fetch_for(
        self,
        remote: &Remote,
        path: &Path,
        meta: &ParquetMetaData,
        plan: &ReadPlan,
    ) -> Result<Fetched> {
        let roots: Option<HashSet<usize>> =
            plan.columns.as_ref().map(|c| c.iter().copied().collect());
        let groups: Vec<usize> = match &plan.row_groups {
            Some(g) => g.clone(),
            None => (0..meta.num_row_groups()).collect(),
        };
        let schema = meta.file_metadata().schema_descr();
        let mut ranges = Vec::new();
        for &g in &groups {
            let group = meta
                .row_groups()
                .get(g)
                .ok_or_else(|| Error::corrupt(path, format!("no row group {g}")))?;
            for (c, column) in group.columns().iter().enumerate() {
                if roots
                    .as_ref()
                    .is_some_and(|r| !r.contains(&schema.get_column_root_idx(c)))
                {
                    continue;
                }
                let (start, len) = column.byte_range();
                let end = start.saturating_add(len);
                if start >= self.footer.0 || end > self.len {
                    // inside the fetched footer, or a range the file cannot hold
                    if end > self.len {
                        return Err(Error::corrupt(
                            path,
                            "column chunk past the end of the file",
                        ));
                    }
                    continue;
                }
                ranges.push(start..end);
            }
        }
        let mut chunks = vec![self.footer];
        if !ranges.is_empty() {
            let fetched = remote.get_ranges(&self.name, &ranges)?;
            chunks.extend(ranges.iter().map(|r| r.start).zip(fetched));
        }
        Ok(Fetched::new(self.len, chunks))
    }
}
