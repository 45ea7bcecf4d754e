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
    let pool = ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(1).build());
    let threads = pool.thread_num();
    if threads <= 1 || data.len() < 1024 {
        f(0, data);
        return;
    }
    // A few chunks per thread balances uneven work (dense flocks) without paying the
    // per-task cost on tiny chunks.
    let chunk = data.len().div_ceil(threads * 4).max(256);
    let mut data = data;
    data.par_chunk_map_mut(pool, chunk, |index, part| f(index * chunk, part));
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_element_is_visited_once_with_its_offset() {
        let mut v = vec![0usize; 5000];
        super::par_chunks_mut(&mut v, |offset, part| {
            for (i, x) in part.iter_mut().enumerate() {
                *x += offset + i;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| x == i));
    }
}
