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
//! threads of work that allocates much and may then sit idle hand their memory back when it is
//! done ([`release_freed`], set as `roster_shared::memory`'s hook): the hashing thread after each
//! hash, and the thread that ran a long write on SQLite's writer connection (a whole-tenant
//! placement's batch) after each batch. Those batches run on whichever thread
//! `block_in_place` left them, and each such thread kept the ~10 MB a batch of a thousand users
//! freed: setting a default user group at 100,000 users took the server's resident memory up by
//! 30–50 MB in its first second (live heap, measured with heaptrack on a glibc build, stayed at
//! 23 MB through the walk), peaks 199, 205 and 220 MB over three runs of `./scripts/bench.sh
//! sqlite --users 100000`; releasing after each batch: 167 and 168 MB, the walk 7% longer
//! (6.5 against 6.1 s). At a million users: peak 162 MB (172–217 over the nine runs before),
//! but the rule change's walk 6.6 s against 4.6–4.8 and the default group's 42 against 37 s:
//! about 1.8 ms a batch, the batch's memory faulted in again after being handed back.
//! `mi_collect(false)` (without purging) left 193 MB.

/// Applies the setting; call once, first thing in `main`.
pub fn return_large_allocations() {
    roster_shared::memory::set_release_freed(release_freed);
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
/// hash (measured: 20 sign-ins one after another took the server from 47 to 73 MB without it)
/// and after each long write on SQLite's writer (see the module doc).
fn release_freed() {
    // SAFETY: mi_collect only walks and purges mimalloc's own free lists; it is safe to call on
    // any thread at any time (a no-op for memory mimalloc did not allocate).
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// SQLite keeps no statistics of its allocations: with them (its default), every allocation
/// and free takes one process-wide mutex to count them, on the writer and on every reading
/// connection alike. Nothing here reads them (`sqlite3_memory_used`, a soft heap limit).
/// Interleaved A/B, 1,000 users, 16 connections: server CPU per create 348 / 312 → 282 / 296 µs.
///
/// SQLite's allocations stay with glibc's malloc (see the module doc). Handing them to mimalloc
/// as well (`SQLITE_CONFIG_MALLOC`) took CPU per create to 268 µs, but the resident memory of
/// `./scripts/bench.sh sqlite --users 100000` from 158–159 MB to 230–237 MB (peaks 161–164 →
/// 230–246 MB): mimalloc keeps what each reading connection's thread freed.
///
/// Call once, first thing in `main`, before any database is opened.
pub fn sqlite_allocations() {
    use libsqlite3_sys as ffi;
    // SAFETY: called before any connection is opened, so SQLite is not initialized yet and may
    // change its global configuration; the option takes one int.
    let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int) };
    if rc != ffi::SQLITE_OK {
        tracing::warn!(rc, "SQLite keeps its memory statistics");
    }
}
