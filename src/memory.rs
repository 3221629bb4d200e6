//! How the process gives freed memory back to the operating system.
//!
//! glibc's malloc serves a block of at least its mmap threshold from a
//! mapping of its own, returned to the system when the block is freed, and
//! anything smaller from its heap arenas, which keep freed pages for reuse.
//! By default the threshold moves: freeing a mapped block raises it to that
//! block's size (up to 32 MiB). After one large request body had come and
//! gone, every later one was carved from the arenas, and a burst of bodies
//! left the process tens of MiB larger for good. A fixed threshold keeps
//! every block of [`LARGE_BLOCK_BYTES`] or more (a webhook body's segments,
//! actix's grown read buffers) in its own mapping, so a burst's memory is
//! returned when its connections close; the arenas serve only small blocks.

/// Blocks this size or larger are mapped on their own and unmapped when
/// freed. A webhook body is held in pieces of this size.
pub const LARGE_BLOCK_BYTES: usize = 64 * 1024;

/// Fixes the allocator's mmap threshold at [`LARGE_BLOCK_BYTES`]. Called
/// once at start-up; elsewhere than glibc it does nothing.
pub fn return_large_blocks_when_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a parameter of glibc's allocator; any
        // threshold up to half the arena heap size (32 MiB) is valid, and
        // the setting applies to blocks allocated from then on.
        let set =
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES as libc::c_int) };
        if set != 1 {
            tracing::warn!(
                "could not fix the allocator's mmap threshold; freed memory may be kept"
            );
        }
    }
}
