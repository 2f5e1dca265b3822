//! The Arrow type a column gets in `table()`: typed where every value fits one
//! type losslessly, JSON text where not.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields};
use serde::{Deserialize, Serialize};

use crate::value::Value;

/// Nesting depth past which values are typed as JSON text. It also keeps the
/// layout metadata (which serializes these types) far below parsers' limits.
pub const MAX_TYPED_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum LogicalType {
    /// No non-null value seen yet.
    Null,
    Bool,
    Int,
    Float,
    Str,
    List {
        item: Box<LogicalType>,
    },
    /// Objects that all have these keys in this order.
    Struct {
        fields: Vec<(String, LogicalType)>,
    },
    /// Values with no single lossless Arrow type: shown as JSON text.
    Json,
}

impl LogicalType {
    /// The type of one value.
    pub fn of(value: &Value) -> LogicalType {
        Self::of_at(value, 0)
    }

    fn of_at(value: &Value, depth: usize) -> LogicalType {
        match value {
            // deep nesting stays JSON text: Arrow types that deep help nobody
            Value::List(_) | Value::Object(_) if depth >= MAX_TYPED_DEPTH => LogicalType::Json,
            Value::Null => LogicalType::Null,
            Value::Bool(_) => LogicalType::Bool,
            Value::Int(_) => LogicalType::Int,
            Value::BigInt(_) | Value::Surrogates(_) => LogicalType::Json,
            Value::Float(_) => LogicalType::Float,
            Value::Str(_) => LogicalType::Str,
            Value::List(items) => {
                let item = items.iter().fold(LogicalType::Null, |acc, v| {
                    acc.merge(LogicalType::of_at(v, depth + 1))
                });
                LogicalType::List {
                    item: Box::new(item),
                }
            }
            // Arrow has no useful empty struct, and its field names cannot hold NUL
            Value::Object(fields)
                if fields.is_empty() || fields.iter().any(|(k, _)| k.contains('\0')) =>
            {
                LogicalType::Json
            }
            Value::Object(fields) => LogicalType::Struct {
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), LogicalType::of_at(v, depth + 1)))
                    .collect(),
            },
        }
    }

    /// The narrowest type holding both, or Json. Int and float never merge:
    /// widening ints to float would lose Python's int/float distinction.
    pub fn merge(self, other: LogicalType) -> LogicalType {
        use LogicalType::*;
        match (self, other) {
            (Null, t) | (t, Null) => t,
            (Json, _) | (_, Json) => Json,
            (List { item: a }, List { item: b }) => List {
                item: Box::new(a.merge(*b)),
            },
            (Struct { fields: a }, Struct { fields: b }) => {
                let same_keys = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0);
                if !same_keys {
                    return Json;
                }
                let fields = a
                    .into_iter()
                    .zip(b)
                    .map(|((k, x), (_, y))| (k, x.merge(y)))
                    .collect();
                Struct { fields }
            }
            (a, b) if a == b => a,
            _ => Json,
        }
    }

    pub fn merge_value(self, value: &Value) -> LogicalType {
        match (&self, value) {
            (LogicalType::Json, _) => self,
            (_, Value::Null) => self,
            _ => self.merge(LogicalType::of(value)),
        }
    }

    /// The Arrow type `table()` gives a column of this logical type.
    pub fn data_type(&self) -> DataType {
        match self {
            LogicalType::Null => DataType::Null,
            LogicalType::Bool => DataType::Boolean,
            LogicalType::Int => DataType::Int64,
            LogicalType::Float => DataType::Float64,
            LogicalType::Str | LogicalType::Json => DataType::Utf8,
            LogicalType::List { item } => {
                DataType::List(Arc::new(Field::new("item", item.data_type(), true)))
            }
            LogicalType::Struct { fields } => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(k, t)| Field::new(k, t.data_type(), true))
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn infer(values: &[Value]) -> LogicalType {
        values
            .iter()
            .fold(LogicalType::Null, |t, v| t.merge_value(v))
    }

    #[test]
    fn ints_and_floats_do_not_merge() {
        assert_eq!(infer(&[Value::Int(1), Value::Null]), LogicalType::Int);
        assert_eq!(
            infer(&[Value::Int(1), Value::Float(2.0)]),
            LogicalType::Json
        );
        assert_eq!(
            infer(&[Value::Bool(true), Value::Int(1)]),
            LogicalType::Json
        );
    }

    #[test]
    fn structs_need_the_same_keys_in_order() {
        let obj = |keys: &[&str]| {
            Value::Object(
                keys.iter()
                    .map(|k| (Arc::from(*k), Value::Int(1)))
                    .collect(),
            )
        };
        assert!(matches!(
            infer(&[obj(&["a", "b"]), obj(&["a", "b"])]),
            LogicalType::Struct { .. }
        ));
        assert_eq!(
            infer(&[obj(&["a", "b"]), obj(&["b", "a"])]),
            LogicalType::Json
        );
        assert_eq!(infer(&[obj(&["a"]), Value::str("x")]), LogicalType::Json);
    }

    #[test]
    fn lists_merge_their_items() {
        let l = |v: Vec<Value>| Value::List(v);
        assert_eq!(
            infer(&[l(vec![Value::str("a")]), l(vec![]), l(vec![Value::Null])]),
            LogicalType::List {
                item: Box::new(LogicalType::Str)
            }
        );
    }
}
