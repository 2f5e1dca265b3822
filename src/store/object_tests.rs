//! The store over an object store (object_store's in-memory one): commits by
//! conditional PUT with many writers, partial reads by range, gc's grace.

use crate::store::Retention;
use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};

use super::tests::{loaded_records, record, texts};
use super::{ReadMode, Store};
use crate::names::STORE_DIR;
use crate::storage::{Remote, Storage};
use crate::value::Record;

/// A second handle on the same bucket: its own caches, like another machine.
fn handle(bucket: &Arc<InMemory>, grace: Duration) -> Store {
    let store: Arc<dyn ObjectStore> = bucket.clone();
    let remote = Remote::with_store(store, "memory://bucket/run", "run", grace).expect("remote");
    Store::on(Storage::Object(Box::new(remote)))
}

/// `writers` threads, each with a store of its own, save checkpoints
/// `w<w>/op<k>` (k < `saves`) of 8 rows whose texts all writers share, so
/// each dedups against values the others are committing.
fn save_concurrently(writers: i64, saves: usize, open: &(dyn Fn() -> Store + Sync)) {
    let t = texts(8);
    std::thread::scope(|s| {
        for w in 0..writers {
            let t = &t;
            s.spawn(move || {
                let store = open();
                for k in 0..saves {
                    let records: Vec<Record> = (0..8)
                        .map(|i| record(i + 100 * w, &t[i as usize], None))
                        .collect();
                    let (step, op) = (format!("w{w}"), format!("op{k}"));
                    store
                        .save(&step, &op, &records, Default::default())
                        .expect("save");
                }
            });
        }
    });
}

#[test]
fn round_trip_dedup_and_partial_reads() {
    let bucket = Arc::new(InMemory::new());
    let store = handle(&bucket, Duration::from_secs(3600));
    let t = texts(20);
    let records: Vec<Record> = (0..20).map(|i| record(i, &t[i as usize], None)).collect();
    store
        .save("s1", "split", &records, Default::default())
        .expect("save");
    let mapped: Vec<Record> = (0..20)
        .map(|i| {
            record(
                i,
                &t[i as usize],
                Some("a summary long enough to be stored apart"),
            )
        })
        .collect();
    let path = store
        .save("s1", "map", &mapped, Default::default())
        .expect("save");
    assert!(path
        .to_string_lossy()
        .starts_with("memory://bucket/run/.docetl_checkpoint/files/"));
    let stats = store.stats().expect("stats");
    assert_eq!(
        stats.stored_values, 21,
        "20 texts and one summary, stored once"
    );

    let other = handle(&bucket, Duration::from_secs(3600));
    assert_eq!(
        loaded_records(&other, "s1", "map"),
        loaded_records(&store, "s1", "map")
    );
    let head = other
        .read("s1", "map", ReadMode::Head(3))
        .expect("read")
        .expect("present");
    assert_eq!(head.num_rows(), 3);
    assert!(other.verify().expect("verify").damaged.is_empty());
}

#[test]
fn concurrent_writers_on_other_machines_lose_nothing() {
    let bucket = Arc::new(InMemory::new());
    save_concurrently(4, 5, &|| handle(&bucket, Duration::from_secs(3600)));
    let store = handle(&bucket, Duration::from_secs(3600));
    let manifest = store.manifest().expect("manifest");
    assert_eq!(manifest.entries.len(), 20, "every commit landed");
    assert_eq!(manifest.generation, 20, "one generation per commit");
    for w in 0..4i64 {
        for k in 0..5 {
            let rows = loaded_records(&store, &format!("w{w}"), &format!("op{k}"));
            assert_eq!(rows.len(), 8);
        }
    }
    assert!(store.verify().expect("verify").damaged.is_empty());
    let ids: Vec<(u64, u64)> = manifest
        .segments
        .iter()
        .map(|s| (s.min_id, s.max_id))
        .collect();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert!(
                a.1 < b.0 || b.1 < a.0,
                "value id ranges overlap: {a:?} {b:?}"
            );
        }
    }
}

#[test]
fn gc_spares_young_unreferenced_objects_until_the_grace_period() {
    let bucket = Arc::new(InMemory::new());
    let t = texts(4);
    let records: Vec<Record> = (0..4).map(|i| record(i, &t[i as usize], None)).collect();
    let patient = handle(&bucket, Duration::from_secs(3600));
    patient
        .save("s", "a", &records, Default::default())
        .expect("save");
    patient
        .save("s", "b", &records[..1], Default::default())
        .expect("save");
    // an upload of a commit still in flight on another machine
    let key = object_store::path::Path::from(format!("run/{STORE_DIR}/values/in-flight.parquet"));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(bucket.put(&key, b"not yet committed".to_vec().into()))
        .expect("put");
    assert!(patient.delete("s", "a").expect("delete"));

    let report = patient
        .gc_with(&Retention::latest_only(), false)
        .expect("gc");
    assert_eq!(report.values_removed, 3, "three texts only `a` used");
    let names = |store: &Store| -> Vec<String> {
        store
            .storage()
            .list("values")
            .expect("list")
            .into_iter()
            .map(|l| l.name)
            .collect()
    };
    assert!(names(&patient).contains(&"values/in-flight.parquet".to_string()));
    assert_eq!(loaded_records(&patient, "s", "b").len(), 1);

    let eager = handle(&bucket, Duration::ZERO);
    eager.gc_with(&Retention::latest_only(), false).expect("gc");
    assert!(!names(&eager).contains(&"values/in-flight.parquet".to_string()));
    let manifests = eager.storage().list("manifests").expect("list");
    assert_eq!(manifests.len(), 1, "older generations pruned");
    assert_eq!(loaded_records(&eager, "s", "b").len(), 1);
}

#[test]
fn file_urls_commit_by_conditional_create_on_a_local_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("shared").display());
    save_concurrently(3, 4, &|| {
        Store::open_location(&url, &Default::default()).expect("open")
    });
    let store = Store::open_location(&url, &Default::default()).expect("open");
    let manifest = store.manifest().expect("manifest");
    assert_eq!((manifest.entries.len(), manifest.generation), (12, 12));
    assert_eq!(loaded_records(&store, "w2", "op3").len(), 8);
    let manifests = dir.path().join("shared/.docetl_checkpoint/manifests");
    // generations 1..=12, and the empty generation 0 the first commit made
    assert_eq!(std::fs::read_dir(manifests).expect("list").count(), 13);
    let bad = Store::open_location("file://relative/path", &Default::default());
    assert!(bad.is_err(), "file:// URLs name absolute folders");
}
