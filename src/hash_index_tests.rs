//! The index file format: every entry found, nothing else; damage is an
//! error, never a wrong id; `DCIDX001` files of earlier releases still read.

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
            (
                "v2",
                write((0..n).map(|i| (key(&hash(i)), i * 3)).collect()),
            ),
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
            let want: Vec<(Key, u64)> = (0..n).map(|i| (key(&hash(i)), i * 3)).collect();
            assert_eq!(all, want);
        }
    }
}

#[test]
fn a_damaged_block_is_an_error_never_a_wrong_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.idx");
    // ids of 1 to 3 varint bytes
    let ids = |i: u64| i * 997;
    let good = write((0..300).map(|i| (key(&hash(i)), ids(i))).collect());
    let head = HEADER + hash_filter::bytes_for(300) + 3 * (KEY + 8) + SUM;
    let mut sorted: Vec<(Key, u64)> = (0..300).map(|i| (key(&hash(i)), ids(i))).collect();
    sorted.sort();
    let block0 = sorted[..128]
        .iter()
        .map(|e| {
            KEY as usize
                + if e.1 < 128 {
                    1
                } else if e.1 < 16384 {
                    2
                } else {
                    3
                }
        })
        .sum::<usize>()
        + SUM as usize;
    let mut bytes = good.clone();
    bytes[head as usize + block0 + 20] ^= 1; // in block 1's first entry
    std::fs::write(&path, &bytes).expect("w");
    let index = IndexFile::open(&path).expect("open");
    assert!(matches!(index.check_all(), Err(Error::Corrupt { .. })));
    let full = |k: &Key| (0..300).map(hash).find(|h| key(h) == *k).expect("there");
    // a hash of block 1: the lookup fails loudly, never returns a wrong id
    assert!(index.get(&full(&sorted[130].0)).is_err());
    assert_eq!(
        index.get(&full(&sorted[5].0)).expect("block 0 is intact"),
        Some(sorted[5].1)
    );
    std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("w");
    assert!(IndexFile::open(&path).is_err());
    // a damaged head (filter, fences or block ends): the file does not open
    for at in [
        HEADER as usize + 3,
        (head - SUM - 20) as usize,
        (head - SUM - 3) as usize,
    ] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).expect("w");
        assert!(matches!(IndexFile::open(&path), Err(Error::Corrupt { .. })));
    }
}

#[test]
fn varints_round_trip() {
    for v in [
        0u64,
        1,
        127,
        128,
        300,
        16383,
        16384,
        u64::from(u32::MAX),
        u64::MAX,
    ] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        let mut at = 0;
        assert_eq!(get_varint(&out, &mut at), Some(v));
        assert_eq!(at, out.len());
    }
    assert_eq!(get_varint(&[0x80, 0x80], &mut 0), None);
}
