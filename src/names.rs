//! Validation of step, operation and batch names, which become file names.

use crate::error::{Error, Result};

/// The folder inside a store that holds the manifest, lock and data files.
pub const STORE_DIR: &str = ".docetl_checkpoint";

/// Refuses names that could escape the store folder or clash with its files.
pub fn validate(what: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not file names")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if name.contains('\0') {
        Some("it contains a NUL character")
    } else if name.len() > 200 {
        // leaves room for the ".parquet" / "_batches" suffixes within 255 bytes
        Some("it is longer than 200 bytes")
    } else if name == STORE_DIR {
        Some("it is reserved for the store's own files")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The (step, op) under which batch `index` of `op` is stored.
pub fn batch_key(op: &str, index: u64) -> (String, String) {
    (format!("{op}_batches"), format!("batch_{index}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_hostile_names() {
        for bad in ["", ".", "..", "a/b", "..\\x", "nul\0", STORE_DIR] {
            assert!(validate("step", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate("step", &"x".repeat(201)).is_err());
        for good in [
            "extract",
            "map-1",
            "résumé",
            "a.b",
            ".hidden",
            "x".repeat(200).as_str(),
        ] {
            assert!(validate("step", good).is_ok(), "{good:?} refused");
        }
    }
}
