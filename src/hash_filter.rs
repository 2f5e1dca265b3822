//! A Bloom filter over value hash keys, kept in the head of a persisted dedup
//! index: a lookup reads an index's block only when the filter says the
//! hash may be there, so a new process's first save touches about one block
//! per hash however many index files the store has.
//!
//! Keys are the first 16 bytes of blake3 outputs, uniform already: the probe
//! positions are taken from them (double hashing: h1 + i * h2), not from a
//! second hash function.

use crate::hash_index::Key;

/// Bits per entry: with `PROBES` probes, about 2% false positives (a
/// needless block read), for a byte per stored value (10 bits would take
/// that to 1%, at 25% more filter).
pub const BITS_PER_ENTRY: u64 = 8;
const PROBES: usize = 6;

/// Filter bytes for `count` entries (a whole number of u64 words, at least one).
pub fn bytes_for(count: u64) -> u64 {
    (count * BITS_PER_ENTRY).div_ceil(64).max(1) * 8
}

fn positions(key: &Key, bits: u64) -> impl Iterator<Item = u64> {
    let h1 = u64::from_le_bytes(key[..8].try_into().unwrap_or_default());
    let h2 = u64::from_le_bytes(key[8..].try_into().unwrap_or_default()) | 1;
    (0..PROBES as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// The filter bytes of `keys`, `bytes_for(keys.len())` long.
pub fn build<'a>(keys: impl ExactSizeIterator<Item = &'a Key>) -> Vec<u8> {
    let mut filter = vec![0u8; bytes_for(keys.len() as u64) as usize];
    let bits = filter.len() as u64 * 8;
    for key in keys {
        for p in positions(key, bits) {
            filter[(p / 8) as usize] |= 1 << (p % 8);
        }
    }
    filter
}

/// False: the key is certainly not among the filter's entries.
pub fn may_hold(filter: &[u8], key: &Key) -> bool {
    let bits = filter.len() as u64 * 8;
    bits == 0 || positions(key, bits).all(|p| filter[(p / 8) as usize] & (1 << (p % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> Key {
        crate::hash_index::key(blake3::hash(&i.to_le_bytes()).as_bytes())
    }

    #[test]
    fn holds_every_entry_and_rejects_most_others() {
        let hashes: Vec<Key> = (0..5000).map(hash).collect();
        let filter = build(hashes.iter());
        assert_eq!(filter.len() as u64, bytes_for(5000));
        assert!(hashes.iter().all(|h| may_hold(&filter, h)));
        let false_positives = (5000..55_000)
            .filter(|&i| may_hold(&filter, &hash(i)))
            .count();
        // ~2.2% expected; 3.5% would mean the probes are not independent
        assert!(false_positives < 1750, "{false_positives} of 50,000");
        let empty = build([].iter());
        assert!(!may_hold(&empty, &hash(1)));
    }
}
