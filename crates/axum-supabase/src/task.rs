//! Background tasks that outlive no runtime: started on first use, and
//! started again on the current runtime when the one they ran on has ended.
//!
//! A verifier or a session store may be shared across runtimes (one per
//! `#[tokio::test]`, a `block_on` at startup, then the server's). A task
//! spawned on the first is dropped when it shuts down; the drop guard clears
//! `running`, so the next caller spawns it again where it is.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One background task, kept running on whichever runtime uses it.
#[derive(Debug, Default)]
pub(crate) struct Supervised {
    running: Arc<AtomicBool>,
}

/// Clears `running` when the task ends, however it ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Supervised {
    /// Spawns `make()` on the current runtime unless the task is running.
    /// Outside a runtime it does nothing: the next call inside one starts it.
    /// One atomic load when it runs, so it can sit on the request path.
    pub(crate) fn ensure<F>(&self, make: impl FnOnce() -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.running.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let guard = Running(Arc::clone(&self.running));
        let task = make();
        handle.spawn(async move {
            let _guard = guard;
            task.await;
        });
    }

    /// Whether the task is running now.
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("a runtime: {e}"),
        }
    }

    #[test]
    fn a_task_starts_again_on_a_new_runtime() {
        let task = Supervised::default();
        task.ensure(|| async {});
        assert!(!task.is_running(), "nothing runs outside a runtime");
        let forever = || std::future::pending::<()>();
        runtime().block_on(async {
            task.ensure(forever);
            assert!(task.is_running());
        });
        // That runtime is gone, and its task with it.
        assert!(!task.is_running());
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        runtime().block_on(async {
            for _ in 0..3 {
                let started = Arc::clone(&started);
                task.ensure(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    forever()
                });
            }
            assert!(task.is_running());
            tokio::task::yield_now().await;
        });
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "started more than once on one runtime"
        );
    }
}
