//! The one loop of the app's background work: a pass, a pause, again, until
//! shutdown. A pass in flight at shutdown is cut off, so every pass must be
//! safe to cut off and run again (each writes only what the next one reads
//! back).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Runs `pass` now and then `interval` after each pass ends, until
/// `shutdown` turns true.
pub(crate) async fn every<F, Fut>(interval: Duration, mut shutdown: watch::Receiver<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    while !*shutdown.borrow() {
        tokio::select! {
            () = pass() => {}
            _ = shutdown.changed() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn passes_repeat_until_shutdown_which_cuts_a_pass_off() {
        let (stop, shutdown) = watch::channel(false);
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let looping = tokio::spawn(every(Duration::from_secs(60), shutdown, {
            let (started, finished) = (started.clone(), finished.clone());
            move || {
                let (started, finished) = (started.clone(), finished.clone());
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
        // Passes at 0 s, 70 s and 140 s; the third is cut off at 145 s.
        tokio::time::sleep(Duration::from_secs(145)).await;
        assert_eq!(started.load(Ordering::SeqCst), 3);
        stop.send(true).unwrap();
        looping.await.unwrap();
        assert_eq!(finished.load(Ordering::SeqCst), 2, "the pass in flight at shutdown is cut off");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_runs_once_shutdown_has_been_asked() {
        let (stop, shutdown) = watch::channel(false);
        stop.send(true).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        every(Duration::from_secs(1), shutdown, || {
            let ran = ran.clone();
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
