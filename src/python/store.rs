//! The `_core.Store` class: converts arguments, releases the GIL for the core.

use std::collections::BTreeMap;

use arrow_array::{Array, RecordBatch};
use arrow_data::ArrayData;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3_arrow::PyTable;

use super::convert_in::Converter;
use super::convert_out;
use super::strings::SharedStrings;
use crate::arrow_out;
use crate::manifest::{Entry, EntryKind};
use crate::names;
use crate::store::{self, Loaded, ReadMode};

#[pyclass(module = "docetl_checkpoint._core", frozen)]
pub struct Store {
    inner: store::Store,
    path: String,
    strings: SharedStrings,
}

type Meta = Option<BTreeMap<String, String>>;

impl Store {
    fn read(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        mode: ReadMode,
    ) -> PyResult<Option<Loaded>> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        Ok(py.detach(|| self.inner.read(step, op, mode))?)
    }

    fn read_table(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        mode: ReadMode,
        columns: Option<Vec<String>>,
    ) -> PyResult<Option<RecordBatch>> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        let built = py.detach(|| -> crate::error::Result<Option<RecordBatch>> {
            match self.inner.read(step, op, mode)? {
                Some(loaded) => Ok(Some(arrow_out::table(&loaded, columns.as_deref())?)),
                None => Ok(None),
            }
        })?;
        Ok(built)
    }
}

/// A `pyarrow.Table` over the batch's buffers (no copy), through the C stream
/// interface. Not `pyarrow.table()`: it first asks whether its argument is a
/// pandas DataFrame, which imports pandas (half a second) on a notebook's
/// first `table()` or `sample()`.
fn to_pyarrow(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    let schema = batch.schema();
    let stream = PyTable::try_new(vec![batch], schema)?.into_pyobject(py)?;
    let reader = py
        .import(intern!(py, "pyarrow"))?
        .getattr(intern!(py, "RecordBatchReader"))?
        .call_method1(intern!(py, "from_stream"), (stream,))?;
    Ok(reader.call_method0(intern!(py, "read_all"))?.unbind())
}

/// A dict of named counts (gc report, stats, request counters), in this order.
fn counts_dict<'py>(py: Python<'py>, counts: &[(&str, u64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for &(name, n) in counts {
        d.set_item(name, n)?;
    }
    Ok(d)
}

fn entry_dict<'py>(
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
    Ok(d)
}

/// Every buffer address of an array, children included.
fn buffer_addresses(data: &ArrayData, out: &mut Vec<usize>) {
    out.extend(data.buffers().iter().map(|b| b.as_ptr() as usize));
    if let Some(nulls) = data.nulls() {
        out.push(nulls.buffer().as_ptr() as usize);
    }
    for child in data.child_data() {
        buffer_addresses(child, out);
    }
}

#[pymethods]
impl Store {
    /// A local folder, or an `s3://bucket/prefix` URL with `options`
    /// (object_store's S3 keys over the `AWS_*` environment, and `gc_grace_seconds`).
    #[new]
    #[pyo3(signature = (path, options=None))]
    fn new(path: String, options: Option<BTreeMap<String, String>>) -> PyResult<Self> {
        let inner = store::Store::open_location(&path, &options.unwrap_or_default())?;
        Ok(Store {
            inner,
            path,
            strings: SharedStrings::default(),
        })
    }

    /// Requests and bytes this store sent to its object store (zeros when local).
    fn io_counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.storage().io_counters();
        counts_dict(
            py,
            &[
                ("gets", c.gets),
                ("puts", c.puts),
                ("lists", c.lists),
                ("deletes", c.deletes),
                ("bytes_read", c.bytes_read),
                ("bytes_written", c.bytes_written),
            ],
        )
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    #[pyo3(signature = (step, op, records, meta=None))]
    fn save(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        records: &Bound<'_, PyAny>,
        meta: Meta,
    ) -> PyResult<String> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        let records = Converter::new(step, op).records(records)?;
        let path = py.detach(|| {
            self.inner
                .save(step, op, &records, meta.unwrap_or_default())
        })?;
        Ok(path.display().to_string())
    }

    #[pyo3(signature = (op, batch_index, records, meta=None))]
    fn save_batch(
        &self,
        py: Python<'_>,
        op: &str,
        batch_index: u64,
        records: &Bound<'_, PyAny>,
        meta: Meta,
    ) -> PyResult<String> {
        names::validate("operation", op)?;
        let (step, name) = names::batch_key(op, batch_index);
        let records = Converter::new(&step, &name).records(records)?;
        let path = py.detach(|| {
            self.inner
                .save_batch(op, batch_index, &records, meta.unwrap_or_default())
        })?;
        Ok(path.display().to_string())
    }

    fn load<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        self.read(py, step, op, ReadMode::All)?
            .map(|l| convert_out::records(py, &l, &self.strings))
            .transpose()
    }

    fn head<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        n: usize,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        self.read(py, step, op, ReadMode::Head(n))?
            .map(|l| convert_out::records(py, &l, &self.strings))
            .transpose()
    }

    #[pyo3(signature = (step, op, columns=None))]
    fn table(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        columns: Option<Vec<String>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        self.read_table(py, step, op, ReadMode::All, columns)?
            .map(|b| to_pyarrow(py, b))
            .transpose()
    }

    #[pyo3(signature = (step, op, n, columns=None))]
    fn sample(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        n: usize,
        columns: Option<Vec<String>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        self.read_table(py, step, op, ReadMode::Head(n), columns)?
            .map(|b| to_pyarrow(py, b))
            .transpose()
    }

    fn _table_with_buffer_addresses(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
    ) -> PyResult<Option<(Py<PyAny>, Vec<usize>)>> {
        let Some(batch) = self.read_table(py, step, op, ReadMode::All, None)? else {
            return Ok(None);
        };
        let mut addresses = Vec::new();
        for column in batch.columns() {
            buffer_addresses(&column.to_data(), &mut addresses);
        }
        Ok(Some((to_pyarrow(py, batch)?, addresses)))
    }

    fn record_hashes<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
    ) -> PyResult<Option<Vec<Bound<'py, PyBytes>>>> {
        Ok(self.read(py, step, op, ReadMode::All)?.map(|l| {
            (0..l.num_rows())
                .map(|i| PyBytes::new(py, l.record_hashes.value(i)))
                .collect()
        }))
    }

    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let entries = py.detach(|| self.inner.entries())?;
        entries
            .iter()
            .map(|e| entry_dict(py, &self.inner, e))
            .collect()
    }

    fn info<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let entry = py.detach(|| self.inner.entry(step, op))?;
        entry.map(|e| entry_dict(py, &self.inner, &e)).transpose()
    }

    fn delete(&self, py: Python<'_>, step: &str, op: &str) -> PyResult<bool> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        Ok(py.detach(|| self.inner.delete(step, op))?)
    }

    fn clear(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(py.detach(|| self.inner.clear())?)
    }

    fn gc<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = py.detach(|| self.inner.gc())?;
        counts_dict(
            py,
            &[
                ("files_removed", r.files_removed),
                ("bytes_freed", r.bytes_freed),
                ("values_removed", r.values_removed),
                ("values_kept", r.values_kept),
                ("segments_rewritten", r.segments_rewritten),
            ],
        )
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = py.detach(|| self.inner.stats())?;
        counts_dict(
            py,
            &[
                ("checkpoints", s.checkpoints),
                ("batches", s.batches),
                ("logical_records", s.logical_records),
                ("unique_records", s.unique_records),
                ("stored_values", s.stored_values),
                ("value_refs", s.value_refs),
                ("logical_bytes", s.logical_bytes),
                ("dataset_size_bytes", s.dataset_size_bytes),
                ("index_size_bytes", s.index_size_bytes),
                ("total_size_bytes", s.total_size_bytes),
                ("generation", s.generation),
            ],
        )
    }

    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = py.detach(|| self.inner.verify())?;
        let d = PyDict::new(py);
        d.set_item("ok", r.damaged.is_empty() && r.damaged_segments.is_empty())?;
        d.set_item(
            "intact",
            r.intact.iter().map(|(s, o)| (s, o)).collect::<Vec<_>>(),
        )?;
        let damaged = r
            .damaged
            .iter()
            .map(|(step, op, file, error)| {
                let x = PyDict::new(py);
                x.set_item("step", step)?;
                x.set_item("op", op)?;
                x.set_item("file", self.inner.data_path(file).display().to_string())?;
                x.set_item("error", error)?;
                Ok(x)
            })
            .collect::<PyResult<Vec<_>>>()?;
        d.set_item("damaged", damaged)?;
        let segments = r
            .damaged_segments
            .iter()
            .map(|(file, error)| {
                (
                    self.inner.data_path(file).display().to_string(),
                    error.clone(),
                )
            })
            .collect::<Vec<_>>();
        d.set_item("damaged_segments", segments)?;
        d.set_item("files_checked", r.files_checked)?;
        Ok(d)
    }
}
