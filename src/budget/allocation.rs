//! Counting what a piece of work leaves allocated: a rule's compiled size.
//!
//! A compiled rule holds parsed templates, JSONPaths and patterns whose sizes no type
//! reports, so the allocator counts instead. [`CountingAlloc`] wraps mimalloc and, only on a
//! thread inside [`measure`], adds every allocation and subtracts every free. What is still
//! allocated when the work ends is what it kept; the highest the count went is what it
//! needed on the way.
//!
//! Outside a measurement the cost is one thread-local read per allocation.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// The global allocator of the `rulehook` binary: mimalloc, counted where asked.
pub struct CountingAlloc;

thread_local! {
    /// Net bytes allocated by this thread since the measurement began, and the highest it
    /// reached; `None` outside a measurement. Const-initialised with no destructor, so the
    /// allocator may touch it at any time.
    static COUNT: Cell<Option<(isize, isize)>> = const { Cell::new(None) };
}

fn add(bytes: isize) {
    // `try_with`: a thread being torn down has no thread-locals left to count in.
    let _ = COUNT.try_with(|count| {
        if let Some((net, peak)) = count.get() {
            let net = net.saturating_add(bytes);
            count.set(Some((net, peak.max(net))));
        }
    });
}

/// Every block mimalloc hands out is a whole number of words from a word-aligned start, so
/// an alignment of a word or less needs none of its aligned entry points. Those are slower
/// for every size, and much slower for blocks over 1 KiB (answer and read buffers), which
/// they over-allocate and align by hand: most of what a request allocates asks only for this.
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: every call is passed to mimalloc with its size and alignment kept: to the plain
// entry points only where a word's alignment suffices (above); counting touches only a
// thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        if layout.align() <= WORD {
            // SAFETY: `layout.size()` is non-zero (the caller's contract), and the block is
            // word-aligned.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        if layout.align() <= WORD {
            // SAFETY: as in `alloc`.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: as above.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: as above; mimalloc frees aligned and plain blocks alike.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        if layout.align() <= WORD {
            // SAFETY: `ptr` came from this allocator with `layout`, `new_size` is non-zero,
            // and a plain reallocation keeps a word's alignment.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            // SAFETY: as above.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

/// What a measured piece of work allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measured {
    /// Still allocated when it ended: what its result keeps.
    pub kept: usize,
    /// The most it held at once.
    pub peak: usize,
}

/// Runs `work` and counts what it allocates on this thread. Zero when the process does
/// not use [`CountingAlloc`] (a library embedding rulehook with its own allocator).
pub fn measure<R>(work: impl FnOnce() -> R) -> (R, Measured) {
    let outer = COUNT.with(|c| c.replace(Some((0, 0))));
    let result = work();
    let (net, peak) = COUNT.with(|c| c.replace(outer)).unwrap_or((0, 0));
    // A measurement inside another counts toward the outer one too.
    if let Some((outer_net, outer_peak)) = outer {
        let net_total = outer_net.saturating_add(net);
        COUNT.with(|c| {
            c.set(Some((
                net_total,
                outer_peak.max(outer_net.saturating_add(peak)),
            )))
        });
    }
    let measured = Measured {
        kept: usize::try_from(net).unwrap_or(0),
        peak: usize::try_from(peak).unwrap_or(0),
    };
    (result, measured)
}

/// What the work being measured on this thread holds right now, if any is.
pub fn held_now() -> Option<usize> {
    COUNT
        .with(Cell::get)
        .map(|(net, _)| usize::try_from(net).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_has_its_alignment_and_keeps_its_bytes() {
        let sizes = [1, 3, 8, 24, 40, 100, 1_000, 1_500, 5_000, 70_000, 300_000];
        for align in [1, 2, 4, 8, 16, 64, 4096] {
            for size in sizes {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: the layouts are non-zero in size; each block is freed once, with
                // the layout it has then.
                unsafe {
                    let zeroed = CountingAlloc.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size} at {align}");
                    assert!(std::slice::from_raw_parts(zeroed, size)
                        .iter()
                        .all(|&b| b == 0));
                    CountingAlloc.dealloc(zeroed, layout);

                    let block = CountingAlloc.alloc(layout);
                    assert_eq!(block as usize % align, 0, "{size} at {align}");
                    block.write_bytes(0xa5, size);
                    let grown = CountingAlloc.realloc(block, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size} at {align}");
                    assert!(std::slice::from_raw_parts(grown, size)
                        .iter()
                        .all(|&b| b == 0xa5));
                    CountingAlloc.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }

    #[test]
    fn what_is_kept_and_the_peak_on_the_way() {
        let (kept, measured) = measure(|| {
            let scratch = vec![0u8; 100_000];
            drop(scratch);
            vec![1u8; 10_000]
        });
        assert_eq!(kept.len(), 10_000);
        assert_eq!(measured.kept, 10_000);
        assert!(measured.peak >= 100_000, "{measured:?}");
        assert_eq!(held_now(), None, "nothing is counted afterwards");
    }
}
