//! The Parquet file of one checkpoint: a column per top-level key, typed where
//! the values allow, value ids where a value lives in the value store, plus
//! each record's hash and key order (shape).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, FixedSizeBinaryArray, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::Encoding;
use parquet::file::metadata::KeyValue;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::encode::{Cell, ColumnKind, Encoded, EncodedColumn};
use crate::error::{Error, Result};
use crate::logical::LogicalType;
use crate::manifest::EntryKind;
use crate::parquet_io;
use crate::rare;
use crate::rare_columns;
pub use crate::rare_columns::{RareKey, RareMeta};
use crate::value::Value;

/// Schema metadata key holding `FileMeta` as JSON.
pub const META_KEY: &str = "docetl_checkpoint";
/// 2: fields that do not hold every value of their key are named `__c<i>`
/// (not the key), and the file carries its `origin`; 1 is read as before.
/// 3: rare keys' fields in `__rest` (see `rare`). Files without rare keys
/// are still written as 2, so older releases keep reading them.
pub const FORMAT_VERSION: u32 = 3;
const FORMAT_WITHOUT_RARE: u32 = 2;
/// Schema metadata key telling other Parquet readers how to open the file.
pub const HOW_TO_READ_KEY: &str = "docetl_checkpoint.how_to_read";
const HOW_TO_READ: &str = "a docetl-checkpoint file: columns named __c<i> hold references \
into the store's value segments or canonical bytes, not data, and __rest the fields of \
rare keys; read the records with docetl_checkpoint.read_table(path)";
pub const RECORD_HASH_FIELD: &str = "__record_hash";
pub const SHAPE_FIELD: &str = "__shape";
/// Rows per row group: `sample(n)` decodes only the first group(s).
pub const ROW_GROUP_ROWS: usize = 2048;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub key: String,
    pub kind: ColumnKind,
    pub logical: LogicalType,
    /// Field index of the inline values.
    pub main: usize,
    /// Field index of the value ids, when some values are in the value store.
    pub refs: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileMeta {
    pub format: u32,
    pub columns: Vec<ColumnMeta>,
    /// Key orders as column indexes; the shape column indexes this list.
    pub shapes: Vec<Vec<u32>>,
    /// Which checkpoint the file was written for: what `recover` needs to
    /// rebuild a lost manifest (absent in format 1 files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Where the rare keys' fields are (format 3, when the file has any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rare: Option<RareMeta>,
}

impl FileMeta {
    /// The columns `table()` shows, as `Encoded::table_columns` names them.
    pub fn table_columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.columns.iter().map(|c| c.key.clone()).collect();
        match self.rare.as_ref().map(|r| &r.keys) {
            Some(Some(keys)) => names.extend(keys.iter().map(|k| k.key.clone())),
            Some(None) => names.push(rare::REST_COLUMN.to_string()),
            None => {}
        }
        names
    }
}

/// The manifest entry of a checkpoint file, less what the file itself says
/// (size, checksum, rows, columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub step: String,
    pub op: String,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_index: Option<u64>,
    pub created_at: f64,
    pub logical_bytes: u64,
    pub value_refs: u64,
    pub records_digest: String,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

/// Builds the checkpoint file; `ids[i]` is the value id of `encoded.large[i]`.
pub fn write(encoded: &Encoded, ids: &[u64], origin: &Origin) -> Result<Vec<u8>> {
    let mut fields = vec![
        Field::new(
            RECORD_HASH_FIELD,
            DataType::FixedSizeBinary(canonical::RECORD_HASH_BYTES as i32),
            false,
        ),
        Field::new(SHAPE_FIELD, DataType::UInt32, false),
    ];
    let hashes = hash_array(&encoded.record_hashes, canonical::RECORD_HASH_BYTES)?;
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(hashes),
        Arc::new(UInt32Array::from(encoded.row_shapes.clone())),
    ];
    let mut names = Names::default();
    let mut columns = Vec::with_capacity(encoded.columns.len());
    let mut props = parquet_io::base_properties()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_column_dictionary_enabled(ColumnPath::from(RECORD_HASH_FIELD), false)
        .set_column_statistics_enabled(
            ColumnPath::from(RECORD_HASH_FIELD),
            parquet::file::properties::EnabledStatistics::None,
        );
    for (index, column) in encoded.columns.iter().enumerate() {
        // a field keeps the key's name only when it holds every value of the
        // key as plain data: other tools must not read references as nulls
        let plain = !column.has_large && column.kind != ColumnKind::Json;
        let main_name = names.unique(if plain { &column.key } else { "" }, index, "");
        fields.push(Field::new(&main_name, main_type(column.kind), true));
        arrays.push(main_array(column));
        let main = fields.len() - 1;
        let refs = if column.has_large {
            let ref_name = names.unique("", index, "_ref");
            // ids rise through a checkpoint: delta encoding keeps a reference to ~1 byte
            props = props
                .set_column_dictionary_enabled(ColumnPath::from(ref_name.as_str()), false)
                .set_column_encoding(
                    ColumnPath::from(ref_name.as_str()),
                    Encoding::DELTA_BINARY_PACKED,
                );
            fields.push(Field::new(&ref_name, DataType::UInt64, true));
            arrays.push(ref_array(column, ids));
            Some(fields.len() - 1)
        } else {
            None
        };
        columns.push(ColumnMeta {
            key: column.key.to_string(),
            kind: column.kind,
            logical: column.logical.clone(),
            main,
            refs,
        });
    }
    let rare = match &encoded.rare {
        Some(r) => {
            names.0.insert(rare::REST_COLUMN.to_string());
            names.0.insert(rare::REST_REF_FIELD.to_string());
            let (meta, with_rare) = rare_columns::add(r, ids, &mut fields, &mut arrays, props)?;
            props = with_rare;
            Some(meta)
        }
        None => None,
    };
    let meta = FileMeta {
        format: if rare.is_some() {
            FORMAT_VERSION
        } else {
            FORMAT_WITHOUT_RARE
        },
        columns,
        shapes: encoded.shapes.clone(),
        origin: Some(origin.clone()),
        rare,
    };
    let meta_json = serde_json::to_string(&meta).map_err(|e| Error::Internal(e.to_string()))?;
    // the layout goes in the Parquet footer once; the Arrow schema (which would
    // repeat it) is not embedded: every type here reads back from Parquet's own
    let props = props.set_key_value_metadata(Some(vec![
        KeyValue::new(META_KEY.to_string(), meta_json),
        KeyValue::new(HOW_TO_READ_KEY.to_string(), HOW_TO_READ.to_string()),
    ]));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::Internal(format!("building checkpoint batch: {e}")))?;
    parquet_io::encode(&batch, props, false)
}

/// A FixedSizeBinary array of `width`-byte hashes (empty input included).
pub fn hash_array<H: AsRef<[u8]>>(hashes: &[H], width: usize) -> Result<FixedSizeBinaryArray> {
    let mut b =
        arrow_array::builder::FixedSizeBinaryBuilder::with_capacity(hashes.len(), width as i32);
    for h in hashes {
        b.append_value(h.as_ref())
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    Ok(b.finish())
}

/// Unique Parquet field names: the key itself where possible, for people who open the file.
#[derive(Default)]
struct Names(HashSet<String>);

impl Names {
    fn unique(&mut self, wanted: &str, index: usize, suffix: &str) -> String {
        let reserved = [
            RECORD_HASH_FIELD,
            SHAPE_FIELD,
            rare::REST_COLUMN,
            rare::REST_REF_FIELD,
        ]
        .contains(&wanted)
            || wanted.is_empty();
        let mut name = if reserved {
            format!("__c{index}{suffix}")
        } else {
            wanted.to_string()
        };
        while self.0.contains(&name) {
            name = format!("__c{index}{suffix}_{}", self.0.len());
        }
        self.0.insert(name.clone());
        name
    }
}

fn main_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Bool => DataType::Boolean,
        ColumnKind::Int => DataType::Int64,
        ColumnKind::Float => DataType::Float64,
        ColumnKind::Str => DataType::Utf8,
        ColumnKind::Json => DataType::Binary,
    }
}

fn inline<'a>(cell: &Cell<'a>) -> Option<&'a Value> {
    match cell {
        Cell::Inline(v) => Some(v),
        _ => None,
    }
}

fn main_array(column: &EncodedColumn) -> ArrayRef {
    let cells = &column.cells;
    match column.kind {
        ColumnKind::Bool => {
            let mut b = BooleanBuilder::with_capacity(cells.len());
            cells.iter().for_each(|c| {
                b.append_option(match inline(c) {
                    Some(Value::Bool(x)) => Some(*x),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        ColumnKind::Int => {
            let mut b = Int64Builder::with_capacity(cells.len());
            cells.iter().for_each(|c| {
                b.append_option(match inline(c) {
                    Some(Value::Int(x)) => Some(*x),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        ColumnKind::Float => {
            let mut b = Float64Builder::with_capacity(cells.len());
            cells.iter().for_each(|c| {
                b.append_option(match inline(c) {
                    Some(Value::Float(x)) => Some(*x),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        ColumnKind::Str => {
            let mut b = StringBuilder::with_capacity(cells.len(), 0);
            cells.iter().for_each(|c| {
                b.append_option(match inline(c) {
                    Some(Value::Str(s)) => Some(&**s),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        ColumnKind::Json => {
            let mut b = BinaryBuilder::with_capacity(cells.len(), 0);
            let mut buf = Vec::new();
            for cell in cells {
                match inline(cell) {
                    Some(v) => {
                        buf.clear();
                        canonical::encode_into(v, &mut buf);
                        b.append_value(&buf);
                    }
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

fn ref_array(column: &EncodedColumn, ids: &[u64]) -> ArrayRef {
    let mut b = UInt64Builder::with_capacity(column.cells.len());
    for cell in &column.cells {
        b.append_option(match cell {
            Cell::Large(i) => ids.get(*i as usize).copied(),
            _ => None,
        });
    }
    Arc::new(b.finish())
}

/// The layout metadata of a decoded checkpoint file, checked against its fields.
pub fn file_meta(path: &Path, schema: &Schema) -> Result<FileMeta> {
    let json = schema
        .metadata()
        .get(META_KEY)
        .ok_or_else(|| Error::corrupt(path, "not a docetl-checkpoint file (no layout metadata)"))?;
    let meta: FileMeta = serde_json::from_str(json)
        .map_err(|e| Error::corrupt(path, format!("layout metadata: {e}")))?;
    if !(1..=FORMAT_VERSION).contains(&meta.format) {
        return Err(Error::corrupt(
            path,
            format!(
                "checkpoint file format {} is newer than this release reads ({FORMAT_VERSION}): upgrade docetl-checkpoint",
                meta.format
            ),
        ));
    }
    let n = schema.fields().len();
    let expected = |i: usize, kind: ColumnKind| {
        schema
            .fields()
            .get(i)
            .map(|f| f.data_type() == &main_type(kind))
            .unwrap_or(false)
    };
    for c in &meta.columns {
        let refs_ok = c
            .refs
            .is_none_or(|r| r < n && schema.field(r).data_type() == &DataType::UInt64);
        if !expected(c.main, c.kind) || !refs_ok {
            return Err(Error::corrupt(
                path,
                format!(
                    "layout metadata does not match the columns of key {:?}",
                    c.key
                ),
            ));
        }
    }
    if let Some(r) = &meta.rare {
        rare_columns::check(path, schema, r, meta.format)?;
    }
    let ncols = meta.columns.len() as u32;
    let has_rare = meta.rare.is_some();
    let bad = |c: u32| c >= ncols && !(c == rare::RARE && has_rare);
    if meta.shapes.iter().flatten().any(|&c| bad(c)) || n < 2 {
        return Err(Error::corrupt(
            path,
            "layout metadata names columns the file lacks",
        ));
    }
    Ok(meta)
}
