//! The canonical, type-tagged binary encoding of values and the hashes over it.
//!
//! Specified in docs/format.md and frozen by the golden vectors below: hashes
//! must be equal across runs, processes, platforms and versions.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::value::{Record, Value};

pub const TAG_NULL: u8 = 0x00;
pub const TAG_FALSE: u8 = 0x01;
pub const TAG_TRUE: u8 = 0x02;
pub const TAG_INT: u8 = 0x03;
pub const TAG_BIGINT: u8 = 0x04;
pub const TAG_FLOAT: u8 = 0x05;
pub const TAG_STR: u8 = 0x06;
pub const TAG_LIST: u8 = 0x07;
pub const TAG_OBJECT: u8 = 0x08;
pub const TAG_RECORD: u8 = 0x09;
/// A string with lone surrogates: varint length, then its generalized UTF-8.
pub const TAG_SURROGATES: u8 = 0x0a;

/// Deepest nesting accepted; deeper input (or a cycle) is refused, not a stack overflow.
pub const MAX_DEPTH: usize = 1000;

pub type Hash = [u8; 32];
/// Record hashes are the first 16 bytes of blake3's output: one is stored per
/// row, and 128 bits keep collisions out of reach (2^-64 at 2^32 records).
pub const RECORD_HASH_BYTES: usize = 16;
pub type RecordHash = [u8; RECORD_HASH_BYTES];

/// An object's encoding: `08`, the field count, then each key and the
/// value `value` writes (the canonical one, or a rare-field blob's).
pub(crate) fn put_object<K: AsRef<str>, T>(
    fields: &[(K, T)],
    out: &mut Vec<u8>,
    mut value: impl FnMut(&T, &mut Vec<u8>),
) {
    out.push(TAG_OBJECT);
    put_varint(out, fields.len() as u64);
    for (key, v) in fields {
        let key = key.as_ref();
        put_varint(out, key.len() as u64);
        out.extend_from_slice(key.as_bytes());
        value(v, out);
    }
}

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Int(n) => {
            out.push(TAG_INT);
            put_varint(out, zigzag(*n));
        }
        Value::BigInt(digits) => {
            out.push(TAG_BIGINT);
            put_varint(out, digits.len() as u64);
            out.extend_from_slice(digits.as_bytes());
        }
        Value::Float(f) => {
            out.push(TAG_FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => encode_str_into(s, out),
        Value::Surrogates(bytes) => {
            out.push(TAG_SURROGATES);
            put_varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        Value::List(items) => {
            out.push(TAG_LIST);
            put_varint(out, items.len() as u64);
            for item in items {
                encode_into(item, out);
            }
        }
        Value::Object(fields) => put_object(fields, out, encode_into),
    }
}

pub fn encode_str_into(s: &str, out: &mut Vec<u8>) {
    out.push(TAG_STR);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// blake3 of a string's canonical encoding, streamed without building it.
pub fn hash_str(s: &str) -> Hash {
    hash_str_bytes(s.as_bytes())
}

/// `hash_str` over the UTF-8 bytes of a string as stored in a value segment.
pub fn hash_str_bytes(utf8: &[u8]) -> Hash {
    let mut prefix = Vec::with_capacity(11);
    prefix.push(TAG_STR);
    put_varint(&mut prefix, utf8.len() as u64);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&prefix);
    hasher.update(utf8);
    *hasher.finalize().as_bytes()
}

/// blake3 of an already encoded value.
pub fn hash_encoded(bytes: &[u8]) -> Hash {
    *blake3::hash(bytes).as_bytes()
}

/// blake3 of a value's canonical encoding.
pub fn hash_value(value: &Value) -> Hash {
    match value {
        Value::Str(s) => hash_str(s),
        other => hash_encoded(&encode(other)),
    }
}

/// A record's hash: over its keys in order and each field value's hash, so it
/// is computed from the field hashes without hashing large values twice.
pub fn record_hash<'a>(fields: impl ExactSizeIterator<Item = (&'a str, &'a Hash)>) -> RecordHash {
    let mut buf = Vec::with_capacity(16 + fields.len() * 48);
    buf.push(TAG_RECORD);
    put_varint(&mut buf, fields.len() as u64);
    for (key, hash) in fields {
        put_varint(&mut buf, key.len() as u64);
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(hash);
    }
    let mut out = [0u8; RECORD_HASH_BYTES];
    out.copy_from_slice(&blake3::hash(&buf).as_bytes()[..RECORD_HASH_BYTES]);
    out
}

/// Decodes one canonical value that must span all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        return Err(Error::Malformed(format!(
            "{} trailing bytes",
            bytes.len() - reader.pos
        )));
    }
    Ok(value)
}

/// A cursor over canonical bytes: the primitives every reader of them uses.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

fn malformed(detail: &str) -> Error {
    Error::Malformed(detail.to_string())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn byte(&mut self) -> Result<u8> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| malformed("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(malformed("varint too long"))
    }

    pub(crate) fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        let len = usize::try_from(len).map_err(|_| malformed("length"))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| malformed("truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn text(&mut self) -> Result<&'a str> {
        let len = self.varint()?;
        std::str::from_utf8(self.take(len)?).map_err(|_| malformed("invalid UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(malformed("nesting too deep"));
        }
        Ok(match self.byte()? {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Int(unzigzag(self.varint()?)),
            TAG_BIGINT => Value::BigInt(self.text()?.into()),
            TAG_FLOAT => {
                let raw: [u8; 8] = self.take(8)?.try_into().map_err(|_| malformed("float"))?;
                Value::Float(f64::from_bits(u64::from_le_bytes(raw)))
            }
            TAG_STR => Value::Str(Arc::from(self.text()?)),
            TAG_SURROGATES => {
                let len = self.varint()?;
                let bytes = self.take(len)?;
                // valid UTF-8 would have been stored as a plain string
                if std::str::from_utf8(bytes).is_ok() {
                    return Err(malformed("surrogate string without surrogates"));
                }
                Value::Surrogates(bytes.into())
            }
            TAG_LIST => {
                let n = self.varint()?;
                let mut items = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            TAG_OBJECT => {
                let n = self.varint()?;
                let mut fields = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    let key: Arc<str> = Arc::from(self.text()?);
                    fields.push((key, self.value(depth + 1)?));
                }
                Value::Object(fields)
            }
            tag => return Err(malformed(&format!("unknown tag 0x{tag:02x}"))),
        })
    }
}

/// The hash of a whole record given as values (used by tests and verification).
pub fn hash_record(record: &Record) -> RecordHash {
    let hashes: Vec<Hash> = record.iter().map(|(_, v)| hash_value(v)).collect();
    record_hash(record.iter().zip(&hashes).map(|((k, _), h)| (&**k, h)))
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
