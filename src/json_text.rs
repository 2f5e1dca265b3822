//! JSON text of a value, for table columns whose values have no single Arrow type.
//!
//! Written the way Python's `json.dumps` writes it (NaN, Infinity, floats with
//! a '.' or exponent) so `json.loads` of the text gives the value back.

use crate::value::Value;

pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::BigInt(digits) => out.push_str(digits),
        Value::Float(f) => write_float(*f, out),
        Value::Str(s) => write_str(s, out),
        Value::Surrogates(bytes) => write_surrogates(bytes, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(key, out);
                out.push_str(": ");
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// A string with lone surrogates, each written as a `\\udXXX` escape (as
/// `json.dumps` writes it), everything else as `write_str` does.
fn write_surrogates(bytes: &[u8], out: &mut String) {
    let mut text = String::with_capacity(bytes.len());
    let mut escapes = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                rest = &[];
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                text.push_str(std::str::from_utf8(good).unwrap_or_default());
                // a surrogate: ED A0..BF xx in generalized UTF-8
                if let [0xED, b1 @ 0xA0..=0xBF, b2, ..] = *bad {
                    let unit = 0xD000 | (u32::from(b1 & 0x3F) << 6) | u32::from(b2 & 0x3F);
                    escapes.push((text.len(), unit));
                    rest = &bad[3..];
                } else {
                    text.push('\u{FFFD}');
                    rest = &bad[1..];
                }
            }
        }
    }
    // write_str escapes the text; splice the surrogate escapes in at their places
    let mut start = 0;
    let mut pieces = String::new();
    out.push('"');
    for (at, unit) in escapes {
        pieces.clear();
        write_str(&text[start..at], &mut pieces);
        out.push_str(&pieces[1..pieces.len() - 1]);
        out.push_str(&format!("\\u{unit:04x}"));
        start = at;
    }
    pieces.clear();
    write_str(&text[start..], &mut pieces);
    out.push_str(&pieces[1..pieces.len() - 1]);
    out.push('"');
}

fn write_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Rust's shortest round-trip form; add ".0" so it reads back as a float.
        let text = format!("{f:?}");
        out.push_str(&text);
        if !text.contains(['.', 'e', 'E']) {
            out.push_str(".0");
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn floats_read_back_as_floats() {
        assert_eq!(to_json(&Value::Float(1.0)), "1.0");
        assert_eq!(to_json(&Value::Float(-0.0)), "-0.0");
        assert_eq!(to_json(&Value::Float(f64::NAN)), "NaN");
        assert_eq!(to_json(&Value::Float(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(to_json(&Value::Float(1e-7)), "1e-7");
    }

    #[test]
    fn nested_with_escapes() {
        let v = Value::Object(vec![(
            Arc::from("k\"ey"),
            Value::List(vec![Value::Int(-3), Value::str("a\nb\u{1}"), Value::Null]),
        )]);
        assert_eq!(to_json(&v), r#"{"k\"ey": [-3, "a\nb\u0001", null]}"#);
    }
}
