//! `smart backup` and `smart restore`: a consistent copy of a peer's ledger,
//! taken from a running peer (which writes it from one read transaction
//! while it goes on) or from a stopped peer's folder, and a new peer folder
//! made from such a copy. Both end with the full ledger verification.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use smart_ledger::store::{BlockStore, RedbStore, StoreError, StoreSnapshot};

/// What a running peer does when asked for a backup on its metrics address:
/// writes one into `FOLDER/backups/` and says where and at which height.
pub type BackupHook = Arc<dyn Fn() -> Result<(PathBuf, u64), String> + Send + Sync>;

/// Beside a backup file: the station's outbox at the same moment.
pub fn outbox_beside(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(".outbox");
    PathBuf::from(name)
}

/// The hook of a peer whose folder is `folder`. `take` freezes its store
/// (and may write side files, such as a station's outbox, beside the backup
/// file it is given, under the same lock so they match).
pub fn hook(
    folder: PathBuf,
    take: impl Fn(&Path) -> Result<StoreSnapshot, String> + Send + Sync + 'static,
) -> BackupHook {
    Arc::new(move || {
        let dir = folder.join("backups");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = dir.join(format!("ledger-{}.redb", smart_ledger::clock::now_ms()));
        let snap = take(&file)?;
        snap.write_to(&file).map_err(|e| e.to_string())?;
        tracing::info!(file = %file.display(), height = snap.height(), "backup written");
        Ok((file, snap.height()))
    })
}

/// The store is open in a running peer (redb's file lock).
pub(crate) fn locked(e: &StoreError) -> bool {
    matches!(e, StoreError::Db { source, .. } if matches!(**source, redb::Error::DatabaseAlreadyOpen))
}

/// A peer's store opened for reading: directly when the peer is stopped,
/// else a consistent copy the running peer writes itself (`POST /backup` on
/// its metrics address), removed when the view is dropped.
#[derive(Debug)]
pub struct StoreView {
    store: RedbStore,
    copy_dir: Option<PathBuf>,
}

impl StoreView {
    /// Opens the store of peer folder `data`.
    pub fn open(data: &Path, metrics: Option<SocketAddr>) -> Result<StoreView> {
        let ledger = data.join(RedbStore::FILE_NAME);
        match RedbStore::open(&ledger) {
            Ok(store) => Ok(StoreView {
                store,
                copy_dir: None,
            }),
            Err(e) if locked(&e) => {
                if metrics.is_none() {
                    bail!(
                        "{} is in use by a running peer; give its metrics address (--metrics) and it writes a consistent copy to read",
                        ledger.display()
                    );
                }
                let dir = data.join("backups").join(format!(
                    "read-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                ));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let copy = dir.join(RedbStore::FILE_NAME);
                let opened = copy_verified(data, &copy, metrics, |line| eprintln!("{line}"))
                    .and_then(|_| {
                        RedbStore::open(&copy)
                            .with_context(|| format!("opening {}", copy.display()))
                    });
                match opened {
                    Ok(store) => Ok(StoreView {
                        store,
                        copy_dir: Some(dir),
                    }),
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(&dir);
                        Err(e)
                    }
                }
            }
            Err(e) => Err(e).with_context(|| format!("opening {}", ledger.display())),
        }
    }

    /// The store.
    pub fn store(&self) -> &RedbStore {
        &self.store
    }
}

impl Drop for StoreView {
    fn drop(&mut self) {
        // The copy's file is unlinked while still open; it goes with the store.
        if let Some(dir) = self.copy_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `smart backup --data DIR --out FILE [--metrics ADDR]`.
pub fn backup(data: &Path, out: &Path, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    copy_verified(data, out, metrics, |line| println!("{line}"))
}

/// Copies the store of peer folder `data` to `out` and verifies the copy;
/// `say` gets each line of progress.
fn copy_verified(
    data: &Path,
    out: &Path,
    metrics: Option<SocketAddr>,
    say: impl Fn(String),
) -> Result<ExitCode> {
    if out.exists() {
        bail!("{} exists; a backup never overwrites a file", out.display());
    }
    let ledger = data.join(RedbStore::FILE_NAME);
    match RedbStore::open(&ledger) {
        Ok(store) => {
            store.snapshot()?.write_to(out)?;
            say("the peer is stopped: copied its store".to_string());
            if data.join(crate::peer::outbox::Outbox::FILE_NAME).exists() {
                let pending =
                    crate::peer::outbox::Outbox::open(data)?.copy_to(&outbox_beside(out))?;
                say(format!(
                    "and its outbox ({pending} actions waiting for a hub) into {}",
                    outbox_beside(out).display()
                ));
            }
        }
        Err(e) if locked(&e) => {
            let Some(metrics) = metrics else {
                bail!(
                    "{} is in use by a running peer; give its metrics address (--metrics, e.g. 127.0.0.1:9100) and it writes the backup itself",
                    ledger.display()
                );
            };
            copy_from_running(data, out, metrics, &say)?;
        }
        Err(e) => return Err(e.into()),
    }
    let report = smart_ledger::audit::verify_ledger(&RedbStore::open(out)?, |_, _| {})
        .map_err(|f| anyhow::anyhow!("the backup does not verify: {f}"))?;
    say(format!(
        "backup {}: {} blocks, {} txs, tip {}, verified (signatures, links, Merkle roots, certificates)",
        out.display(),
        report.blocks,
        report.txs,
        report.tip_hash.short()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Asks the running peer whose metrics address is `metrics` for a
/// consistent copy of its store and moves it (and a station's outbox) to `out`.
fn copy_from_running(
    data: &Path,
    out: &Path,
    metrics: SocketAddr,
    say: &impl Fn(String),
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (code, body) = rt.block_on(smart_testnet::status::http_request(
        metrics,
        "POST",
        "/backup",
        Duration::from_secs(600),
    ))?;
    let answer: serde_json::Value = serde_json::from_slice(&body).with_context(|| {
        format!(
            "the peer answered {code}: {}",
            String::from_utf8_lossy(&body)
        )
    })?;
    if code != 200 {
        bail!(
            "the peer could not write a backup ({code}): {}",
            answer["error"]
        );
    }
    let file = PathBuf::from(answer["file"].as_str().context("no file in the answer")?);
    // Only ever move a file out of this peer's own backups folder.
    let backups = data.join("backups").canonicalize()?;
    let file = file
        .canonicalize()
        .with_context(|| format!("the peer named {}", file.display()))?;
    if file.parent() != Some(backups.as_path()) {
        bail!(
            "the peer at {metrics} wrote {}, not into {}: is it this folder's peer?",
            file.display(),
            backups.display()
        );
    }
    let move_file = |from: &Path, to: &Path| -> Result<()> {
        if std::fs::rename(from, to).is_err() {
            std::fs::copy(from, to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            std::fs::remove_file(from)?;
        }
        Ok(())
    };
    if outbox_beside(&file).exists() {
        move_file(&outbox_beside(&file), &outbox_beside(out))?;
        say(format!(
            "the station's outbox (offline decisions not yet ordered) is in {}",
            outbox_beside(out).display()
        ));
    }
    move_file(&file, out)?;
    say(format!(
        "the running peer wrote a consistent copy at height {}",
        answer["height"]
    ));
    Ok(())
}

/// `smart restore --from FILE --data DIR [--key FILE]`.
pub fn restore(from: &Path, data: &Path, key: Option<&Path>) -> Result<ExitCode> {
    let target = data.join(RedbStore::FILE_NAME);
    if target.exists() {
        bail!(
            "{} already holds a ledger; restore into a new folder",
            data.display()
        );
    }
    let store = RedbStore::open(from).with_context(|| format!("opening {}", from.display()))?;
    let report = smart_ledger::audit::verify_ledger(&store, |_, _| {}).map_err(|f| {
        anyhow::anyhow!("{} does not verify: {f}; nothing restored", from.display())
    })?;
    let genesis = store.genesis().clone();
    drop(store);
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    // Whole files or none: copied beside, synced, renamed into place.
    let put = |to: &Path, write: &dyn Fn(&Path) -> std::io::Result<()>| -> Result<()> {
        let tmp = to.with_extension("restoring");
        write(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, to).with_context(|| format!("{}", to.display()))?;
        Ok(())
    };
    put(&data.join(crate::peer::folders::GENESIS_FILE), &|p| {
        std::fs::write(p, genesis.to_json())
    })?;
    let outbox = outbox_beside(from);
    if outbox.exists() {
        put(&data.join(crate::peer::outbox::Outbox::FILE_NAME), &|p| {
            std::fs::copy(&outbox, p).map(|_| ())
        })?;
        println!("the station's outbox restored from {}", outbox.display());
    }
    put(&target, &|p| std::fs::copy(from, p).map(|_| ()))?;
    if let Some(key) = key {
        let k = smart_ledger::Keypair::read_file(key)?;
        if !genesis.peers.iter().any(|p| p.id == k.id()) {
            tracing::warn!(id = %k.id(), "the key is not a peer of this genesis");
        }
        k.write_file(&data.join(crate::peer::folders::PEER_KEY_FILE))?;
    }
    println!(
        "restored {} blocks, {} txs (tip {}) into {}{}",
        report.blocks,
        report.txs,
        report.tip_hash.short(),
        data.display(),
        if key.is_some() {
            "; start it with `smart run --data` and it catches up from its peers"
        } else {
            "; add the peer's key (--key) to run it"
        }
    );
    Ok(ExitCode::SUCCESS)
}
