//! The closed-loop load every scenario runs: workers sending signed txs
//! to the hubs, re-sending the same bytes to the next hub when one fails,
//! and the acknowledgements the final ledger must hold.

use crate::p2p::client::Client;
use anyhow::{Result, bail};
use smart_consensus::TxVerdict;
use smart_ledger::{Hash, Keypair, SignedTx};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One acknowledged tx.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ack {
    pub(super) tx: Hash,
    pub(super) submitted: Instant,
    pub(super) acked: Instant,
    /// A re-sent tx the hubs found already ordered (their de-duplication at work).
    pub(super) duplicate: bool,
}

/// The closed-loop load: workers submit one tx at a time to the hubs in
/// turn; a failed or timed-out submission is re-sent, same bytes, to the
/// next hub until some hub acknowledges it.
pub(super) struct Load {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    tasks: Vec<tokio::task::JoinHandle<Result<()>>>,
}

/// A submission gets this long before it is re-sent elsewhere.
pub(super) const SUBMIT_WITHIN: Duration = Duration::from_secs(3);
/// A worker gives up on one tx after this long (every hub down for good).
pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(90);

impl Load {
    pub(super) fn start(hubs: Vec<Client>, chain: Hash, key: Arc<Keypair>, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let nonce = Arc::new(AtomicU64::new(1));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let (stop, acks, hubs, key, nonce) = (
                stop.clone(),
                acks.clone(),
                hubs.clone(),
                key.clone(),
                nonce.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut next = w;
                while !stop.load(Ordering::Relaxed) {
                    let n = nonce.fetch_add(1, Ordering::Relaxed);
                    let tx = crate::lab::bench::soak_reading_tx(chain, &key, n)?;
                    let hash = SignedTx::decode(&tx.0)?.hash();
                    let submitted = Instant::now();
                    loop {
                        let hub = &hubs[next % hubs.len()];
                        let answer =
                            tokio::time::timeout(SUBMIT_WITHIN, hub.submit(vec![tx.clone()])).await;
                        match answer
                            .ok()
                            .and_then(Result::ok)
                            .and_then(|r| r.into_iter().next())
                        {
                            Some(r)
                                if matches!(
                                    r.verdict,
                                    TxVerdict::Included { .. } | TxVerdict::Duplicate { .. }
                                ) =>
                            {
                                let ack = Ack {
                                    tx: hash,
                                    submitted,
                                    acked: Instant::now(),
                                    duplicate: matches!(r.verdict, TxVerdict::Duplicate { .. }),
                                };
                                acks.lock().unwrap_or_else(|p| p.into_inner()).push(ack);
                                break;
                            }
                            Some(r) if matches!(r.verdict, TxVerdict::Rejected { .. }) => {
                                bail!("a hub rejected a valid tx: {:?}", r.verdict)
                            }
                            _ => {
                                // Down, busy, leaderless, paused: try the next hub.
                                next += 1;
                                if submitted.elapsed() > GIVE_UP_AFTER {
                                    bail!(
                                        "no hub acknowledged tx {} in {GIVE_UP_AFTER:?}",
                                        hash.short()
                                    );
                                }
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                }
                Ok(())
            }));
        }
        Load { stop, acks, tasks }
    }

    /// The first ack of a tx submitted at or after `t`.
    pub(super) async fn first_ack_after(&self, t: Instant, within: Duration) -> Result<Duration> {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .acks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|a| a.submitted >= t)
                .map(|a| a.acked)
                .min();
            if let Some(at) = found {
                return Ok(at.duration_since(t));
            }
            if Instant::now() > deadline {
                bail!("nothing committed within {within:?} of the fault");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(super) async fn finish(mut self) -> Result<Vec<Ack>> {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.tasks) {
            t.await??;
        }
        let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(acks)
    }
}

impl Drop for Load {
    /// A scenario that failed part-way: its workers stop now, not in the next scenario.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A small xorshift generator: which hub a scenario hits.
pub(super) struct Dice(u64);

impl Dice {
    pub(super) fn new() -> Dice {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Dice(seed | 1)
    }

    pub(super) fn pick<'a>(&mut self, of: &'a [String]) -> &'a str {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        &of[(self.0 % of.len() as u64) as usize]
    }
}
