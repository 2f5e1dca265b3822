//! The persisted dedup index of a compacted value segment: its (hash, id)
//! pairs sorted by hash, in checksummed blocks, so a new process's first
//! save looks up the hashes it brings (a binary search of a few small reads
//! each) instead of reading every stored value's hash.
//!
//! Layout: `DCIDX001`, the entry count (u64 LE), then blocks of up to
//! `BLOCK` entries (32-byte hash, u64 LE id), each followed by blake3 of its
//! entries. Derived data: a damaged or missing index is never trusted (a
//! lookup in it is a miss, and the store reads the segment's hashes instead),
//! and `verify` reports it.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::canonical::Hash;
use crate::error::{Error, IoContext, Result};

const MAGIC: &[u8; 8] = b"DCIDX001";
const HEADER: u64 = 16;
/// Entries per block: a lookup reads one ~5 KB block after a binary search
/// over block-first hashes.
pub const BLOCK: u64 = 128;
const ENTRY: u64 = 40;
const SUM: u64 = 32;

/// The index bytes of `entries` (sorted here by hash).
pub fn write(mut entries: Vec<(Hash, u64)>) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.0);
    let mut out = Vec::with_capacity(HEADER as usize + entries.len() * 41);
    out.extend_from_slice(MAGIC);
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

type Block = Arc<Vec<(Hash, u64)>>;

/// An index file opened for lookups; verified blocks are kept.
pub struct IndexFile {
    file: File,
    path: PathBuf,
    count: u64,
    blocks: Mutex<HashMap<u64, Block>>,
    /// First hashes of the blocks a search visited: every lookup starts at
    /// the same middle blocks.
    fences: Mutex<HashMap<u64, Hash>>,
}

impl IndexFile {
    pub fn open(path: &Path) -> Result<IndexFile> {
        let file = File::open(path).at("open", path)?;
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header, 0).at("read", path)?;
        if &header[..8] != MAGIC {
            return Err(Error::corrupt(path, "not a value index"));
        }
        let count = u64::from_le_bytes(header[8..].try_into().unwrap_or_default());
        let blocks = count.div_ceil(BLOCK);
        let len = file.metadata().at("stat", path)?.len();
        if len != HEADER + count * ENTRY + blocks * SUM {
            return Err(Error::corrupt(
                path,
                "value index size does not match its count",
            ));
        }
        Ok(IndexFile {
            file,
            path: path.to_path_buf(),
            count,
            blocks: Mutex::new(HashMap::new()),
            fences: Mutex::new(HashMap::new()),
        })
    }

    fn offset(i: u64) -> u64 {
        HEADER + i * (BLOCK * ENTRY + SUM)
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
            .read_exact_at(&mut raw, Self::offset(i))
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
            .read_exact_at(&mut hash, Self::offset(i))
            .at("read", &self.path)?;
        self.fences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i, hash);
        Ok(hash)
    }

    /// The id stored for `hash`, if the segment holds it.
    pub fn get(&self, hash: &Hash) -> Result<Option<u64>> {
        let blocks = self.count.div_ceil(BLOCK);
        if blocks == 0 {
            return Ok(None);
        }
        // the last block whose first hash is <= hash
        let (mut lo, mut hi) = (0u64, blocks);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.first_hash(mid)? <= *hash {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let block = self.block(lo)?;
        Ok(block
            .binary_search_by(|(h, _)| h.cmp(hash))
            .ok()
            .map(|i| block[i].1))
    }

    /// Checks every block (verify).
    pub fn check_all(&self) -> Result<()> {
        for i in 0..self.count.div_ceil(BLOCK) {
            self.block(i)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> Hash {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    #[test]
    fn finds_every_entry_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in [0u64, 1, 127, 128, 129, 1000] {
            let path = dir.path().join(format!("{n}.idx"));
            std::fs::write(&path, write((0..n).map(|i| (hash(i), i * 3)).collect())).expect("w");
            let index = IndexFile::open(&path).expect("open");
            for i in 0..n {
                assert_eq!(
                    index.get(&hash(i)).expect("get"),
                    Some(i * 3),
                    "n={n} i={i}"
                );
            }
            assert_eq!(index.get(&hash(n + 7)).expect("get"), None);
            index.check_all().expect("intact");
        }
    }

    #[test]
    fn a_damaged_block_is_an_error_never_a_wrong_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.idx");
        let mut bytes = write((0..300).map(|i| (hash(i), i)).collect());
        let at = (HEADER + BLOCK * ENTRY + SUM + 40 * 5 + 33) as usize; // an id in block 1
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).expect("w");
        let index = IndexFile::open(&path).expect("open");
        assert!(matches!(index.check_all(), Err(Error::Corrupt { .. })));
        let mut sorted: Vec<Hash> = (0..300).map(hash).collect();
        sorted.sort();
        // a hash of block 1: the lookup fails loudly, never returns a wrong id
        assert!(index.get(&sorted[130]).is_err());
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("w");
        assert!(IndexFile::open(&path).is_err());
    }
}
