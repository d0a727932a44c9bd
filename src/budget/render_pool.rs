//! Threads that parse and render hook requests, away from the HTTP I/O threads.
//!
//! A render is CPU work whose length depends on the request. Run on an I/O thread, two heavy
//! ones would stall `/healthz` and every light hook sharing that thread. Here they run on
//! their own threads; the I/O side only awaits the answer, with a deadline, so probes and
//! light hooks keep answering while heavy renders run. A panic in a render is caught here:
//! the thread lives on and the caller sees its reply channel closed.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::{bounded, Sender, TrySendError};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of render threads fed by a bounded queue.
pub struct RenderPool {
    queue: Sender<Job>,
}

/// The queue is full: the server has more requests than it admits.
#[derive(Debug)]
pub struct Busy;

impl RenderPool {
    /// Starts `threads` render threads sharing a queue of `queue` jobs.
    ///
    /// # Errors
    ///
    /// When a thread cannot be started.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<RenderPool> {
        let threads = threads.max(1);
        // Lock-free: a hello render takes ~20 µs, so the hand-off must cost far less.
        let (tx, rx) = bounded::<Job>(queue.max(1));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("render-{i}"))
                .spawn(move || {
                    lower_priority();
                    rx.into_iter().for_each(|job| job());
                })?;
        }
        Ok(RenderPool { queue: tx })
    }

    /// Queues `work`; the receiver yields its result, or an error if the work panicked
    /// (the panic is logged here; the sender died with it).
    ///
    /// `work` hands its result to `reply` itself, so it can go on to free what the request
    /// left behind (a large parsed request takes as long to free as to render) after the
    /// answer is on its way.
    ///
    /// # Errors
    ///
    /// [`Busy`] when the queue is full.
    pub fn spawn<T, F>(&self, work: F) -> Result<oneshot::Receiver<T>, Busy>
    where
        T: Send + 'static,
        F: FnOnce(oneshot::Sender<T>) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || work(tx))) {
                let message = panic_message(payload.as_ref());
                tracing::error!(panic = %message, "a render panicked; its thread goes on");
            }
        });
        match self.queue.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }
}

/// How much lower than the HTTP I/O threads a render thread runs. Renders that take
/// seconds on every CPU would otherwise make a probe or a light hook wait its turn behind
/// them for tens or hundreds of milliseconds; at nice 10 the scheduler gives a waking I/O
/// thread the CPU at once, and renders still get every cycle the I/O threads leave.
const RENDER_NICENESS: libc::c_int = 10;

/// Lowers this thread's scheduling priority (Linux sets niceness per thread). Lowering it
/// needs no privilege; when it fails anyway, the thread runs at the normal priority.
#[allow(unsafe_code)]
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers and only affect this thread.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, RENDER_NICENESS);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_and_a_panic_does_not_kill_the_thread() {
        let pool = RenderPool::new(1, 4).unwrap();
        let ok = pool
            .spawn(|tx| {
                let _ = tx.send(7);
            })
            .unwrap();
        assert_eq!(ok.blocking_recv().unwrap(), 7);
        let boom = pool
            .spawn(|_tx: oneshot::Sender<u32>| panic!("formatting argument out of range"))
            .unwrap();
        assert!(boom.blocking_recv().is_err(), "a panic closes the reply");
        // The one thread survived and still renders.
        let again = pool
            .spawn(|tx| {
                let _ = tx.send(8);
            })
            .unwrap();
        assert_eq!(again.blocking_recv().unwrap(), 8);
    }

    #[test]
    fn a_full_queue_says_busy_instead_of_growing() {
        let pool = RenderPool::new(1, 1).unwrap();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let _running = pool
            .spawn(move |tx| {
                let _ = hold_rx.recv();
                let _ = tx.send(());
            })
            .unwrap();
        let mut busy = false;
        for _ in 0..3 {
            busy |= pool
                .spawn(|tx| {
                    let _ = tx.send(());
                })
                .is_err();
        }
        assert!(busy, "a queue of one cannot take three more jobs");
        hold_tx.send(()).unwrap();
    }
}
