//! Store behaviour without an interpreter: round trip, dedup, commits, gc.

use crate::store::Retention;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ReadMode, Store};
use crate::arrow_out;
use crate::value::{Record, Value};

pub(super) fn record(id: i64, text: &Arc<str>, extra: Option<&str>) -> Record {
    let mut r: Record = vec![
        (Arc::from("id"), Value::Int(id)),
        (Arc::from("text"), Value::Str(text.clone())),
    ];
    if let Some(e) = extra {
        r.push((Arc::from("summary"), Value::str(e)));
    }
    r
}

/// Incompressible texts (hex of a hash chain): sizes then show storage, not zstd.
pub(super) fn texts(n: usize) -> Vec<Arc<str>> {
    (0..n)
        .map(|i| {
            let mut h = blake3::hash(&(i as u64).to_le_bytes());
            let mut s = String::new();
            while s.len() < 4000 {
                s.push_str(h.to_hex().as_str());
                h = blake3::hash(h.as_bytes());
            }
            Arc::from(s)
        })
        .collect()
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).expect("list").flatten() {
            let m = e.metadata().expect("stat");
            if m.is_dir() {
                stack.push(e.path());
            } else if seen.insert(m.ino()) {
                total += m.len();
            }
        }
    }
    total
}

pub(super) fn loaded_records(
    store: &Store,
    step: &str,
    op: &str,
) -> Vec<Vec<(String, Option<Value>)>> {
    let loaded = store
        .read(step, op, ReadMode::All)
        .expect("read")
        .expect("present");
    (0..loaded.num_rows())
        .map(|row| {
            let mut fields = Vec::new();
            loaded
                .for_each_field(row, |key, _, cell| {
                    fields.push((key.to_string(), arrow_out::cell_value(cell)?));
                    Ok(())
                })
                .expect("fields");
            fields
        })
        .collect()
}

#[test]
fn round_trip_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(3);
    let records: Vec<Record> = (0..3)
        .map(|i| record(i, &t[i as usize], Some("short")))
        .collect();
    let store = Store::open(dir.path());
    let path = store
        .save("s", "o", &records, BTreeMap::new())
        .expect("save");
    assert!(path.ends_with("s/o.parquet") && path.exists());
    let reopened = Store::open(dir.path());
    let rows = loaded_records(&reopened, "s", "o");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], ("id".to_string(), Some(Value::Int(1))));
    assert_eq!(rows[2][1].1, Some(Value::Str(t[2].clone())));
    assert!(reopened
        .read("s", "missing", ReadMode::All)
        .expect("read")
        .is_none());
}

#[test]
fn large_values_are_stored_once_across_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    let t = texts(50);
    let base: Vec<Record> = (0..50).map(|i| record(i, &t[i as usize], None)).collect();
    store
        .save("s", "load", &base, BTreeMap::new())
        .expect("save");
    let one = dir_bytes(dir.path());
    for op in ["map", "filter", "unnest", "classify"] {
        let recs: Vec<Record> = (0..50)
            .map(|i| record(i, &t[i as usize], Some(op)))
            .collect();
        store.save("s", op, &recs, BTreeMap::new()).expect("save");
    }
    let five = dir_bytes(dir.path());
    // four more checkpoints of the same texts add references, not texts
    assert!(
        five < one + one / 2,
        "one checkpoint {one} B, five {five} B"
    );
    let stats = store.stats().expect("stats");
    assert_eq!(stats.stored_values, 50);
    assert_eq!(stats.value_refs, 250);
}

#[test]
fn identical_resave_writes_only_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    let t = texts(5);
    let recs: Vec<Record> = (0..5).map(|i| record(i, &t[i as usize], None)).collect();
    store.save("s", "o", &recs, BTreeMap::new()).expect("save");
    let before = store.entry("s", "o").expect("entry").expect("present");
    store
        .save("s", "o", &recs, BTreeMap::new())
        .expect("save again");
    let after = store.entry("s", "o").expect("entry").expect("present");
    assert_eq!(before.file, after.file);
    assert_eq!(store.manifest().expect("manifest").generation, 2);
}

#[test]
fn gc_frees_overwritten_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    for round in 0..5 {
        let t: Vec<Arc<str>> = (0..10)
            .map(|i| Arc::from(format!("round {round} doc {i} ").repeat(300)))
            .collect();
        let recs: Vec<Record> = (0..10).map(|i| record(i, &t[i as usize], None)).collect();
        store.save("s", "o", &recs, BTreeMap::new()).expect("save");
    }
    let report = store.gc_with(&Retention::latest_only(), false).expect("gc");
    assert_eq!(report.values_removed, 40);
    assert_eq!(report.values_kept, 10);
    assert!(report.bytes_freed > 0);
    assert_eq!(store.gc().expect("gc again").files_removed, 0);
    assert_eq!(loaded_records(&store, "s", "o").len(), 10);
    assert!(store.verify().expect("verify").damaged.is_empty());
}

#[test]
fn delete_and_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    let t = texts(2);
    let recs: Vec<Record> = (0..2).map(|i| record(i, &t[i as usize], None)).collect();
    let p = store
        .save_batch("map", 3, &recs, BTreeMap::new())
        .expect("batch");
    assert!(p.ends_with("map_batches/batch_3.parquet"));
    // a checkpoint may not take a batch's file name
    assert!(store
        .save("map_batches", "batch_3", &recs, BTreeMap::new())
        .is_err());
    assert!(store.delete("map_batches", "batch_3").expect("delete"));
    assert!(!p.exists());
    assert!(!store
        .delete("map_batches", "batch_3")
        .expect("delete twice"));
}

#[test]
fn empty_checkpoint_and_empty_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    store
        .save("s", "none", &[], BTreeMap::new())
        .expect("save empty");
    assert_eq!(loaded_records(&store, "s", "none").len(), 0);
    store
        .save("s", "blank", &[Vec::new(), Vec::new()], BTreeMap::new())
        .expect("save blanks");
    assert_eq!(
        loaded_records(&store, "s", "blank"),
        vec![Vec::new(), Vec::new()]
    );
}

#[test]
fn flipped_byte_in_a_checkpoint_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    let t = texts(3);
    let recs: Vec<Record> = (0..3)
        .map(|i| record(i, &t[i as usize], Some("x")))
        .collect();
    store.save("s", "o", &recs, BTreeMap::new()).expect("save");
    let entry = store.entry("s", "o").expect("entry").expect("present");
    let path = store.data_path(&entry.file);
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    // the file is immutable: replace it to simulate damage on disk
    std::fs::remove_file(&path).expect("rm");
    std::fs::write(&path, &bytes).expect("write");
    let err = store
        .read("s", "o", ReadMode::All)
        .err()
        .expect("damage detected");
    assert!(err
        .to_string()
        .contains(path.file_name().and_then(|n| n.to_str()).expect("name")));
    let report = store.verify().expect("verify");
    assert_eq!(report.damaged.len(), 1);
}

#[test]
fn value_segments_are_cut_into_row_groups_of_about_a_megabyte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    let t = texts(1000); // 4 MB of values in one save
    let records: Vec<Record> = (0..1000).map(|i| record(i, &t[i as usize], None)).collect();
    store
        .save("s", "big", &records, Default::default())
        .expect("save");
    let seg = &store.manifest().expect("manifest").segments[0];
    let file = store
        .storage()
        .open_parquet(&seg.file, seg.bytes)
        .expect("open");
    let groups = file.meta.metadata().row_groups();
    assert!(groups.len() >= 4, "{} row groups", groups.len());
    let biggest = groups
        .iter()
        .map(|g| g.total_byte_size())
        .max()
        .unwrap_or(0);
    assert!(
        biggest < 2 * crate::segment::ROW_GROUP_BYTES as i64,
        "{biggest} bytes"
    );
    let head = store
        .read("s", "big", ReadMode::Head(2))
        .expect("read")
        .expect("present");
    assert_eq!(head.num_rows(), 2);
}
