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

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let message = err.to_string();
        match err {
            Error::Io { path, source, .. } => match source.raw_os_error() {
                // OSError(errno, ...) becomes FileNotFoundError, PermissionError, ...
                Some(errno) => PyOSError::new_err((errno, message, path.display().to_string())),
                None => PyOSError::new_err(message),
            },
            Error::Corrupt { .. } => CorruptCheckpointError::new_err(message),
            Error::InvalidName { .. } | Error::Conflict(_) => PyValueError::new_err(message),
            Error::InvalidValue(_) => PyValueError::new_err(message),
        }
    }
}

/// A `TypeError` for data that is not a list of dicts of JSON values.
pub fn type_error(message: String) -> PyErr {
    PyTypeError::new_err(message)
}
