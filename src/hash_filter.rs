//! A Bloom filter over value hashes, kept in the head of a persisted dedup
//! index: a lookup reads an index's block only when the filter says the
//! hash may be there, so a new process's first save touches about one block
//! per hash however many index files the store has.
//!
//! Value hashes are blake3 outputs, uniform already: the probe positions are
//! taken from the hash's bytes, not from a second hash function.

use crate::canonical::Hash;

/// Bits per entry: with `PROBES` probes, about 1% false positives.
pub const BITS_PER_ENTRY: u64 = 10;
const PROBES: usize = 7;

/// Filter bytes for `count` entries (a whole number of u64 words, at least one).
pub fn bytes_for(count: u64) -> u64 {
    (count * BITS_PER_ENTRY).div_ceil(64).max(1) * 8
}

fn positions(hash: &Hash, bits: u64) -> impl Iterator<Item = u64> + '_ {
    // 7 probes from bytes 0..28 (4 bytes each) of the hash
    (0..PROBES).map(move |i| {
        let word = u32::from_le_bytes([
            hash[4 * i],
            hash[4 * i + 1],
            hash[4 * i + 2],
            hash[4 * i + 3],
        ]);
        u64::from(word) % bits
    })
}

/// The filter bytes of `hashes`, `bytes_for(hashes.len())` long.
pub fn build<'a>(hashes: impl ExactSizeIterator<Item = &'a Hash>) -> Vec<u8> {
    let mut filter = vec![0u8; bytes_for(hashes.len() as u64) as usize];
    let bits = filter.len() as u64 * 8;
    for hash in hashes {
        for p in positions(hash, bits) {
            filter[(p / 8) as usize] |= 1 << (p % 8);
        }
    }
    filter
}

/// False: the hash is certainly not among the filter's entries.
pub fn may_hold(filter: &[u8], hash: &Hash) -> bool {
    let bits = filter.len() as u64 * 8;
    bits == 0 || positions(hash, bits).all(|p| filter[(p / 8) as usize] & (1 << (p % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> Hash {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    #[test]
    fn holds_every_entry_and_rejects_most_others() {
        let hashes: Vec<Hash> = (0..5000).map(hash).collect();
        let filter = build(hashes.iter());
        assert_eq!(filter.len() as u64, bytes_for(5000));
        assert!(hashes.iter().all(|h| may_hold(&filter, h)));
        let false_positives = (5000..55_000)
            .filter(|&i| may_hold(&filter, &hash(i)))
            .count();
        // ~1% expected; 3% would mean the probes are not independent
        assert!(false_positives < 1500, "{false_positives} of 50,000");
        let empty = build([].iter());
        assert!(!may_hold(&empty, &hash(1)));
    }
}
