//! The PyO3 binding layer: converts between Python objects and the core.

mod arrow;
mod convert_in;
mod convert_out;
mod errors;
mod guard;
mod reports;
mod store;
mod strings;

use pyo3::prelude::*;

/// Tables hand Python buffers of ~100 MB that are freed and made again on the
/// next call. glibc returns such buffers to the OS and faults every page in
/// again (60% of `table()`'s time, perf); mimalloc keeps freed memory for reuse,
/// as pyarrow's own pool does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
pub fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<store::Store>()?;
    m.add("CheckpointError", py.get_type::<errors::CheckpointError>())?;
    m.add(
        "CorruptCheckpointError",
        py.get_type::<errors::CorruptCheckpointError>(),
    )?;
    m.add(
        "CommitConflictError",
        py.get_type::<errors::CommitConflictError>(),
    )?;
    m.add_function(wrap_pyfunction!(canonical_hash, m)?)?;
    m.add_function(wrap_pyfunction!(record_hash, m)?)?;
    m.add_function(wrap_pyfunction!(guard::_force_panic, m)?)?;
    Ok(())
}

/// blake3 of a JSON-like value's canonical encoding (see docs/format.md).
#[pyfunction]
fn canonical_hash<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    guard::guarded("canonical_hash", || canonical_hash_of(py, value))
}

fn canonical_hash_of<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let wrapped = pyo3::types::PyList::new(py, [pyo3::types::PyDict::new(py)])?;
    wrapped.get_item(0)?.set_item("v", value)?;
    let records =
        convert_in::Converter::new("canonical_hash", "value").records(wrapped.as_any())?;
    let hash = crate::canonical::hash_value(&records[0][0].1);
    Ok(pyo3::types::PyBytes::new(py, &hash))
}

/// The 16-byte hash `record_hashes()` stores for a record (see docs/format.md).
#[pyfunction]
fn record_hash<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    guard::guarded("record_hash", || record_hash_of(py, record))
}

fn record_hash_of<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let wrapped = pyo3::types::PyList::new(py, [record])?;
    let records = convert_in::Converter::new("record_hash", "record").records(wrapped.as_any())?;
    Ok(pyo3::types::PyBytes::new(
        py,
        &crate::canonical::hash_record(&records[0]),
    ))
}
