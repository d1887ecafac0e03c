//! Parallel work on a stream of items, with the results handed on in input
//! order.

use rayon::prelude::*;

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

/// Runs `work` on the items of `items` on `pool`, `batch` items at a time,
/// and passes each result to `sink` in the order of `items`. Memory holds
/// one batch of items and results, whatever the length of `items`.
///
/// # Errors
/// The first error of `sink`, which stops the run.
pub fn map_in_order<T, R, E>(
    pool: &rayon::ThreadPool,
    items: impl Iterator<Item = T>,
    batch: usize,
    work: impl Fn(T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    R: Send,
{
    let batch = batch.max(1);
    let mut items = items.peekable();
    while items.peek().is_some() {
        let chunk: Vec<T> = items.by_ref().take(batch).collect();
        let results: Vec<R> = pool.install(|| chunk.into_par_iter().map(&work).collect());
        for result in results {
            sink(result)?;
        }
    }
    Ok(())
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
