//! A store in a local folder: fsynced files, the manifest replaced by
//! rename, writers serialized by an flock.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use super::Listed;
use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, WriterLock};
use crate::manifest::{file_size, Manifest};
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    pub fn manifest_bytes(&self) -> Result<u64> {
        file_size(&self.manifest_path())
    }

    /// Takes the writer lock, creating the store's folders on first use.
    pub fn lock(&self) -> Result<WriterLock> {
        fsio::create_dir_synced(&self.dir.join("files"))?;
        fsio::create_dir_synced(&self.dir.join("values"))?;
        WriterLock::acquire(&self.dir.join("lock"))
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
