//! The `_core.Store` class: converts arguments, releases the GIL for the
//! core, and runs every method under `guarded` (no panic reaches Python).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::arrow::{buffer_addresses, stream_to_pyarrow, to_pyarrow};
use super::convert_in::Converter;
use super::convert_out;
use super::guard::guarded;
use super::reports::{
    counts_dict, dropped_list, entry_dict, n, recover_dict, verify_dict, version_dict,
};
use super::strings::SharedStrings;
use crate::arrow_out;
use crate::names;
use crate::store::{self, Loaded, ReadMode};

#[pyclass(module = "docetl_checkpoint._core", frozen)]
pub struct Store {
    inner: Arc<store::Store>,
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
        version: Option<i64>,
        mode: ReadMode,
    ) -> PyResult<Option<Loaded>> {
        Ok(py.detach(|| self.inner.read_columns(step, op, version, mode, None))?)
    }

    /// The table of (step, op) as batches (several only past 1 GiB of text)
    /// and their schema.
    fn read_table(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        version: Option<i64>,
        mode: ReadMode,
        columns: Option<Vec<String>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let built = py.detach(|| -> crate::error::Result<_> {
            match self
                .inner
                .read_columns(step, op, version, mode, columns.as_deref())?
            {
                Some(loaded) => {
                    let schema = arrow_out::schema(&loaded)?;
                    let batches =
                        arrow_out::batches(&loaded, &schema, arrow_out::TABLE_BATCH_BYTES)?;
                    Ok(Some((batches, schema)))
                }
                None => Ok(None),
            }
        })?;
        built
            .map(|(batches, schema)| to_pyarrow(py, batches, schema))
            .transpose()
    }
}

#[pymethods]
impl Store {
    /// A local folder, or an `s3://bucket/prefix` URL with `options`
    /// (object_store's S3 keys over the `AWS_*` environment, and `gc_grace_seconds`).
    #[new]
    #[pyo3(signature = (path, options=None))]
    fn new(path: String, options: Option<BTreeMap<String, String>>) -> PyResult<Self> {
        guarded("open", || {
            let inner = store::Store::open_location(&path, &options.unwrap_or_default())?;
            Ok(Store {
                inner: Arc::new(inner),
                path,
                strings: SharedStrings::default(),
            })
        })
    }

    /// Requests and bytes this store sent to its object store (zeros when local).
    fn io_counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guarded("io_counters", || {
            let c = self.inner.storage().io_counters();
            counts_dict(
                py,
                &[
                    ("gets", n(c.gets)),
                    ("puts", n(c.puts)),
                    ("lists", n(c.lists)),
                    ("deletes", n(c.deletes)),
                    ("bytes_read", n(c.bytes_read)),
                    ("bytes_written", n(c.bytes_written)),
                ],
            )
        })
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
        guarded("save", || {
            names::validate("step", step)?;
            names::validate("operation", op)?;
            let records = Converter::new(step, op).records(records)?;
            let path = py.detach(|| {
                self.inner
                    .save(step, op, &records, meta.unwrap_or_default())
            })?;
            Ok(path.display().to_string())
        })
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
        guarded("save_batch", || {
            names::validate("operation", op)?;
            let (step, name) = names::batch_key(op, batch_index);
            let records = Converter::new(&step, &name).records(records)?;
            let path = py.detach(|| {
                self.inner
                    .save_batch(op, batch_index, &records, meta.unwrap_or_default())
            })?;
            Ok(path.display().to_string())
        })
    }

    #[pyo3(signature = (step, op, version=None))]
    fn load<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        version: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        guarded("load", || {
            self.read(py, step, op, version, ReadMode::All)?
                .map(|l| convert_out::records(py, &l, &self.strings))
                .transpose()
        })
    }

    #[pyo3(signature = (step, op, n, version=None))]
    fn head<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        n: usize,
        version: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        guarded("head", || {
            self.read(py, step, op, version, ReadMode::Head(n))?
                .map(|l| convert_out::records(py, &l, &self.strings))
                .transpose()
        })
    }

    /// Records `start..start + n` (fewer at the end), each checked against its hash.
    #[pyo3(signature = (step, op, start, n, version=None))]
    fn load_rows<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        start: usize,
        n: usize,
        version: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        guarded("load_rows", || {
            let Some(entry) = py.detach(|| self.inner.entry_at(step, op, version))? else {
                return Ok(None);
            };
            let len = n.min((entry.num_rows as usize).saturating_sub(start));
            // the version found, not `version` again: a save in between
            // must not shift a negative number onto another version
            let at = Some(entry.version as i64);
            self.read(py, step, op, at, ReadMode::Rows { start, len })?
                .map(|l| convert_out::records(py, &l, &self.strings))
                .transpose()
        })
    }

    /// The records at row indexes `rows` (any order, repeats allowed), read
    /// in one pass over the row groups holding them; each checked against its
    /// record hash. None when there is no such checkpoint.
    #[pyo3(signature = (step, op, rows, version=None))]
    fn load_rows_at<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        rows: Vec<usize>,
        version: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        guarded("load_rows_at", || {
            let mut picked = rows.clone();
            picked.sort_unstable();
            picked.dedup();
            let loaded = py.detach(|| -> crate::error::Result<_> {
                let Some(entry) = self.inner.entry_at(step, op, version)? else {
                    return Ok(None);
                };
                if let Some(&bad) = picked.iter().find(|&&r| r as u64 >= entry.num_rows) {
                    return Err(crate::error::Error::InvalidValue(format!(
                        "row {bad} of {step}/{op}: it has {} rows",
                        entry.num_rows
                    )));
                }
                // the version found: a save meanwhile must not move a relative one
                let at = Some(entry.version as i64);
                self.inner
                    .read_columns(step, op, at, ReadMode::Pick(&picked), None)
            })?;
            let Some(loaded) = loaded else {
                return Ok(None);
            };
            let records = convert_out::records(py, &loaded, &self.strings)?;
            let out = PyList::empty(py);
            for row in &rows {
                let at = picked.binary_search(row).unwrap_or_default();
                out.append(records.get_item(at)?)?;
            }
            Ok(Some(out))
        })
    }

    #[pyo3(signature = (step, op, columns=None, version=None))]
    fn table(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        columns: Option<Vec<String>>,
        version: Option<i64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        guarded("table", || {
            self.read_table(py, step, op, version, ReadMode::All, columns)
        })
    }

    #[pyo3(signature = (step, op, n, columns=None, version=None))]
    fn sample(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        n: usize,
        columns: Option<Vec<String>>,
        version: Option<i64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        guarded("sample", || {
            self.read_table(py, step, op, version, ReadMode::Head(n), columns)
        })
    }

    /// A `pyarrow.RecordBatchReader` over (step, op) in batches of bounded size.
    #[pyo3(signature = (step, op, columns=None, version=None))]
    fn reader(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        columns: Option<Vec<String>>,
        version: Option<i64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        guarded("reader", || {
            let stream = py.detach(|| self.inner.stream(step, op, version, columns))?;
            stream.map(|s| stream_to_pyarrow(py, s)).transpose()
        })
    }

    fn _table_with_buffer_addresses(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
    ) -> PyResult<Option<(Py<PyAny>, Vec<usize>)>> {
        guarded("table", || {
            let Some(loaded) = self.read(py, step, op, None, ReadMode::All)? else {
                return Ok(None);
            };
            let schema = arrow_out::schema(&loaded)?;
            let batches: Vec<RecordBatch> =
                arrow_out::batches(&loaded, &schema, arrow_out::TABLE_BATCH_BYTES)?;
            let mut addresses = Vec::new();
            for batch in &batches {
                for column in batch.columns() {
                    buffer_addresses(&column.to_data(), &mut addresses);
                }
            }
            Ok(Some((to_pyarrow(py, batches, schema)?, addresses)))
        })
    }

    /// Each record's hash, in order: no column or value is read.
    #[pyo3(signature = (step, op, version=None))]
    fn record_hashes<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        version: Option<i64>,
    ) -> PyResult<Option<Vec<Bound<'py, PyBytes>>>> {
        guarded("record_hashes", || {
            let none: &[String] = &[];
            let read = py.detach(|| {
                self.inner
                    .read_columns(step, op, version, ReadMode::All, Some(none))
            })?;
            Ok(read.map(|l| {
                (0..l.num_rows())
                    .map(|i| PyBytes::new(py, l.record_hashes.value(i)))
                    .collect()
            }))
        })
    }

    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guarded("entries", || {
            let entries = py.detach(|| self.inner.entries())?;
            entries
                .iter()
                .map(|e| entry_dict(py, &self.inner, e))
                .collect()
        })
    }

    #[pyo3(signature = (step, op, version=None))]
    fn info<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
        version: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        guarded("info", || {
            let entry = py.detach(|| self.inner.entry_at(step, op, version))?;
            entry.map(|e| entry_dict(py, &self.inner, &e)).transpose()
        })
    }

    /// Every kept version of (step, op), oldest first (the manifest only).
    fn versions<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        op: &str,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guarded("versions", || {
            let (versions, live) = py.detach(|| self.inner.versions(step, op))?;
            versions
                .iter()
                .map(|e| version_dict(py, &self.inner, e, live.as_ref()))
                .collect()
        })
    }

    /// Every version of every checkpoint, live and history (the manifest only).
    fn all_versions<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guarded("all_versions", || {
            let manifest = py.detach(|| self.inner.manifest())?;
            manifest
                .all_entries()
                .map(|e| version_dict(py, &self.inner, e, manifest.find(&e.step, &e.op)))
                .collect()
        })
    }

    /// Pins or unpins a version; False when there is no such version.
    fn set_pinned(
        &self,
        py: Python<'_>,
        step: &str,
        op: &str,
        version: i64,
        pinned: bool,
    ) -> PyResult<bool> {
        guarded("set_pinned", || {
            Ok(py.detach(|| self.inner.set_pinned(step, op, version, pinned))?)
        })
    }

    fn delete(&self, py: Python<'_>, step: &str, op: &str) -> PyResult<bool> {
        guarded("delete", || Ok(py.detach(|| self.inner.delete(step, op))?))
    }

    #[pyo3(signature = (keep_history=false))]
    fn clear(&self, py: Python<'_>, keep_history: bool) -> PyResult<usize> {
        guarded("clear", || {
            Ok(py.detach(|| self.inner.clear_with(keep_history))?)
        })
    }

    /// gc under a retention policy (None: keep every version); `dry_run`
    /// changes nothing and reports what would go.
    #[pyo3(
        signature = (keep_versions=Some(store::DEFAULT_KEEP_VERSIONS), older_than=None, max_bytes=None, dry_run=false),
        text_signature = "(self, keep_versions=5, older_than=None, max_bytes=None, dry_run=False)"
    )]
    fn gc<'py>(
        &self,
        py: Python<'py>,
        keep_versions: Option<u64>,
        older_than: Option<f64>,
        max_bytes: Option<u64>,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        guarded("gc", || {
            let policy = store::Retention {
                keep_versions,
                older_than,
                max_bytes,
            };
            let r = py.detach(|| self.inner.gc_with(&policy, dry_run))?;
            let d = counts_dict(
                py,
                &[
                    ("files_removed", n(r.files_removed)),
                    ("bytes_freed", r.bytes_freed),
                    ("values_removed", n(r.values_removed)),
                    ("values_kept", n(r.values_kept)),
                    ("segments_rewritten", n(r.segments_rewritten)),
                    ("segments_compacted", n(r.segments_compacted)),
                    ("versions_dropped", n(r.versions_dropped.len() as u64)),
                ],
            )?;
            d.set_item("dropped", dropped_list(py, &r.versions_dropped)?)?;
            d.set_item("dry_run", r.dry_run)?;
            Ok(d)
        })
    }

    /// Merges small value segments into large ones compressed at a strong level.
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guarded("compact", || {
            let r = py.detach(|| self.inner.compact())?;
            counts_dict(
                py,
                &[
                    ("segments_merged", n(r.segments_merged)),
                    ("segments_written", n(r.segments_written)),
                    ("bytes_before", n(r.bytes_before)),
                    ("bytes_after", n(r.bytes_after)),
                ],
            )
        })
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guarded("stats", || {
            let s = py.detach(|| self.inner.stats())?;
            counts_dict(
                py,
                &[
                    ("checkpoints", n(s.checkpoints)),
                    ("batches", n(s.batches)),
                    ("logical_records", n(s.logical_records)),
                    ("unique_records", n(s.unique_records)),
                    ("stored_values", n(s.stored_values)),
                    ("value_refs", n(s.value_refs)),
                    ("logical_bytes", n(s.logical_bytes)),
                    ("dataset_size_bytes", n(s.dataset_size_bytes)),
                    ("index_size_bytes", n(s.index_size_bytes)),
                    ("total_size_bytes", n(s.total_size_bytes)),
                    ("generation", n(s.generation)),
                    ("history_versions", n(s.history_versions)),
                    ("history_size_bytes", n(s.history_size_bytes)),
                ],
            )
        })
    }

    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guarded("verify", || {
            let r = py.detach(|| self.inner.verify())?;
            verify_dict(py, &self.inner, &r)
        })
    }

    /// The store's notes (key -> value).
    fn notes(&self, py: Python<'_>) -> PyResult<BTreeMap<String, String>> {
        guarded("notes", || Ok(py.detach(|| self.inner.manifest())?.notes))
    }

    /// Sets a note, or removes it with None; one commit.
    #[pyo3(signature = (key, value))]
    fn set_note(&self, py: Python<'_>, key: &str, value: Option<&str>) -> PyResult<()> {
        guarded("set_note", || {
            Ok(py.detach(|| self.inner.set_note(key, value))?)
        })
    }

    /// Rebuilds a missing or unreadable manifest from the data files.
    fn recover<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guarded("recover", || {
            let r = py.detach(|| self.inner.recover())?;
            recover_dict(py, &self.inner, &r)
        })
    }
}
