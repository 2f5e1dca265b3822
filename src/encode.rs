//! Splits records into columns: hashes every field value, keeps small values
//! inline and collects the large ones for the content-addressed value store.

use std::collections::HashMap;
use std::sync::Arc;

use crate::canonical::{self, Hash, RecordHash};
use crate::digest_map::KeyMap;
use crate::logical::LogicalType;
use crate::rare::{self, RareFields};
use crate::value::{Record, Value};

/// Strings of at least this many bytes (and nested values whose canonical
/// encoding is this long) are stored once in the value store, not inline.
/// Chosen with `benchmarks/footprint.py`: below it a reference costs more
/// than the repeated inline value after compression.
pub const LARGE_VALUE_BYTES: usize = 32;

/// How a large value's bytes are kept in a value segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Raw UTF-8 of a string.
    Str = 0,
    /// The canonical encoding of any other value.
    Canonical = 1,
}

impl ValueKind {
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Str),
            1 => Some(ValueKind::Canonical),
            _ => None,
        }
    }
}

/// The physical storage of a column in a checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Bool,
    Int,
    Float,
    /// Inline UTF-8, plus value references for large strings.
    Str,
    /// Inline canonical encodings, plus value references for large values.
    Json,
}

impl ColumnKind {
    fn for_type(t: &LogicalType) -> ColumnKind {
        match t {
            LogicalType::Bool => ColumnKind::Bool,
            LogicalType::Int => ColumnKind::Int,
            LogicalType::Float => ColumnKind::Float,
            LogicalType::Str => ColumnKind::Str,
            _ => ColumnKind::Json,
        }
    }
}

/// A value for the value store.
pub struct LargeValue {
    pub hash: Hash,
    pub kind: ValueKind,
    pub data: LargeData,
}

pub enum LargeData {
    Str(Arc<str>),
    Bytes(Vec<u8>),
}

impl LargeData {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            LargeData::Str(s) => s.as_bytes(),
            LargeData::Bytes(b) => b,
        }
    }
}

/// One row's cell in a column.
#[derive(Clone, Copy)]
pub enum Cell<'a> {
    /// The key is missing, or holds None (the record's shape tells which).
    Null,
    Inline(&'a Value),
    /// Index into `Encoded::large`.
    Large(u32),
}

pub struct EncodedColumn<'a> {
    pub key: Arc<str>,
    pub logical: LogicalType,
    pub kind: ColumnKind,
    pub cells: Vec<Cell<'a>>,
    pub has_large: bool,
}

pub struct Encoded<'a> {
    /// Columns of the keys dense enough for one (`rare::dense_keys`).
    pub columns: Vec<EncodedColumn<'a>>,
    /// Distinct key orders, as column indexes or `rare::RARE` (the row's next
    /// rare field); `row_shapes[i]` indexes this.
    pub shapes: Vec<Vec<u32>>,
    pub row_shapes: Vec<u32>,
    pub record_hashes: Vec<RecordHash>,
    /// The fields of keys too rare for a column, when there are any.
    pub rare: Option<RareFields>,
    /// Large values of this checkpoint, each once, in order of first use.
    pub large: Vec<LargeValue>,
    /// Number of large-value references (one per large cell).
    pub value_refs: u64,
    /// Size of the records' canonical encoding: what the data weighs before dedup.
    pub logical_bytes: u64,
}

impl<'a> Encoded<'a> {
    /// A digest of all record hashes: equal digests mean equal checkpoints.
    pub fn records_digest(&self) -> Hash {
        records_digest(self.record_hashes.iter())
    }

    /// The columns `table()` shows (what the manifest entry lists): the dense
    /// keys, then the rare keys when few, else the folded `rare::REST_COLUMN`.
    pub fn table_columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.columns.iter().map(|c| c.key.to_string()).collect();
        match &self.rare {
            Some(r) if r.keys.len() <= rare::LISTED_RARE_KEYS => {
                names.extend(r.keys.iter().map(|(k, _)| k.to_string()))
            }
            Some(_) => names.push(rare::REST_COLUMN.to_string()),
            None => {}
        }
        names
    }
}

/// blake3 over the count and the record hashes, in order.
pub fn records_digest<H: AsRef<[u8]>>(hashes: impl ExactSizeIterator<Item = H>) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(hashes.len() as u64).to_le_bytes());
    for h in hashes {
        hasher.update(h.as_ref());
    }
    *hasher.finalize().as_bytes()
}

#[derive(Default)]
struct Interner {
    large_index: KeyMap<Hash, u32>,
    /// Hashes of shared strings by address: unnest rows share one text.
    str_hashes: KeyMap<usize, Hash>,
}

/// What pass one learns about a key.
struct KeyStats {
    key: Arc<str>,
    logical: LogicalType,
    rows: u64,
    has_large: bool,
}

pub fn encode(records: &[Record]) -> Encoded<'_> {
    encode_with(records, rare::DENSE_FRACTION)
}

/// `encode`, giving a column to keys in at least 1 row in `dense_fraction`
/// (other values are for measuring the rule).
pub fn encode_with(records: &[Record], dense_fraction: u64) -> Encoded<'_> {
    let mut out = Encoded {
        columns: Vec::new(),
        shapes: Vec::new(),
        row_shapes: Vec::with_capacity(records.len()),
        record_hashes: Vec::with_capacity(records.len()),
        rare: None,
        large: Vec::new(),
        value_refs: 0,
        logical_bytes: 0,
    };
    // pass one: every field's hash and cell, and how many rows hold each key
    let mut key_of: HashMap<Arc<str>, u32> = HashMap::new();
    let mut keys: Vec<KeyStats> = Vec::new();
    let mut fields: Vec<(u32, Cell)> = Vec::new();
    let mut row_ends: Vec<usize> = Vec::with_capacity(records.len());
    let mut interner = Interner::default();
    let mut field_hashes: Vec<Hash> = Vec::new();
    for record in records {
        field_hashes.clear();
        for (key, value) in record {
            let k = *key_of.entry(key.clone()).or_insert_with(|| {
                keys.push(KeyStats {
                    key: key.clone(),
                    logical: LogicalType::Null,
                    rows: 0,
                    has_large: false,
                });
                (keys.len() - 1) as u32
            });
            let stats = &mut keys[k as usize];
            let (hash, cell, size) = interner.cell(value, &mut out.large);
            if let Cell::Large(_) = cell {
                stats.has_large = true;
                out.value_refs += 1;
            }
            stats.rows += 1;
            stats.logical =
                std::mem::replace(&mut stats.logical, LogicalType::Null).merge_value(value);
            out.logical_bytes += (key.len() + size) as u64;
            fields.push((k, cell));
            field_hashes.push(hash);
        }
        row_ends.push(fields.len());
        out.record_hashes.push(canonical::record_hash(
            record
                .iter()
                .zip(&field_hashes)
                .map(|((k, _), h)| (&**k, h)),
        ));
    }
    // pass two: dense keys become columns, the others rare fields
    let counts: Vec<u64> = keys.iter().map(|k| k.rows).collect();
    let dense = rare::dense_keys(&counts, records.len(), dense_fraction);
    let mut column_of: Vec<u32> = vec![rare::RARE; keys.len()];
    let mut rare_keys = Vec::new();
    for (k, stats) in keys.into_iter().enumerate() {
        if dense[k] {
            column_of[k] = out.columns.len() as u32;
            out.columns.push(EncodedColumn {
                kind: ColumnKind::for_type(&stats.logical),
                key: stats.key,
                logical: stats.logical,
                cells: vec![Cell::Null; records.len()],
                has_large: stats.has_large,
            });
        } else {
            rare_keys.push((stats.key, stats.logical));
        }
    }
    let mut rare_fields =
        (!rare_keys.is_empty()).then(|| RareFields::new(rare_keys, records.len()));
    let mut shape_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut shape: Vec<u32> = Vec::new();
    let mut rare_row: Vec<(&str, Cell)> = Vec::new();
    let mut start = 0;
    for (row, (record, &end)) in records.iter().zip(&row_ends).enumerate() {
        shape.clear();
        rare_row.clear();
        for ((key, _), &(k, cell)) in record.iter().zip(&fields[start..end]) {
            let col = column_of[k as usize];
            if col == rare::RARE {
                rare_row.push((key, cell));
            } else {
                out.columns[col as usize].cells[row] = cell;
            }
            shape.push(col);
        }
        start = end;
        let next_id = shape_ids.len() as u32;
        let shape_id = *shape_ids.entry(shape.clone()).or_insert_with(|| {
            out.shapes.push(shape.clone());
            next_id
        });
        out.row_shapes.push(shape_id);
        if let Some(r) = rare_fields.as_mut() {
            r.push_row(&rare_row);
        }
    }
    out.rare = rare_fields;
    out
}

impl Interner {
    /// The value's hash, how it is stored, and its canonical size.
    fn cell<'a>(
        &mut self,
        value: &'a Value,
        large: &mut Vec<LargeValue>,
    ) -> (Hash, Cell<'a>, usize) {
        match value {
            Value::Null => (canonical::hash_value(value), Cell::Null, 1),
            Value::Str(s) => {
                let hash = *self
                    .str_hashes
                    .entry(s.as_ptr() as usize)
                    .or_insert_with(|| canonical::hash_str(s));
                let size = s.len() + 5;
                if s.len() < LARGE_VALUE_BYTES {
                    return (hash, Cell::Inline(value), size);
                }
                let idx = self.intern(hash, large, || LargeValue {
                    hash,
                    kind: ValueKind::Str,
                    data: LargeData::Str(s.clone()),
                });
                (hash, Cell::Large(idx), size)
            }
            Value::List(_) | Value::Object(_) | Value::Surrogates(_) => {
                let bytes = canonical::encode(value);
                let hash = canonical::hash_encoded(&bytes);
                let size = bytes.len();
                if size < LARGE_VALUE_BYTES {
                    return (hash, Cell::Inline(value), size);
                }
                let idx = self.intern(hash, large, || LargeValue {
                    hash,
                    kind: ValueKind::Canonical,
                    data: LargeData::Bytes(bytes),
                });
                (hash, Cell::Large(idx), size)
            }
            other => {
                let bytes = canonical::encode(other);
                (
                    canonical::hash_encoded(&bytes),
                    Cell::Inline(value),
                    bytes.len(),
                )
            }
        }
    }

    fn intern(
        &mut self,
        hash: Hash,
        large: &mut Vec<LargeValue>,
        make: impl FnOnce() -> LargeValue,
    ) -> u32 {
        *self.large_index.entry(hash).or_insert_with(|| {
            large.push(make());
            (large.len() - 1) as u32
        })
    }
}
