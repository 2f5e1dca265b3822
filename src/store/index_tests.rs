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

/// The persisted index files in the store's values folder.
fn index_files(dir: &Path) -> Vec<String> {
    let values = dir.join(".docetl_checkpoint").join("values");
    let mut names: Vec<String> = std::fs::read_dir(values)
        .expect("values")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".idx"))
        .map(|n| format!("values/{n}"))
        .collect();
    names.sort();
    names
}

fn remove_index_files(dir: &Path) {
    for name in index_files(dir) {
        std::fs::remove_file(dir.join(".docetl_checkpoint").join(name)).expect("remove");
    }
}

/// The index files the manifest names (each once).
fn named_indexes(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = (store.manifest().expect("manifest").segments)
        .into_iter()
        .filter_map(|s| s.index)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Moves every value segment aside (returns them): a save that must not
/// read any segment fails loudly if it tries.
fn segments_aside(store: &Store) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let moved: Vec<_> = (store.manifest().expect("manifest").segments)
        .iter()
        .map(|s| {
            let file = store.data_path(&s.file);
            (file.clone(), file.with_extension("aside"))
        })
        .collect();
    for (file, aside) in &moved {
        std::fs::rename(file, aside).expect("move");
    }
    moved
}

#[test]
fn saves_index_their_segments_and_a_fresh_handle_reads_no_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(200);
    let writer = Store::open(dir.path());
    for s in 0..40 {
        let picks: Vec<usize> = (5 * s..5 * s + 5).collect();
        let records = records_of(&t, &picks);
        writer
            .save("s", &format!("op{s}"), &records, BTreeMap::new())
            .expect("save");
    }
    let manifest = writer.manifest().expect("manifest");
    assert_eq!(manifest.segments.len(), 40);
    assert!(manifest.segments.iter().all(|s| s.index.is_some()));
    // merged as a binary counter: 40 saves of 5 values leave 2 files (32 + 8)
    assert_eq!(
        named_indexes(&writer),
        vec![
            manifest.segments[0].index.clone().expect("i"),
            manifest.segments[39].index.clone().expect("i")
        ]
    );
    assert_eq!(
        index_files(dir.path()),
        named_indexes(&writer),
        "replaced files removed"
    );
    let moved = segments_aside(&writer);
    let fresh = Store::open(dir.path());
    let picks: Vec<usize> = (0..200).rev().step_by(7).collect();
    fresh
        .save("s", "all", &records_of(&t, &picks), BTreeMap::new())
        .expect("a save of stored values reads no segment");
    // and a save bringing new values next to stored ones
    let new = Store::open(dir.path());
    new.save(
        "s",
        "more",
        &records_of(&texts(203), &[3, 201, 202]),
        BTreeMap::new(),
    )
    .expect("a save of new values reads no segment");
    for (file, aside) in &moved {
        std::fs::rename(aside, file).expect("back");
    }
    assert_eq!(new.stats().expect("stats").stored_values, 202);
    let want: Vec<String> = picks.iter().map(|&i| t[i].to_string()).collect();
    assert_eq!(texts_of(&new, "s", "all"), want);
    assert_eq!(new.manifest().expect("manifest").segments.len(), 41);
}

#[test]
fn merged_indexes_stay_right_through_gc_and_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(120);
    let writer = Store::open(dir.path());
    for s in 0..12 {
        let picks: Vec<usize> = (10 * s..10 * s + 10).collect();
        let records = records_of(&t, &picks);
        writer
            .save("s", &format!("op{s}"), &records, BTreeMap::new())
            .expect("save");
    }
    // half of op3's values dead: gc rewrites its segment (no index), drops
    // op5's whole segment; the merged file still holds their old entries
    let kept: Vec<usize> = (30..35).collect();
    writer
        .save("s", "op3", &records_of(&t, &kept), BTreeMap::new())
        .expect("overwrite");
    writer.delete("s", "op5").expect("delete");
    let report = writer
        .gc_with(&Retention::latest_only(), false)
        .expect("gc");
    assert_eq!(report.values_removed, 15);
    assert_eq!(
        index_files(dir.path()),
        named_indexes(&writer),
        "gc leaves no stray index"
    );
    // a fresh handle stores the dropped values again (new ids) and finds the rest
    let fresh = Store::open(dir.path());
    let picks: Vec<usize> = vec![50, 31, 38, 0, 119, 55];
    fresh
        .save("s", "x", &records_of(&t, &picks), BTreeMap::new())
        .expect("save");
    assert_eq!(fresh.stats().expect("stats").stored_values, 105 + 3);
    let want: Vec<String> = picks.iter().map(|&i| t[i].to_string()).collect();
    assert_eq!(texts_of(&fresh, "s", "x"), want);
    writer.compact().expect("compact");
    assert_eq!(
        index_files(dir.path()),
        named_indexes(&writer),
        "compaction leaves no stray index"
    );
    let after = Store::open(dir.path());
    after
        .save("s", "y", &records_of(&t, &picks), BTreeMap::new())
        .expect("save");
    assert_eq!(after.stats().expect("stats").stored_values, 108);
    assert_eq!(texts_of(&after, "s", "y"), want);
}

#[test]
fn a_damaged_or_missing_index_makes_a_save_read_the_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = texts(60);
    let writer = Store::open(dir.path());
    for s in 0..6 {
        let picks: Vec<usize> = (10 * s..10 * s + 10).collect();
        let records = records_of(&t, &picks);
        writer
            .save("s", &format!("op{s}"), &records, BTreeMap::new())
            .expect("save");
    }
    let picks: Vec<usize> = (0..60).step_by(4).collect();
    let want: Vec<String> = picks.iter().map(|&i| t[i].to_string()).collect();
    for (k, name) in index_files(dir.path()).into_iter().enumerate() {
        let path = dir.path().join(".docetl_checkpoint").join(&name);
        let mut bytes = std::fs::read(&path).expect("read");
        // a head byte, then a block byte (found only when a lookup reads it)
        let at = if k == 0 { 30 } else { bytes.len() - 50 };
        bytes[at] ^= 0x5A;
        std::fs::write(&path, &bytes).expect("write");
    }
    let fresh = Store::open(dir.path());
    fresh
        .save("s", "damaged", &records_of(&t, &picks), BTreeMap::new())
        .expect("save");
    assert_eq!(
        fresh.stats().expect("stats").stored_values,
        60,
        "no value stored twice"
    );
    assert_eq!(texts_of(&fresh, "s", "damaged"), want);
    remove_index_files(dir.path());
    let fresh = Store::open(dir.path());
    fresh
        .save("s", "missing", &records_of(&t, &picks), BTreeMap::new())
        .expect("save");
    assert_eq!(
        fresh.stats().expect("stats").stored_values,
        60,
        "no value stored twice"
    );
    assert_eq!(texts_of(&fresh, "s", "missing"), want);
    // that save (it read the segments) indexed them: the next process reads none
    assert!(fresh
        .manifest()
        .expect("m")
        .segments
        .iter()
        .all(|s| s.index.is_some()));
    assert_eq!(index_files(dir.path()), named_indexes(&fresh));
    let moved = segments_aside(&fresh);
    let next = Store::open(dir.path());
    let more = records_of(&texts(61), &[60, 1, 2]);
    next.save("s", "next", &more, BTreeMap::new())
        .expect("reads no segment");
    for (file, aside) in &moved {
        std::fs::rename(aside, file).expect("back");
    }
    assert_eq!(next.stats().expect("stats").stored_values, 61);
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
    // the small segment's bytes under the big one's name, and no index
    // files (a store of an earlier release): the save reads the segments
    std::fs::copy(path(0), path(1)).expect("copy");
    remove_index_files(dir.path());
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
    // a damaged index is never trusted: the segment is read instead
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
    assert_eq!(
        damaged.stats().expect("stats").stored_values,
        40,
        "no value stored twice"
    );
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
