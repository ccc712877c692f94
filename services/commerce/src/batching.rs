//! Per-key batching tasks, shared by the auction's bid writers and the hot
//! SKUs' checkout tasks: one task per key and process takes every job
//! waiting for its key (up to a maximum) and handles them together; a task
//! idle for [`IDLE`] stops, and the next job for its key starts another.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::error::{CommerceResult, unavailable};

/// A task with nothing to do for this long stops.
const IDLE: Duration = Duration::from_secs(30);

/// A job and where its answer goes.
pub(crate) type Job<J, A> = (J, oneshot::Sender<CommerceResult<A>>);

/// The running tasks, by key.
pub(crate) struct Tasks<K, J, A>(Mutex<HashMap<K, mpsc::UnboundedSender<Job<J, A>>>>);

impl<K, J, A> Default for Tasks<K, J, A> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: Hash + Eq + Clone, J, A> Tasks<K, J, A> {
    fn senders(&self) -> MutexGuard<'_, HashMap<K, mpsc::UnboundedSender<Job<J, A>>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` on `key`'s task, starting one with `start` (which
    /// spawns the task on the receiver) if there is none or it died, and
    /// waits for the answer.
    pub(crate) async fn submit(
        &self,
        key: &K,
        job: J,
        start: impl Fn(mpsc::UnboundedReceiver<Job<J, A>>),
    ) -> CommerceResult<A> {
        let (reply, answer) = oneshot::channel();
        {
            let mut senders = self.senders();
            let sender = senders.entry(key.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                start(rx);
                tx
            });
            if let Err(mpsc::error::SendError(job)) = sender.send((job, reply)) {
                // The task died (a panic): start another.
                let (tx, rx) = mpsc::unbounded_channel();
                start(rx);
                let _ = tx.send(job);
                senders.insert(key.clone(), tx);
            }
        }
        answer.await.map_err(|_| {
            unavailable("the call was not answered (the service is stopping); retry")
        })?
    }

    /// The next batch of `key`'s task: the first job, then every one already
    /// waiting, up to `max`. `None` when the task should stop: idle with
    /// nothing queued (it is then forgotten, under the map's lock, so no job
    /// can slip in unseen).
    pub(crate) async fn next_batch(
        &self,
        key: &K,
        rx: &mut mpsc::UnboundedReceiver<Job<J, A>>,
        max: usize,
    ) -> Option<Vec<Job<J, A>>> {
        let first = tokio::select! {
            job = rx.recv() => job,
            () = tokio::time::sleep(IDLE) => None,
        };
        let first = match first {
            Some(job) => job,
            None => {
                let mut senders = self.senders();
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        senders.remove(key);
                        return None;
                    }
                }
            }
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}
