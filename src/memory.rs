//! Handing memory the allocator holds back to the system.

/// Returns the pages this thread freed to the system now.
///
/// mimalloc purges freed pages lazily, when the thread that freed them allocates again; a
/// thread that frees a lot and then goes quiet (recovery, a burst of connections that became
/// idle WebSockets) would otherwise look that much bigger than what it holds.
pub fn release_freed() {
    // SAFETY: `mi_collect` only walks the calling thread's own mimalloc heap; it is safe to
    // call at any time, whether or not mimalloc is the global allocator.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
