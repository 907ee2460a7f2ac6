//! How the process gives memory back.
//!
//! Each password hash (argon2id) allocates one 19 MiB buffer and frees it. glibc's allocator
//! raises its mmap threshold to the size of the largest freed mapping, so from the second hash
//! on, these buffers come from the per-thread heaps ("arenas") instead, and stay there after
//! they are freed: every thread that ever hashed kept 19 MiB. Measured: 20 sign-ins one after
//! another took the server from 36 MB to 155 MB, 96 concurrent ones to 510 MB, although at most
//! two hashes ran at once. Fixing the threshold at 1 MiB turns that adjustment off: large
//! buffers are mapped for their use and unmapped when freed. That still holds for the C
//! libraries that allocate with glibc's malloc (SQLite, libxml2, xmlsec).
//!
//! The C libraries' allocations are also held to two of glibc's arenas (its default is eight
//! per core): SQLite's page caches and statements are allocated on whichever thread runs them,
//! and each arena kept what was freed in it. `./scripts/bench.sh sqlite --users 100000` peaked
//! at 193 and 205 MB with the default and at 173–194 MB over three runs with two arenas (ending
//! at 150–153 MB against 171 MB), its requests/s within the runs' noise. (mimalloc purging
//! freed memory at once, not after 10 ms, took the peak to 163 MB but cost a sixth of the
//! creates/s, so it is not set.)
//!
//! Rust's own allocations go to mimalloc (`main.rs`): glibc's malloc and free were 30% of the
//! server's samples in a SCIM list workload (`perf`), and with mimalloc the same binary served
//! 45% more GETs by id, 70% more list pages, 35% more PATCHes (1,000 users, 16 connections,
//! interleaved rounds). mimalloc keeps freed memory for reuse on the thread that freed it, so the
//! hashing thread hands its memory back after each hash ([`release_freed`]).

/// Applies the setting; call once, first thing in `main`.
pub fn return_large_allocations() {
    roster_shared::passwords::set_after_hash(release_freed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands the memory the calling thread freed back to the system at once (mimalloc, the
/// binary's allocator, otherwise keeps it for reuse and purges it only on later allocations
/// on that thread, which an idle blocking-pool thread never makes). Called after each password
/// hash; measured: 20 sign-ins one after another took the server from 47 to 73 MB without it.
fn release_freed() {
    // SAFETY: mi_collect only walks and purges mimalloc's own free lists; it is safe to call on
    // any thread at any time (a no-op for memory mimalloc did not allocate).
    unsafe { libmimalloc_sys::mi_collect(true) }
}
