//! The dicts the store's methods return: entries, counts, verify and
//! recover reports (their keys are listed in `_core.pyi`).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::manifest::{Entry, EntryKind};
use crate::store::{self, RecoverReport, VerifyReport};

/// A dict of named counts (gc report, stats, request counters), in this order.
pub fn counts_dict<'py>(py: Python<'py>, counts: &[(&str, i64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for &(name, n) in counts {
        d.set_item(name, n)?;
    }
    Ok(d)
}

/// Counts as `counts_dict` takes them (they never pass i64::MAX).
pub fn n(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

pub fn entry_dict<'py>(
    py: Python<'py>,
    store: &store::Store,
    e: &Entry,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("step", &e.step)?;
    d.set_item("op", &e.op)?;
    d.set_item(
        "kind",
        match e.kind {
            EntryKind::Checkpoint => "checkpoint",
            EntryKind::Batch => "batch",
        },
    )?;
    d.set_item("batch_of", &e.batch_of)?;
    d.set_item("batch_index", e.batch_index)?;
    d.set_item(
        "path",
        store
            .user_path(&e.step, &e.op, &e.file)
            .display()
            .to_string(),
    )?;
    d.set_item("file", store.data_path(&e.file).display().to_string())?;
    d.set_item("num_rows", e.num_rows)?;
    d.set_item("column_names", &e.columns)?;
    d.set_item("size_bytes", e.bytes)?;
    d.set_item("logical_bytes", e.logical_bytes)?;
    d.set_item("value_refs", e.value_refs)?;
    d.set_item("records_digest", &e.records_digest)?;
    d.set_item("created_at", e.created_at)?;
    d.set_item("meta", e.meta.clone())?;
    d.set_item("version", e.version)?;
    d.set_item("pinned", e.pinned)?;
    Ok(d)
}

/// An entry as `versions()` lists it: `entry_dict` and whether it is the
/// live one (`latest`).
pub fn version_dict<'py>(
    py: Python<'py>,
    store: &store::Store,
    e: &Entry,
    live: Option<&Entry>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = entry_dict(py, store, e)?;
    let latest = live.is_some_and(|l| l.version == e.version && l.file == e.file);
    d.set_item("latest", latest)?;
    if !latest {
        // only the live version has a `<step>/<op>.parquet` link
        d.set_item("path", store.data_path(&e.file).display().to_string())?;
    }
    Ok(d)
}

/// (step, op, version) of dropped versions, as dicts.
pub fn dropped_list<'py>(
    py: Python<'py>,
    dropped: &[store::VersionKey],
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    dropped
        .iter()
        .map(|(step, op, version)| {
            let d = PyDict::new(py);
            d.set_item("step", step)?;
            d.set_item("op", op)?;
            d.set_item("version", version)?;
            Ok(d)
        })
        .collect()
}

pub fn verify_dict<'py>(
    py: Python<'py>,
    store: &store::Store,
    r: &VerifyReport,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ok", r.ok())?;
    d.set_item(
        "intact",
        r.intact.iter().map(|(s, o)| (s, o)).collect::<Vec<_>>(),
    )?;
    let damaged = r
        .damaged
        .iter()
        .map(|(step, op, file, error)| damage_dict(py, store, step, op, None, file, error))
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("damaged", damaged)?;
    let versions = r
        .damaged_versions
        .iter()
        .map(|(step, op, v, file, error)| damage_dict(py, store, step, op, Some(*v), file, error))
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("damaged_versions", versions)?;
    let segments = r
        .damaged_segments
        .iter()
        .map(|(file, error)| (store.data_path(file).display().to_string(), error.clone()))
        .collect::<Vec<_>>();
    d.set_item("damaged_segments", segments)?;
    d.set_item("files_checked", r.files_checked)?;
    d.set_item("manifest_error", &r.manifest_error)?;
    Ok(d)
}

/// One damaged checkpoint (or, with `version`, earlier version) of a verify report.
fn damage_dict<'py>(
    py: Python<'py>,
    store: &store::Store,
    step: &str,
    op: &str,
    version: Option<u64>,
    file: &str,
    error: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let x = PyDict::new(py);
    x.set_item("step", step)?;
    x.set_item("op", op)?;
    if let Some(v) = version {
        x.set_item("version", v)?;
    }
    x.set_item("file", store.data_path(file).display().to_string())?;
    x.set_item("error", error)?;
    Ok(x)
}

pub fn recover_dict<'py>(
    py: Python<'py>,
    store: &store::Store,
    r: &RecoverReport,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("needed", r.needed)?;
    d.set_item(
        "restored",
        r.restored.iter().map(|(s, o)| (s, o)).collect::<Vec<_>>(),
    )?;
    d.set_item("segments", r.segments)?;
    d.set_item("versions", r.versions)?;
    d.set_item(
        "not_restored",
        r.not_restored
            .iter()
            .map(|(file, why)| (store.data_path(file).display().to_string(), why.clone()))
            .collect::<Vec<_>>(),
    )?;
    Ok(d)
}
