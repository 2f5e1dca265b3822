//! Hash maps keyed by blake3 digests (or object addresses). Such keys are
//! already uniform, and no attacker picks them, so SipHash's cost buys
//! nothing: loading a store's dedup index spent most of its time in it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Mixes each 8-byte word of the key with a multiply; enough for keys
/// whose bits are already spread.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    /// The multiply spreads low input bits upward only; the rotation brings
    /// well-mixed high bits down to where the table picks its bucket
    /// (addresses, multiples of 16, would otherwise share buckets).
    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

pub type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_differing_in_any_byte_hash_apart() {
        let hash = |key: &[u8]| {
            let mut h = KeyHasher::default();
            h.write(key);
            h.finish()
        };
        let base = [7u8; 32];
        let mut seen = HashSet::new();
        seen.insert(hash(&base));
        for i in 0..32 {
            let mut k = base;
            k[i] ^= 1;
            assert!(seen.insert(hash(&k)), "byte {i} does not reach the hash");
        }
    }

    #[test]
    fn aligned_addresses_spread_over_low_bits() {
        let buckets: HashSet<u64> = (0..1024usize)
            .map(|i| {
                let mut h = KeyHasher::default();
                h.write_usize(0x7f00_0000_0000 + 16 * i);
                h.finish() & 1023
            })
            .collect();
        assert!(
            buckets.len() > 500,
            "only {} of 1024 buckets used",
            buckets.len()
        );
    }
}
