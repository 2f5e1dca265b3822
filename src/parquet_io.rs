//! Parquet encode/decode shared by checkpoint files and value segments.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowWriterOptions};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterPropertiesBuilder;
use parquet::file::reader::ChunkReader;

use crate::error::{DecodeContext, Error, IoContext, Result};
use crate::parallel::parallel_map;

/// zstd level for every file: level 3 compresses text ~3x at >100 MB/s.
pub const ZSTD_LEVEL: i32 = 3;

pub fn base_properties() -> WriterPropertiesBuilder {
    parquet::file::properties::WriterProperties::builder()
        .set_compression(zstd(ZSTD_LEVEL))
        .set_created_by(format!("docetl-checkpoint {}", env!("CARGO_PKG_VERSION")))
}

pub fn zstd(level: i32) -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default())
}

/// Encodes one batch into Parquet bytes in memory; `arrow_schema` embeds the
/// Arrow schema for types Parquet cannot name itself (LargeBinary).
pub fn encode(
    batch: &RecordBatch,
    props: WriterPropertiesBuilder,
    arrow_schema: bool,
) -> Result<Vec<u8>> {
    encode_groups(std::slice::from_ref(batch), props, arrow_schema)
}

/// Encodes batches (one schema) with a row group boundary after each. Row
/// groups are encoded and compressed on all cores, then written in order:
/// the same bytes as one writer would make, in less time for large saves.
pub fn encode_groups(
    groups: &[RecordBatch],
    props: WriterPropertiesBuilder,
    arrow_schema: bool,
) -> Result<Vec<u8>> {
    let Some(first) = groups.first() else {
        return Err(Error::Internal("nothing to encode".into()));
    };
    let fail =
        |e: parquet::errors::ParquetError| Error::Internal(format!("parquet encoding failed: {e}"));
    let schema = first.schema();
    let props = props.build();
    // a batch longer than the row limit spans several row groups, as the
    // plain writer would cut it
    let limit = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let sliced: Vec<RecordBatch> = groups
        .iter()
        .flat_map(|b| {
            (0..b.num_rows())
                .step_by(limit)
                .map(move |at| b.slice(at, limit.min(b.num_rows() - at)))
        })
        .collect();
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(!arrow_schema);
    let writer =
        ArrowWriter::try_new_with_options(Vec::new(), schema.clone(), options).map_err(fail)?;
    let (mut file, factory) = writer.into_serialized_writer().map_err(fail)?;
    let indexed: Vec<(usize, &RecordBatch)> = sliced.iter().enumerate().collect();
    let chunks = parallel_map(&indexed, |&(index, batch)| {
        let mut writers = factory.create_column_writers(index).map_err(fail)?;
        let mut next = writers.iter_mut();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column).map_err(fail)? {
                let writer = next
                    .next()
                    .ok_or_else(|| Error::Internal("more leaves than columns".into()))?;
                writer.write(&leaf).map_err(fail)?;
            }
        }
        writers
            .into_iter()
            .map(|w| w.close().map_err(fail))
            .collect::<Result<Vec<_>>>()
    })?;
    for group in chunks {
        let mut row_group = file.next_row_group().map_err(fail)?;
        for chunk in group {
            chunk.append_to_row_group(&mut row_group).map_err(fail)?;
        }
        row_group.close().map_err(fail)?;
    }
    file.into_inner().map_err(fail)
}

/// Footer metadata of a file opened for partial reads.
pub fn open_metadata(path: &Path) -> Result<(File, ArrowReaderMetadata)> {
    let file = File::open(path).at("open", path)?;
    let meta = metadata_of(path, &file)?;
    Ok((file, meta))
}

/// Footer metadata of a file's bytes or handle.
pub fn metadata_of<R: ChunkReader>(path: &Path, reader: &R) -> Result<ArrowReaderMetadata> {
    guard(path, || {
        ArrowReaderMetadata::load(reader, ArrowReaderOptions::new()).decoding(path)
    })
}

/// Runs a decoder on possibly damaged bytes: a panic inside a dependency's
/// decoder (seen on flipped footer bytes) becomes a corruption error.
fn guard<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::corrupt(
            path,
            "the Parquet decoder failed on damaged data",
        ))
    })
}

/// What part of a file to decode; everything by default.
#[derive(Default)]
pub struct ReadPlan {
    pub row_groups: Option<Vec<usize>>,
    /// Rows of the chosen row groups to skip first.
    pub offset: Option<usize>,
    pub limit: Option<usize>,
    /// Top-level field indexes to decode.
    pub columns: Option<Vec<usize>>,
}

/// Decodes the planned part of a file as one batch.
pub fn decode<R: ChunkReader + 'static>(
    path: &Path,
    reader: R,
    meta: Option<ArrowReaderMetadata>,
    plan: ReadPlan,
) -> Result<RecordBatch> {
    guard(path, || decode_unguarded(path, reader, meta, plan))
}

fn decode_unguarded<R: ChunkReader + 'static>(
    path: &Path,
    reader: R,
    meta: Option<ArrowReaderMetadata>,
    plan: ReadPlan,
) -> Result<RecordBatch> {
    let mut builder = match meta {
        Some(meta) => ParquetRecordBatchReaderBuilder::new_with_metadata(reader, meta),
        None => ParquetRecordBatchReaderBuilder::try_new(reader).decoding(path)?,
    };
    let mut schema: SchemaRef = builder.schema().clone();
    if let Some(columns) = plan.columns {
        schema = Arc::new(schema.project(&columns).decoding(path)?);
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
        builder = builder.with_projection(mask);
    }
    if let Some(groups) = plan.row_groups {
        builder = builder.with_row_groups(groups);
    }
    if let Some(offset) = plan.offset {
        builder = builder.with_offset(offset);
    }
    if let Some(limit) = plan.limit {
        builder = builder.with_limit(limit);
    }
    let batches: Vec<RecordBatch> = builder
        .with_batch_size(64 * 1024)
        .build()
        .decoding(path)?
        .collect::<Result<_, _>>()
        .decoding(path)?;
    // the reader's batches lack the schema metadata that holds the file layout
    match batches.len() {
        1 => batches
            .into_iter()
            .next()
            .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()))
            .with_schema(schema)
            .decoding(path),
        _ => arrow_select::concat::concat_batches(&schema, &batches).decoding(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, LargeBinaryArray, ListArray, UInt64Array};

    fn groups() -> Vec<RecordBatch> {
        (0..5u64)
            .map(|g| {
                let ids: ArrayRef = Arc::new(UInt64Array::from_iter_values(g * 100..g * 100 + 100));
                let data: ArrayRef =
                    Arc::new(LargeBinaryArray::from_iter_values((0..100).map(|i| {
                        format!("group {g} value {i} ").repeat(20).into_bytes()
                    })));
                let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
                    (0..100).map(|i| (i % 3 != 0).then(|| vec![Some(i), None, Some(g as i32)])),
                ));
                RecordBatch::try_from_iter([("id", ids), ("data", data), ("lists", lists)])
                    .expect("batch")
            })
            .collect()
    }

    #[test]
    fn row_groups_encoded_in_parallel_give_one_writers_bytes() {
        let groups = groups();
        let parallel = encode_groups(&groups, base_properties(), true).expect("encode");
        let mut sequential = Vec::new();
        let options = ArrowWriterOptions::new().with_properties(base_properties().build());
        let mut writer =
            ArrowWriter::try_new_with_options(&mut sequential, groups[0].schema(), options)
                .expect("writer");
        for batch in &groups {
            writer.write(batch).expect("write");
            writer.flush().expect("flush");
        }
        writer.close().expect("close");
        assert_eq!(parallel, sequential);
        let meta = metadata_of(Path::new("mem"), &bytes::Bytes::from(parallel)).expect("footer");
        assert_eq!(meta.metadata().num_row_groups(), 5);
    }

    #[test]
    fn a_batch_longer_than_the_row_limit_is_cut_as_one_writer_cuts_it() {
        let groups = groups();
        let long =
            arrow_select::concat::concat_batches(&groups[0].schema(), &groups).expect("concat");
        let props = || base_properties().set_max_row_group_row_count(Some(128));
        let parallel = encode(&long, props(), true).expect("encode");
        let mut sequential = Vec::new();
        let options = ArrowWriterOptions::new().with_properties(props().build());
        let mut writer = ArrowWriter::try_new_with_options(&mut sequential, long.schema(), options)
            .expect("writer");
        writer.write(&long).expect("write");
        writer.close().expect("close");
        assert_eq!(parallel, sequential);
        let meta = metadata_of(Path::new("mem"), &bytes::Bytes::from(parallel)).expect("footer");
        assert_eq!(meta.metadata().num_row_groups(), 4); // 500 rows by 128
    }
}
