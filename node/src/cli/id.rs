//! SMART-ID and TokenAccessLayer on the command line: `smart id ...` and
//! `smart token ...` sign the identity and token actions with a person's
//! key and submit them to a hub; every peer's VM judges them (Admin for
//! identities, Admin or Compliance for tokens, the old key for a rotation).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use libp2p::Multiaddr;
use smart_contracts::Action;
use smart_contracts::education::{EducationRecord, ExamPart, NdtMethod};
use smart_contracts::refusal::timestamp_of;
use smart_contracts::state::TokenKind;
use smart_ledger::{Keypair, Role, SmartId, Timestamp};

/// Where to submit and who signs.
#[derive(Args, Debug)]
pub struct Signer {
    /// A hub's address, ending in /p2p/PEERID.
    #[arg(long)]
    pub to: Multiaddr,
    /// The signing person's key file (a registered identity).
    #[arg(long)]
    pub key: PathBuf,
}

/// `smart id ...`.
#[derive(Subcommand, Debug)]
pub enum IdCommand {
    /// Register a person or client account (Admin). With --new-key a key is
    /// made and written there (mode 0600, never overwritten).
    Register {
        #[command(flatten)]
        signer: Signer,
        /// Unique human name.
        #[arg(long)]
        name: String,
        /// Roles: Admin, Technician, QA, Client, ProjectManager, Compliance, Advisor.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// For a client account: the organisation.
        #[arg(long)]
        organisation: Option<String>,
        /// The SMART-ID to register.
        #[arg(long, conflicts_with = "new_key", required_unless_present = "new_key")]
        id: Option<SmartId>,
        /// Make a new key here and register its SMART-ID.
        #[arg(long)]
        new_key: Option<PathBuf>,
    },
    /// Replace an identity's roles (Admin); a role it loses stops every
    /// action that needs it at once, on every peer.
    Roles {
        #[command(flatten)]
        signer: Signer,
        /// Whose.
        #[arg(long)]
        id: SmartId,
        /// The new roles.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Deactivate an identity (Admin): it may no longer act.
    Deactivate {
        #[command(flatten)]
        signer: Signer,
        /// Whose.
        #[arg(long)]
        id: SmartId,
    },
    /// Move the signer's identity, roles and tokens to a new key, made and
    /// written to --new-key; the old key may no longer act.
    Rotate {
        #[command(flatten)]
        signer: Signer,
        /// Where to write the new key (mode 0600, never overwritten).
        #[arg(long)]
        new_key: PathBuf,
    },
}

/// `smart token ...`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a token (Admin or Compliance).
    Issue {
        #[command(flatten)]
        signer: Signer,
        /// Token id (unique).
        #[arg(long)]
        token: String,
        /// The holder's SMART-ID.
        #[arg(long)]
        holder: SmartId,
        /// Access, Audit, Certified, Training, Safety or Utility.
        #[arg(long)]
        kind: String,
        /// Scope, e.g. `NDT-UT-L2` or `furnace-3`.
        #[arg(long)]
        scope: String,
        /// Expiry date (UTC midnight), YYYY-MM-DD.
        #[arg(long)]
        expires: String,
    },
    /// Revoke a token (Admin or Compliance), with the reason.
    Revoke {
        #[command(flatten)]
        signer: Signer,
        /// Token id.
        #[arg(long)]
        token: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `smart education ...`: CertifiedPeople / Education records (Admin,
/// Compliance or QA; never one's own). The VM issues, renews or revokes
/// the certification framework's tokens as each record arrives.
#[derive(Subcommand, Debug)]
pub enum EducationCommand {
    /// A course completed: hours toward an NDT method and/or a Training or
    /// Safety token for the course.
    Training {
        #[command(flatten)]
        signer: Signer,
        /// The person's SMART-ID.
        #[arg(long)]
        person: SmartId,
        /// Course id, e.g. `ut-level-2` or `furnace-safety`.
        #[arg(long)]
        course: String,
        /// Classroom hours.
        #[arg(long)]
        hours: u32,
        /// The NDT method the hours count toward: UT, RT, PT, MT or ET.
        #[arg(long)]
        method: Option<String>,
        /// The token the course grants: Training or Safety.
        #[arg(long)]
        grants: Option<String>,
        /// Days that token is valid.
        #[arg(long, default_value_t = 365)]
        valid_days: u32,
    },
    /// Supervised experience hours in an NDT method.
    Experience {
        #[command(flatten)]
        signer: Signer,
        /// The person's SMART-ID.
        #[arg(long)]
        person: SmartId,
        /// UT, RT, PT, MT or ET.
        #[arg(long)]
        method: String,
        /// Hours.
        #[arg(long)]
        hours: u32,
    },
    /// An examination result.
    Exam {
        #[command(flatten)]
        signer: Signer,
        /// The person's SMART-ID.
        #[arg(long)]
        person: SmartId,
        /// UT, RT, PT, MT or ET.
        #[arg(long)]
        method: String,
        /// Level 1 or 2.
        #[arg(long)]
        level: u8,
        /// general, specific or practical.
        #[arg(long)]
        part: String,
        /// Score in percent.
        #[arg(long)]
        score: u8,
    },
    /// A vision test (near vision and colour perception).
    EyeTest {
        #[command(flatten)]
        signer: Signer,
        /// The person's SMART-ID.
        #[arg(long)]
        person: SmartId,
        /// Near vision: pass or fail.
        #[arg(long)]
        near_vision: String,
        /// Colour perception: pass or fail.
        #[arg(long)]
        color: String,
    },
}

fn parse_method(s: &str) -> Result<NdtMethod> {
    NdtMethod::from_name(s)
        .with_context(|| format!("no NDT method {s:?}; methods: UT, RT, PT, MT, ET"))
}

fn parse_pass(s: &str) -> Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "pass" | "passed" => Ok(true),
        "fail" | "failed" => Ok(false),
        _ => bail!("{s:?} is neither pass nor fail"),
    }
}

/// Runs a `smart education` command; exit 1 when the VM refused it.
pub async fn education(cmd: EducationCommand) -> Result<ExitCode> {
    let (signer, person, record) = match cmd {
        EducationCommand::Training {
            signer,
            person,
            course,
            hours,
            method,
            grants,
            valid_days,
        } => (
            signer,
            person,
            EducationRecord::Training {
                course,
                hours,
                method: method.as_deref().map(parse_method).transpose()?,
                grants: grants.as_deref().map(parse_kind).transpose()?,
                valid_days,
            },
        ),
        EducationCommand::Experience {
            signer,
            person,
            method,
            hours,
        } => (
            signer,
            person,
            EducationRecord::Experience {
                method: parse_method(&method)?,
                hours,
            },
        ),
        EducationCommand::Exam {
            signer,
            person,
            method,
            level,
            part,
            score,
        } => {
            let part = ExamPart::ALL
                .into_iter()
                .find(|p| format!("{p:?}").eq_ignore_ascii_case(&part))
                .with_context(|| {
                    format!("no examination {part:?}; general, specific or practical")
                })?;
            (
                signer,
                person,
                EducationRecord::Exam {
                    method: parse_method(&method)?,
                    level,
                    part,
                    score,
                },
            )
        }
        EducationCommand::EyeTest {
            signer,
            person,
            near_vision,
            color,
        } => (
            signer,
            person,
            EducationRecord::EyeTest {
                near_vision: parse_pass(&near_vision)?,
                color: parse_pass(&color)?,
            },
        ),
    };
    send(&signer, Action::RecordEducation { person, record }).await
}

/// A role by its ledger name (case-insensitive).
pub fn parse_role(s: &str) -> Result<Role> {
    const ROLES: [Role; 7] = [
        Role::Admin,
        Role::Technician,
        Role::Qa,
        Role::Client,
        Role::ProjectManager,
        Role::Compliance,
        Role::Advisor,
    ];
    ROLES
        .into_iter()
        .find(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(|n| n.eq_ignore_ascii_case(s)))
                .unwrap_or(false)
        })
        .with_context(|| {
            format!("no role {s:?}; roles: Admin, Technician, QA, Client, ProjectManager, Compliance, Advisor")
        })
}

fn parse_kind(s: &str) -> Result<TokenKind> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        anyhow::anyhow!(
            "no token kind {s:?}; kinds: Access, Audit, Certified, Training, Safety, Utility"
        )
    })
}

/// `YYYY-MM-DD` as the ledger time of its UTC midnight.
pub fn parse_date(s: &str) -> Result<Timestamp> {
    let parts: Vec<&str> = s.split('-').collect();
    let bad = || anyhow::anyhow!("{s:?} is not a date YYYY-MM-DD");
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok(timestamp_of(y, m, d, 0, 0))
}

fn new_key(path: &Path) -> Result<Keypair> {
    if path.exists() {
        bail!("{} exists; a key is never overwritten", path.display());
    }
    let key = Keypair::generate()?;
    key.write_file(path)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("new SMART-ID {} in {}", key.id(), path.display());
    Ok(key)
}

async fn send(signer: &Signer, action: Action) -> Result<ExitCode> {
    signer.submit(vec![action]).await
}

impl Signer {
    /// Signs each of `actions` with this key and submits them to the hub,
    /// printing a line per receipt: exit 0 when every one was accepted, 1
    /// when the VM refused any.
    pub async fn submit(&self, actions: Vec<Action>) -> Result<ExitCode> {
        let key = Keypair::read_file(&self.key)
            .with_context(|| format!("the key {}", self.key.display()))?;
        let refused = crate::cli::submit::submit_actions(self.to.clone(), &key, actions).await?;
        Ok(if refused == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// Runs a `smart id` command; exit 1 when the VM refused it.
pub async fn id(cmd: IdCommand) -> Result<ExitCode> {
    match cmd {
        IdCommand::Register {
            signer,
            name,
            roles,
            organisation,
            id,
            new_key: key_file,
        } => {
            let roles = roles.iter().map(|r| parse_role(r)).collect::<Result<_>>()?;
            let id = match (id, key_file) {
                (Some(id), _) => id,
                (None, Some(file)) => new_key(&file)?.id(),
                (None, None) => bail!("give --id or --new-key"),
            };
            let action = Action::RegisterIdentity {
                id,
                name,
                roles,
                organisation,
            };
            send(&signer, action).await
        }
        IdCommand::Roles { signer, id, roles } => {
            let roles = roles.iter().map(|r| parse_role(r)).collect::<Result<_>>()?;
            send(&signer, Action::SetRoles { id, roles }).await
        }
        IdCommand::Deactivate { signer, id } => send(&signer, Action::Deactivate { id }).await,
        IdCommand::Rotate {
            signer,
            new_key: file,
        } => {
            let new_id = new_key(&file)?.id();
            send(&signer, Action::RotateKey { new_id }).await
        }
    }
}

/// Runs a `smart token` command; exit 1 when the VM refused it.
pub async fn token(cmd: TokenCommand) -> Result<ExitCode> {
    match cmd {
        TokenCommand::Issue {
            signer,
            token,
            holder,
            kind,
            scope,
            expires,
        } => {
            let action = Action::IssueToken {
                token,
                holder,
                kind: parse_kind(&kind)?,
                scope,
                expires: parse_date(&expires)?,
            };
            send(&signer, action).await
        }
        TokenCommand::Revoke {
            signer,
            token,
            reason,
        } => send(&signer, Action::RevokeToken { token, reason }).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_kinds_and_dates_parse_or_are_named() {
        assert_eq!(parse_role("qa").ok(), Some(Role::Qa));
        assert_eq!(parse_role("Advisor").ok(), Some(Role::Advisor));
        let named = parse_role("wizard").err().map(|e| e.to_string());
        assert!(named.is_some_and(|e| e.contains("ProjectManager")));
        assert_eq!(parse_kind("Certified").ok(), Some(TokenKind::Certified));
        assert!(parse_kind("certified-ish").is_err());
        assert_eq!(
            parse_date("2027-01-31").ok(),
            Some(timestamp_of(2027, 1, 31, 0, 0))
        );
        for bad in ["2027-13-01", "2027-1", "tomorrow", "0-1-1"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
