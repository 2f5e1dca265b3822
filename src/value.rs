//! The in-memory form of a JSON-like value, as DocETL records hold them.

use std::sync::Arc;

/// A JSON value with Python's distinctions kept: ints of any size, float bits,
/// object key order. Strings and keys are shared (`Arc`) so a text carried by
/// many records is held once.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer outside i64, as canonical decimal text (optional '-', no leading zeros).
    BigInt(Box<str>),
    Float(f64),
    Str(Arc<str>),
    /// A Python `str` holding lone surrogates (a truncated emoji, a file name
    /// decoded with `surrogateescape`), which UTF-8 cannot carry: its bytes
    /// as Python's "surrogatepass" codec writes them (generalized UTF-8).
    Surrogates(Box<[u8]>),
    List(Vec<Value>),
    Object(Vec<(Arc<str>, Value)>),
}

/// One record: its top-level fields in order.
pub type Record = Vec<(Arc<str>, Value)>;

impl PartialEq for Value {
    /// Structural equality with floats compared bit for bit (NaN == NaN, 0.0 != -0.0).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::BigInt(a), Value::BigInt(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Surrogates(a), Value::Surrogates(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }
}
