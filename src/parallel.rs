//! The one way certctl spreads blocking work (writes that each wait on fsync) over a few
//! threads: a fixed number of scoped workers taking the next item until none is left, results
//! in the items' order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item, on up to `workers` threads; the results in the items' order.
pub fn map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return done;
                        };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_whatever_the_workers() {
        let items: Vec<u32> = (0..100).collect();
        for workers in [0, 1, 3, 8, 500] {
            assert_eq!(
                super::map(&items, workers, |i| i * 2),
                (0..100).map(|i| i * 2).collect::<Vec<_>>()
            );
        }
        assert!(super::map(&[] as &[u8], 8, |_| ()).is_empty());
    }
}
