//! Maps core errors to Python exceptions: a small hierarchy plus builtins.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyTypeError, PyValueError};
use pyo3::PyErr;

use crate::error::Error;

create_exception!(
    _core,
    CheckpointError,
    PyException,
    "Base class of the store's own errors."
);
create_exception!(
    _core,
    CorruptCheckpointError,
    CheckpointError,
    "A store file is damaged, truncated or missing; the message names it."
);
create_exception!(
    _core,
    CommitConflictError,
    CheckpointError,
    "A commit lost to concurrent writers too many times, or the manifest kept \
     changing while being read: nothing was written; retrying may succeed."
);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let message = err.to_string();
        match err {
            Error::Io { path, source, .. } => match source.raw_os_error() {
                // OSError(errno, ...) becomes FileNotFoundError, PermissionError, ...
                Some(errno) => PyOSError::new_err((errno, message, path.display().to_string())),
                None => PyOSError::new_err(message),
            },
            Error::Corrupt { .. } | Error::Malformed(_) => CorruptCheckpointError::new_err(message),
            Error::InvalidName { .. } | Error::NameClash(_) | Error::InvalidValue(_) => {
                PyValueError::new_err(message)
            }
            Error::CommitConflict(_) => CommitConflictError::new_err(message),
            Error::Internal(_) => CheckpointError::new_err(message),
        }
    }
}

/// A `TypeError` for data that is not a list of dicts of JSON values.
pub fn type_error(message: String) -> PyErr {
    PyTypeError::new_err(message)
}
