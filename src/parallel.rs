//! Work spread over the machine's cores with scoped threads: segment hashes
//! read for the dedup index, row groups compressed for a segment.

use crate::error::{Error, Result};

pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// `f` of every item, in order, computed on up to one thread per core; the
/// first error (in item order) is returned.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    if items.len() < 2 || threads() < 2 {
        return items.iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads());
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| s.spawn(|| chunk.iter().map(&f).collect::<Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            let part = worker
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("a worker thread panicked".into())))?;
            out.extend(part);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_the_first_error_wins() {
        let items: Vec<u32> = (0..100).collect();
        let doubled = parallel_map(&items, |&i| Ok(2 * i)).expect("no error");
        assert_eq!(doubled, items.iter().map(|i| 2 * i).collect::<Vec<_>>());
        let failed = parallel_map(&items, |&i| match i {
            10 | 90 => Err(Error::InvalidValue(format!("item {i}"))),
            _ => Ok(i),
        });
        match failed {
            Err(Error::InvalidValue(m)) => assert_eq!(m, "item 10"),
            other => panic!("expected the error of item 10, got {other:?}"),
        }
    }
}
