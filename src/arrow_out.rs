//! The typed Arrow table `table()` hands to Python: stored typed columns pass
//! through untouched; referenced values are gathered; nested values are built
//! into list/struct arrays, or JSON text where they have no single type.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, NullArray, RecordBatch,
    StringArray, StructArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::arrow_rare::{check_asked_keys, RareColumns};
use std::ops::Range;

use crate::canonical;
use crate::error::{Error, Result};
use crate::json_text;
use crate::logical::LogicalType;
use crate::rare;
use crate::store::read::Main;
use crate::store::{CellRef, Loaded, TableColumn};
use crate::value::Value;

/// Bytes of text one table batch may hold: Arrow strings have 32-bit
/// offsets, so a column past 2 GiB must be cut into several batches.
pub const TABLE_BATCH_BYTES: usize = 1 << 30;

/// The Arrow schema of `loaded`'s table columns (all of them when `loaded`
/// is a projection), known before any row is built.
pub fn schema(loaded: &Loaded) -> Result<SchemaRef> {
    let mut fields = Vec::with_capacity(loaded.table.len());
    for t in &loaded.table {
        let (name, data_type) = match t {
            TableColumn::Dense(col) => (
                loaded.columns[*col].key.as_str(),
                loaded.meta.columns[*col].logical.data_type(),
            ),
            TableColumn::Rare { key, logical, .. } => (key.as_str(), logical.data_type()),
            TableColumn::Folded => (rare::REST_COLUMN, DataType::Utf8),
        };
        if name.contains('\0') {
            return Err(Error::InvalidValue(format!(
                "checkpoint {}/{}: key {name:?} holds a NUL character, which Arrow column names cannot; load() returns it",
                loaded.entry.step, loaded.entry.op
            )));
        }
        if fields.iter().any(|f: &Field| f.name() == name) {
            return Err(Error::InvalidValue(format!(
                "checkpoint {}/{}: key {name:?} is also the name of the column of rare keys; load() returns it",
                loaded.entry.step, loaded.entry.op
            )));
        }
        fields.push(Field::new(name, data_type, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The rows of `loaded` as batches of `schema` (what `schema(loaded)` gave)
/// of at most `budget` bytes of text each (one batch for most checkpoints).
pub fn batches(loaded: &Loaded, schema: &SchemaRef, budget: usize) -> Result<Vec<RecordBatch>> {
    check_asked_keys(loaded)?;
    let rows = loaded.num_rows();
    let mut out = Vec::new();
    // the records' canonical size bounds their text: weigh rows only past it
    if (loaded.entry.logical_bytes as usize).saturating_mul(2) < budget || rows <= 1 {
        out.push(batch(loaded, schema, 0..rows)?);
        return Ok(out);
    }
    let mut start = 0;
    let mut weight = 0usize;
    for row in 0..rows {
        let w = row_weight(loaded, row)?;
        if row > start && weight + w > budget {
            out.push(batch(loaded, schema, start..row)?);
            (start, weight) = (row, 0);
        }
        weight += w;
    }
    if start < rows || out.is_empty() {
        out.push(batch(loaded, schema, start..rows)?);
    }
    Ok(out)
}

/// Bytes of text a row adds to its batch (JSON text of nested values and
/// of rare fields is counted at twice their canonical size).
fn row_weight(loaded: &Loaded, row: usize) -> Result<usize> {
    let mut w = 0;
    for t in &loaded.table {
        if let TableColumn::Dense(col) = t {
            w += match loaded.cell(*col, row)? {
                CellRef::Str(s) => s.len(),
                CellRef::Canonical(b) => 2 * b.len(),
                _ => 0,
            };
        }
    }
    if let Some(rest) = loaded.rest.as_ref().filter(|_| shows_rare(loaded)) {
        w += 2 * rest.blobs.value_data().len() / loaded.num_rows().max(1);
    }
    Ok(w)
}

fn shows_rare(loaded: &Loaded) -> bool {
    loaded
        .table
        .iter()
        .any(|t| !matches!(t, TableColumn::Dense(_)))
}

fn batch(loaded: &Loaded, schema: &SchemaRef, rows: Range<usize>) -> Result<RecordBatch> {
    let mut rare = RareColumns::gather(loaded, rows.clone())?;
    let mut arrays = Vec::with_capacity(loaded.table.len());
    for (i, t) in loaded.table.iter().enumerate() {
        let array = match t {
            TableColumn::Dense(col) => {
                let logical = &loaded.meta.columns[*col].logical;
                column_array(loaded, *col, logical, rows.clone())?
            }
            TableColumn::Rare { logical, .. } => rare.array(i, logical)?,
            TableColumn::Folded => rare.folded()?,
        };
        if array.data_type() != schema.field(i).data_type() {
            return Err(Error::Internal(format!(
                "column {:?} built as {} where its layout says {}",
                schema.field(i).name(),
                array.data_type(),
                schema.field(i).data_type()
            )));
        }
        arrays.push(array);
    }
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema.clone(), arrays, &options)
        .map_err(|e| Error::Internal(format!("building table: {e}")))
}

fn column_array(
    loaded: &Loaded,
    col: usize,
    logical: &LogicalType,
    rows: Range<usize>,
) -> Result<ArrayRef> {
    let column = &loaded.columns[col];
    let (start, len) = (rows.start, rows.len());
    if column.refs.is_none() {
        // typed columns without references are the decoded Parquet arrays themselves
        match (&column.main, logical) {
            (Main::Bool(a), LogicalType::Bool) => return Ok(Arc::new(a.slice(start, len))),
            (Main::Int(a), LogicalType::Int) => return Ok(Arc::new(a.slice(start, len))),
            (Main::Float(a), LogicalType::Float) => return Ok(Arc::new(a.slice(start, len))),
            (Main::Str(a), LogicalType::Str) => return Ok(Arc::new(a.slice(start, len))),
            _ => {}
        }
    }
    match logical {
        LogicalType::Null => Ok(Arc::new(NullArray::new(len))),
        LogicalType::Str => {
            let mut total = 0usize;
            for row in rows.clone() {
                if let CellRef::Str(s) = loaded.cell(col, row)? {
                    total += s.len();
                }
            }
            if total > i32::MAX as usize {
                return Err(Error::Internal(format!(
                    "column {:?}: {total} bytes of text in one batch",
                    column.key
                )));
            }
            let mut b = StringBuilder::with_capacity(len, total);
            for row in rows {
                match loaded.cell(col, row)? {
                    CellRef::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        _ => {
            let values = rows
                .map(|row| cell_value(loaded.cell(col, row)?))
                .collect::<Result<Vec<_>>>()?;
            build(
                logical,
                &values.iter().map(|v| v.as_ref()).collect::<Vec<_>>(),
            )
        }
    }
}

/// A cell as a `Value` (None for null).
pub fn cell_value(cell: CellRef) -> Result<Option<Value>> {
    Ok(match cell {
        CellRef::Null => None,
        CellRef::Bool(b) => Some(Value::Bool(b)),
        CellRef::Int(n) => Some(Value::Int(n)),
        CellRef::Float(f) => Some(Value::Float(f)),
        CellRef::Str(s) => Some(Value::str(s)),
        CellRef::Canonical(bytes) => match canonical::decode(bytes)? {
            Value::Null => None,
            v => Some(v),
        },
    })
}

/// Builds an array of `logical` type from values that fit it (None = null).
pub(crate) fn build(logical: &LogicalType, values: &[Option<&Value>]) -> Result<ArrayRef> {
    Ok(match logical {
        LogicalType::Null => Arc::new(NullArray::new(values.len())),
        LogicalType::Bool => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Some(Value::Bool(b)) => Some(*b),
                    _ => None,
                })
                .collect::<BooleanArray>(),
        ),
        LogicalType::Int => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Some(Value::Int(n)) => Some(*n),
                    _ => None,
                })
                .collect::<Int64Array>(),
        ),
        LogicalType::Float => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Some(Value::Float(f)) => Some(*f),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
        LogicalType::Str => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Some(Value::Str(s)) => Some(&**s),
                    _ => None,
                })
                .collect::<StringArray>(),
        ),
        LogicalType::Json => Arc::new(
            values
                .iter()
                .map(|v| {
                    v.filter(|v| !matches!(v, Value::Null))
                        .map(json_text::to_json)
                })
                .collect::<StringArray>(),
        ),
        LogicalType::List { item } => {
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut children: Vec<Option<&Value>> = Vec::new();
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                if let Some(Value::List(items)) = v {
                    children.extend(
                        items
                            .iter()
                            .map(|x| (!matches!(x, Value::Null)).then_some(x)),
                    );
                    valid.push(true);
                } else {
                    valid.push(false);
                }
                let end = i32::try_from(children.len())
                    .map_err(|_| Error::Internal("list column too large".into()))?;
                offsets.push(end);
            }
            let child = build(item, &children)?;
            let field = Arc::new(Field::new("item", child.data_type().clone(), true));
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::new(offsets.into()),
                    child,
                    Some(NullBuffer::from(valid)),
                )
                .map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
        LogicalType::Struct { fields } => {
            let mut arrays = Vec::with_capacity(fields.len());
            let mut arrow_fields = Vec::with_capacity(fields.len());
            for (i, (name, t)) in fields.iter().enumerate() {
                let child: Vec<Option<&Value>> = values
                    .iter()
                    .map(|v| match v {
                        Some(Value::Object(kv)) => kv
                            .get(i)
                            .map(|(_, x)| x)
                            .filter(|x| !matches!(x, Value::Null)),
                        _ => None,
                    })
                    .collect();
                let array = build(t, &child)?;
                arrow_fields.push(Field::new(name, array.data_type().clone(), true));
                arrays.push(array);
            }
            let valid: NullBuffer = values
                .iter()
                .map(|v| matches!(v, Some(Value::Object(_))))
                .collect::<Vec<_>>()
                .into();
            Arc::new(
                StructArray::try_new(arrow_fields.into(), arrays, Some(valid))
                    .map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
    })
}
