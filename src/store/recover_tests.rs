//! A lost manifest (damage, refused by gc, rebuilt by `recover`) and reads
//! of bounded size (streams, chunked tables), without an interpreter.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::tests::{loaded_records, record, texts};
use super::{ReadMode, Store};
use crate::arrow_out;
use crate::error::Error;
use crate::names::STORE_DIR;

fn filled(dir: &std::path::Path) -> Store {
    let store = Store::open(dir);
    let t = texts(6);
    let rows = |n: usize, extra| {
        (0..n)
            .map(|i| record(i as i64, &t[i % 6], extra))
            .collect::<Vec<_>>()
    };
    store
        .save("s", "map", &rows(30, Some("x")), BTreeMap::new())
        .expect("save");
    store
        .save("s", "filter", &rows(12, None), BTreeMap::new())
        .expect("save");
    store
        .save_batch("map", 0, &rows(5, None), BTreeMap::new())
        .expect("save");
    store
}

#[test]
fn a_lost_manifest_is_damage_gc_refuses_and_recover_rebuilds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = filled(dir.path());
    let before: Vec<_> = ["map", "filter"]
        .iter()
        .map(|op| loaded_records(&store, "s", op))
        .collect();
    let manifest = dir.path().join(STORE_DIR).join("manifest.json");
    std::fs::remove_file(&manifest).expect("rm");
    assert!(matches!(store.manifest(), Err(Error::Corrupt { .. })));
    assert!(matches!(store.gc(), Err(Error::Corrupt { .. })));
    let report = store.recover().expect("recover");
    assert!(report.needed);
    assert_eq!(report.restored.len(), 3, "{report:?}");
    let after: Vec<_> = ["map", "filter"]
        .iter()
        .map(|op| loaded_records(&store, "s", op))
        .collect();
    assert_eq!(before, after);
    assert!(store.verify().expect("verify").ok());
    assert!(!store.recover().expect("again").needed);
}

#[test]
fn streams_and_tables_come_in_bounded_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(filled(dir.path()));
    let stream = store
        .stream("s", "map", None, None)
        .expect("stream")
        .expect("present");
    let batches: Vec<_> = stream.collect::<Result<_, _>>().expect("batches");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 30);
    let projected = store
        .stream("s", "map", None, Some(vec!["id".into()]))
        .expect("stream")
        .expect("present");
    assert_eq!(projected.schema().fields().len(), 1);
    let loaded = store
        .read("s", "map", ReadMode::All)
        .expect("read")
        .expect("present");
    // each text is 4 KB: a 10 KB budget cuts the table every two rows
    let schema = arrow_out::schema(&loaded).expect("schema");
    let small = arrow_out::batches(&loaded, &schema, 10_000).expect("batches");
    assert_eq!(small.len(), 15);
    assert!(small.iter().all(|b| b.num_rows() == 2));
    let whole =
        arrow_out::batches(&loaded, &schema, arrow_out::TABLE_BATCH_BYTES).expect("batches");
    assert_eq!(whole.len(), 1);
}
