//! One error type for the core; the binding layer maps it to Python exceptions.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a named file (open, write, fsync, rename...).
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A store file that is damaged, truncated, missing, or fails its checksum.
    #[error("corrupt checkpoint store file {}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A step, operation or batch name that cannot be a checkpoint name.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    /// Bad input: a value the canonical encoding cannot carry (the binding
    /// adds the record path), an option, a column that is not there.
    #[error("{0}")]
    InvalidValue(String),
    /// Two checkpoints whose files would share one path.
    #[error("{0}")]
    NameClash(String),
    /// Canonical bytes read from the store that do not decode: damage.
    #[error("malformed canonical value read from the store: {0}")]
    Malformed(String),
    /// A commit lost to concurrent writers too many times, or the manifest
    /// kept changing under a reader: retryable.
    #[error("{0}")]
    CommitConflict(String),
    /// A failure of the store itself (an encoder, a worker thread, a panic).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn corrupt(path: &Path, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        }
    }

    /// A file the manifest names that is not there is damage, on every read
    /// path alike (not a `FileNotFoundError` on some and corruption on others).
    pub fn missing_is_damage(self) -> Error {
        match self {
            Error::Io { path, source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::corrupt(&path, "file named by the manifest is missing")
            }
            other => other,
        }
    }

    /// True when the error says a file is not there (a concurrent gc may have removed it).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Attaches a path to io results: `fs::read(p).at("read", p)?`.
pub trait IoContext<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

/// Turns a Parquet/Arrow decode failure on `path` into a corruption error naming it.
pub trait DecodeContext<T> {
    fn decoding(self, path: &Path) -> Result<T>;
}

impl<T, E: std::fmt::Display> DecodeContext<T> for std::result::Result<T, E> {
    fn decoding(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::corrupt(path, e))
    }
}
