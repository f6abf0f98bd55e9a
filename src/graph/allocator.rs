//! The allocator while a bulk load runs: freed memory is kept instead of returned to the kernel.
//!
//! A load builds each chunk's quads on rayon threads, hands them to Oxigraph's loader, whose
//! batch threads free them after encoding — gigabytes allocated and freed per minute. mimalloc
//! (the binary's global allocator) gives emptied memory back to the kernel a second after it
//! is freed (`purge_delay`, 1,000 ms in mimalloc 3), so a later chunk page-faults the same
//! memory in again and the kernel zeroes it: in a profile of `cbrrel load` at 10,000 reports,
//! `clear_page_erms` was a fifth to a third of the building threads' samples.
//! [`KeepFreedMemory`] turns the purging off for the duration of a load and back on after it
//! (and asks mimalloc to return what it kept), so a load holds its peak, no more, and only
//! while it runs; a long-lived `cbrrel serve` is never affected. In a process whose global allocator is not mimalloc (the test binaries) it changes
//! an option nobody reads.
//!
//! `CBRREL_KEEP_FREED_MEMORY=0` leaves mimalloc's purging on during a load as well: for a host
//! where the load's peak must not be held for its whole duration, and for measuring what the
//! guard is worth (BENCHMARKS.md).

use std::sync::Mutex;

use libmimalloc_sys::{mi_collect, mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of mimalloc 3's `mi_option_t` (include/mimalloc.h; the Rust
/// bindings have no name for it). The test below checks it reads that option's default.
const PURGE_DELAY: mi_option_t = 15;

/// Guards held now, and the purge delay to restore when the last is dropped (two loads in one
/// process — the tests — must not restore each other's setting).
static HELD: Mutex<(usize, std::ffi::c_long)> = Mutex::new((0, 0));

/// The environment variable that turns the guard off (`0`).
pub const ENV: &str = "CBRREL_KEEP_FREED_MEMORY";

/// Whether [`ENV`]'s value asks for the guard: anything but `0` (or unset) does.
fn wanted(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.trim() != "0")
}

/// While alive, mimalloc keeps freed memory for reuse; dropped, purging resumes as before.
/// Inactive (changes nothing) when [`ENV`] is `0`.
#[must_use = "the setting holds only while the guard lives"]
pub struct KeepFreedMemory {
    active: bool,
}

impl KeepFreedMemory {
    pub fn new() -> KeepFreedMemory {
        if !wanted(std::env::var(ENV).ok().as_deref()) {
            return KeepFreedMemory { active: false };
        }
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if held.0 == 0 {
            // SAFETY: mimalloc's option calls take and return plain integers; any thread may
            // call them at any time.
            held.1 = unsafe { mi_option_get(PURGE_DELAY) };
            unsafe { mi_option_set(PURGE_DELAY, -1) };
        }
        held.0 += 1;
        KeepFreedMemory { active: true }
    }
}

impl Default for KeepFreedMemory {
    fn default() -> Self {
        KeepFreedMemory::new()
    }
}

impl Drop for KeepFreedMemory {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        held.0 -= 1;
        if held.0 == 0 {
            // SAFETY: as above; `mi_collect` frees this thread's unused pages and purges.
            unsafe {
                mi_option_set(PURGE_DELAY, held.1);
                mi_collect(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purging_is_off_while_a_guard_lives() {
        // Other tests' loads may hold guards at the same time: the count keeps the option off
        // until the last one goes, and the value to restore is the one before the first.
        let a = KeepFreedMemory::new();
        let b = KeepFreedMemory::new();
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1);
        drop(a);
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1, "b still holds");
        // mimalloc 3's default purge delay (1,000 ms, src/options.c) is what will be restored:
        // the option index is the right one.
        assert_eq!(HELD.lock().unwrap().1, 1000);
        drop(b);
    }

    #[test]
    fn only_zero_turns_the_guard_off() {
        assert!(wanted(None));
        assert!(wanted(Some("1")));
        assert!(wanted(Some("")));
        assert!(!wanted(Some("0")));
        assert!(!wanted(Some(" 0\n")));
    }
}
