//! Data-parallel loops on the simulation's compute pool, for hot systems that work over
//! their own arrays rather than over a query.

use bevy_tasks::{ComputeTaskPool, ParallelSliceMut, TaskPoolBuilder};

/// Calls `f(offset, chunk)` for consecutive chunks of `data`, in parallel on the compute
/// pool (`--threads`), serially when the pool has one thread. `offset` is the index of the
/// chunk's first element in `data`.
///
/// Results cannot depend on scheduling as long as `f` writes only its own chunk and reads
/// only data that no chunk writes.
pub fn par_chunks_mut<T: Send>(data: &mut [T], f: impl Fn(usize, &mut [T]) + Send + Sync) {
    // Sixteen chunks per thread balance uneven work (dense flocks, a vCPU taken away for a
    // while): with four, Flockers' steering at 100k kept its two threads busy 91-92% of the
    // time, with sixteen 96-97%. Chunks stay large enough that a task's set-up is noise.
    split(
        data,
        1024,
        |len, threads| len.div_ceil(threads * 16).max(1024),
        f,
    );
}

/// Calls `f(offset, part)` for one part of `data` per compute-pool thread, in parallel (one
/// call with all of `data` when the pool has one thread). For passes where every part
/// scans a shared input and keeps what falls in its own range, so more parts than threads
/// would only repeat the scan.
pub fn par_parts_mut<T: Send>(data: &mut [T], f: impl Fn(usize, &mut [T]) + Send + Sync) {
    split(data, 65_536, |len, threads| len.div_ceil(threads), f);
}

/// Calls `f(index, item)` for every element of `data`, in parallel on the compute pool
/// (serially when the pool has one thread): one task per element, for a few heavy
/// per-thread jobs that each own their element (a part of a larger pass and its scratch).
pub fn par_each_mut<T: Send>(data: &mut [T], f: impl Fn(usize, &mut T) + Send + Sync) {
    split(
        data,
        2,
        |_, _| 1,
        |offset, part| {
            for (k, item) in part.iter_mut().enumerate() {
                f(offset + k, item);
            }
        },
    );
}

/// Threads in the compute pool (`--threads`; 1 before the pool is set up).
pub fn pool_threads() -> usize {
    ComputeTaskPool::try_get().map_or(1, |pool| pool.thread_num().max(1))
}

/// Runs `f` on chunks of `chunk(len, threads)` elements, or once on all of `data` when the
/// pool has one thread or `data` is shorter than `serial_below`.
fn split<T: Send>(
    data: &mut [T],
    serial_below: usize,
    chunk: impl Fn(usize, usize) -> usize,
    f: impl Fn(usize, &mut [T]) + Send + Sync,
) {
    let pool = ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(1).build());
    let threads = pool.thread_num();
    if threads <= 1 || data.len() < serial_below {
        f(0, data);
        return;
    }
    let size = chunk(data.len(), threads);
    let mut data = data;
    data.par_chunk_map_mut(pool, size, |index, part| f(index * size, part));
}

#[cfg(test)]
mod tests {
    /// The serial path (this test binary's pool has one thread); the parallel paths are
    /// compared against it end to end by `tests/determinism.rs` at 2 and 4 threads.
    #[test]
    fn every_element_is_visited_once_with_its_offset() {
        type Split = fn(&mut [usize], &(dyn Fn(usize, &mut [usize]) + Send + Sync));
        let splits: [Split; 3] = [
            |v, f| super::par_chunks_mut(v, f),
            |v, f| super::par_parts_mut(v, f),
            |v, f| super::par_each_mut(v, |i, x| f(i, std::slice::from_mut(x))),
        ];
        for split in splits {
            let mut v = vec![0usize; 70_000];
            split(&mut v, &|offset, part| {
                for (i, x) in part.iter_mut().enumerate() {
                    *x += offset + i;
                }
            });
            assert!(v.iter().enumerate().all(|(i, &x)| x == i));
        }
    }
}
