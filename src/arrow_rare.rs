//! `table()` columns of rare keys: gathered from the rows' `__rest` blobs in
//! one pass per batch, as typed columns (keys the layout lists, or asked for
//! by name) or folded into one JSON text column.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray};

use crate::arrow_out::{build, cell_value};
use crate::error::{Error, Result};
use crate::json_text;
use crate::logical::LogicalType;
use crate::store::{Loaded, TableColumn};
use crate::value::Value;

pub struct RareColumns {
    /// Per table column, the values of a rare key's column (None: not one).
    values: Vec<Option<Vec<Option<Value>>>>,
    /// The folded column's text, when the table has it.
    folded: Option<Vec<Option<String>>>,
}

impl RareColumns {
    /// The rare columns of `loaded.table` over `rows`.
    pub fn gather(loaded: &Loaded, rows: Range<usize>) -> Result<RareColumns> {
        let mut wanted: HashMap<&str, usize> = HashMap::new();
        let mut values: Vec<Option<Vec<Option<Value>>>> = vec![None; loaded.table.len()];
        let mut folded = None;
        for (i, t) in loaded.table.iter().enumerate() {
            match t {
                TableColumn::Rare { key, .. } => {
                    wanted.insert(key, i);
                    values[i] = Some(vec![None; rows.len()]);
                }
                TableColumn::Folded => folded = Some(Vec::with_capacity(rows.len())),
                TableColumn::Dense(_) => {}
            }
        }
        if wanted.is_empty() && folded.is_none() {
            return Ok(RareColumns { values, folded });
        }
        for (r, row) in rows.enumerate() {
            let Some(mut blob) = loaded.rare_fields(row)? else {
                if let Some(f) = folded.as_mut() {
                    f.push(None);
                }
                continue;
            };
            let mut object = Vec::new();
            while blob.remaining() > 0 {
                let (key, v) = blob.next_field().map_err(|e| loaded.damaged(e))?;
                let column = wanted.get(key).copied();
                if column.is_none() && folded.is_none() {
                    continue;
                }
                let value = cell_value(loaded.rare_cell(row, v)?.1)?;
                if let Some(i) = column {
                    if let Some(col) = values[i].as_mut() {
                        col[r] = value.clone();
                    }
                }
                if folded.is_some() {
                    object.push((Arc::from(key), value.unwrap_or(Value::Null)));
                }
            }
            if let Some(f) = folded.as_mut() {
                f.push(Some(json_text::to_json(&Value::Object(object))));
            }
        }
        Ok(RareColumns { values, folded })
    }

    /// Table column `i` (a rare key's) as an array of `logical` type.
    pub fn array(&mut self, i: usize, logical: &LogicalType) -> Result<ArrayRef> {
        let values = self.values[i]
            .take()
            .ok_or_else(|| Error::Internal(format!("table column {i} is not a rare key's")))?;
        build(
            logical,
            &values.iter().map(Option::as_ref).collect::<Vec<_>>(),
        )
    }

    /// The folded column.
    pub fn folded(&mut self) -> Result<ArrayRef> {
        let text = self
            .folded
            .take()
            .ok_or_else(|| Error::Internal("the folded column was not gathered".into()))?;
        Ok(Arc::new(StringArray::from(text)))
    }
}

/// A rare key asked for by name that no row of a whole checkpoint holds:
/// the same error as for a dense key the checkpoint lacks.
pub fn check_asked_keys(loaded: &Loaded) -> Result<()> {
    let mut asked: Vec<&str> = loaded
        .table
        .iter()
        .filter_map(|t| match t {
            TableColumn::Rare {
                key, listed: false, ..
            } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    if asked.is_empty() || loaded.num_rows() as u64 != loaded.entry.num_rows {
        return Ok(());
    }
    for row in 0..loaded.num_rows() {
        let Some(mut blob) = loaded.rare_fields(row)? else {
            continue;
        };
        while blob.remaining() > 0 {
            let (key, _) = blob.next_field().map_err(|e| loaded.damaged(e))?;
            asked.retain(|k| *k != key);
        }
        if asked.is_empty() {
            return Ok(());
        }
    }
    Err(crate::store::no_column(&loaded.entry, asked[0]))
}
