use super::*;

#[test]
fn a_key_in_at_least_one_row_in_32_gets_a_column() {
    // 3,200 rows: the threshold is 100 rows
    let dense = dense_keys(&[3200, 100, 99, 1, 0], 3200, DENSE_FRACTION);
    assert_eq!(dense, vec![true, true, false, false, false]);
}

#[test]
fn small_checkpoints_keep_every_key_as_a_column() {
    // under 32 rows a key in one row is dense: ordinary saves do not change
    assert_eq!(dense_keys(&[1, 1, 31], 31, DENSE_FRACTION), vec![true; 3]);
    assert_eq!(dense_keys(&[1, 2], 33, DENSE_FRACTION), vec![false, true]);
    assert!(dense_keys(&[], 0, DENSE_FRACTION).is_empty());
}

#[test]
fn blobs_read_back_their_fields_and_references() {
    let mut blob = Vec::new();
    let fields: [(&str, Option<u8>); 3] = [("a", Some(1)), ("big", None), ("é", Some(2))];
    encode_blob(&fields, &mut blob, |v, out| match v {
        Some(n) => crate::canonical::encode_into(&crate::value::Value::Int(i64::from(*n)), out),
        None => out.push(REF_TAG),
    });
    let mut read = BlobFields::new(&blob).expect("blob");
    assert_eq!(read.remaining(), 3);
    assert_eq!(
        read.next_field().expect("a"),
        ("a", RareValue::Inline(&[0x03, 0x02]))
    );
    assert_eq!(read.next_field().expect("big"), ("big", RareValue::Ref(0)));
    assert_eq!(
        read.next_field().expect("é"),
        ("é", RareValue::Inline(&[0x03, 0x04]))
    );
    read.finish().expect("whole blob read");
    assert!(read.next_field().is_err());
}

#[test]
fn damaged_blobs_are_errors() {
    assert!(BlobFields::new(&[0x07, 0x00]).is_err());
    let mut read = BlobFields::new(&[0x08, 0x01, 0x01, b'a', 0x06, 0x05, b'x']).expect("header");
    assert!(read.next_field().is_err()); // string longer than the blob
    let read = BlobFields::new(&[0x08, 0x00, 0x00]).expect("header");
    assert!(read.finish().is_err()); // trailing byte
}

/// The measurement behind `DENSE_FRACTION`: bytes of a checkpoint file of
/// 10,000 records (`id`, and 40 keys each in a share `p` of the rows, with
/// int or short string values) with those keys as columns and as rare
/// fields. Run with `cargo test --no-default-features -- --ignored --nocapture
/// dense_fraction`.
#[test]
#[ignore]
fn dense_fraction_measurement() {
    use crate::checkpoint_file::{self, Origin};
    use crate::encode::encode_with;
    use crate::value::{Record, Value};
    let rows = 10_000usize;
    println!("share of rows | bytes as columns | bytes as rare fields | rare / columns");
    for per_mille in [1u64, 10, 31, 100, 200, 400] {
        let records: Vec<Record> = (0..rows)
            .map(|i| {
                let mut r: Record = vec![(Arc::from("id"), Value::Int(i as i64))];
                for k in 0..40u64 {
                    // a deterministic spread: row i holds key k in `per_mille` of 1000 rows
                    let h = u64::from_le_bytes(
                        blake3::hash(&[i.to_le_bytes(), (k as usize).to_le_bytes()].concat())
                            .as_bytes()[..8]
                            .try_into()
                            .expect("8 bytes"),
                    ) % 1000;
                    if h < per_mille {
                        let v = if k % 2 == 0 {
                            Value::Int((i * 7) as i64 % 1000)
                        } else {
                            Value::str(&format!("label {}", i % 50))
                        };
                        r.push((Arc::from(format!("field_{k}")), v));
                    }
                }
                r
            })
            .collect();
        let size = |fraction: u64| {
            let encoded = encode_with(&records, fraction);
            let origin = Origin {
                step: "s".into(),
                op: "o".into(),
                kind: crate::manifest::EntryKind::Checkpoint,
                batch_of: None,
                batch_index: None,
                created_at: 0.0,
                logical_bytes: 0,
                value_refs: 0,
                records_digest: String::new(),
                meta: Default::default(),
            };
            let ids: Vec<u64> = (0..encoded.large.len() as u64).collect();
            let bytes = checkpoint_file::write(&encoded, &ids, &origin).expect("write");
            (bytes.len(), encoded.shapes.len())
        };
        let ((columns, col_shapes), (rare, rare_shapes)) = (size(u64::MAX), size(1));
        println!(
            "{:>5.1}% | {columns:>8} ({col_shapes} shapes) | {rare:>8} ({rare_shapes} shapes) | {:.2}",
            per_mille as f64 / 10.0,
            rare as f64 / columns as f64
        );
    }
}
