//! Ingest is measured in lines per second, queries in milliseconds: when both want the CPU, the
//! query should win. The ingest, writer, checkpointer and compactor threads call
//! [`lower_priority`] when they start, so the kernel runs readers and HTTP workers ahead of them
//! and ingest takes the time left over.

use log::warn;

/// A niceness of 10: well below interactive work, still far above idle.
const NICENESS: i32 = 10;

#[cfg(target_os = "linux")]
pub fn lower_priority(thread: &str) {
    // On Linux a nice value belongs to a thread, and 0 names the calling one.
    // SAFETY: setpriority only reads its integer arguments.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) };
    if result != 0 {
        warn!(
            "could not lower the priority of the {thread} thread: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_priority(_thread: &str) {}

/// Names the calling thread (the first 15 bytes of `name`), so that `top -H` and `ps -T` show
/// which of the service's threads uses the CPU, and its priority can be changed from outside
/// (`renice -n N -p TID`).
#[cfg(target_os = "linux")]
pub fn name_thread(name: &str) {
    let mut bytes: Vec<u8> = name.bytes().filter(|&b| b != 0).take(15).collect();
    bytes.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, which `bytes` is.
    unsafe { libc::prctl(libc::PR_SET_NAME, bytes.as_ptr()) };
}

#[cfg(not(target_os = "linux"))]
pub fn name_thread(_name: &str) {}
