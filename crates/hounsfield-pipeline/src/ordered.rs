//! Parallel work on a stream of items, with the results handed on in input
//! order.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

use crate::error::PipelineError;

/// Builds a thread pool of `jobs` threads, or one per core when `None`.
///
/// # Errors
/// [`PipelineError::ThreadPool`] when the threads cannot be started.
pub fn thread_pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, PipelineError> {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|error| PipelineError::ThreadPool {
            jobs,
            message: error.to_string(),
        })
}

/// Runs `work` on the items of `items` on `pool` and passes each result to
/// `sink`, on the calling thread, in the order of `items`.
///
/// Items are handed to the pool one at a time, so a slow item does not hold
/// up the threads that are free, and `sink` runs while the pool works on
/// later items. At most `window` items are queued, in work or waiting for
/// `sink` at any time, so memory does not grow with the length of `items`.
///
/// # Errors
/// The first error of `sink`, which stops the run. Items already handed to
/// the pool are finished and their results dropped.
///
/// # Panics
/// A panic of `work` is resumed on the calling thread when its result would
/// have been passed to `sink`.
pub fn map_in_order<T, R, E>(
    pool: &rayon::ThreadPool,
    items: impl Iterator<Item = T>,
    window: usize,
    work: impl Fn(T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    R: Send,
{
    let window = window.max(1);
    let work = &work;
    let (sender, receiver) = mpsc::channel::<(usize, std::thread::Result<R>)>();
    // FIFO, so that items start in input order and few results wait.
    pool.in_place_scope_fifo(|scope| {
        let mut items = items.enumerate();
        let mut waiting = BTreeMap::new();
        let mut in_work = 0usize;
        let mut next = 0usize;
        loop {
            while in_work + waiting.len() < window {
                let Some((index, item)) = items.next() else {
                    break;
                };
                let sender = sender.clone();
                scope.spawn_fifo(move |_| {
                    let result = panic::catch_unwind(AssertUnwindSafe(|| work(item)));
                    // Sending fails only once the receiver is dropped, after
                    // this call returned; the result is not needed then.
                    let _ = sender.send((index, result));
                });
                in_work += 1;
            }
            if in_work == 0 {
                // Every item handed out has been passed to `sink`.
                return Ok(());
            }
            // OK because this function holds `sender`, so the channel stays
            // open, and every job sends exactly once, also after a panic.
            let Ok((index, result)) = receiver.recv() else {
                unreachable!("the result channel closed while jobs were running");
            };
            in_work -= 1;
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&next) {
                next += 1;
                match result {
                    Ok(result) => sink(result)?,
                    Err(payload) => panic::resume_unwind(payload),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order() {
        let pool = thread_pool(Some(2)).unwrap();
        let mut seen = Vec::new();
        map_in_order(
            &pool,
            0..10u64,
            3,
            |x| x * x,
            |y| {
                seen.push(y);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    }

    #[test]
    fn results_in_flight_stay_within_window() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let pool = thread_pool(Some(2)).unwrap();
        let alive = AtomicUsize::new(0);
        let most_alive = AtomicUsize::new(0);
        let mut seen = Vec::new();
        map_in_order(
            &pool,
            0..200u64,
            3,
            |x| {
                let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
                most_alive.fetch_max(now, Ordering::SeqCst);
                x
            },
            |x| {
                alive.fetch_sub(1, Ordering::SeqCst);
                seen.push(x);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        assert!(most_alive.into_inner() <= 3);
    }

    #[test]
    fn work_panic_reaches_the_caller_after_earlier_results() {
        let pool = thread_pool(Some(2)).unwrap();
        let mut seen = Vec::new();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map_in_order(
                &pool,
                0..10u64,
                4,
                |x| {
                    assert_ne!(x, 5, "item 5 fails");
                    x
                },
                |x| {
                    seen.push(x);
                    Ok::<(), ()>(())
                },
            )
        }));
        assert!(outcome.is_err());
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn sink_error_stops_the_run() {
        let pool = thread_pool(Some(1)).unwrap();
        let mut seen = 0;
        let result = map_in_order(
            &pool,
            0..10,
            2,
            |x| x,
            |x| {
                seen += 1;
                if x == 3 {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result, Err("stop"));
        assert_eq!(seen, 4);
    }
}
