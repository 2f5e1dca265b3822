//! The save-time dedup index as a new process builds it: from every segment,
//! with or without gaps in their value ids, read on several threads.

use crate::store::Retention;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::tests::{loaded_records, record, texts};
use super::Store;
use crate::error::Error;
use crate::value::{Record, Value};

fn records_of(t: &[Arc<str>], picks: &[usize]) -> Vec<Record> {
    picks
        .iter()
        .map(|&i| record(i as i64, &t[i], None))
        .collect()
}

fn texts_of(store: &Store, step: &str, op: &str) -> Vec<String> {
    loaded_records(store, step, op)
        .into_iter()
        .map(|fields| match &fields[1].1 {
            Some(Value::Str(s)) => s.to_string(),
            other => panic!("text field holds {other:?}"),
        })
        .collect()
}

/// Saves `picks` through a new handle, as a new process would, then checks how
/// many values the store holds and that the texts load back in order.
fn save_from_a_fresh_handle(
    dir: &Path,
    t: &[Arc<str>],
    op: &str,
    picks: &[usize],
    stored_values: u64,
) -> Store {
    let fresh = Store::open(dir);
    fresh
        .save("s", op, &records_of(t, picks), BTreeMap::new())
        .expect("save");
    assert_eq!(fresh.stats().expect("stats").stored_values, stored_values);
    let want: Vec<String> = picks.iter().map(|&i| t[i].to_string()).collect();
    assert_eq!(texts_of(&fresh, "s", op), want);
    fresh
}

#[test]
fn a_fresh_handle_dedups_against_every_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(40);
    let writer = Store::open(dir.path());
    for s in 0..8 {
        let picks: Vec<usize> = (5 * s..5 * s + 5).collect();
        writer
            .save(
                "s",
                &format!("op{s}"),
                &records_of(&t, &picks),
                BTreeMap::new(),
            )
            .expect("save");
    }
    assert_eq!(writer.manifest().expect("manifest").segments.len(), 8);
    let picks: Vec<usize> = (0..40).rev().step_by(3).collect();
    let fresh = save_from_a_fresh_handle(dir.path(), &t, "all", &picks, 40);
    let manifest = fresh.manifest().expect("manifest");
    assert_eq!(
        manifest.segments.len(),
        8,
        "a save of stored values wrote a segment"
    );
}

#[test]
fn a_fresh_handle_finds_values_gc_kept_with_gaps_in_their_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(12);
    let writer = Store::open(dir.path());
    let all: Vec<usize> = (0..10).collect();
    writer
        .save("s", "o", &records_of(&t, &all), BTreeMap::new())
        .expect("save");
    let even: Vec<usize> = (0..10).step_by(2).collect();
    writer
        .save("s", "o", &records_of(&t, &even), BTreeMap::new())
        .expect("overwrite");
    assert_eq!(
        writer
            .gc_with(&Retention::latest_only(), false)
            .expect("gc")
            .values_kept,
        5
    );
    let seg = writer.manifest().expect("manifest").segments[0].clone();
    assert_eq!((seg.min_id, seg.max_id, seg.count), (0, 8, 5));

    // 8, 2 and 0 are found under their gc-kept ids; only 10 and 11 are new
    save_from_a_fresh_handle(dir.path(), &t, "p", &[8, 10, 2, 11, 0], 7);
}

#[test]
fn a_segment_holding_other_values_than_its_manifest_says_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(15);
    let writer = Store::open(dir.path());
    for (op, picks) in [("a", vec![0, 1, 2]), ("b", (3..15).collect::<Vec<_>>())] {
        writer
            .save("s", op, &records_of(&t, &picks), BTreeMap::new())
            .expect("save");
    }
    let segments = writer.manifest().expect("manifest").segments;
    let path = |i: usize| writer.data_path(&segments[i].file);
    // the small segment's bytes under the big one's name
    std::fs::copy(path(0), path(1)).expect("copy");
    let fresh = Store::open(dir.path());
    let before = std::fs::read(path(1)).expect("read");
    match fresh.save("s", "c", &records_of(&t, &[14]), BTreeMap::new()) {
        Err(Error::Corrupt { path: named, .. }) => assert_eq!(named, path(1)),
        other => panic!("expected a corruption error, got {other:?}"),
    }
    assert_eq!(std::fs::read(path(1)).expect("read"), before);
    assert!(fresh.entry("s", "c").expect("entry").is_none());
}

#[test]
fn an_index_of_thousands_of_values_over_segments_finds_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t: Vec<Arc<str>> = (0..6000)
        .map(|i| Arc::from(format!("value number {i:06} of many, ").repeat(2)))
        .collect();
    let writer = Store::open(dir.path());
    for (s, chunk) in (0..6000).collect::<Vec<usize>>().chunks(2000).enumerate() {
        writer
            .save(
                "s",
                &format!("op{s}"),
                &records_of(&t, chunk),
                BTreeMap::new(),
            )
            .expect("save");
    }
    let picks: Vec<usize> = (0..6000).map(|i| (i * 7919) % 6000).collect();
    let fresh = save_from_a_fresh_handle(dir.path(), &t, "all", &picks, 6000);
    assert_eq!(fresh.manifest().expect("manifest").segments.len(), 3);
}

#[test]
fn after_compaction_a_fresh_handle_dedups_through_the_persisted_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(40);
    let writer = Store::open(dir.path());
    for s in 0..8 {
        let picks: Vec<usize> = (5 * s..5 * s + 5).collect();
        let records = records_of(&t, &picks);
        writer
            .save("s", &format!("op{s}"), &records, BTreeMap::new())
            .expect("save");
    }
    writer.compact().expect("compact");
    let manifest = writer.manifest().expect("manifest");
    let [seg] = manifest.segments.as_slice() else {
        panic!("one compacted segment, not {:?}", manifest.segments)
    };
    let index = seg.index.clone().expect("a persisted index");
    // the segment itself out of reach: a save that dedups must not read it
    let file = dir.path().join(".docetl_checkpoint").join(&seg.file);
    let aside = file.with_extension("aside");
    std::fs::rename(&file, &aside).expect("move");
    let fresh = Store::open(dir.path());
    let picks = [3, 17, 39, 0];
    fresh
        .save("s", "again", &records_of(&t, &picks), BTreeMap::new())
        .expect("a save that only dedups");
    std::fs::rename(&aside, &file).expect("back");
    let after = fresh.manifest().expect("manifest");
    assert_eq!(after.segments.len(), 1, "no value stored again");
    assert_eq!(fresh.stats().expect("stats").stored_values, 40);
    let want: Vec<String> = picks.iter().map(|&i| t[i].to_string()).collect();
    assert_eq!(texts_of(&fresh, "s", "again"), want);
    // a damaged index is never trusted: the value is stored again, exactly
    let index_path = dir.path().join(".docetl_checkpoint").join(&index);
    let mut bytes = std::fs::read(&index_path).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xFF;
    std::fs::write(&index_path, &bytes).expect("write");
    let damaged = Store::open(dir.path());
    damaged
        .save("s", "third", &records_of(&t, &picks), BTreeMap::new())
        .expect("save");
    assert_eq!(texts_of(&damaged, "s", "third"), want);
    // gc drops the index with its segment when nothing uses the segment
    for s in 0..8 {
        damaged.delete("s", &format!("op{s}")).expect("delete");
    }
    for op in ["again", "third"] {
        damaged.delete("s", op).expect("delete");
    }
    damaged
        .gc_with(&Retention::latest_only(), false)
        .expect("gc");
    assert!(!index_path.exists());
}
