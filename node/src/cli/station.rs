//! `smart station …`, `smart modules`, `smart ask` and `smart contract list`:
//! a station's kiosk API from the command line. A running node answers
//! through its kiosk (its address is in the folder's `kiosk.addr`); a
//! stopped node's folder is read directly, so the questions, the modules
//! and the pinned contracts are readable with the node down and every hub
//! unreachable.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::station::kiosk::{ADDR_FILE, Reply};
use crate::station::specialists::{self as sp, Session, StationConfig, StationStatus};

/// What an operator does at the station.
#[derive(Debug, Subcommand)]
pub enum StationAction {
    /// Badge in with an operator's key file (the badge carries the same text).
    Badge {
        /// The operator's key file.
        #[arg(long)]
        key: std::path::PathBuf,
    },
    /// Badge out.
    Logout,
    /// Select the job on the bench.
    Job {
        /// Job id.
        job: String,
    },
    /// Scan a part: a QR image file (PNG/JPEG) or the label text.
    Scan {
        /// An image of the part's QR code.
        #[arg(long, conflicts_with = "text")]
        image: Option<std::path::PathBuf>,
        /// The label text, as a handheld scanner types it.
        #[arg(long)]
        text: Option<String>,
    },
    /// Enter a measurement for the next step that measures it.
    Measure {
        /// Name, e.g. soak_temp.
        name: String,
        /// Value in the contract's unit.
        value: i64,
    },
    /// Perform a step of the selected job.
    Complete {
        /// Step id.
        step: String,
    },
    /// Release the job's parts from the station (Guardian).
    Release,
    /// Press the e-stop.
    Estop,
    /// Clear the station's incident (Admin or Compliance badged in).
    Clear,
    /// Consumables used for the selected job.
    Consume {
        /// Item id.
        item: String,
        /// Units used.
        quantity: u32,
    },
    /// A stock count or delivery.
    Stock {
        /// Item id.
        item: String,
        /// Units on hand.
        on_hand: u32,
        /// Reorder point.
        reorder_at: u32,
    },
    /// Receive parts for the selected job against its PO.
    Receive {
        /// Parts received.
        count: u32,
    },
    /// Ship the selected job with its certificate of conformance.
    Ship,
    /// What the screen shows now (JSON).
    View,
}

fn kiosk_addr(data: &Path) -> Result<Option<SocketAddr>> {
    match std::fs::read_to_string(data.join(ADDR_FILE)) {
        Ok(s) => Ok(Some(s.trim().parse().with_context(|| {
            format!(
                "{} does not hold an address",
                data.join(ADDR_FILE).display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{}", data.join(ADDR_FILE).display())),
    }
}

fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    kind: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(smart_testnet::status::http_send(
        addr,
        method,
        path,
        kind,
        body,
        Duration::from_secs(10),
    ))?)
}

/// The running node's kiosk, if it answers.
fn running(data: &Path) -> Result<Option<SocketAddr>> {
    let Some(addr) = kiosk_addr(data)? else {
        return Ok(None);
    };
    Ok(call(addr, "GET", "/api/view", "text/plain", &[])
        .ok()
        .map(|_| addr))
}

/// `smart station --data DIR ACTION`.
pub fn station(data: &Path, json: bool, action: StationAction) -> Result<ExitCode> {
    let Some(addr) = running(data)? else {
        bail!(
            "the station in {} is not running (no kiosk answers at the address in {ADDR_FILE})",
            data.display()
        );
    };
    let j = |v: serde_json::Value| v.to_string().into_bytes();
    let (path, kind, body): (&str, &str, Vec<u8>) = match action {
        StationAction::Badge { key } => {
            let text =
                std::fs::read_to_string(&key).with_context(|| format!("{}", key.display()))?;
            (
                "/api/badge",
                "application/json",
                j(serde_json::json!({ "badge": text })),
            )
        }
        StationAction::Logout => ("/api/logout", "application/json", Vec::new()),
        StationAction::Job { job } => (
            "/api/job",
            "application/json",
            j(serde_json::json!({ "job": job })),
        ),
        StationAction::Scan {
            image: Some(file), ..
        } => (
            "/api/scan-image",
            "application/octet-stream",
            std::fs::read(&file).with_context(|| format!("{}", file.display()))?,
        ),
        StationAction::Scan { text: Some(t), .. } => (
            "/api/scan",
            "application/json",
            j(serde_json::json!({ "text": t })),
        ),
        StationAction::Scan { .. } => bail!("give --image FILE or --text LABEL"),
        StationAction::Measure { name, value } => (
            "/api/measure",
            "application/json",
            j(serde_json::json!({ "name": name, "value": value })),
        ),
        StationAction::Complete { step } => (
            "/api/complete",
            "application/json",
            j(serde_json::json!({ "step": step })),
        ),
        StationAction::Release => ("/api/release", "application/json", Vec::new()),
        StationAction::Estop => ("/api/estop", "application/json", Vec::new()),
        StationAction::Clear => ("/api/clear", "application/json", Vec::new()),
        StationAction::Consume { item, quantity } => (
            "/api/consume",
            "application/json",
            j(serde_json::json!({ "item": item, "quantity": quantity })),
        ),
        StationAction::Stock {
            item,
            on_hand,
            reorder_at,
        } => (
            "/api/stock",
            "application/json",
            j(serde_json::json!({ "item": item, "on_hand": on_hand, "reorder_at": reorder_at })),
        ),
        StationAction::Receive { count } => (
            "/api/receive",
            "application/json",
            j(serde_json::json!({ "count": count })),
        ),
        StationAction::Ship => ("/api/ship", "application/json", Vec::new()),
        StationAction::View => {
            let (code, body) = call(addr, "GET", "/api/view", "text/plain", &[])?;
            if code != 200 {
                bail!("the kiosk answered HTTP {code}");
            }
            println!("{}", String::from_utf8_lossy(&body));
            return Ok(ExitCode::SUCCESS);
        }
    };
    // Routes without a body still take JSON: send an empty object.
    let body = if body.is_empty() {
        b"{}".to_vec()
    } else {
        body
    };
    let (code, answer) = call(addr, "POST", path, kind, &body)?;
    if code != 200 {
        bail!(
            "the kiosk answered HTTP {code}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let reply: Reply = serde_json::from_slice(&answer).context("the kiosk's answer")?;
    if json {
        println!("{}", serde_json::to_string(&reply)?);
    } else {
        println!("{}", reply.message);
    }
    // Exit 3: a module refused (the refusal is in the ledger).
    Ok(if reply.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// A stopped station's folder, read directly.
fn stopped(data: &Path) -> Result<(smart_contracts::State, StationConfig, (u64, u64))> {
    let folder = crate::peer::folders::PeerFolder::new(data);
    let genesis = folder.genesis()?;
    let st = crate::station::node::Station::open(data, &genesis).with_context(|| {
        format!(
            "opening {} (is the node running without its kiosk?)",
            data.display()
        )
    })?;
    let key = smart_ledger::Keypair::read_file(&data.join(crate::peer::folders::PEER_KEY_FILE))?;
    let name = crate::peer::folders::peer_name(&genesis, &key.id());
    let counts = st.outbox_counts();
    // The set-up it last ran with (`station.json`), else just its name.
    let config = match std::fs::read(data.join(crate::station::kiosk::CONFIG_FILE)) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "{}",
                data.join(crate::station::kiosk::CONFIG_FILE).display()
            )
        })?,
        Err(_) => StationConfig {
            name,
            ..StationConfig::default()
        },
    };
    Ok((st.provisional().clone(), config, counts))
}

/// `smart modules --data DIR`.
pub fn modules(data: &Path, json: bool) -> Result<ExitCode> {
    let list: Vec<sp::ModuleStatus> = match running(data)? {
        Some(addr) => {
            let (_, body) = call(addr, "GET", "/api/modules", "text/plain", &[])?;
            serde_json::from_slice(&body).context("the kiosk's module list")?
        }
        None => {
            let (state, cfg, (pending, overturned)) = stopped(data)?;
            let status = StationStatus {
                outbox_pending: pending,
                overturned,
                ..StationStatus::default()
            };
            sp::modules(&state, &cfg, &Session::default(), &status)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for m in &list {
            println!(
                "{:<18} {:>4} allowed {:>4} refused  {}",
                m.name, m.allowed, m.refused, m.state
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `smart ask --data DIR QUESTION`.
pub fn ask(data: &Path, question: &str) -> Result<ExitCode> {
    let answer = match running(data)? {
        Some(addr) => {
            let body = serde_json::json!({ "question": question }).to_string();
            let (code, answer) = call(
                addr,
                "POST",
                "/api/ask",
                "application/json",
                body.as_bytes(),
            )?;
            let text = String::from_utf8_lossy(&answer).to_string();
            if code == 200 { Ok(text) } else { Err(text) }
        }
        None => {
            let (state, cfg, _) = stopped(data)?;
            sp::ask(
                &state,
                &cfg,
                smart_ledger::Timestamp(smart_ledger::clock::now_ms()),
                question,
            )
        }
    };
    match answer {
        Ok(a) => {
            println!("{a}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(3))
        }
    }
}

/// `smart contract list --data DIR`.
/// The contract versions a station holds (PolicyNodeStorage): from its
/// kiosk when it runs, else from its folder.
pub fn contracts_held(data: &Path) -> Result<Vec<sp::PinnedContract>> {
    match running(data)? {
        Some(addr) => {
            let (_, body) = call(addr, "GET", "/api/contracts", "text/plain", &[])?;
            serde_json::from_slice(&body).context("the kiosk's contract list")
        }
        None => Ok(sp::contracts(&stopped(data)?.0)),
    }
}

pub fn contract_list(data: &Path, json: bool) -> Result<ExitCode> {
    let list: Vec<serde_json::Value> = contracts_held(data)?
        .into_iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no contracts on this node");
    }
    for c in &list {
        let approvals: Vec<String> = c["approvals"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "{} {}",
                            p[0].as_str().unwrap_or(""),
                            p[1].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{} v{} [{}] {} — {}\n  yaml {}\n  approved by: {}\n  jobs pinned: {}",
            c["id"].as_str().unwrap_or(""),
            c["version"],
            c["status"].as_str().unwrap_or(""),
            c["template"].as_str().unwrap_or(""),
            c["title"].as_str().unwrap_or(""),
            c["yaml_hash"].as_str().unwrap_or(""),
            if approvals.is_empty() {
                "nobody yet".into()
            } else {
                approvals.join(", ")
            },
            c["jobs"].as_array().map(|a| a.len()).unwrap_or(0),
        );
    }
    Ok(ExitCode::SUCCESS)
}
