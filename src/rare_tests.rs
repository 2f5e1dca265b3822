use super::*;

#[test]
fn a_key_in_at_least_one_row_in_32_gets_a_column() {
    // 3,200 rows: the threshold is 100 rows
    let dense = dense_keys(&[3200, 100, 99, 1, 0], 3200);
    assert_eq!(dense, vec![true, true, false, false, false]);
}

#[test]
fn small_checkpoints_keep_every_key_as_a_column() {
    // under 32 rows a key in one row is dense: ordinary saves do not change
    assert_eq!(dense_keys(&[1, 1, 31], 31), vec![true; 3]);
    assert_eq!(dense_keys(&[1, 2], 33), vec![false, true]);
    assert!(dense_keys(&[], 0).is_empty());
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
