//! The `__rest` and `__rest_ref` fields of a checkpoint file (format 3):
//! writing them, their entry in the layout metadata, and checking it.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, ListBuilder, UInt64Builder};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::Encoding;
use parquet::file::properties::WriterPropertiesBuilder;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::logical::LogicalType;
use crate::rare::{self, RareFields};

/// Where a checkpoint file keeps its rare keys' fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RareMeta {
    /// Field index of the per-row blobs.
    pub main: usize,
    /// Field index of the per-row lists of value ids the blobs reference.
    pub refs: usize,
    /// How many distinct rare keys the file holds.
    pub count: u64,
    /// The rare keys and their types, when at most `rare::LISTED_RARE_KEYS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<RareKey>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RareKey {
    pub key: String,
    pub logical: LogicalType,
}

/// Appends the two fields of `r` (value ids from `ids`, indexed like
/// `Encoded::large`) and returns their layout entry.
pub fn add(
    r: &RareFields,
    ids: &[u64],
    fields: &mut Vec<Field>,
    arrays: &mut Vec<ArrayRef>,
    props: WriterPropertiesBuilder,
) -> Result<(RareMeta, WriterPropertiesBuilder)> {
    fields.push(Field::new(rare::REST_COLUMN, DataType::Binary, true));
    arrays.push(blob_array(r));
    fields.push(Field::new(rare::REST_REF_FIELD, ref_type(), true));
    arrays.push(ref_array(r, ids)?);
    // ids rise through a checkpoint, as in the `__c<i>_ref` columns
    let item = ColumnPath::new(
        [rare::REST_REF_FIELD, "list", "item"]
            .map(String::from)
            .to_vec(),
    );
    let props = props
        .set_column_dictionary_enabled(item.clone(), false)
        .set_column_encoding(item, Encoding::DELTA_BINARY_PACKED);
    let listed = r.keys.len() <= rare::LISTED_RARE_KEYS;
    let meta = RareMeta {
        main: fields.len() - 2,
        refs: fields.len() - 1,
        count: r.keys.len() as u64,
        keys: listed.then(|| {
            r.keys
                .iter()
                .map(|(key, logical)| RareKey {
                    key: key.to_string(),
                    logical: logical.clone(),
                })
                .collect()
        }),
    };
    Ok((meta, props))
}

/// The layout entry `r` against the decoded schema.
pub fn check(path: &Path, schema: &Schema, r: &RareMeta, format: u32) -> Result<()> {
    let blobs_ok = schema.fields().get(r.main).map(|f| f.data_type()) == Some(&DataType::Binary);
    let refs_ok = schema.fields().get(r.refs).is_some_and(
        |f| matches!(f.data_type(), DataType::List(item) if item.data_type() == &DataType::UInt64),
    );
    if !blobs_ok || !refs_ok || format < 3 {
        return Err(Error::corrupt(
            path,
            "layout metadata does not match the rare fields' columns",
        ));
    }
    Ok(())
}

fn blob_array(r: &RareFields) -> ArrayRef {
    let bytes = r.blobs.iter().flatten().map(Vec::len).sum();
    let mut b = BinaryBuilder::with_capacity(r.blobs.len(), bytes);
    for blob in &r.blobs {
        b.append_option(blob.as_deref());
    }
    Arc::new(b.finish())
}

/// The type of `__rest_ref`: a list of value ids per row.
fn ref_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::UInt64, false)))
}

fn ref_array(r: &RareFields, ids: &[u64]) -> Result<ArrayRef> {
    let field = Arc::new(Field::new("item", DataType::UInt64, false));
    let mut b = ListBuilder::new(UInt64Builder::new()).with_field(field);
    for (blob, refs) in r.blobs.iter().zip(&r.refs) {
        for &i in refs {
            let id = ids
                .get(i as usize)
                .ok_or_else(|| Error::Internal(format!("no value id for large value {i}")))?;
            b.values().append_value(*id);
        }
        b.append(blob.is_some());
    }
    Ok(Arc::new(b.finish()))
}
