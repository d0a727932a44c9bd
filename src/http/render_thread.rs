//! Running a render on a render thread, the one way every route does it: after its rule's
//! share of the threads is free, skipped when its caller gave up while it queued, and all
//! of it (the wait included) within the render deadline.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::admission::RequestGuard;
use super::{ApiError, AppState};
use rulehook_engine::RenderGuard;

impl AppState {
    /// Runs `work` on a render thread for `rule`; `work` sends its result itself, so it can
    /// free what it built after the answer is on its way.
    ///
    /// # Errors
    ///
    /// 429 when the render queue is full; the render timeout (the guard is then cancelled,
    /// which stops the render at its next step); [`ApiError::Panicked`] when `work` ended
    /// without sending, which only a panic does.
    pub(super) async fn on_render_thread<T, W>(
        &self,
        rule: &str,
        guard: &Arc<RequestGuard>,
        work: W,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        W: FnOnce(oneshot::Sender<T>) + Send + 'static,
    {
        let job_guard = guard.clone();
        let queued = async {
            let share = self.shares.acquire(rule).await;
            let job = self
                .renders
                .spawn(move |reply| {
                    let _share = share;
                    if job_guard.cancelled() {
                        return; // its caller gave up while it queued
                    }
                    work(reply);
                })
                .map_err(|_| ApiError::Overloaded)?;
            Ok::<_, ApiError>(job.await)
        };
        match actix_web::rt::time::timeout(self.limits.render_timeout, queued).await {
            Err(_) => {
                guard.cancel();
                Err(ApiError::RenderTimeout {
                    rule: rule.to_owned(),
                    after: self.limits.render_timeout,
                })
            }
            Ok(Err(busy)) => Err(busy),
            Ok(Ok(Err(_closed))) => Err(ApiError::Panicked {
                rule: rule.to_owned(),
            }),
            Ok(Ok(Ok(result))) => Ok(result),
        }
    }
}
