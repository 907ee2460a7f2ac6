//! How the process gives memory back.
//!
//! Each password hash (argon2id) allocates one 19 MiB buffer and frees it. glibc's allocator
//! raises its mmap threshold to the size of the largest freed mapping, so from the second hash
//! on, these buffers come from the per-thread heaps ("arenas") instead, and stay there after
//! they are freed: every thread that ever hashed kept 19 MiB. Measured: 20 sign-ins one after
//! another took the server from 36 MB to 155 MB, 96 concurrent ones to 510 MB, although at most
//! two hashes ran at once. Fixing the threshold at 1 MiB turns that adjustment off: large
//! buffers are mapped for their use and unmapped when freed.

/// Applies the setting; call once, first thing in `main`.
pub fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
