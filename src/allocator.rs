//! glibc's allocator, tuned once at start-up for a service whose compactor makes and frees
//! buffers of tens of MB (a segment's lines and keys) beside many threads' small allocations.
//!
//! By default glibc raises its mmap threshold each time a mapped buffer is freed, up to 32 MiB:
//! after the first segment, a segment's buffers come from the heap, and what they leave free
//! there stays resident. A fixed threshold maps large buffers and gives them back on free. Fixing
//! it also fixes the trim threshold at 128 KiB, which shrinks and regrows the heap all the time,
//! so that is set too. (Both measured in docs/performance.md; `MALLOC_ARENA_MAX=2` lowered peak
//! memory as well but slowed compaction.)

/// Allocations from this size on are mapped on their own, and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 << 20;
/// Free memory at the heap's top returned to the system only beyond this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 128 << 20;

/// Call first thing in `main`, before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    // SAFETY: mallopt only sets the allocator's parameters; no other thread allocates yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
