//! Every entry point runs under `guarded`: a Rust panic becomes a
//! `CheckpointError` naming the call, never pyo3's `PanicException` (a
//! `BaseException` that `except Exception` lets through).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use pyo3::prelude::*;

use super::errors::CheckpointError;

/// The entry point a test asked to panic in (`_force_panic`), if any.
static FORCED: Mutex<Option<String>> = Mutex::new(None);

pub fn guarded<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    let run = AssertUnwindSafe(|| {
        let forced = FORCED
            .lock()
            .map(|f| f.as_deref() == Some(what))
            .unwrap_or(false);
        if forced {
            panic!("forced panic in {what} (tests)");
        }
        f()
    });
    catch_unwind(run).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(CheckpointError::new_err(format!(
            "internal error in {what}: {detail} (a bug in docetl-checkpoint; commits are \
             atomic, so the store holds this call's change completely or not at all)"
        )))
    })
}

/// Makes the entry point `what` panic on its next calls (None: none does).
/// For the tests that prove no panic reaches Python as `PanicException`.
#[pyfunction]
#[pyo3(signature = (what=None))]
pub fn _force_panic(what: Option<String>) {
    if let Ok(mut forced) = FORCED.lock() {
        *forced = what;
    }
}
