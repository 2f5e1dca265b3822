//! Golden vectors: the canonical encoding and hashes are a file format.
//! Changing any of these breaks every existing store; docs/format.md lists them.
//! The hashes were cross-checked with the independent `blake3` Python package.

use super::*;
use crate::value::Value;
use std::sync::Arc;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn obj(fields: Vec<(&str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect())
}

/// (value, canonical encoding, blake3 of it), both hex.
fn vectors() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (
            Value::Null,
            "00",
            "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
        ),
        (
            Value::Bool(false),
            "01",
            "48fc721fbbc172e0925fa27af1671de225ba927134802998b10a1568a188652b",
        ),
        (
            Value::Bool(true),
            "02",
            "ab13bedf42e84bae0f7c62c7dd6a8ada571e8829bed6ea558217f0361b5e25d0",
        ),
        (
            Value::Int(0),
            "0300",
            "fd07e5b69bfa982855889ce70a028ccba18098d71529ec8d4367bb5d86c8ac98",
        ),
        (
            Value::Int(-1),
            "0301",
            "07ebe7a47eaab849b52b90eb949cd42f6bba8faddf479ab0e7718f9e82c5476a",
        ),
        (
            Value::Int(300),
            "03d804",
            "eb703e007d2593bda6e4548207e9b8c94dbba06ab513d5d74e2943393278b37a",
        ),
        (
            Value::BigInt("18446744073709551616".into()),
            "04143138343436373434303733373039353531363136",
            "6fdd65393048d583628a674d2a73ed31ccba5eb3909344f64a1094ecc74e1221",
        ),
        (
            Value::Float(1.0),
            "05000000000000f03f",
            "af38f21f3b195af2470263028d8558a7cd484fd8c9a05ac6d7f183eb50db746c",
        ),
        (
            Value::Float(-0.0),
            "050000000000000080",
            "85fa0894ac9ffaa509691b1c0b33b12000cd178d6c03fc1fdb9318fafae4ce93",
        ),
        (
            Value::str(""),
            "0600",
            "a14b2737a874ffdcf75abbf804b5fba38b2b2102285c90f23d688bf6e0b76725",
        ),
        (
            Value::str("héllo"),
            "060668c3a96c6c6f",
            "1b5c02f897899231089b07d526de1c894f3eae48095e598b06a701c2650d8b54",
        ),
        (
            Value::List(vec![Value::Int(1), Value::Null]),
            "0702030200",
            "19efbc8c6f357ea90ad7a3410bfe369e075d26cbeb496fd374e9166a24107ba4",
        ),
        (
            obj(vec![("b", Value::Int(1)), ("a", Value::Bool(true))]),
            "080201620302016102",
            "4c386ec6165889aeb43152ac2113d69c038ed0a6ba377f59d22c6af21710ac71",
        ),
    ]
}

#[test]
fn golden_encodings_and_hashes() {
    for (value, encoding, hash) in vectors() {
        assert_eq!(hex(&encode(&value)), encoding, "encoding of {value:?}");
        assert_eq!(hex(&hash_value(&value)), hash, "hash of {value:?}");
    }
}

#[test]
fn golden_record_hash() {
    let record = vec![
        (Arc::from("b"), Value::Int(1)),
        (Arc::from("a"), Value::Bool(true)),
    ];
    assert_eq!(
        hex(&hash_record(&record)),
        "444a9a36fec51c300979f9c107ab8d26"
    );
}

#[test]
fn decode_inverts_encode() {
    for (value, _, _) in vectors() {
        assert_eq!(decode(&encode(&value)).expect("decodes"), value);
    }
    let nan = Value::Float(f64::from_bits(0x7ff8_0000_0000_0001));
    assert_eq!(decode(&encode(&nan)).expect("decodes"), nan);
}

#[test]
fn streamed_string_hash_equals_encoded_hash() {
    let s = "x".repeat(1000);
    assert_eq!(hash_str(&s), hash_encoded(&encode(&Value::str(&s))));
}

#[test]
fn malformed_input_is_refused() {
    for bad in [
        &[][..],
        &[0x06, 0x05, b'a'][..],
        &[0x42][..],
        &[0x00, 0x00][..],
        &[0x06, 0x01, 0xff][..],
    ] {
        assert!(decode(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn key_order_changes_the_hash() {
    let ab = obj(vec![("a", Value::Int(1)), ("b", Value::Int(2))]);
    let ba = obj(vec![("b", Value::Int(2)), ("a", Value::Int(1))]);
    assert_ne!(hash_value(&ab), hash_value(&ba));
    assert_ne!(hash_value(&Value::Int(1)), hash_value(&Value::Float(1.0)));
}
