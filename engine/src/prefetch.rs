//! Cache prefetch hints, for loops whose stores land in lines that are not in the cache
//! (message delivery into scattered mailboxes, the channel's in-flight buffers). A hint
//! changes no value, only when memory arrives; on targets without one it is a no-op.

/// Fetches the line holding `what`.
#[inline(always)]
pub(crate) fn line<T>(what: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(what);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = what;
}

/// Fetches, for writing, the lines of the `count` slots of `buf`'s spare capacity from
/// `first` on: where its next pushes will go.
#[inline(always)]
pub(crate) fn spare<T>(buf: &mut Vec<T>, first: usize, count: usize) {
    for slot in buf.spare_capacity_mut().iter().skip(first).take(count) {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        safe_arch::prefetch_et0(slot);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
        let _ = slot;
    }
}
