//! Splits records into columns: hashes every field value, keeps small values
//! inline and collects the large ones for the content-addressed value store.

use std::collections::HashMap;
use std::sync::Arc;

use crate::canonical::{self, Hash, RecordHash};
use crate::digest_map::KeyMap;
use crate::logical::LogicalType;
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
    pub columns: Vec<EncodedColumn<'a>>,
    /// Distinct key orders, as column indexes; `row_shapes[i]` indexes this.
    pub shapes: Vec<Vec<u32>>,
    pub row_shapes: Vec<u32>,
    pub record_hashes: Vec<RecordHash>,
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

pub fn encode(records: &[Record]) -> Encoded<'_> {
    let mut out = Encoded {
        columns: Vec::new(),
        shapes: Vec::new(),
        row_shapes: Vec::with_capacity(records.len()),
        record_hashes: Vec::with_capacity(records.len()),
        large: Vec::new(),
        value_refs: 0,
        logical_bytes: 0,
    };
    let mut column_of: HashMap<Arc<str>, usize> = HashMap::new();
    let mut shape_ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut interner = Interner::default();
    let mut field_hashes: Vec<Hash> = Vec::new();
    let mut shape: Vec<u32> = Vec::new();

    for (row, record) in records.iter().enumerate() {
        field_hashes.clear();
        shape.clear();
        for (key, value) in record {
            let col = *column_of.entry(key.clone()).or_insert_with(|| {
                out.columns.push(EncodedColumn {
                    key: key.clone(),
                    logical: LogicalType::Null,
                    kind: ColumnKind::Json,
                    cells: Vec::new(),
                    has_large: false,
                });
                out.columns.len() - 1
            });
            let column = &mut out.columns[col];
            // rows before this column's first appearance stay Null
            column.cells.resize(row, Cell::Null);
            let (hash, cell, size) = interner.cell(value, &mut out.large);
            if let Cell::Large(_) = cell {
                column.has_large = true;
                out.value_refs += 1;
            }
            column.cells.push(cell);
            column.logical =
                std::mem::replace(&mut column.logical, LogicalType::Null).merge_value(value);
            out.logical_bytes += (key.len() + size) as u64;
            field_hashes.push(hash);
            shape.push(col as u32);
        }
        let next_id = shape_ids.len() as u32;
        let shape_id = *shape_ids.entry(shape.clone()).or_insert_with(|| {
            out.shapes.push(shape.clone());
            next_id
        });
        out.row_shapes.push(shape_id);
        out.record_hashes.push(canonical::record_hash(
            record
                .iter()
                .zip(&field_hashes)
                .map(|((k, _), h)| (&**k, h)),
        ));
    }
    for column in &mut out.columns {
        column.cells.resize(records.len(), Cell::Null);
        column.kind = ColumnKind::for_type(&column.logical);
    }
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
