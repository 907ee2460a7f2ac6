//! Handing freed memory back to the system after work that allocates a lot on one thread.
//!
//! The binary's allocator (mimalloc, see `roster_server::memory`) keeps the memory a thread
//! freed for that thread's later allocations, and purges it only when that thread allocates
//! again. Two kinds of work here allocate much on a thread that may then sit idle: a password
//! hash (argon2id's 19 MiB buffer, on the blocking pool) and a long write on SQLite's writer
//! connection (a whole-tenant placement's batch of a thousand users, their resources, events
//! and activity records, run on a thread handed over by `block_in_place`). Each calls
//! [`release_freed`] on its thread when done; the binary sets what that does
//! ([`set_release_freed`]).

/// What [`release_freed`] runs (see [`set_release_freed`]).
static RELEASE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what [`release_freed`] runs: the binary's allocator hands the calling thread's freed
/// memory back to the system. Set once; later calls are ignored.
pub fn set_release_freed(f: fn()) {
    let _ = RELEASE.set(f);
}

/// Hands the memory the calling thread freed back to the system (nothing unless the binary set
/// how, see [`set_release_freed`]).
pub fn release_freed() {
    #[cfg(test)]
    testing::RELEASES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if let Some(release) = RELEASE.get() {
        release();
    }
}

/// For tests: how often memory was handed back.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(super) static RELEASES: AtomicUsize = AtomicUsize::new(0);

    /// Calls of [`super::release_freed`] so far, on any thread.
    pub(crate) fn releases() -> usize {
        RELEASES.load(Ordering::SeqCst)
    }
}
