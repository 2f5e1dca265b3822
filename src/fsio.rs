//! Durable file operations: fsynced writes, atomic replace, the writer lock.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

/// Marker in the names of files being written; gc removes leftovers with it.
pub const TEMP_MARK: &str = ".tmp-";

/// A name no other writer (thread, process) will pick: pid, time, counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&nanos.to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(format!("{:?}", std::thread::current().id()).as_bytes());
    h.finalize().to_hex()[..16].to_string()
}

pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Creates `path` (it must not exist) holding `bytes`, not yet fsynced.
fn create_written(path: &Path, bytes: &[u8]) -> Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .at("create", path)?;
    file.write_all(bytes).at("write", path)?;
    Ok(file)
}

/// Creates several new files, then fsyncs them and the folders holding their
/// names in one parallel round: the device overlaps the flushes, and a commit
/// waits for one round instead of one per file and folder.
pub fn write_durably(files: &[(&Path, &[u8])]) -> Result<()> {
    let handles = files
        .iter()
        .map(|&(path, bytes)| Ok((path, create_written(path, bytes)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut dirs: Vec<&Path> = files.iter().map(|&(p, _)| parent(p)).collect();
    dirs.sort();
    dirs.dedup();
    let mut jobs: Vec<Box<dyn FnOnce() -> Result<()> + Send + '_>> = Vec::new();
    for (path, file) in &handles {
        jobs.push(Box::new(move || file.sync_all().at("fsync", path)));
    }
    for dir in dirs {
        jobs.push(Box::new(move || sync_dir(dir)));
    }
    parallel(jobs)
}

fn parallel<F: FnOnce() -> Result<()> + Send>(jobs: Vec<F>) -> Result<()> {
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs.into_iter().map(|job| s.spawn(job)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(crate::error::Error::Internal(
                        "an IO thread panicked".into(),
                    ))
                })
            })
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    })
}

/// Points `link` at `target`'s inode (hardlink), replacing what `link` was.
pub fn link_replace(target: &Path, link: &Path) -> Result<()> {
    if same_file(target, link) {
        // rename() of two names of one inode does nothing and would leave the
        // temporary name behind, holding the bytes until gc
        return Ok(());
    }
    let tmp = temp_path(link);
    if fs::hard_link(target, &tmp).is_err() {
        // filesystems without hardlinks get a copy: same bytes, more space
        fs::copy(target, &tmp).at("copy", &tmp)?;
    }
    let result = fs::rename(&tmp, link).at("rename", link);
    // gone after a rename that took; still there when it failed, or when a
    // concurrent save linked the same file first (a no-op rename)
    let _ = fs::remove_file(&tmp);
    result
}

/// True when both names are one file (same device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.ino() == y.ino() && x.dev() == y.dev(),
        _ => false,
    }
}

pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent(path).join(format!(".{name}{TEMP_MARK}{}", unique_suffix()))
}

/// The folder holding `path`; "." for a bare relative name.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes directory entries (new files, renames) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).at("open", dir)?.sync_all().at("fsync", dir)
}

/// Creates `dir` (and parents), fsyncing each new level's parent.
pub fn create_dir_synced(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        if !p.as_os_str().is_empty() {
            create_dir_synced(p)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::error::Error::io("create folder", dir, e)),
    }
}

/// The advisory lock serializing writers of one store (threads and processes).
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(path: &Path) -> Result<WriterLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at("open lock", path)?;
        file.lock().at("lock", path)?;
        Ok(WriterLock { _file: file })
    }
}

/// Removes a file; a file already gone is fine.
pub fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(crate::error::Error::io("remove", path, e)),
    }
}
