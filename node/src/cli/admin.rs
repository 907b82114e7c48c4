//! SMART-Admin (Create-Deploy-Release) on the command line.
//!
//! - `smart admin bundle` packages checked contract files into one bundle
//!   file whose hash names exactly what is released;
//! - `smart admin deploy` proposes every contract of a bundle to the network;
//! - `smart admin approve` approves every contract of a bundle in one
//!   governance role (each approver runs it with their own key, after
//!   reading the bundle);
//! - `smart admin status` shows, on any peer's folder (hub or station),
//!   whether each contract of the bundle is there, with the bundle's hash,
//!   and active; `--wait` waits for it. The VM activates a version once the
//!   governance policy's roles have approved it; stations receive it with the
//!   blocks they follow by gossip.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use smart_contracts::{Action, parse_contract};
use smart_ledger::Hash;

use crate::cli::id::Signer;

/// The bundle file's format name.
pub const BUNDLE_FORMAT: &str = "smart-bundle/1";

/// Most bytes of a bundle file.
pub const MAX_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// `smart admin ...`.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create: check contract files and package them into one bundle file.
    Bundle {
        /// Where to write the bundle (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// The release's name, e.g. `2026-12 heat treat`.
        #[arg(long, default_value = "release")]
        name: String,
        /// Contract YAML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Deploy: propose every contract of a bundle (signed by a governance role).
    Deploy {
        /// The bundle file.
        bundle: PathBuf,
        #[command(flatten)]
        signer: Signer,
    },
    /// Approve every contract of a bundle in one governance role.
    Approve {
        /// The bundle file (what the approver read).
        bundle: PathBuf,
        /// The role approved in: Admin, Compliance, QA or ProjectManager.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        signer: Signer,
    },
    /// Release: where each contract of a bundle stands on a peer (hub or
    /// station); exit 0 when all are active with the bundle's text.
    Status {
        /// The bundle file.
        bundle: PathBuf,
        /// The peer's folder.
        #[arg(long)]
        data: PathBuf,
        /// A running hub's metrics address (it writes a consistent copy to read).
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Wait up to this many seconds for every contract to be active.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One contract in a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundledContract {
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// blake3 of `yaml`: what approvers approve and peers hold.
    pub yaml_hash: Hash,
    /// The contract text.
    pub yaml: String,
}

/// A release: contracts to deploy together.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The release's name.
    pub name: String,
    /// The contracts, in proposal order.
    pub contracts: Vec<BundledContract>,
    /// blake3 of the manifest (name, then each id, version and yaml hash).
    pub hash: Hash,
}

/// Errors in a bundle file.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle.
    #[error("not a SMART bundle: {0}")]
    Format(String),
    /// A contract's text does not match its hash.
    #[error("{id} v{version}: the text does not match its hash (changed after bundling)")]
    TextChanged {
        /// Contract id.
        id: String,
        /// Version.
        version: u32,
    },
    /// The manifest does not match the bundle's hash.
    #[error("the bundle's hash {0} does not match its contents")]
    HashMismatch(Hash),
    /// A contract does not parse or check.
    #[error("{0}")]
    Invalid(String),
    /// A contract's id or version disagrees with its text.
    #[error("{listed} is listed, but its text says {text}")]
    Mislabelled {
        /// As listed.
        listed: String,
        /// As the YAML says.
        text: String,
    },
    /// The same contract id twice.
    #[error("{0} appears twice; a bundle holds one version of each contract")]
    Duplicate(String),
    /// No contracts.
    #[error("the bundle holds no contracts")]
    Empty,
}

fn manifest_hash(name: &str, contracts: &[BundledContract]) -> Hash {
    let mut text = format!("{BUNDLE_FORMAT}\n{name}\n");
    for c in contracts {
        text.push_str(&format!("{}\n{}\n{}\n", c.id, c.version, c.yaml_hash));
    }
    Hash::of(text.as_bytes())
}

impl Bundle {
    /// Packages contract texts (`(file name, yaml)`), checking each.
    pub fn create(name: &str, texts: &[(String, String)]) -> Result<Bundle, BundleError> {
        let mut contracts: Vec<BundledContract> = Vec::new();
        for (file, yaml) in texts {
            let c = parse_contract(file, yaml).map_err(|e| BundleError::Invalid(e.to_string()))?;
            if contracts.iter().any(|b| b.id == c.id) {
                return Err(BundleError::Duplicate(c.id));
            }
            contracts.push(BundledContract {
                id: c.id,
                version: c.version,
                yaml_hash: Hash::of(yaml.as_bytes()),
                yaml: yaml.clone(),
            });
        }
        if contracts.is_empty() {
            return Err(BundleError::Empty);
        }
        Ok(Bundle {
            format: BUNDLE_FORMAT.into(),
            name: name.into(),
            hash: manifest_hash(name, &contracts),
            contracts,
        })
    }

    /// Reads a bundle's bytes and checks everything in it: format, each
    /// text against its hash and its label, the manifest hash, and that
    /// each contract parses and checks.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(BundleError::Format(format!(
                "{} bytes is over the limit of {MAX_BUNDLE_BYTES}",
                bytes.len()
            )));
        }
        let b: Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Format(e.to_string()))?;
        if b.format != BUNDLE_FORMAT {
            return Err(BundleError::Format(format!(
                "format {:?}, expected {BUNDLE_FORMAT:?}",
                b.format
            )));
        }
        if b.contracts.is_empty() {
            return Err(BundleError::Empty);
        }
        for (i, c) in b.contracts.iter().enumerate() {
            if Hash::of(c.yaml.as_bytes()) != c.yaml_hash {
                return Err(BundleError::TextChanged {
                    id: c.id.clone(),
                    version: c.version,
                });
            }
            if b.contracts[..i].iter().any(|o| o.id == c.id) {
                return Err(BundleError::Duplicate(c.id.clone()));
            }
            let parsed = parse_contract(&format!("{} v{}", c.id, c.version), &c.yaml)
                .map_err(|e| BundleError::Invalid(e.to_string()))?;
            if parsed.id != c.id || parsed.version != c.version {
                return Err(BundleError::Mislabelled {
                    listed: format!("{} v{}", c.id, c.version),
                    text: format!("{} v{}", parsed.id, parsed.version),
                });
            }
        }
        if manifest_hash(&b.name, &b.contracts) != b.hash {
            return Err(BundleError::HashMismatch(b.hash));
        }
        Ok(b)
    }

    /// The bundle file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Reads and checks a bundle file.
pub fn read_bundle(path: &Path) -> Result<Bundle> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > MAX_BUNDLE_BYTES {
        bail!(
            "{}: {} bytes is over the limit of {MAX_BUNDLE_BYTES}",
            path.display(),
            meta.len()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Bundle::decode(&bytes).with_context(|| format!("{}", path.display()))
}

/// Where one contract of a bundle stands on a peer.
#[derive(Clone, Debug, Serialize)]
pub struct Standing {
    /// Contract id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// `missing`, `Proposed`, `Active`, `Superseded`, or `different text`.
    pub status: String,
    /// Roles that approved, with who.
    pub approvals: Vec<(String, String)>,
}

impl Standing {
    fn is_active(&self) -> bool {
        self.status == "Active"
    }
}

/// The contract versions a peer holds (hub: its state, through `metrics`
/// when it runs; station: its kiosk when it runs, else its folder).
fn held_contracts(
    data: &Path,
    metrics: Option<SocketAddr>,
) -> Result<Vec<crate::station::specialists::PinnedContract>> {
    if crate::cli::hub::is_hub(data)? {
        let (state, _) = crate::cli::hub::hub_state(data, metrics)?;
        Ok(crate::station::specialists::contracts(&state))
    } else {
        crate::cli::station::contracts_held(data)
    }
}

/// Where each contract of `bundle` stands among `held`.
pub fn standing(
    bundle: &Bundle,
    held: &[crate::station::specialists::PinnedContract],
) -> Vec<Standing> {
    bundle
        .contracts
        .iter()
        .map(|c| {
            let found = held.iter().find(|h| h.id == c.id && h.version == c.version);
            let (status, approvals) = match found {
                None => ("missing".to_string(), Vec::new()),
                Some(h) if h.yaml_hash != c.yaml_hash.to_string() => {
                    ("different text".to_string(), h.approvals.clone())
                }
                Some(h) => (h.status.clone(), h.approvals.clone()),
            };
            Standing {
                id: c.id.clone(),
                version: c.version,
                status,
                approvals,
            }
        })
        .collect()
}

fn bundle_cmd(out: &Path, name: &str, files: &[PathBuf]) -> Result<ExitCode> {
    if out.exists() {
        bail!("{} exists; a bundle is never overwritten", out.display());
    }
    let texts = files
        .iter()
        .map(|f| crate::cli::contract::load(f).map(|(_, yaml)| (f.display().to_string(), yaml)))
        .collect::<Result<Vec<_>>>()?;
    let bundle = Bundle::create(name, &texts)?;
    std::fs::write(out, bundle.encode()).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "bundle {} ({name}) in {}: {}",
        bundle.hash,
        out.display(),
        bundle
            .contracts
            .iter()
            .map(|c| format!("{} v{} (yaml {})", c.id, c.version, c.yaml_hash))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn status_cmd(
    bundle: &Bundle,
    data: &Path,
    metrics: Option<SocketAddr>,
    wait: u64,
    json: bool,
) -> Result<ExitCode> {
    let deadline = Instant::now() + Duration::from_secs(wait);
    let list = loop {
        let list = standing(bundle, &held_contracts(data, metrics)?);
        if list.iter().all(Standing::is_active) || Instant::now() >= deadline {
            break list;
        }
        // A running hub writes a whole consistent copy for each look: once a second.
        std::thread::sleep(Duration::from_secs(1));
    };
    let released = list.iter().all(Standing::is_active);
    if json {
        println!(
            "{}",
            serde_json::json!({ "bundle": bundle.hash, "name": bundle.name, "released": released, "contracts": list })
        );
    } else {
        println!(
            "bundle {} ({}) on {}: {}",
            bundle.hash,
            bundle.name,
            data.display(),
            if released {
                "released (every contract active)"
            } else {
                "not released"
            }
        );
        for s in &list {
            let by: Vec<String> = s
                .approvals
                .iter()
                .map(|(role, who)| format!("{role} {who}"))
                .collect();
            println!(
                "  {} v{}: {}{}",
                s.id,
                s.version,
                s.status,
                if by.is_empty() {
                    String::new()
                } else {
                    format!(" (approved by {})", by.join(", "))
                }
            );
        }
    }
    Ok(if released {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs a `smart admin` command: exit 1 when a proposal or approval was
/// refused, or the bundle is not released on the peer.
pub fn run(cmd: AdminCommand) -> Result<ExitCode> {
    match cmd {
        AdminCommand::Bundle { out, name, files } => bundle_cmd(&out, &name, &files),
        AdminCommand::Deploy { bundle, signer } => {
            let bundle = read_bundle(&bundle)?;
            println!(
                "deploying bundle {} ({}): proposing {} contracts",
                bundle.hash,
                bundle.name,
                bundle.contracts.len()
            );
            let actions = bundle
                .contracts
                .iter()
                .map(|c| {
                    println!("  {} v{} (yaml {})", c.id, c.version, c.yaml_hash);
                    Action::ProposeContract {
                        yaml: c.yaml.clone(),
                    }
                })
                .collect();
            let code = crate::cli::submit::command_runtime()?.block_on(signer.submit(actions))?;
            if code == ExitCode::SUCCESS {
                println!(
                    "proposed; each governance role approves with `smart admin approve BUNDLE --role ROLE`"
                );
            }
            Ok(code)
        }
        AdminCommand::Approve {
            bundle,
            role,
            signer,
        } => {
            let bundle = read_bundle(&bundle)?;
            let role = crate::cli::id::parse_role(&role)?;
            println!(
                "approving bundle {} ({}) as {role:?}",
                bundle.hash, bundle.name
            );
            let actions = bundle
                .contracts
                .iter()
                .map(|c| {
                    println!("  {} v{} (yaml {})", c.id, c.version, c.yaml_hash);
                    Action::ApproveContract {
                        id: c.id.clone(),
                        version: c.version,
                        role,
                    }
                })
                .collect();
            crate::cli::submit::command_runtime()?.block_on(signer.submit(actions))
        }
        AdminCommand::Status {
            bundle,
            data,
            metrics,
            wait,
            json,
        } => status_cmd(&read_bundle(&bundle)?, &data, metrics, wait, json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> (String, String) {
        let yaml = include_str!("../../../contracts/examples/smart-client-po.yaml");
        ("smart-client-po.yaml".into(), yaml.into())
    }

    #[test]
    fn a_bundle_round_trips_and_any_change_is_named() {
        let b = Bundle::create("r1", &[example()]).expect("bundle");
        let bytes = b.encode();
        assert_eq!(Bundle::decode(&bytes).expect("decode"), b);

        let mut changed = b.clone();
        changed.contracts[0].yaml.push_str("\n# extra\n");
        assert!(matches!(
            Bundle::decode(&changed.encode()),
            Err(BundleError::TextChanged { .. })
        ));
        let mut renamed = b.clone();
        renamed.name = "r2".into();
        assert!(matches!(
            Bundle::decode(&renamed.encode()),
            Err(BundleError::HashMismatch(_))
        ));
        let mut relabelled = b.clone();
        relabelled.contracts[0].version += 1;
        relabelled.hash = manifest_hash(&relabelled.name, &relabelled.contracts);
        assert!(matches!(
            Bundle::decode(&relabelled.encode()),
            Err(BundleError::Mislabelled { .. })
        ));
        assert!(matches!(
            Bundle::create("twice", &[example(), example()]),
            Err(BundleError::Duplicate(_))
        ));
        assert!(matches!(
            Bundle::create("bad", &[("bad.yaml".into(), "id: [".into())]),
            Err(BundleError::Invalid(_))
        ));
        assert!(matches!(
            Bundle::decode(b"{\"format\":\"other\"}"),
            Err(BundleError::Format(_))
        ));
    }
}
