//! Arrow data handed to Python: tables and streams through the C stream
//! interface (no copy of any buffer).

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_schema::SchemaRef;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3_arrow::{PyRecordBatchReader, PyTable};

use crate::store::BatchStream;

/// A `pyarrow.Table` over the batches' buffers (a chunked table when there
/// are several). Not `pyarrow.table()`: it first asks whether its argument is
/// a pandas DataFrame, which imports pandas (half a second) on a notebook's
/// first `table()` or `sample()`.
pub fn to_pyarrow(
    py: Python<'_>,
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
) -> PyResult<Py<PyAny>> {
    let stream = PyTable::try_new(batches, schema)?
        .into_pyobject(py)?
        .into_any();
    Ok(reader_from(py, stream)?
        .call_method0(intern!(py, "read_all"))?
        .unbind())
}

/// A `pyarrow.RecordBatchReader` pulling batches from the stream as the
/// consumer asks (pyarrow, polars and DuckDB read its `__arrow_c_stream__`).
pub fn stream_to_pyarrow(py: Python<'_>, stream: BatchStream) -> PyResult<Py<PyAny>> {
    let reader = PyRecordBatchReader::new(Box::new(stream))
        .into_pyobject(py)?
        .into_any();
    Ok(reader_from(py, reader)?.unbind())
}

fn reader_from<'py>(py: Python<'py>, stream: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    py.import(intern!(py, "pyarrow"))?
        .getattr(intern!(py, "RecordBatchReader"))?
        .call_method1(intern!(py, "from_stream"), (stream,))
}

/// Every buffer address of an array, children included.
pub fn buffer_addresses(data: &ArrayData, out: &mut Vec<usize>) {
    out.extend(data.buffers().iter().map(|b| b.as_ptr() as usize));
    if let Some(nulls) = data.nulls() {
        out.push(nulls.buffer().as_ptr() as usize);
    }
    for child in data.child_data() {
        buffer_addresses(child, out);
    }
}
