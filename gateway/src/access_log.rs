//! Every API call, recorded in the ledger: records are queued (a bounded
//! queue: a full queue slows callers down, nothing is dropped) and written
//! every second as one `AccessLogBatch` tx signed by the gateway.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smart_ledger::{Bytes, Hash, Keypair, SignedTx, Timestamp, TxBody, TxKind};
use tokio::sync::mpsc;

use crate::{Backend, Submitted};

/// One API call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// When (ms since the Unix epoch, the gateway's clock).
    pub at_ms: u64,
    /// The credential id, or `-` for calls without one.
    pub client: String,
    /// Method.
    pub method: String,
    /// The route (its pattern, not the raw path).
    pub route: String,
    /// HTTP status.
    pub status: u16,
    /// Request body bytes.
    pub bytes_in: u64,
    /// blake3 of an uploaded document, when there was one.
    pub body_hash: Option<Hash>,
}

/// Records per tx (well under the action size limit).
pub const MAX_BATCH: usize = 512;
/// Queued records before callers wait.
pub const QUEUE: usize = 16_384;

/// The last calls, newest last, for the staff dashboard.
#[derive(Clone, Debug, Default)]
pub struct RecentCalls(Arc<std::sync::Mutex<std::collections::VecDeque<AccessRecord>>>);

impl RecentCalls {
    /// Calls kept.
    pub const KEEP: usize = 50;

    fn push(&self, r: &AccessRecord) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == Self::KEEP {
            q.pop_front();
        }
        q.push_back(r.clone());
    }

    /// The calls kept, oldest first.
    pub fn list(&self) -> Vec<AccessRecord> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The sending side, cloned into every request.
#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: mpsc::Sender<AccessRecord>,
    recent: RecentCalls,
}

impl AccessLog {
    /// Queues a record; waits while the queue is full (back-pressure).
    pub async fn record(&self, r: AccessRecord) {
        self.recent.push(&r);
        if self.tx.send(r).await.is_err() {
            tracing::error!("the access-log writer has stopped; a record could not be queued");
        }
    }
}

/// A round is written as soon as this many records wait, even before its
/// second is up, so a busy gateway never waits on a full queue.
const FLUSH_AT: usize = QUEUE / 2;
/// Rounds being submitted at once; a further round waits (back-pressure).
const ROUNDS_IN_FLIGHT: usize = 4;

/// Starts the writer task: records are gathered for at most one second (or
/// until [`FLUSH_AT`] wait) and written as txs of at most [`MAX_BATCH`]
/// records, signed by `key` and submitted through `backend` together, while
/// the next round gathers. A batch that cannot be submitted is retried;
/// while rounds wait the queue fills and requests slow down.
pub fn start<B: Backend>(
    backend: Arc<B>,
    key: Arc<Keypair>,
    chain_id: Hash,
    recent: RecentCalls,
) -> AccessLog {
    let (tx, mut rx) = mpsc::channel::<AccessRecord>(QUEUE);
    tokio::spawn(async move {
        let mut nonce = 0u64;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(ROUNDS_IN_FLIGHT));
        loop {
            let Some(first) = rx.recv().await else { return };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            let mut records = vec![first];
            while records.len() < FLUSH_AT {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(r)) => records.push(r),
                    Ok(None) | Err(_) => break,
                }
            }
            let mut signed = Vec::new();
            for batch in records.chunks(MAX_BATCH) {
                nonce += 1;
                let body = TxBody {
                    chain_id,
                    author: key.id(),
                    kind: TxKind::AccessLogBatch,
                    payload: Bytes(serde_json::to_vec(batch).unwrap_or_default()),
                    author_time: Timestamp(batch[0].at_ms),
                    location: Some("gateway".into()),
                    contract: None,
                    nonce: batch[0].at_ms.wrapping_mul(1000).wrapping_add(nonce % 1000),
                };
                match SignedTx::sign(body, &key) {
                    Ok(s) => signed.push((Bytes(s.encode()), batch.len())),
                    Err(e) => tracing::error!(error = %e, "could not sign an access-log batch"),
                }
            }
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let backend = backend.clone();
            tokio::spawn(async move {
                let writes = signed
                    .into_iter()
                    .map(|(tx, n)| write(backend.as_ref(), tx, n));
                futures::future::join_all(writes).await;
                drop(permit);
            });
        }
    });
    AccessLog { tx, recent }
}

/// Submits one access-log tx until a hub takes it.
async fn write<B: Backend>(backend: &B, signed: Bytes, records: usize) {
    let mut wait = Duration::from_millis(200);
    loop {
        match backend.submit(signed.clone()).await {
            Ok(Submitted::Included { .. }) | Ok(Submitted::Duplicate { .. }) => return,
            Ok(Submitted::Rejected(why)) => {
                tracing::error!(%why, records, "an access-log batch was rejected");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "access-log batch not delivered; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}
