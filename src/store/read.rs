//! Reading a checkpoint back: its file (checksummed, or only the first row
//! groups for a sample) and the values it references, verified by hash.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray, UInt32Array, UInt64Array,
};

use super::rare_rows::{
    default_table, no_column, rare_table_column, rest_ref_ids, RestArrays, TableColumn,
};
use super::Store;
use crate::canonical::{self, Hash};
use crate::checkpoint_file::{self, FileMeta, RareMeta};
use crate::encode::ColumnKind;
use crate::error::{DecodeContext, Error, Result};
use crate::manifest::{Entry, Manifest};
use crate::names;
use crate::parquet_io::{self, ReadPlan};
use crate::segment::{SegmentValues, Stored, ValueTable};

/// How much of a checkpoint to read.
#[derive(Clone, Copy, Debug)]
pub enum ReadMode<'a> {
    /// Every row; the file is checked against its recorded checksum.
    All,
    /// The first n rows only; each row is checked against its record hash.
    Head(usize),
    /// `len` rows from row `start` (a streaming reader's step); each row is
    /// checked against its record hash, values are read without caching.
    Rows { start: usize, len: usize },
    /// These rows (ascending, distinct, each below the row count), in that
    /// order: only the row groups holding them are decoded; each row is
    /// checked against its record hash.
    Pick(&'a [usize]),
}

/// A column's arrays, downcast once.
pub enum Main {
    Bool(BooleanArray),
    Int(Int64Array),
    Float(Float64Array),
    Str(StringArray),
    Json(BinaryArray),
}

pub struct LoadedColumn {
    pub key: String,
    pub main: Main,
    pub refs: Option<UInt64Array>,
}

/// A decoded checkpoint with the values it references.
pub struct Loaded {
    /// Only some columns were read: `meta.columns` are those, and records
    /// (key order, record hashes) cannot be rebuilt.
    pub projected: bool,
    pub entry: Entry,
    pub path: PathBuf,
    pub meta: FileMeta,
    pub batch: RecordBatch,
    pub columns: Vec<LoadedColumn>,
    pub shapes: UInt32Array,
    pub record_hashes: FixedSizeBinaryArray,
    pub values: ValueTable,
    /// The rare fields, when the file has any.
    pub rest: Option<RestArrays>,
    /// The columns `table()` builds.
    pub table: Vec<TableColumn>,
}

/// One cell, borrowed from the decoded arrays or the value table.
#[derive(Clone, Copy)]
pub enum CellRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    /// A canonical encoding (nested, big int or mixed-type value).
    Canonical(&'a [u8]),
}

impl Store {
    /// Reads (step, op), or None when there is no such checkpoint. Retries
    /// when a concurrent writer replaced a file between manifest and read.
    pub fn read(&self, step: &str, op: &str, mode: ReadMode) -> Result<Option<Loaded>> {
        self.read_columns(step, op, None, mode, None)
    }

    /// Reads version `version` (None: the live one, see
    /// `Manifest::find_version`), only the columns of `keys` (and the values
    /// they reference) when given.
    pub fn read_columns(
        &self,
        step: &str,
        op: &str,
        version: Option<i64>,
        mode: ReadMode,
        keys: Option<&[String]>,
    ) -> Result<Option<Loaded>> {
        names::validate("step", step)?;
        names::validate("operation", op)?;
        let mut attempts = 0;
        loop {
            let manifest = self.manifest()?;
            let Some(entry) = manifest.find_version(step, op, version)?.cloned() else {
                return Ok(None);
            };
            match self.read_entry(&manifest, entry, mode, keys) {
                Err(e)
                    if e.is_not_found()
                        && attempts < 5
                        && self.manifest()?.generation != manifest.generation =>
                {
                    attempts += 1;
                }
                Err(e) if e.is_not_found() => return Err(e.missing_is_damage()),
                other => return other.map(Some),
            }
        }
    }

    pub(super) fn read_entry(
        &self,
        manifest: &Manifest,
        entry: Entry,
        mode: ReadMode,
        keys: Option<&[String]>,
    ) -> Result<Loaded> {
        let path = self.data_path(&entry.file);
        let (batch, meta, table) = match (mode, keys) {
            (ReadMode::All, None) => {
                let (batch, meta) = self.read_file(&entry)?;
                (batch, meta, None)
            }
            _ => {
                let file = self.storage.open_parquet(&entry.file, entry.bytes)?;
                let layout = checkpoint_file::file_meta(&path, file.schema().as_ref())?;
                let (columns, layout, table) = match keys {
                    Some(keys) => {
                        let (fields, projected, table) = project(&entry, &layout, keys)?;
                        (Some(fields), projected, Some(table))
                    }
                    None => (None, layout, None),
                };
                let rows = file.meta.metadata();
                let (row_groups, offset, limit) = match mode {
                    ReadMode::All => (None, None, None),
                    ReadMode::Head(n) => (Some(first_row_groups(rows, n)), None, Some(n)),
                    ReadMode::Rows { start, len } => {
                        let (groups, offset) = row_groups_for(rows, start, len);
                        (Some(groups), Some(offset), Some(len))
                    }
                    ReadMode::Pick(picked) => (Some(groups_holding(rows, picked)), None, None),
                };
                let plan = ReadPlan {
                    row_groups,
                    offset,
                    limit,
                    columns,
                };
                let meta = file.meta.metadata().clone();
                let mut batch = file.decode(plan)?;
                if let ReadMode::Pick(picked) = mode {
                    batch = pick_rows(&path, &meta, picked, &batch)?;
                }
                (batch, layout, table)
            }
        };
        let projected = keys.is_some();
        let mut loaded = Loaded::new(entry, path, batch, meta)?;
        loaded.projected = projected;
        if let Some(table) = table {
            loaded.table = table;
        }
        let mut ids = ref_ids(&loaded.batch, &loaded.meta);
        ids.sort_unstable();
        ids.dedup();
        for (seg, wanted) in manifest.segments_for(&ids) {
            let path = self.data_path(&seg.file);
            let values = match (mode, self.cache.get(&seg.file)) {
                (_, Some(cached)) => cached,
                (ReadMode::All, None) => {
                    let bytes =
                        self.storage
                            .read_verified(&seg.file, &seg.checksum, "value segment")?;
                    let values = Arc::new(SegmentValues::from_verified(&path, bytes)?);
                    self.cache.put(&seg.file, values.clone());
                    values
                }
                (ReadMode::Head(_) | ReadMode::Rows { .. } | ReadMode::Pick(_), None) => {
                    let file = self.storage.open_parquet(&seg.file, seg.bytes)?;
                    Arc::new(SegmentValues::read_partial(file, wanted)?)
                }
            };
            loaded.values.add(values, wanted);
        }
        if loaded.values.len() != ids.len() {
            return Err(Error::corrupt(
                &loaded.path,
                "references values missing from the value store",
            ));
        }
        // partial reads cannot check the whole file's checksum: rows are
        // checked by their hashes instead (a projection keeps the value hashes)
        if !matches!(mode, ReadMode::All) && !projected {
            loaded.verify_records()?;
        }
        Ok(loaded)
    }
}

impl Store {
    /// A checkpoint's whole file, checked against the checksum in its entry.
    pub(super) fn read_file(&self, entry: &Entry) -> Result<(RecordBatch, FileMeta)> {
        let path = self.data_path(&entry.file);
        let bytes = self
            .storage
            .read_verified(&entry.file, &entry.checksum, "checkpoint file")?;
        let batch = parquet_io::decode(&path, bytes, None, ReadPlan::default())?;
        let meta = checkpoint_file::file_meta(&path, batch.schema().as_ref())?;
        Ok((batch, meta))
    }
}

/// Every value id a decoded checkpoint file references (with repeats).
pub(super) fn ref_ids(batch: &RecordBatch, meta: &FileMeta) -> Vec<u64> {
    meta.columns
        .iter()
        .filter_map(|c| c.refs)
        .filter_map(|r| batch.column(r).as_primitive_opt::<UInt64Type>())
        .flat_map(|refs| refs.iter().flatten())
        .chain(rest_ref_ids(batch, meta))
        .collect()
}

/// The fields holding `keys` (with the record hash and shape fields first),
/// the layout renumbered to them and the table's columns; a key the
/// checkpoint lacks is an error.
fn project(
    entry: &Entry,
    meta: &FileMeta,
    keys: &[String],
) -> Result<(Vec<usize>, FileMeta, Vec<TableColumn>)> {
    let mut fields = vec![0, 1];
    let mut columns = Vec::with_capacity(keys.len());
    let mut table = Vec::with_capacity(keys.len());
    let mut rare = None;
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].contains(key) {
            return Err(Error::InvalidValue(format!(
                "checkpoint {}/{}: column {key:?} was chosen twice",
                entry.step, entry.op
            )));
        }
        let Some(c) = meta.columns.iter().find(|c| &c.key == key) else {
            // a rare key: its values are in the blobs, read once for all such keys
            let t = rare_table_column(meta, key).ok_or_else(|| no_column(entry, key))?;
            if let (None, Some(r)) = (&rare, &meta.rare) {
                fields.extend([r.main, r.refs]);
                rare = Some(RareMeta {
                    main: fields.len() - 2,
                    refs: fields.len() - 1,
                    ..r.clone()
                });
            }
            table.push(t);
            continue;
        };
        table.push(TableColumn::Dense(columns.len()));
        let mut c = c.clone();
        fields.push(c.main);
        c.main = fields.len() - 1;
        if let Some(r) = c.refs {
            fields.push(r);
            c.refs = Some(fields.len() - 1);
        }
        columns.push(c);
    }
    // decoded fields come in file order: renumber to that order
    let mut order = fields.clone();
    order.sort_unstable();
    order.dedup();
    if order.len() != fields.len() {
        return Err(Error::InvalidValue(format!(
            "checkpoint {}/{}: a column was chosen twice",
            entry.step, entry.op
        )));
    }
    let position = |field: usize| order.binary_search(&field).unwrap_or(0);
    for c in &mut columns {
        c.main = position(fields[c.main]);
        c.refs = c.refs.map(|r| position(fields[r]));
    }
    if let Some(r) = &mut rare {
        (r.main, r.refs) = (position(fields[r.main]), position(fields[r.refs]));
    }
    let projected = FileMeta {
        columns,
        rare,
        ..meta.clone()
    };
    Ok((order, projected, table))
}

/// The row groups holding rows `start..start + len`, and the rows of the
/// first to skip.
fn row_groups_for(
    meta: &parquet::file::metadata::ParquetMetaData,
    start: usize,
    len: usize,
) -> (Vec<usize>, usize) {
    let (mut first_row, mut groups, mut offset) = (0usize, Vec::new(), 0usize);
    for g in 0..meta.num_row_groups() {
        let rows = meta.row_group(g).num_rows() as usize;
        let end = first_row + rows;
        if end > start && first_row < start + len.max(1) {
            if groups.is_empty() {
                offset = start - first_row;
            }
            groups.push(g);
        }
        first_row = end;
    }
    (groups, offset)
}

/// The row groups holding any of `picked` (ascending).
fn groups_holding(meta: &parquet::file::metadata::ParquetMetaData, picked: &[usize]) -> Vec<usize> {
    let (mut first_row, mut groups) = (0usize, Vec::new());
    for g in 0..meta.num_row_groups() {
        let end = first_row + meta.row_group(g).num_rows() as usize;
        let lo = picked.partition_point(|&r| r < first_row);
        if picked.get(lo).is_some_and(|&r| r < end) {
            groups.push(g);
        }
        first_row = end;
    }
    groups
}

/// The `picked` rows of a batch decoded from `groups_holding(picked)`.
fn pick_rows(
    path: &Path,
    meta: &parquet::file::metadata::ParquetMetaData,
    picked: &[usize],
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    // each picked row's position among the decoded groups' rows
    let (mut first_row, mut decoded, mut local) =
        (0usize, 0usize, Vec::with_capacity(picked.len()));
    for g in 0..meta.num_row_groups() {
        let rows = meta.row_group(g).num_rows() as usize;
        let lo = picked.partition_point(|&r| r < first_row);
        let hi = picked.partition_point(|&r| r < first_row + rows);
        if lo < hi {
            local.extend(
                picked[lo..hi]
                    .iter()
                    .map(|&r| (r - first_row + decoded) as u32),
            );
            decoded += rows;
        }
        first_row += rows;
    }
    let indices = arrow_array::UInt32Array::from(local);
    arrow_select::take::take_record_batch(batch, &indices).decoding(path)
}

/// Row groups covering the first `n` rows.
fn first_row_groups(meta: &parquet::file::metadata::ParquetMetaData, n: usize) -> Vec<usize> {
    let mut rows = 0usize;
    let mut groups = Vec::new();
    for g in 0..meta.num_row_groups() {
        if rows >= n.max(1) {
            break;
        }
        groups.push(g);
        rows += meta.row_group(g).num_rows() as usize;
    }
    groups
}

fn typed<T: Clone + 'static>(path: &Path, array: &dyn Array) -> Result<T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| Error::corrupt(path, "column type does not match the layout metadata"))
}

impl Loaded {
    pub(super) fn new(
        entry: Entry,
        path: PathBuf,
        batch: RecordBatch,
        meta: FileMeta,
    ) -> Result<Loaded> {
        let mut columns = Vec::with_capacity(meta.columns.len());
        for c in &meta.columns {
            let array = batch.column(c.main).as_ref();
            let main = match c.kind {
                ColumnKind::Bool => Main::Bool(typed(&path, array)?),
                ColumnKind::Int => Main::Int(
                    array
                        .as_primitive_opt::<Int64Type>()
                        .cloned()
                        .ok_or_else(|| Error::corrupt(&path, "int column"))?,
                ),
                ColumnKind::Float => Main::Float(
                    array
                        .as_primitive_opt::<Float64Type>()
                        .cloned()
                        .ok_or_else(|| Error::corrupt(&path, "float column"))?,
                ),
                ColumnKind::Str => Main::Str(typed(&path, array)?),
                ColumnKind::Json => Main::Json(typed(&path, array)?),
            };
            let refs = match c.refs {
                Some(r) => Some(
                    batch
                        .column(r)
                        .as_primitive_opt::<UInt64Type>()
                        .cloned()
                        .ok_or_else(|| Error::corrupt(&path, "reference column"))?,
                ),
                None => None,
            };
            columns.push(LoadedColumn {
                key: c.key.clone(),
                main,
                refs,
            });
        }
        let shapes = batch
            .column(1)
            .as_primitive_opt::<UInt32Type>()
            .cloned()
            .ok_or_else(|| Error::corrupt(&path, "shape column"))?;
        let record_hashes: FixedSizeBinaryArray = typed(&path, batch.column(0).as_ref())?;
        let nshapes = meta.shapes.len() as u32;
        if shapes.null_count() > 0 || shapes.values().iter().any(|&s| s >= nshapes) {
            return Err(Error::corrupt(&path, "record shape out of range"));
        }
        let rest = match &meta.rare {
            Some(r) => Some(RestArrays::new(&path, &batch, r)?),
            None => None,
        };
        Ok(Loaded {
            rest,
            table: default_table(&meta),
            projected: false,
            entry,
            path,
            meta,
            batch,
            columns,
            shapes,
            record_hashes,
            values: ValueTable::default(),
        })
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Column indexes of row `row`'s keys, in the record's key order.
    pub fn shape(&self, row: usize) -> &[u32] {
        &self.meta.shapes[self.shapes.value(row) as usize]
    }

    /// The value id when the cell is in the value store.
    pub fn value_id(&self, col: usize, row: usize) -> Option<u64> {
        let refs = self.columns[col].refs.as_ref()?;
        refs.is_valid(row).then(|| refs.value(row))
    }

    pub fn cell(&self, col: usize, row: usize) -> Result<CellRef<'_>> {
        if let Some(id) = self.value_id(col, row) {
            let stored = self
                .values
                .get(id)
                .ok_or_else(|| Error::corrupt(&self.path, format!("value {id} missing")))?;
            return Ok(match stored {
                Stored::Str(s) => CellRef::Str(s),
                Stored::Canonical(bytes) => CellRef::Canonical(bytes),
            });
        }
        let column = &self.columns[col];
        Ok(match &column.main {
            Main::Bool(a) if a.is_valid(row) => CellRef::Bool(a.value(row)),
            Main::Int(a) if a.is_valid(row) => CellRef::Int(a.value(row)),
            Main::Float(a) if a.is_valid(row) => CellRef::Float(a.value(row)),
            Main::Str(a) if a.is_valid(row) => CellRef::Str(a.value(row)),
            Main::Json(a) if a.is_valid(row) => CellRef::Canonical(a.value(row)),
            _ => CellRef::Null,
        })
    }

    /// Recomputes each row's record hash from its cells: catches damage that
    /// a partial read cannot catch with the whole-file checksum.
    pub fn verify_records(&self) -> Result<()> {
        if self.projected {
            return Err(Error::Internal(
                "records of a column projection cannot be checked".into(),
            ));
        }
        let mut fields: Vec<(&str, Hash)> = Vec::new();
        for row in 0..self.num_rows() {
            fields.clear();
            self.for_each_field(row, |key, _, cell| {
                fields.push((key, cell_hash(cell)));
                Ok(())
            })?;
            let computed = canonical::record_hash(fields.iter().map(|(k, h)| (*k, h)));
            if computed.as_slice() != self.record_hashes.value(row) {
                return Err(Error::corrupt(
                    &self.path,
                    format!("record {row} does not match its hash"),
                ));
            }
        }
        Ok(())
    }
}

fn cell_hash(cell: CellRef) -> Hash {
    use crate::value::Value;
    match cell {
        CellRef::Null => canonical::hash_value(&Value::Null),
        CellRef::Bool(b) => canonical::hash_value(&Value::Bool(b)),
        CellRef::Int(n) => canonical::hash_value(&Value::Int(n)),
        CellRef::Float(f) => canonical::hash_value(&Value::Float(f)),
        CellRef::Str(s) => canonical::hash_str(s),
        CellRef::Canonical(bytes) => canonical::hash_encoded(bytes),
    }
}
