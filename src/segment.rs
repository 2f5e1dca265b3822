//! Value segments: immutable Parquet files of content-addressed large values,
//! one row per value (id, blake3 hash, kind, bytes), ids ascending.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt64Type, UInt8Type};
use arrow_array::{
    Array as _, ArrayRef, FixedSizeBinaryArray, LargeBinaryArray, RecordBatch, UInt64Array,
    UInt8Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::Compression;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use crate::canonical::{self, Hash};
use crate::checkpoint_file;
use crate::digest_map::KeyMap;
use crate::encode::{LargeValue, ValueKind};
use crate::error::{DecodeContext, Error, Result};
use crate::manifest::Segment;
use crate::parquet_io::{self, ReadPlan};
use crate::storage::Opened;
use bytes::Bytes;

const ID: usize = 0;
const HASH: usize = 1;
const KIND: usize = 2;
const DATA: usize = 3;
/// Uncompressed bytes per row group: a sample fetches about this much per value it needs.
pub const ROW_GROUP_BYTES: usize = 1 << 20;
/// Saves compress new values fast (the caller waits): level 3 runs ~3x faster
/// than 7 on the workload's text (91 vs 29 MB/s), for ~7% more bytes...
pub const SAVE_ZSTD_LEVEL: i32 = 3;
/// ...which compaction (off the caller's path) takes back, and more: it
/// merges small segments and recompresses them at this level, in pages and
/// row groups of `COMPACT_GROUP_BYTES`. zstd's gain is mostly the window:
/// on the workload's unique text (17 MB), 1 MB pages at level 19 store
/// 4.99 MB at 2.8 MB/s; 4 MB pages at level 12, 4.29 MB at 12.5 MB/s (8 MB
/// pages would gain ~8% more, but a sample decodes a whole page: ~4 ms here).
pub const COMPACT_ZSTD_LEVEL: i32 = 12;
pub const COMPACT_GROUP_BYTES: usize = 4 << 20;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("hash", DataType::FixedSizeBinary(32), false),
        Field::new("kind", DataType::UInt8, false),
        Field::new("data", DataType::LargeBinary, false),
    ]))
}

/// Encodes values with their ids (ascending) as a segment file.
pub fn write(values: &[(u64, &LargeValue)]) -> Result<Vec<u8>> {
    let ids = UInt64Array::from_iter_values(values.iter().map(|(id, _)| *id));
    let hashes =
        checkpoint_file::hash_array(&values.iter().map(|(_, v)| v.hash).collect::<Vec<_>>(), 32)?;
    let kinds = UInt8Array::from_iter_values(values.iter().map(|(_, v)| v.kind as u8));
    let data = LargeBinaryArray::from_iter_values(values.iter().map(|(_, v)| v.data.as_bytes()));
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(ids),
        Arc::new(hashes),
        Arc::new(kinds),
        Arc::new(data),
    ];
    let batch =
        RecordBatch::try_new(schema(), arrays).map_err(|e| Error::Internal(e.to_string()))?;
    encode_segment(&batch, SAVE_ZSTD_LEVEL, ROW_GROUP_BYTES)
}

/// The (hash, id) of every value of a decoded segment (compaction's index).
pub fn entries(path: &Path, batch: &RecordBatch) -> Result<Vec<(Hash, u64)>> {
    let ids = column::<UInt64Type>(path, batch, ID)?.values();
    let hashes = batch
        .column(HASH)
        .as_fixed_size_binary_opt()
        .ok_or_else(|| Error::corrupt(path, "hash column"))?;
    Ok(ids
        .iter()
        .enumerate()
        .map(|(row, &id)| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(hashes.value(row));
            (hash, id)
        })
        .collect())
}

/// Decoded segments (ascending, disjoint ids) as one segment compressed at
/// `COMPACT_ZSTD_LEVEL`.
pub fn merge(path: &Path, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let merged = arrow_select::concat::concat_batches(&schema(), batches).decoding(path)?;
    check_ascending(path, column::<UInt64Type>(path, &merged, ID)?.values())?;
    encode_segment(&merged, COMPACT_ZSTD_LEVEL, COMPACT_GROUP_BYTES)
}

/// Encodes a segment batch in row groups of about `ROW_GROUP_BYTES` of value
/// data: the writer's own byte limit applies only between `write` calls, so a
/// save's new values would otherwise land in one row group that every sample
/// of one of them must fetch and decode whole.
fn encode_segment(batch: &RecordBatch, level: i32, group_bytes: usize) -> Result<Vec<u8>> {
    let data = batch
        .column(DATA)
        .as_binary_opt::<i64>()
        .ok_or_else(|| Error::Internal("segment data column".into()))?;
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for row in 0..batch.num_rows() {
        bytes += data.value_length(row) as usize;
        if bytes >= group_bytes || row + 1 == batch.num_rows() {
            groups.push(batch.slice(start, row + 1 - start));
            (start, bytes) = (row + 1, 0);
        }
    }
    if groups.is_empty() {
        groups.push(batch.clone());
    }
    let props = properties(level).set_data_page_size_limit(group_bytes.max(1 << 20));
    parquet_io::encode_groups(&groups, props, true)
}

fn properties(level: i32) -> parquet::file::properties::WriterPropertiesBuilder {
    use parquet::file::properties::EnabledStatistics;
    parquet_io::base_properties()
        .set_dictionary_enabled(false)
        .set_column_encoding(
            ColumnPath::from("id"),
            parquet::basic::Encoding::DELTA_BINARY_PACKED,
        )
        .set_column_statistics_enabled(ColumnPath::from("hash"), EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("data"), EnabledStatistics::None)
        .set_column_compression(ColumnPath::from("data"), parquet_io::zstd(level))
        // hashes are random and delta-packed ids tiny: zstd gains nothing on
        // them and costs a codec context each time a process reads its index
        .set_column_compression(ColumnPath::from("hash"), Compression::UNCOMPRESSED)
        .set_column_compression(ColumnPath::from("id"), Compression::UNCOMPRESSED)
}

/// The hash of a stored value, recomputed from its bytes.
pub fn hash_of(kind: ValueKind, data: &[u8]) -> Hash {
    match kind {
        ValueKind::Str => canonical::hash_str_bytes(data),
        ValueKind::Canonical => canonical::hash_encoded(data),
    }
}

/// Every (hash, id) of segment `seg`, for the save-time dedup index. A save
/// gives its new values consecutive ids, so when the manifest's id range is
/// exactly `count` wide only the hashes are read.
pub fn read_index(file: Opened, seg: &Segment) -> Result<Vec<(Hash, u64)>> {
    let path = &file.path.clone();
    let consecutive = seg.count > 0 && seg.max_id.checked_sub(seg.min_id) == Some(seg.count - 1);
    let plan = ReadPlan {
        columns: Some(if consecutive {
            vec![HASH]
        } else {
            vec![ID, HASH]
        }),
        ..Default::default()
    };
    let batch = file.decode(plan)?;
    if batch.num_rows() as u64 != seg.count {
        return Err(Error::corrupt(
            path,
            format!(
                "holds {} values, the manifest says {}",
                batch.num_rows(),
                seg.count
            ),
        ));
    }
    let hashes = batch
        .column(batch.num_columns() - 1)
        .as_fixed_size_binary_opt()
        .ok_or_else(|| Error::corrupt(path, "hash column"))?;
    let ids = match consecutive {
        true => None,
        false => {
            let ids = column::<UInt64Type>(path, &batch, 0)?.values();
            check_ascending(path, ids)?;
            Some(ids)
        }
    };
    Ok((0..batch.num_rows())
        .map(|row| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(hashes.value(row));
            (hash, ids.map_or(seg.min_id + row as u64, |ids| ids[row]))
        })
        .collect())
}

fn column<'a, T: arrow_array::types::ArrowPrimitiveType>(
    path: &Path,
    batch: &'a RecordBatch,
    i: usize,
) -> Result<&'a arrow_array::PrimitiveArray<T>> {
    batch
        .column(i)
        .as_primitive_opt::<T>()
        .ok_or_else(|| Error::corrupt(path, "unexpected column type"))
}

fn check_ascending(path: &Path, ids: &[u64]) -> Result<()> {
    if ids.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::corrupt(path, "value ids are not ascending"));
    }
    Ok(())
}

/// Decoded values of one segment (all or some of its row groups), verified.
pub struct SegmentValues {
    ids: Vec<u64>,
    hashes: FixedSizeBinaryArray,
    kinds: UInt8Array,
    data: LargeBinaryArray,
}

impl SegmentValues {
    /// The whole segment from bytes checked against its recorded checksum
    /// (full loads; immutable, so the store caches it).
    pub fn from_verified(path: &Path, bytes: Bytes) -> Result<SegmentValues> {
        Self::from_batch(path, &decode_full(path, bytes)?, None)
    }

    /// The whole segment, every value checked against its hash (recovery,
    /// where no manifest vouches for the file).
    pub fn from_unvouched(path: &Path, bytes: Bytes) -> Result<SegmentValues> {
        let batch = decode_full(path, bytes)?;
        let ids = column::<UInt64Type>(path, &batch, ID)?.values().to_vec();
        Self::from_batch(path, &batch, Some(&ids))
    }

    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Only the row groups holding `wanted` ids (ascending), each value checked
    /// against its hash (samples, which must not read whole segments).
    pub fn read_partial(file: Opened, wanted: &[u64]) -> Result<SegmentValues> {
        let path = file.path.clone();
        let plan = ReadPlan {
            row_groups: Some(row_groups_holding(file.meta.metadata(), wanted)),
            ..Default::default()
        };
        let batch = file.decode(plan)?;
        Self::from_batch(&path, &batch, Some(wanted))
    }

    fn from_batch(
        path: &Path,
        batch: &RecordBatch,
        check: Option<&[u64]>,
    ) -> Result<SegmentValues> {
        let ids = column::<UInt64Type>(path, batch, ID)?.values().to_vec();
        check_ascending(path, &ids)?;
        let hashes = batch
            .column(HASH)
            .as_fixed_size_binary_opt()
            .ok_or_else(|| Error::corrupt(path, "hash column"))?
            .clone();
        let kinds = column::<UInt8Type>(path, batch, KIND)?.clone();
        let data = batch
            .column(DATA)
            .as_binary_opt::<i64>()
            .ok_or_else(|| Error::corrupt(path, "data column"))?
            .clone();
        for (row, &id) in ids.iter().enumerate() {
            let kind = ValueKind::from_u8(kinds.value(row))
                .ok_or_else(|| Error::corrupt(path, format!("value {id} has an unknown kind")))?;
            let checked = check.is_some_and(|wanted| wanted.binary_search(&id).is_ok());
            if checked && hash_of(kind, data.value(row)) != hashes.value(row) {
                return Err(Error::corrupt(
                    path,
                    format!("value {id} does not match its hash"),
                ));
            }
            if kind == ValueKind::Str && std::str::from_utf8(data.value(row)).is_err() {
                return Err(Error::corrupt(path, format!("value {id} is not UTF-8")));
            }
        }
        Ok(SegmentValues {
            ids,
            hashes,
            kinds,
            data,
        })
    }

    /// Decoded bytes held, for the cache's budget.
    pub fn size(&self) -> usize {
        self.data.get_array_memory_size() + self.ids.len() * 9
    }
}

/// A stored value, borrowed from its decoded segment.
pub enum Stored<'a> {
    Str(&'a str),
    /// A canonical encoding (nested values, big ints).
    Canonical(&'a [u8]),
}

/// Values gathered from many segments, by id.
#[derive(Default)]
pub struct ValueTable {
    parts: Vec<Arc<SegmentValues>>,
    index: KeyMap<u64, (u32, u32)>,
}

impl ValueTable {
    pub fn get(&self, id: u64) -> Option<Stored<'_>> {
        let &(part, row) = self.index.get(&id)?;
        let seg = &self.parts[part as usize];
        let bytes = seg.data.value(row as usize);
        Some(match ValueKind::from_u8(seg.kinds.value(row as usize))? {
            // SAFETY: `SegmentValues::from_batch` checked that every string value
            // of the segment is UTF-8, and its arrays are immutable since.
            ValueKind::Str => Stored::Str(unsafe { std::str::from_utf8_unchecked(bytes) }),
            ValueKind::Canonical => Stored::Canonical(bytes),
        })
    }

    /// The content hash of value `id`: a key that stays right across stores.
    pub fn hash(&self, id: u64) -> Option<&[u8]> {
        let &(part, row) = self.index.get(&id)?;
        Some(self.parts[part as usize].hashes.value(row as usize))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Makes the `wanted` ids (ascending) of a decoded segment available.
    pub fn add(&mut self, values: Arc<SegmentValues>, wanted: &[u64]) {
        let part = self.parts.len() as u32;
        for &id in wanted {
            if let Ok(row) = values.ids.binary_search(&id) {
                self.index.insert(id, (part, row as u32));
            }
        }
        self.parts.push(values);
    }
}

/// Row groups whose id statistics cover at least one wanted id (all if stats are missing).
fn row_groups_holding(
    meta: &parquet::file::metadata::ParquetMetaData,
    wanted: &[u64],
) -> Vec<usize> {
    (0..meta.num_row_groups())
        .filter(|&g| match meta.row_group(g).column(ID).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&lo), Some(&hi)) => {
                    let (lo, hi) = (lo as u64, hi as u64);
                    let start = wanted.partition_point(|&id| id < lo);
                    wanted.get(start).is_some_and(|&id| id <= hi)
                }
                _ => true,
            },
            _ => true,
        })
        .collect()
}

/// Reads the ids column of a whole segment (for gc's liveness pass).
pub fn read_ids(file: Opened) -> Result<Vec<u64>> {
    let path = &file.path.clone();
    let plan = ReadPlan {
        columns: Some(vec![ID]),
        ..Default::default()
    };
    let batch = file.decode(plan)?;
    let ids = column::<UInt64Type>(path, &batch, 0)?;
    check_ascending(path, ids.values())?;
    Ok(ids.values().to_vec())
}

/// Decodes a whole segment from checksum-verified bytes (gc rewrites them:
/// a damaged segment is never copied into a new file with a fresh checksum).
pub fn decode_full(path: &Path, bytes: Bytes) -> Result<RecordBatch> {
    let batch = parquet_io::decode(path, bytes, None, ReadPlan::default())?;
    if batch.schema().fields().len() != 4
        || batch.column(DATA).data_type() != &DataType::LargeBinary
    {
        return Err(Error::corrupt(path, "not a value segment"));
    }
    Ok(batch)
}

/// The rows of a decoded segment whose ids are live, as a new segment file.
/// `compacted`: the segment's own, so gc keeps what compaction gained.
pub fn rewrite_live(
    path: &Path,
    batch: &RecordBatch,
    live: &dyn Fn(u64) -> bool,
    compacted: bool,
) -> Result<Vec<u8>> {
    let ids = column::<UInt64Type>(path, batch, ID)?;
    let keep: arrow_array::BooleanArray = ids.values().iter().map(|&id| Some(live(id))).collect();
    let kept = arrow_select::filter::filter_record_batch(batch, &keep).decoding(path)?;
    let kept = RecordBatch::try_new(schema(), kept.columns().to_vec()).decoding(path)?;
    match compacted {
        true => encode_segment(&kept, COMPACT_ZSTD_LEVEL, COMPACT_GROUP_BYTES),
        false => encode_segment(&kept, SAVE_ZSTD_LEVEL, ROW_GROUP_BYTES),
    }
}
