//! Rare keys through the store: a save splits dense and rare keys, every
//! read gives the records back in order, partial reads check them by hash.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::tests::{loaded_records, texts};
use super::{ReadMode, Store};
use crate::rare;
use crate::value::{Record, Value};

fn sparse(n: usize, big: &Arc<str>) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut r: Record = vec![(Arc::from(format!("key_{i}")), Value::Int(i as i64))];
            r.push((Arc::from("id"), Value::Int(i as i64)));
            if i % 10 == 0 {
                r.push((Arc::from(format!("big_{i}")), Value::Str(big.clone())));
            }
            r
        })
        .collect()
}

#[test]
fn rare_keys_share_one_blob_column_and_read_back_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path());
    let big = texts(1).remove(0);
    let records = sparse(100, &big);
    store
        .save("s", "o", &records, BTreeMap::new())
        .expect("save");
    let loaded = store
        .read("s", "o", ReadMode::All)
        .expect("read")
        .expect("there");
    assert_eq!(loaded.columns.len(), 1, "only `id` is dense");
    let r = loaded.meta.rare.as_ref().expect("rare fields");
    assert_eq!(r.count, 110);
    assert!(r.keys.is_none(), "more rare keys than listed");
    assert_eq!(loaded.meta.shapes.len(), 2, "rare keys share shapes");
    assert_eq!(loaded.meta.shapes[0], vec![rare::RARE, 0, rare::RARE]);
    assert_eq!(loaded.meta.shapes[1], vec![rare::RARE, 0]);
    let entry = store.manifest().expect("manifest").entries[0].clone();
    assert_eq!(entry.columns, vec!["id", rare::REST_COLUMN]);
    assert_eq!(entry.value_refs, 10);
    let want: Vec<Vec<(String, Option<Value>)>> = records
        .iter()
        .map(|r| {
            r.iter()
                .map(|(k, v)| (k.to_string(), Some(v.clone())))
                .collect()
        })
        .collect();
    assert_eq!(loaded_records(&store, "s", "o"), want);
    let head = store
        .read("s", "o", ReadMode::Head(15))
        .expect("head")
        .expect("there");
    head.verify_records().expect("rows match their hashes");
    let rows = store
        .read("s", "o", ReadMode::Rows { start: 40, len: 30 })
        .expect("rows")
        .expect("there");
    assert_eq!(rows.num_rows(), 30);
}
