//! Chunks of records worked on by several threads, results handed back in
//! input order, with a bounded number of chunks in flight: the pipeline of
//! [`crate::run::run`] and [`crate::diff::run`]. Three stages overlap: one
//! thread reads records into chunks, `jobs` threads work on chunks, and the
//! calling thread puts results back in order and hands them on.

use std::collections::BTreeMap;
use std::sync::mpsc;

use crate::threads::spawn_named;

/// Splits `records` into chunks of `chunk_len`, runs `work(first_index,
/// chunk)` on `jobs` threads named `worker` and hands every result to
/// `sink` in input order. At most `4 × jobs` chunks are in flight, so
/// memory stays bounded however long the input. `sink` returning an error
/// stops the run (the threads end once their chunk is done) and returns it.
pub(crate) fn ordered<R, T, E>(
    records: impl Iterator<Item = R> + Send,
    jobs: usize,
    chunk_len: usize,
    worker: &'static str,
    work: impl Fn(u64, Vec<R>) -> Vec<T> + Sync,
    mut sink: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    R: Send,
    T: Send,
{
    let jobs = jobs.max(1);
    let chunk_len = chunk_len.max(1);
    let in_flight = jobs * 4;
    let work = &work;
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = crossbeam_channel::bounded::<(u64, u64, Vec<R>)>(jobs);
        let (done_tx, done_rx) = mpsc::channel::<(u64, Vec<T>)>();
        let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            token_tx
                .send(())
                .expect("the receiver is alive and the channel has room");
        }

        spawn_named(scope, "read-profiles", move || {
            let mut records = records;
            let (mut sequence, mut first) = (0u64, 0u64);
            loop {
                let chunk: Vec<R> = records.by_ref().take(chunk_len).collect();
                if chunk.is_empty() || token_rx.recv().is_err() {
                    break;
                }
                let len = chunk.len() as u64;
                if work_tx.send((sequence, first, chunk)).is_err() {
                    break;
                }
                sequence += 1;
                first += len;
            }
        });
        for _ in 0..jobs {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            spawn_named(scope, worker, move || {
                for (sequence, first, chunk) in work_rx {
                    if done_tx.send((sequence, work(first, chunk))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(done_tx);

        let mut waiting: BTreeMap<u64, Vec<T>> = BTreeMap::new();
        let mut next = 0u64;
        for (sequence, results) in done_rx {
            waiting.insert(sequence, results);
            while let Some(results) = waiting.remove(&next) {
                for result in results {
                    sink(result)?;
                }
                next += 1;
                let _ = token_tx.send(());
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_with_their_indexes() {
        let mut seen = Vec::new();
        ordered(
            0..1_000u64,
            3,
            7,
            "test",
            |first, chunk| chunk.into_iter().zip(first..).collect(),
            |pair| {
                seen.push(pair);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen.len(), 1_000);
        assert!(
            seen.iter()
                .enumerate()
                .all(|(i, &(v, idx))| v == i as u64 && idx == i as u64)
        );
    }

    #[test]
    fn a_sink_error_stops_the_run_and_is_returned() {
        let mut seen = 0;
        let result = ordered(
            0..1_000_000u64,
            2,
            5,
            "test",
            |_, chunk| chunk,
            |value| {
                seen += 1;
                if value == 42 { Err(value) } else { Ok(()) }
            },
        );
        assert_eq!(result, Err(42));
        assert_eq!(seen, 43);
    }
}
