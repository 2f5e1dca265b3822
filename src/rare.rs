//! Rare keys: keys present in too few rows of a checkpoint to pay for a
//! column of their own. Their fields go, in record order, into one per-row
//! blob (`__rest`), so a checkpoint's cost grows with its fields, not with
//! rows x distinct keys.
//!
//! A blob is the canonical encoding of an object holding the row's rare
//! fields (`08` varint(count) { varint(key length) key value }), except that
//! a value kept in the value store is written `REF_TAG`: its id is the row's
//! next entry in the `__rest_ref` list column.

use std::sync::Arc;

use crate::canonical::{self, TAG_OBJECT};
use crate::encode::Cell;
use crate::error::{Error, Result};
use crate::logical::LogicalType;

/// A key is given a column when it is present in at least one row in
/// `DENSE_FRACTION` (rows <= count * DENSE_FRACTION). Measured: with 40
/// optional keys over 10,000 rows, rare fields take 0.61x-0.81x the bytes of
/// columns at every share from 0.1% to 40% of rows (`dense_fraction_measurement`
/// in rare_tests.rs: columns pay per row group, and per-row key orders of many
/// optional columns fill the footer), so size alone would make every optional
/// key rare. Reads pay instead: 20,000 records, 40 keys just under 1/32 (rare)
/// vs just over (columns), release build: file 0.79x, save 0.66x, but load()
/// 1.8x, table() 1.4x, table() of one such key 2.5x. Keys in 1/32 of the rows
/// or more keep typed columns (projection without parsing blobs, and ordinary
/// records as before); checkpoints under 32 rows keep a column per key.
pub const DENSE_FRACTION: u64 = 32;

/// `shapes` entry standing for "the row's next rare field".
pub const RARE: u32 = u32::MAX;

/// At most this many rare keys are listed (with their Arrow types) in the
/// file's layout and shown as columns by `table()`; past it they are folded
/// into one JSON text column, `REST_COLUMN`.
pub const LISTED_RARE_KEYS: usize = 64;

/// Parquet field of the blobs, and the name of `table()`'s folded column.
pub const REST_COLUMN: &str = "__rest";
/// Parquet field of the value ids the blobs reference.
pub const REST_REF_FIELD: &str = "__rest_ref";

/// Tag of a value kept in the value store, in place of its canonical encoding.
pub const REF_TAG: u8 = 0xff;

/// The rare fields of a save, one blob per row.
pub struct RareFields {
    /// Rare keys in order of first appearance, with their values' type.
    pub keys: Vec<(Arc<str>, LogicalType)>,
    /// Per row, its blob (None when the row has no rare field).
    pub blobs: Vec<Option<Vec<u8>>>,
    /// Per row, indexes into `Encoded::large` of the values its blob references.
    pub refs: Vec<Vec<u32>>,
}

impl RareFields {
    pub fn new(keys: Vec<(Arc<str>, LogicalType)>, rows: usize) -> RareFields {
        RareFields {
            keys,
            blobs: Vec::with_capacity(rows),
            refs: Vec::with_capacity(rows),
        }
    }

    /// Adds a row's blob (none when it has no rare field).
    pub fn push_row(&mut self, fields: &[(&str, Cell)]) {
        if fields.is_empty() {
            self.blobs.push(None);
            self.refs.push(Vec::new());
            return;
        }
        let mut blob = Vec::new();
        let mut refs = Vec::new();
        encode_blob(fields, &mut blob, |cell, out| match cell {
            Cell::Null => out.push(canonical::TAG_NULL),
            Cell::Inline(v) => canonical::encode_into(v, out),
            Cell::Large(i) => {
                out.push(REF_TAG);
                refs.push(*i);
            }
        });
        self.blobs.push(Some(blob));
        self.refs.push(refs);
    }
}

/// Which keys get a column, given how many rows hold each key.
/// `fraction` is `DENSE_FRACTION` but for measurements.
pub fn dense_keys(counts: &[u64], rows: usize, fraction: u64) -> Vec<bool> {
    counts
        .iter()
        .map(|&n| n.saturating_mul(fraction) >= rows as u64)
        .collect()
}

/// One rare field's value as a blob holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RareValue<'a> {
    /// A canonical encoding.
    Inline(&'a [u8]),
    /// The row's `n`th value id.
    Ref(usize),
}

/// Writes a row's blob; `value` appends each field's value (its canonical
/// encoding, or `REF_TAG`).
pub fn encode_blob<T>(
    fields: &[(&str, T)],
    out: &mut Vec<u8>,
    value: impl FnMut(&T, &mut Vec<u8>),
) {
    canonical::put_object(fields, out, value);
}

/// The fields of a blob, in order.
pub struct BlobFields<'a> {
    r: canonical::Reader<'a>,
    left: u64,
    refs: usize,
}

impl<'a> BlobFields<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<BlobFields<'a>> {
        let mut b = BlobFields {
            r: canonical::Reader::new(bytes),
            left: 0,
            refs: 0,
        };
        if b.byte()? != TAG_OBJECT {
            return Err(malformed("rare fields are not an object"));
        }
        b.left = b.varint()?;
        Ok(b)
    }

    /// Fields not read yet.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// The next field, or an error when the blob ends early.
    pub fn next_field(&mut self) -> Result<(&'a str, RareValue<'a>)> {
        if self.left == 0 {
            return Err(malformed("fewer rare fields than the record's shape"));
        }
        self.left -= 1;
        let len = self.varint()?;
        let key = std::str::from_utf8(self.take(len)?).map_err(|_| malformed("key not UTF-8"))?;
        if self.r.bytes.get(self.r.pos) == Some(&REF_TAG) {
            self.r.pos += 1;
            self.refs += 1;
            return Ok((key, RareValue::Ref(self.refs - 1)));
        }
        let start = self.r.pos;
        self.skip_value(0)?;
        Ok((key, RareValue::Inline(&self.r.bytes[start..self.r.pos])))
    }

    /// Checks nothing follows the last field.
    pub fn finish(&self) -> Result<()> {
        if self.left != 0 || self.r.pos != self.r.bytes.len() {
            return Err(malformed("more rare fields than the record's shape"));
        }
        Ok(())
    }

    // the canonical cursor's primitives, their errors said to be the blob's
    fn byte(&mut self) -> Result<u8> {
        self.r.byte().map_err(in_blob)
    }

    fn varint(&mut self) -> Result<u64> {
        self.r.varint().map_err(in_blob)
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        self.r.take(len).map_err(in_blob)
    }

    /// Moves past one canonical value (checked in full when it is decoded).
    fn skip_value(&mut self, depth: usize) -> Result<()> {
        if depth > canonical::MAX_DEPTH {
            return Err(malformed("nesting too deep"));
        }
        match self.byte()? {
            canonical::TAG_NULL | canonical::TAG_FALSE | canonical::TAG_TRUE => {}
            canonical::TAG_INT => {
                self.varint()?;
            }
            canonical::TAG_BIGINT | canonical::TAG_STR | canonical::TAG_SURROGATES => {
                let len = self.varint()?;
                self.take(len)?;
            }
            canonical::TAG_FLOAT => {
                self.take(8)?;
            }
            canonical::TAG_LIST => {
                for _ in 0..self.varint()? {
                    self.skip_value(depth + 1)?;
                }
            }
            TAG_OBJECT => {
                for _ in 0..self.varint()? {
                    let len = self.varint()?;
                    self.take(len)?;
                    self.skip_value(depth + 1)?;
                }
            }
            tag => return Err(malformed(&format!("unknown tag 0x{tag:02x}"))),
        }
        Ok(())
    }
}

fn malformed(detail: &str) -> Error {
    Error::Malformed(format!("rare fields: {detail}"))
}

fn in_blob(e: Error) -> Error {
    match e {
        Error::Malformed(detail) => malformed(&detail),
        other => other,
    }
}

#[cfg(test)]
#[path = "rare_tests.rs"]
mod tests;
