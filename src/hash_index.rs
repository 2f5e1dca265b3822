//! The persisted dedup index of value segments: (hash, id) pairs sorted by
//! hash, in checksummed blocks, so a new process's first save looks up the
//! hashes it brings (a filter check, then one small read) instead of reading
//! every stored value's hash. One file may cover several segments (saves
//! merge the indexes of recent segments, `store::index`).
//!
//! Layout (`DCIDX002`): the magic, the entry count and the filter's byte
//! length (u64 LE each), the Bloom filter (`hash_filter`), the first hash of
//! every block, blake3 of all that (the head, read whole at open), then
//! blocks of up to `BLOCK` entries (32-byte hash, u64 LE id), each followed
//! by blake3 of its entries. `DCIDX001` (compaction's first index) has no
//! filter and no fences: a lookup binary-searches block-first hashes with
//! small reads. Derived data: a damaged index is an error its caller answers
//! by reading the segments' hashes instead, never a wrong id.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::canonical::Hash;
use crate::error::{Error, IoContext, Result};
use crate::hash_filter;

const MAGIC_V1: &[u8; 8] = b"DCIDX001";
const MAGIC: &[u8; 8] = b"DCIDX002";
const HEADER_V1: u64 = 16;
const HEADER: u64 = 24;
/// Entries per block: a lookup reads one ~5 KB block.
pub const BLOCK: u64 = 128;
const ENTRY: u64 = 40;
const SUM: u64 = 32;

/// The index bytes of `entries` (sorted here by hash).
pub fn write(mut entries: Vec<(Hash, u64)>) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.0);
    let filter = hash_filter::build(entries.iter().map(|e| &e.0));
    let blocks = (entries.len() as u64).div_ceil(BLOCK);
    let mut out = Vec::with_capacity(
        (HEADER + filter.len() as u64 + blocks * 2 * SUM + SUM) as usize + entries.len() * 40,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    out.extend_from_slice(&(filter.len() as u64).to_le_bytes());
    out.extend_from_slice(&filter);
    for block in entries.chunks(BLOCK as usize) {
        out.extend_from_slice(&block[0].0);
    }
    let head_sum = blake3::hash(&out);
    out.extend_from_slice(head_sum.as_bytes());
    for block in entries.chunks(BLOCK as usize) {
        let start = out.len();
        for (hash, id) in block {
            out.extend_from_slice(hash);
            out.extend_from_slice(&id.to_le_bytes());
        }
        let sum = blake3::hash(&out[start..]);
        out.extend_from_slice(sum.as_bytes());
    }
    out
}

type Block = Arc<Vec<(Hash, u64)>>;

/// What a `DCIDX002` head holds: read and verified once, at open.
struct Head {
    filter: Vec<u8>,
    fences: Vec<Hash>,
}

/// An index file opened for lookups; verified blocks are kept.
pub struct IndexFile {
    file: File,
    path: PathBuf,
    count: u64,
    /// Where block 0 starts.
    data_start: u64,
    /// None for a `DCIDX001` file.
    head: Option<Head>,
    blocks: Mutex<HashMap<u64, Block>>,
    /// `DCIDX001`: first hashes of the blocks a search visited (every
    /// lookup starts at the same middle blocks).
    fences: Mutex<HashMap<u64, Hash>>,
}

impl IndexFile {
    pub fn open(path: &Path) -> Result<IndexFile> {
        let file = File::open(path).at("open", path)?;
        let len = file.metadata().at("stat", path)?.len();
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header[..HEADER_V1 as usize], 0)
            .at("read", path)?;
        let magic = &header[..8];
        let count = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        let blocks = count.div_ceil(BLOCK);
        let body = count
            .checked_mul(ENTRY)
            .and_then(|b| b.checked_add(blocks * SUM));
        let Some(body) = body.filter(|&b| b < len) else {
            return Err(Error::corrupt(
                path,
                "value index size does not match its count",
            ));
        };
        let (data_start, head) = if magic == MAGIC_V1 {
            (HEADER_V1, None)
        } else if magic == MAGIC {
            file.read_exact_at(&mut header[16..], 16).at("read", path)?;
            let filter_len = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
            if filter_len != hash_filter::bytes_for(count) {
                return Err(Error::corrupt(
                    path,
                    "value index filter has the wrong size",
                ));
            }
            let head_len = HEADER + filter_len + blocks * SUM;
            if head_len + SUM + body != len {
                return Err(Error::corrupt(
                    path,
                    "value index size does not match its count",
                ));
            }
            let mut raw = vec![0u8; (head_len + SUM) as usize];
            file.read_exact_at(&mut raw, 0).at("read", path)?;
            let (head, sum) = raw.split_at(head_len as usize);
            if blake3::hash(head).as_bytes() != sum {
                return Err(Error::corrupt(
                    path,
                    "value index head does not match its checksum",
                ));
            }
            let fences = head[(HEADER + filter_len) as usize..]
                .chunks_exact(SUM as usize)
                .map(|c| c.try_into().unwrap_or_default())
                .collect();
            let filter = head[HEADER as usize..(HEADER + filter_len) as usize].to_vec();
            (head_len + SUM, Some(Head { filter, fences }))
        } else {
            return Err(Error::corrupt(path, "not a value index"));
        };
        if head.is_none() && HEADER_V1 + body != len {
            return Err(Error::corrupt(
                path,
                "value index size does not match its count",
            ));
        }
        Ok(IndexFile {
            file,
            path: path.to_path_buf(),
            count,
            data_start,
            head,
            blocks: Mutex::new(HashMap::new()),
            fences: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    fn offset(&self, i: u64) -> u64 {
        self.data_start + i * (BLOCK * ENTRY + SUM)
    }

    fn block_len(&self, i: u64) -> u64 {
        (self.count - i * BLOCK).min(BLOCK)
    }

    /// Block `i`, checked against its checksum.
    fn block(&self, i: u64) -> Result<Block> {
        if let Some(b) = self
            .blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&i)
        {
            return Ok(b.clone());
        }
        let n = self.block_len(i);
        let mut raw = vec![0u8; (n * ENTRY + SUM) as usize];
        self.file
            .read_exact_at(&mut raw, self.offset(i))
            .at("read", &self.path)?;
        let (body, sum) = raw.split_at((n * ENTRY) as usize);
        if blake3::hash(body).as_bytes() != sum {
            return Err(Error::corrupt(
                &self.path,
                format!("value index block {i} does not match its checksum"),
            ));
        }
        let entries: Vec<(Hash, u64)> = body
            .chunks_exact(ENTRY as usize)
            .map(|e| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&e[..32]);
                (
                    hash,
                    u64::from_le_bytes(e[32..].try_into().unwrap_or_default()),
                )
            })
            .collect();
        let fence = self.head.as_ref().and_then(|h| h.fences.get(i as usize));
        if fence.is_some_and(|f| entries.first().map(|e| &e.0) != Some(f)) {
            return Err(Error::corrupt(
                &self.path,
                format!("value index block {i} does not start at its fence"),
            ));
        }
        if entries.windows(2).any(|w| w[0].0 > w[1].0) {
            return Err(Error::corrupt(
                &self.path,
                "value index block is not sorted",
            ));
        }
        let block = Arc::new(entries);
        self.blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i, block.clone());
        Ok(block)
    }

    /// The first hash of block `i`, read alone (only where the search goes;
    /// a damaged one can misdirect a search into a miss, never into a wrong
    /// id: ids come from verified blocks only).
    fn first_hash(&self, i: u64) -> Result<Hash> {
        if let Some(h) = self
            .fences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&i)
        {
            return Ok(*h);
        }
        let mut hash = [0u8; 32];
        self.file
            .read_exact_at(&mut hash, self.offset(i))
            .at("read", &self.path)?;
        self.fences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i, hash);
        Ok(hash)
    }

    /// The id stored for `hash`, if the file holds it.
    pub fn get(&self, hash: &Hash) -> Result<Option<u64>> {
        let blocks = self.count.div_ceil(BLOCK);
        if blocks == 0 {
            return Ok(None);
        }
        let i = match &self.head {
            Some(head) => {
                if !hash_filter::may_hold(&head.filter, hash) {
                    return Ok(None);
                }
                // the last block whose first hash is <= hash
                match head.fences.partition_point(|f| f <= hash) {
                    0 => return Ok(None),
                    n => n as u64 - 1,
                }
            }
            None => {
                let (mut lo, mut hi) = (0u64, blocks);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.first_hash(mid)? <= *hash {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        };
        let block = self.block(i)?;
        Ok(block
            .binary_search_by(|(h, _)| h.cmp(hash))
            .ok()
            .map(|i| block[i].1))
    }

    /// Every (hash, id) of the file, each block checked (merging, verify).
    pub fn entries(&self) -> Result<Vec<(Hash, u64)>> {
        let mut out = Vec::with_capacity(self.count as usize);
        for i in 0..self.count.div_ceil(BLOCK) {
            out.extend(self.block(i)?.iter().copied());
        }
        Ok(out)
    }

    /// Checks every block (verify).
    pub fn check_all(&self) -> Result<()> {
        self.entries().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> Hash {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    /// A `DCIDX001` file, as compaction wrote it before the filter existed.
    fn write_v1(mut entries: Vec<(Hash, u64)>) -> Vec<u8> {
        entries.sort_unstable_by_key(|e| e.0);
        let mut out = MAGIC_V1.to_vec();
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for block in entries.chunks(BLOCK as usize) {
            let start = out.len();
            for (hash, id) in block {
                out.extend_from_slice(hash);
                out.extend_from_slice(&id.to_le_bytes());
            }
            let sum = blake3::hash(&out[start..]);
            out.extend_from_slice(sum.as_bytes());
        }
        out
    }

    #[test]
    fn finds_every_entry_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in [0u64, 1, 127, 128, 129, 1000] {
            for (v, bytes) in [
                ("v2", write((0..n).map(|i| (hash(i), i * 3)).collect())),
                ("v1", write_v1((0..n).map(|i| (hash(i), i * 3)).collect())),
            ] {
                let path = dir.path().join(format!("{n}-{v}.idx"));
                std::fs::write(&path, bytes).expect("w");
                let index = IndexFile::open(&path).expect("open");
                assert_eq!(index.count(), n);
                for i in 0..n {
                    assert_eq!(
                        index.get(&hash(i)).expect("get"),
                        Some(i * 3),
                        "{v} n={n} i={i}"
                    );
                }
                for absent in n..n + 200 {
                    assert_eq!(index.get(&hash(absent)).expect("get"), None);
                }
                let mut all = index.entries().expect("entries");
                all.sort_by_key(|e| e.1);
                assert_eq!(all, (0..n).map(|i| (hash(i), i * 3)).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn a_damaged_block_is_an_error_never_a_wrong_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.idx");
        let good = write((0..300).map(|i| (hash(i), i)).collect());
        let head = HEADER + hash_filter::bytes_for(300) + 3 * SUM + SUM;
        let mut bytes = good.clone();
        let at = (head + BLOCK * ENTRY + SUM + 40 * 5 + 33) as usize; // an id in block 1
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).expect("w");
        let index = IndexFile::open(&path).expect("open");
        assert!(matches!(index.check_all(), Err(Error::Corrupt { .. })));
        let mut sorted: Vec<Hash> = (0..300).map(hash).collect();
        sorted.sort();
        // a hash of block 1: the lookup fails loudly, never returns a wrong id
        assert!(index.get(&sorted[130]).is_err());
        assert_eq!(
            index.get(&sorted[5]).expect("block 0 is intact"),
            Some((0..300).find(|&i| hash(i) == sorted[5]).expect("there"))
        );
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("w");
        assert!(IndexFile::open(&path).is_err());
        // a damaged head (filter or fences): the file does not open at all
        for at in [HEADER as usize + 3, (head - SUM - 5) as usize] {
            let mut bytes = good.clone();
            bytes[at] ^= 0x10;
            std::fs::write(&path, &bytes).expect("w");
            assert!(matches!(IndexFile::open(&path), Err(Error::Corrupt { .. })));
        }
    }
}
