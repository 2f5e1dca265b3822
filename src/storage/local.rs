//! A store in a local folder: fsynced files, the manifest replaced by
//! rename, writers serialized by an flock.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use super::Listed;
use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, WriterLock};
use crate::manifest::{self, file_size, Manifest};
use crate::names::STORE_DIR;

pub struct Local {
    root: PathBuf,
    dir: PathBuf,
}

impl Local {
    pub fn new(root: impl Into<PathBuf>) -> Local {
        let root = root.into();
        let dir = root.join(STORE_DIR);
        Local { root, dir }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        match fs::read(&path) {
            Ok(bytes) => Manifest::parse(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.no_manifest(&path),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// A folder without a manifest: a new store, the other protocol's, or damage.
    fn no_manifest(&self, path: &Path) -> Result<Manifest> {
        if !self.foreign_manifests()?.is_empty() {
            return Err(Error::InvalidValue(format!(
                "{} holds a store committed through a file:// URL: open it as \
                 \"file://{}\" (one folder holds one store)",
                self.dir.display(),
                self.root
                    .canonicalize()
                    .unwrap_or(self.root.clone())
                    .display()
            )));
        }
        let data = self.data_files()?;
        if data == 0 {
            return Ok(Manifest::default());
        }
        // data files appear only after a store's first manifest (see `lock`):
        // one there now is a first commit that raced this read, not damage
        match fs::read(path) {
            Ok(bytes) => Manifest::parse(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(manifest::missing(
                path,
                data,
                &self.root.display().to_string(),
            )),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Manifests the object-store protocol (a `file://` URL of this folder)
    /// committed here: an earlier release let one folder hold both stores.
    pub fn foreign_manifests(&self) -> Result<Vec<Manifest>> {
        let dir = self.dir.join("manifests");
        let Ok(listing) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in listing {
            let path = item.at("list", &dir)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).at("read", &path)?;
                out.push(Manifest::parse(&path, &bytes)?);
            }
        }
        Ok(out)
    }

    /// Bytes of the store folder and of the files in the step folders beside
    /// it, each inode once (aliases are hardlinks of data files).
    pub fn footprint(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let mut seen = std::collections::HashSet::new();
        let mut total = 0u64;
        let mut pending = vec![(self.dir.clone(), true)];
        if let Ok(listing) = fs::read_dir(&self.root) {
            for item in listing.flatten() {
                if item.file_name() != STORE_DIR && item.path().is_dir() {
                    pending.push((item.path(), false));
                }
            }
        }
        while let Some((dir, deep)) = pending.pop() {
            let Ok(listing) = fs::read_dir(&dir) else {
                continue;
            };
            for item in listing.flatten() {
                let Ok(meta) = item.metadata() else { continue };
                if meta.is_dir() {
                    if deep {
                        pending.push((item.path(), true));
                    }
                } else if seen.insert((meta.dev(), meta.ino())) {
                    total += meta.len();
                }
            }
        }
        Ok(total)
    }

    /// How many data files (checkpoint files and value segments) the folder holds.
    pub fn data_files(&self) -> Result<usize> {
        let mut n = 0;
        for folder in ["files", "values"] {
            n += self
                .list(folder)?
                .iter()
                .filter(|f| f.name.ends_with(".parquet"))
                .count();
        }
        Ok(n)
    }

    pub fn manifest_bytes(&self) -> Result<u64> {
        file_size(&self.manifest_path())
    }

    /// Takes the writer lock, creating the store's folders on first use.
    /// A new store gets an empty manifest before any data file: from then on
    /// data files without a manifest can only mean it was lost.
    pub fn lock(&self) -> Result<WriterLock> {
        fsio::create_dir_synced(&self.dir.join("files"))?;
        fsio::create_dir_synced(&self.dir.join("values"))?;
        let lock = WriterLock::acquire(&self.dir.join("lock"))?;
        let path = self.manifest_path();
        // (with data files and no manifest, the manifest was lost: the next
        // manifest read says so, and only `recover` writes one)
        if !path.exists() && self.data_files()? == 0 {
            let tmp = fsio::temp_path(&path);
            let text = Manifest::default().text()?;
            fsio::write_durably(&[(tmp.as_path(), text.as_bytes())])?;
            fs::rename(&tmp, &path).at("rename", &path)?;
            fsio::sync_dir(&self.dir)?;
        }
        Ok(lock)
    }

    /// Writes the files and the next manifest, all fsynced at once, then makes
    /// the manifest live by rename. Before the rename nothing is visible.
    pub fn commit(&self, manifest: &mut Manifest, files: &[(String, Bytes)]) -> Result<()> {
        let path = self.manifest_path();
        let text = manifest.next_text()?;
        let tmp = fsio::temp_path(&path);
        let paths: Vec<PathBuf> = files.iter().map(|(name, _)| self.path(name)).collect();
        let mut writes: Vec<(&Path, &[u8])> = paths
            .iter()
            .zip(files)
            .map(|(p, (_, b))| (p.as_path(), b.as_ref()))
            .collect();
        writes.push((&tmp, text.as_bytes()));
        // data files, their folders and the next manifest are durable before the
        // rename makes them visible; the folder fsync after it makes that durable
        let result =
            fsio::write_durably(&writes).and_then(|_| fs::rename(&tmp, &path).at("rename", &path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        fsio::sync_dir(&self.dir)
    }

    pub fn read(&self, name: &str) -> Result<Bytes> {
        let path = self.path(name);
        fs::read(&path).at("read", &path).map(Bytes::from)
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        fsio::remove_if_exists(&self.path(name))
    }

    pub fn list(&self, folder: &str) -> Result<Vec<Listed>> {
        let dir = self.dir.join(folder);
        let Ok(listing) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in listing {
            let item = item.at("list", &dir)?;
            let meta = item.metadata().ok();
            let age = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            out.push(Listed {
                name: format!("{folder}/{}", item.file_name().to_string_lossy()),
                size: meta.map(|m| m.len()).unwrap_or(0),
                age,
            });
        }
        Ok(out)
    }
}
