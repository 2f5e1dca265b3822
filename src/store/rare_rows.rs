//! Rows of a checkpoint whose rare keys live in `__rest` blobs: the fields
//! of a row in key order (dense columns and rare fields interleaved as the
//! row's shape says), and which columns `table()` shows for such files.

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, BinaryArray, RecordBatch, UInt64Array};
use arrow_buffer::OffsetBuffer;

use super::read::{CellRef, Loaded};
use crate::checkpoint_file::{FileMeta, RareMeta};
use crate::error::{Error, Result};
use crate::logical::LogicalType;
use crate::manifest::Entry;
use crate::rare::{self, BlobFields, RareValue};
use crate::segment::Stored;

/// The decoded `__rest` and `__rest_ref` fields.
pub struct RestArrays {
    pub blobs: BinaryArray,
    /// Row `r`'s value ids are `ids[offsets[r]..offsets[r + 1]]`.
    offsets: OffsetBuffer<i32>,
    ids: UInt64Array,
}

impl RestArrays {
    pub fn new(path: &std::path::Path, batch: &RecordBatch, r: &RareMeta) -> Result<RestArrays> {
        let bad = || Error::corrupt(path, "rare fields' columns");
        let blobs = batch
            .column(r.main)
            .as_binary_opt::<i32>()
            .cloned()
            .ok_or_else(bad)?;
        let list = batch.column(r.refs).as_list_opt::<i32>().ok_or_else(bad)?;
        let ids = list
            .values()
            .as_primitive_opt::<UInt64Type>()
            .cloned()
            .ok_or_else(bad)?;
        Ok(RestArrays {
            blobs,
            offsets: list.offsets().clone(),
            ids,
        })
    }
}

/// The value ids the rare fields of a decoded file reference (with repeats).
pub fn rest_ref_ids(batch: &RecordBatch, meta: &FileMeta) -> Vec<u64> {
    let Some(r) = &meta.rare else {
        return Vec::new();
    };
    let Some(list) = batch.column(r.refs).as_list_opt::<i32>() else {
        return Vec::new();
    };
    let Some(ids) = list.values().as_primitive_opt::<UInt64Type>() else {
        return Vec::new();
    };
    let offsets = list.offsets();
    (0..list.len())
        .filter(|&row| list.is_valid(row))
        .flat_map(|row| offsets[row] as usize..offsets[row + 1] as usize)
        .filter(|&i| i < ids.len())
        .map(|i| ids.value(i))
        .collect()
}

/// One column of `table()`.
#[derive(Clone, Debug)]
pub enum TableColumn {
    /// `Loaded::columns[i]`.
    Dense(usize),
    /// A rare key gathered from the blobs; `listed` when the file's layout
    /// names it (else it was asked for by name, and is JSON text).
    Rare {
        key: String,
        logical: LogicalType,
        listed: bool,
    },
    /// Every rare field of a row, as the JSON text of an object (null when
    /// the row has none): `rare::REST_COLUMN`.
    Folded,
}

/// The columns `table()` shows for a whole file: its dense keys, then its
/// rare keys when the layout lists them, else the folded column.
pub fn default_table(meta: &FileMeta) -> Vec<TableColumn> {
    let mut out: Vec<TableColumn> = (0..meta.columns.len()).map(TableColumn::Dense).collect();
    match meta.rare.as_ref().map(|r| &r.keys) {
        Some(Some(keys)) => out.extend(keys.iter().map(|k| TableColumn::Rare {
            key: k.key.clone(),
            logical: k.logical.clone(),
            listed: true,
        })),
        Some(None) => out.push(TableColumn::Folded),
        None => {}
    }
    out
}

/// The table column of `key` when it is not a dense column: a rare key or
/// the folded column; None when the checkpoint cannot hold it.
pub fn rare_table_column(meta: &FileMeta, key: &str) -> Option<TableColumn> {
    let r = meta.rare.as_ref()?;
    if key == rare::REST_COLUMN {
        return Some(TableColumn::Folded);
    }
    match &r.keys {
        Some(keys) => keys
            .iter()
            .find(|k| k.key == key)
            .map(|k| TableColumn::Rare {
                key: k.key.clone(),
                logical: k.logical.clone(),
                listed: true,
            }),
        None => Some(TableColumn::Rare {
            key: key.to_string(),
            logical: LogicalType::Json,
            listed: false,
        }),
    }
}

/// The error for a column the checkpoint does not have.
pub fn no_column(entry: &Entry, key: &str) -> Error {
    Error::InvalidValue(format!(
        "checkpoint {}/{} has no column {key:?}",
        entry.step, entry.op
    ))
}

impl Loaded {
    /// Calls `f(key, value id, cell)` for each field of `row`, in the
    /// record's key order; the value id is set where the value is in a segment.
    pub fn for_each_field<'s>(
        &'s self,
        row: usize,
        mut f: impl FnMut(&'s str, Option<u64>, CellRef<'s>) -> Result<()>,
    ) -> Result<()> {
        let mut fields = self.rare_fields(row)?;
        for &col in self.shape(row) {
            if col == rare::RARE {
                let blob = fields.as_mut().ok_or_else(|| {
                    Error::corrupt(&self.path, format!("row {row}: no rare fields"))
                })?;
                let (key, value) = blob.next_field().map_err(|e| self.damaged(e))?;
                let (id, cell) = self.rare_cell(row, value)?;
                f(key, id, cell)?;
            } else {
                let col = col as usize;
                f(
                    &self.columns[col].key,
                    self.value_id(col, row),
                    self.cell(col, row)?,
                )?;
            }
        }
        match fields {
            Some(blob) => blob.finish().map_err(|e| self.damaged(e)),
            None => Ok(()),
        }
    }

    /// The rare fields of `row`, when it has any.
    pub fn rare_fields(&self, row: usize) -> Result<Option<BlobFields<'_>>> {
        match &self.rest {
            Some(rest) if rest.blobs.is_valid(row) => BlobFields::new(rest.blobs.value(row))
                .map(Some)
                .map_err(|e| self.damaged(e)),
            _ => Ok(None),
        }
    }

    /// A rare field's value id (when in a segment) and cell.
    pub fn rare_cell<'s>(
        &'s self,
        row: usize,
        value: RareValue<'s>,
    ) -> Result<(Option<u64>, CellRef<'s>)> {
        let bytes = match value {
            RareValue::Inline(bytes) => bytes,
            RareValue::Ref(n) => {
                let id = self.rare_ref(row, n)?;
                let stored = self
                    .values
                    .get(id)
                    .ok_or_else(|| Error::corrupt(&self.path, format!("value {id} missing")))?;
                return Ok((
                    Some(id),
                    match stored {
                        Stored::Str(s) => CellRef::Str(s),
                        Stored::Canonical(bytes) => CellRef::Canonical(bytes),
                    },
                ));
            }
        };
        Ok((
            None,
            match bytes {
                [crate::canonical::TAG_NULL] => CellRef::Null,
                _ => CellRef::Canonical(bytes),
            },
        ))
    }

    fn rare_ref(&self, row: usize, n: usize) -> Result<u64> {
        let rest = self
            .rest
            .as_ref()
            .ok_or_else(|| self.damaged("no __rest_ref"))?;
        let (start, end) = (rest.offsets[row] as usize, rest.offsets[row + 1] as usize);
        if start + n >= end || end > rest.ids.len() {
            return Err(self.damaged(format!("row {row}: more references than value ids")));
        }
        Ok(rest.ids.value(start + n))
    }

    /// A damage error naming the file.
    pub fn damaged(&self, e: impl std::fmt::Display) -> Error {
        Error::corrupt(&self.path, e.to_string())
    }
}
