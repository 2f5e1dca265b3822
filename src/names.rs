//! Validation of step, operation and batch names, which become file names.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The folder inside a store that holds the manifest, lock and data files.
pub const STORE_DIR: &str = ".docetl_checkpoint";

/// Refuses what no checkpoint name can be. Anything DocETL accepts as a
/// step or operation name is accepted here (`x/y`, `..`, `a\\b`): names are
/// kept as given, and only `file_component` turns them into file names.
pub fn validate(what: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.contains('\0') {
        Some("it contains a NUL character")
    } else if name.len() > 200 {
        // leaves room for escapes and the ".parquet" / "_batches" suffixes
        Some("it is longer than 200 bytes")
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

/// A name as one safe file-name component of the `<step>/<op>.parquet`
/// links. Names an earlier release accepted (no `/` or `\\`, not `.`, `..`
/// or the store's folder) are used as they are, so their links keep their
/// names. Others are escaped with `\\` as the marker, the one character no
/// such name holds: `\\` -> `\\5C`, `/` -> `\\2F`, and the first dot of `.`,
/// `..` and the store's folder name -> `\\2E`. One-to-one: two names never
/// share a file.
pub fn file_component(name: &str) -> Cow<'_, str> {
    let dots = name == "." || name == ".." || name == STORE_DIR;
    if !dots && !name.contains(['/', '\\']) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\5C"),
            '/' => out.push_str("\\2F"),
            '.' if i == 0 && dots => out.push_str("\\2E"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The (step, op) under which batch `index` of `op` is stored.
pub fn batch_key(op: &str, index: u64) -> (String, String) {
    (format!("{op}_batches"), format!("batch_{index}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_what_no_name_can_be() {
        for bad in ["", "nul\0"] {
            assert!(validate("step", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate("step", &"x".repeat(201)).is_err());
        for good in [
            "extract", "résumé", "a.b", ".hidden", "x/y", "..", "a\\b", STORE_DIR,
        ] {
            assert!(validate("step", good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn file_components_are_safe_and_one_to_one() {
        let names = [
            "plain",
            "x/y",
            "x%2Fy",
            "x\\2Fy",
            "..",
            ".",
            "\\2E.",
            "a\\b",
            "a\\5Cb",
            STORE_DIR,
            ".hidden",
            "../../etc",
        ];
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let c = file_component(name);
            assert!(!c.contains('/'), "{name:?} -> {c:?}");
            assert!(c != "." && c != ".." && c != STORE_DIR, "{name:?} -> {c:?}");
            assert!(seen.insert(c.into_owned()), "{name:?} shares a file name");
        }
        assert_eq!(file_component("plain"), "plain");
        assert_eq!(file_component(".hidden"), ".hidden");
        // as an earlier release linked it
        assert_eq!(file_component("top%2F10"), "top%2F10");
    }
}
