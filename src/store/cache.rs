//! A bounded cache of decoded value segments. Segment files are immutable and
//! never renamed, so a cached segment stays right for as long as it exists.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::segment::SegmentValues;

/// Decoded bytes kept at most: a DocETL run's working set of large values.
pub const CACHE_BYTES: usize = 256 << 20;

#[derive(Default)]
pub struct SegmentCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    segments: HashMap<String, Arc<SegmentValues>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl SegmentCache {
    pub fn get(&self, file: &str) -> Option<Arc<SegmentValues>> {
        self.lock().segments.get(file).cloned()
    }

    pub fn put(&self, file: &str, values: Arc<SegmentValues>) {
        let size = values.size();
        if size > CACHE_BYTES {
            return;
        }
        let mut inner = self.lock();
        if inner.segments.insert(file.to_string(), values).is_some() {
            return;
        }
        inner.order.push_back(file.to_string());
        inner.bytes += size;
        while inner.bytes > CACHE_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.segments.remove(&oldest) {
                inner.bytes -= gone.size();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
