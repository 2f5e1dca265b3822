//! A checkpoint as a stream of record batches of bounded size: what lets
//! pyarrow, polars or DuckDB consume a checkpoint larger than memory.
//!
//! The stream pins the manifest it started from. Each step reads a slice of
//! rows (about `STREAM_BYTES` of data, at most one row group), the values
//! those rows reference (from the segment row groups holding them, not
//! cached), checks each row against its record hash, and builds one batch.

use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use super::read::ReadMode;
use super::Store;
use crate::arrow_out;
use crate::checkpoint_file::ROW_GROUP_ROWS;
use crate::error::{Error, Result};
use crate::manifest::{Entry, Manifest};

/// Data one step of a stream materialises, estimated from the checkpoint's
/// canonical size per row.
pub const STREAM_BYTES: usize = 32 << 20;

pub struct BatchStream {
    store: Arc<Store>,
    manifest: Manifest,
    entry: Entry,
    columns: Option<Vec<String>>,
    schema: SchemaRef,
    next_row: usize,
    rows_per_step: usize,
    /// Batches of a step cut in several (text past `TABLE_BATCH_BYTES`).
    pending: std::collections::VecDeque<RecordBatch>,
}

impl Store {
    /// A stream over (step, op), or None when there is no such checkpoint.
    pub fn stream(
        self: &Arc<Self>,
        step: &str,
        op: &str,
        version: Option<i64>,
        columns: Option<Vec<String>>,
    ) -> Result<Option<BatchStream>> {
        let manifest = self.manifest()?;
        let Some(entry) = manifest.find_version(step, op, version)?.cloned() else {
            return Ok(None);
        };
        // the schema comes from the layout: read no row for it
        let Some(head) = self.read_columns(
            step,
            op,
            Some(entry.version as i64),
            ReadMode::Head(0),
            columns.as_deref(),
        )?
        else {
            return Ok(None);
        };
        let schema = arrow_out::schema(&head)?;
        let per_row = (entry.logical_bytes / entry.num_rows.max(1)).max(1) as usize;
        Ok(Some(BatchStream {
            store: self.clone(),
            manifest,
            entry,
            columns,
            schema,
            next_row: 0,
            rows_per_step: (STREAM_BYTES / per_row).clamp(1, ROW_GROUP_ROWS),
            pending: Default::default(),
        }))
    }
}

impl BatchStream {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn step(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(batch) = self.pending.pop_front() {
            return Ok(Some(batch));
        }
        let rows = self.entry.num_rows as usize;
        if self.next_row >= rows {
            return Ok(None);
        }
        let len = self.rows_per_step.min(rows - self.next_row);
        let mode = ReadMode::Rows {
            start: self.next_row,
            len,
        };
        let loaded = self
            .store
            .read_entry(
                &self.manifest,
                self.entry.clone(),
                mode,
                self.columns.as_deref(),
            )
            .map_err(|e| self.named(e))?;
        if loaded.num_rows() != len {
            return Err(Error::corrupt(
                &loaded.path,
                format!(
                    "{} rows where the manifest promises {len} from row {}",
                    loaded.num_rows(),
                    self.next_row
                ),
            ));
        }
        self.next_row += len;
        self.pending =
            arrow_out::batches(&loaded, &self.schema, arrow_out::TABLE_BATCH_BYTES)?.into();
        Ok(self.pending.pop_front())
    }
}

impl BatchStream {
    /// A file gone under the stream: replaced or collected since it started
    /// (a newer manifest), else damage.
    fn named(&self, e: Error) -> Error {
        if !e.is_not_found() {
            return e;
        }
        match self.store.manifest() {
            Ok(m) if m.generation != self.manifest.generation => Error::CommitConflict(format!(
                "checkpoint {}/{} was replaced or collected while it was streamed: open a new reader",
                self.entry.step, self.entry.op
            )),
            _ => e.missing_is_damage(),
        }
    }
}

impl Iterator for BatchStream {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(batch) => batch.map(Ok),
            Err(e) => {
                // a failed stream ends: the consumer sees the error once
                self.next_row = usize::MAX;
                Some(Err(ArrowError::ExternalError(Box::new(e))))
            }
        }
    }
}

impl RecordBatchReader for BatchStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
