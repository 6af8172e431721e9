//! glibc's `malloc` for SQLite. convio's own code allocates through mimalloc (`src/main.rs`);
//! SQLite, a C library, through the C library's `malloc`. glibc gives the free top of a heap
//! back to the kernel once it exceeds 128 KiB (`M_TRIM_THRESHOLD`). The writer's statements
//! grow their heap by more than that and free it again at every statement (the in-memory
//! statement journal, in 1 KiB chunks; B-tree balancing), so each statement trimmed the heap
//! and the next faulted the same pages back in, zeroed by the kernel: 8 % of the writer's
//! SQLite thread (`perf`, docs/performance.md, "glibc's heap for SQLite").
//!
//! Keeping up to [`TRIM_THRESHOLD`] free on top of each heap ends that. It bounds what a heap
//! keeps, not what it may use, and it is kept only where that much was in use at once. Setting
//! it also stops glibc adapting its `mmap` threshold (mallopt(3)), which stays at 128 KiB:
//! SQLite's frequent allocations (pages, journal blocks, values) are all far below it.

/// Free bytes glibc keeps on top of a heap before it gives them back: 8 MiB, more than a
/// group's statement journal (`service::ingest` bounds a group at 512 conversions).
pub(crate) const TRIM_THRESHOLD: i32 = 8 << 20;

/// Sets glibc's `M_TRIM_THRESHOLD` to [`TRIM_THRESHOLD`], once per process. `true` when glibc
/// took it; `false` where there is no glibc (and nothing to do).
pub(crate) fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // SAFETY: `mallopt` takes the allocator's own locks; any thread may call it at any time.
        *SET.get_or_init(|| unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) } == 1)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// glibc takes the setting, and a heap keeps what a statement's many small blocks freed:
    /// allocating them again finds their pages already there.
    #[test]
    fn glibc_keeps_freed_memory_on_top_of_the_heap() {
        assert!(keep_freed_memory());
        // On a thread of its own, whose page faults are counted alone.
        std::thread::spawn(|| {
            let faults = || {
                let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
                // SAFETY: getrusage writes the struct it is given.
                unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
                // SAFETY: initialised by the call above.
                unsafe { usage.assume_init() }.ru_minflt
            };
            // 2 MiB in blocks of 1 KiB, as SQLite's statement journal takes them, then freed.
            let round = || {
                // SAFETY: each block is malloc'd, written in full and freed once.
                unsafe {
                    let blocks: Vec<*mut libc::c_void> = (0..2048)
                        .map(|_| libc::malloc(1024))
                        .filter(|p| !p.is_null())
                        .collect();
                    for &p in &blocks {
                        std::ptr::write_bytes(p.cast::<u8>(), 1, 1024);
                    }
                    for p in blocks {
                        libc::free(p);
                    }
                }
            };
            round();
            let before = faults();
            for _ in 0..8 {
                round();
            }
            let after = faults();
            // Trimmed after every round, each would fault its 512 pages in again.
            assert!(
                after - before < 64,
                "{} page faults in 8 rounds",
                after - before
            );
        })
        .join()
        .unwrap();
    }
}
