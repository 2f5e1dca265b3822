//! The persisted dedup index of value segments: (hash key, id) pairs sorted
//! by key, in checksummed blocks, so a new process's first save looks up the
//! hashes it brings (a filter check, then one small read) instead of reading
//! every stored value's hash. One file may cover several segments (saves
//! merge the indexes of recent segments, `store::index`).
//!
//! `DCIDX002`: the magic, the entry count and the filter's byte length (u64
//! LE each), the Bloom filter (`hash_filter`), each block's first key, each
//! block's end offset (u64 LE), blake3 of all that (the head, read whole at
//! open); then blocks of up to `BLOCK` entries (16-byte key, the id as a
//! LEB128 varint), each followed by blake3 of its entries. A key is the
//! first 16 bytes of the value hash: 128 bits, as record hashes, so two
//! stored values sharing one stays out of reach (about 2^-64 at 2^32
//! values), and an entry takes ~20 bytes instead of 40.
//!
//! `DCIDX001` (compaction's index up to `6b83e5d`): a 16-byte header, then
//! blocks of 128 (32-byte hash, u64 LE id) with their blake3; no filter, so
//! a lookup binary-searches block-first hashes with small reads.
//!
//! Derived data: a damaged index is an error its caller answers by reading
//! the segments' hashes instead, never a wrong id.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::canonical::Hash;
use crate::error::{Error, IoContext, Result};
use crate::hash_filter;

/// The part of a value hash an index keeps.
pub type Key = [u8; 16];

pub fn key(hash: &Hash) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(&hash[..16]);
    k
}

const MAGIC_V1: &[u8; 8] = b"DCIDX001";
const MAGIC: &[u8; 8] = b"DCIDX002";
const HEADER_V1: u64 = 16;
const HEADER: u64 = 24;
/// Entries per block: a lookup reads one ~2.5 KB block.
pub const BLOCK: u64 = 128;
const ENTRY_V1: u64 = 40;
const KEY: u64 = 16;
const SUM: u64 = 32;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The index bytes of `entries` (sorted here by key).
pub fn write(mut entries: Vec<(Key, u64)>) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.0);
    let filter = hash_filter::build(entries.iter().map(|e| &e.0));
    let mut blocks = Vec::new();
    let mut ends = Vec::new();
    for block in entries.chunks(BLOCK as usize) {
        let start = blocks.len();
        for (k, id) in block {
            blocks.extend_from_slice(k);
            put_varint(&mut blocks, *id);
        }
        let sum = blake3::hash(&blocks[start..]);
        blocks.extend_from_slice(sum.as_bytes());
        ends.push(blocks.len() as u64);
    }
    let mut out = Vec::with_capacity(filter.len() + ends.len() * 24 + blocks.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    out.extend_from_slice(&(filter.len() as u64).to_le_bytes());
    out.extend_from_slice(&filter);
    for block in entries.chunks(BLOCK as usize) {
        out.extend_from_slice(&block[0].0);
    }
    for end in ends {
        out.extend_from_slice(&end.to_le_bytes());
    }
    let head_sum = blake3::hash(&out);
    out.extend_from_slice(head_sum.as_bytes());
    out.extend_from_slice(&blocks);
    out
}

type Block = Arc<Vec<(Key, u64)>>;

/// What a `DCIDX002` head holds: read and verified once, at open.
struct Head {
    filter: Vec<u8>,
    fences: Vec<Key>,
    /// Where each block ends, from the start of the blocks.
    ends: Vec<u64>,
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

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

impl IndexFile {
    pub fn open(path: &Path) -> Result<IndexFile> {
        let file = File::open(path).at("open", path)?;
        let len = file.metadata().at("stat", path)?.len();
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header[..HEADER_V1 as usize], 0)
            .at("read", path)?;
        let count = u64_at(&header, 8);
        let blocks = count.div_ceil(BLOCK);
        let wrong_size = || Error::corrupt(path, "value index size does not match its count");
        let (data_start, head) = if &header[..8] == MAGIC_V1 {
            let body = count.checked_mul(ENTRY_V1).map(|b| b + blocks * SUM);
            if body.map(|b| b + HEADER_V1) != Some(len) {
                return Err(wrong_size());
            }
            (HEADER_V1, None)
        } else if &header[..8] == MAGIC {
            file.read_exact_at(&mut header[16..], 16).at("read", path)?;
            let filter_len = u64_at(&header, 16);
            if filter_len != hash_filter::bytes_for(count) {
                return Err(Error::corrupt(
                    path,
                    "value index filter has the wrong size",
                ));
            }
            let head_len = HEADER + filter_len + blocks * (KEY + 8);
            if head_len + SUM > len {
                return Err(wrong_size());
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
            let filter = head[HEADER as usize..(HEADER + filter_len) as usize].to_vec();
            let fences_at = (HEADER + filter_len) as usize;
            let ends_at = fences_at + (blocks * KEY) as usize;
            let fences = head[fences_at..ends_at]
                .chunks_exact(KEY as usize)
                .map(|c| c.try_into().unwrap_or_default())
                .collect();
            let ends: Vec<u64> = (0..blocks as usize)
                .map(|i| u64_at(head, ends_at + 8 * i))
                .collect();
            let body = ends.last().copied().unwrap_or(0);
            if ends.windows(2).any(|w| w[0] >= w[1]) || head_len + SUM + body != len {
                return Err(wrong_size());
            }
            let head = Head {
                filter,
                fences,
                ends,
            };
            (head_len + SUM, Some(head))
        } else {
            return Err(Error::corrupt(path, "not a value index"));
        };
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

    /// Block `i`'s byte range in the file.
    fn range(&self, i: u64) -> (u64, u64) {
        match &self.head {
            Some(head) => {
                let start = if i == 0 { 0 } else { head.ends[i as usize - 1] };
                (
                    self.data_start + start,
                    self.data_start + head.ends[i as usize],
                )
            }
            None => {
                let start = self.data_start + i * (BLOCK * ENTRY_V1 + SUM);
                let n = (self.count - i * BLOCK).min(BLOCK);
                (start, start + n * ENTRY_V1 + SUM)
            }
        }
    }

    /// Block `i`, checked against its checksum; v1 hashes cut to keys.
    fn block(&self, i: u64) -> Result<Block> {
        if let Some(b) = self.lock_blocks().get(&i) {
            return Ok(b.clone());
        }
        let (start, end) = self.range(i);
        let mut raw = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut raw, start)
            .at("read", &self.path)?;
        let damaged =
            |what: &str| Error::corrupt(&self.path, format!("value index block {i} {what}"));
        let (body, sum) = raw.split_at(raw.len() - SUM as usize);
        if blake3::hash(body).as_bytes() != sum {
            return Err(damaged("does not match its checksum"));
        }
        let n = (self.count - i * BLOCK).min(BLOCK) as usize;
        let mut entries: Vec<(Key, u64)> = Vec::with_capacity(n);
        let mut at = 0;
        while at < body.len() {
            let Some(k) = body.get(at..at + KEY as usize) else {
                return Err(damaged("is cut short"));
            };
            let k: Key = k.try_into().unwrap_or_default();
            let id = match &self.head {
                Some(_) => {
                    at += KEY as usize;
                    get_varint(body, &mut at).ok_or_else(|| damaged("is cut short"))?
                }
                None => {
                    let id = u64_at(body, at + 32);
                    at += ENTRY_V1 as usize;
                    id
                }
            };
            entries.push((k, id));
        }
        let fence = self.head.as_ref().and_then(|h| h.fences.get(i as usize));
        if entries.len() != n || fence.is_some_and(|f| entries.first().map(|e| &e.0) != Some(f)) {
            return Err(damaged("does not match the head"));
        }
        if entries.windows(2).any(|w| w[0].0 > w[1].0) {
            return Err(damaged("is not sorted"));
        }
        let block = Arc::new(entries);
        self.lock_blocks().insert(i, block.clone());
        Ok(block)
    }

    fn lock_blocks(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Block>> {
        self.blocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `DCIDX001`: the first hash of block `i`, read alone (only where the
    /// search goes; a damaged one can misdirect a search into a miss, never
    /// into a wrong id: ids come from verified blocks only).
    fn first_hash(&self, i: u64) -> Result<Hash> {
        let mut fences = self.fences.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = fences.get(&i) {
            return Ok(*h);
        }
        let mut hash = [0u8; 32];
        self.file
            .read_exact_at(&mut hash, self.range(i).0)
            .at("read", &self.path)?;
        fences.insert(i, hash);
        Ok(hash)
    }

    /// The id stored for `hash`, if the file holds it.
    pub fn get(&self, hash: &Hash) -> Result<Option<u64>> {
        let blocks = self.count.div_ceil(BLOCK);
        if blocks == 0 {
            return Ok(None);
        }
        let k = key(hash);
        let i = match &self.head {
            Some(head) => {
                if !hash_filter::may_hold(&head.filter, &k) {
                    return Ok(None);
                }
                // the last block whose first key is <= the key
                match head.fences.partition_point(|f| *f <= k) {
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
            .binary_search_by(|(e, _)| e.cmp(&k))
            .ok()
            .map(|i| block[i].1))
    }

    /// Every (key, id) of the file, each block checked (merging, verify).
    pub fn entries(&self) -> Result<Vec<(Key, u64)>> {
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
#[path = "hash_index_tests.rs"]
mod tests;
