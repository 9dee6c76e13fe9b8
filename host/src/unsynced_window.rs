//! The crash window of `send`, enforced: a counting semaphore with one
//! permit per recipient that may be handed to the relay before the journal
//! has synced its record.

use std::sync::{Condvar, Mutex, PoisonError};

/// Permits to hand messages to the transport. A delivery thread takes one
/// before each message; the journal thread gives them back only after the
/// records of those messages are synced to disk. So at any moment at most
/// `capacity` recipients are accepted by the relay without a durable record.
pub(crate) struct UnsyncedWindow {
    state: Mutex<WindowState>,
    freed: Condvar,
}

struct WindowState {
    available: usize,
    closed: bool,
}

impl UnsyncedWindow {
    /// A window of `capacity` permits.
    pub(crate) fn new(capacity: usize) -> Self {
        UnsyncedWindow {
            state: Mutex::new(WindowState {
                available: capacity,
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits for a permit; false once the window is closed (the journal
    /// stopped, so nothing more may be sent).
    pub(crate) fn acquire(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.closed {
                return false;
            }
            if state.available > 0 {
                state.available -= 1;
                return true;
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Gives back `permits` whose records are now synced.
    pub(crate) fn release(&self, permits: usize) {
        if permits == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.available += permits;
        self.freed.notify_all();
    }

    /// Wakes every waiter with a refusal, for good.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.closed = true;
        self.freed.notify_all();
    }
}

/// Closes the window when dropped: the journal thread holds one, so a
/// journal that stops for any reason (an error, a panic) stops delivery.
pub(crate) struct CloseOnDrop<'a>(pub(crate) &'a UnsyncedWindow);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_run_out_until_released_and_closing_refuses_waiters() {
        let window = UnsyncedWindow::new(2);
        assert!(window.acquire());
        assert!(window.acquire());
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| window.acquire());
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!waiter.is_finished(), "no permit left: the waiter waits");
            window.release(1);
            assert!(waiter.join().unwrap());
            let refused = scope.spawn(|| window.acquire());
            window.close();
            assert!(!refused.join().unwrap());
        });
    }
}
