//! The shop made ready once per network folder: people, the PO contract
//! approved by every governance role, the client's credential, tokens,
//! equipment and documents; kept in a private file for later runs.

use anyhow::{Context, Result};
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::state::TokenKind;
use smart_ledger::{Role, Timestamp};
use std::path::Path;

use super::*;

/// What a network folder keeps of its shop between runs (`shop.json`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct ShopFile {
    /// The client's API credential (a local testnet prints it; the ledger holds only its hash).
    pub(super) credential: String,
    /// When tech-9's certification lapses (ms since the epoch).
    pub(super) lapse_ms: u64,
    /// Job days run so far.
    pub(super) jobs: u32,
}

/// Writes `shop.json` as the keys are written: readable by its owner only,
/// and whole (a temporary file renamed over the old one).
pub(super) fn write_private(path: &Path, file: &ShopFile) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("{}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(file)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    Ok(())
}

pub(super) async fn setup(shop: &mut Shop) -> Result<ShopFile> {
    let id = |shop: &Shop, n: &str| shop.keys.get(n).map(|k| k.id()).context("key");

    println!(
        "\n== the shop: people, the contract (proposed, approved by every governance role), a client credential"
    );
    for (n, role, org) in [
        ("tech-7", Role::Technician, None),
        ("tech-9", Role::Technician, None),
        ("acme-aero", Role::Client, Some("Acme Aero")),
    ] {
        let new_id = id(shop, n)?;
        shop.act(
            "admin",
            &format!("register {n} as {role:?}"),
            Action::RegisterIdentity {
                id: new_id,
                name: n.into(),
                roles: vec![role],
                organisation: org.map(str::to_string),
            },
        )
        .await?;
    }
    shop.act(
        "admin",
        "propose po-4471-heat-treat v1",
        Action::ProposeContract {
            yaml: PO_CONTRACT.into(),
        },
    )
    .await?;
    for (who, role) in [
        ("admin", Role::Admin),
        ("compliance", Role::Compliance),
        ("qa", Role::Qa),
        ("project-manager", Role::ProjectManager),
    ] {
        shop.act(
            who,
            &format!("approve as {role:?}"),
            Action::ApproveContract {
                id: "po-4471-heat-treat".into(),
                version: 1,
                role,
            },
        )
        .await?;
    }

    let (credential, cred, secret_hash) =
        smart_gateway::auth::Credential::mint().map_err(|e| anyhow::anyhow!("{e}"))?;
    let acme_id = id(shop, "acme-aero")?;
    shop.act(
        "project-manager",
        "issue an API credential to acme-aero (the ledger keeps its hash)",
        Action::IssueApiCredential {
            id: cred.id.clone(),
            client: acme_id,
            secret_hash,
        },
    )
    .await?;

    println!("\n== tokens, equipment, shop documents");
    let year = Timestamp(smart_ledger::clock::now_ms() + 365 * 86_400_000);
    let tech7 = id(shop, "tech-7")?;
    for (t, kind, scope) in [
        ("t7-recv", TokenKind::Access, "receiving"),
        ("t7-furnace", TokenKind::Training, "furnace-operation"),
        ("t7-safety", TokenKind::Safety, "furnace-3"),
        ("t7-ht", TokenKind::Certified, "heat-treat-operator"),
        ("t7-hrc", TokenKind::Certified, "hardness-testing"),
    ] {
        shop.act(
            "compliance",
            &format!("token {}:{scope} for tech-7", kind.name()),
            Action::IssueToken {
                token: t.into(),
                holder: tech7,
                kind,
                scope: scope.into(),
                expires: year,
            },
        )
        .await?;
    }
    let qa = id(shop, "qa")?;
    shop.act(
        "compliance",
        "token Certified:qa-inspector for qa",
        Action::IssueToken {
            token: "qa-insp".into(),
            holder: qa,
            kind: TokenKind::Certified,
            scope: "qa-inspector".into(),
            expires: year,
        },
    )
    .await?;
    // tech-9's certification lapses in two seconds.
    let lapse = Timestamp(smart_ledger::clock::now_ms() + 2_000);
    let tech9 = id(shop, "tech-9")?;
    shop.act(
        "compliance",
        "token Certified:heat-treat-operator for tech-9 (lapses in 2 s)",
        Action::IssueToken {
            token: "t9-ht".into(),
            holder: tech9,
            kind: TokenKind::Certified,
            scope: "heat-treat-operator".into(),
            expires: lapse,
        },
    )
    .await?;
    for (e, d) in [
        ("furnace-3", "Box furnace, AMS 2750 class 2"),
        ("quench-tank-1", "Oil quench tank"),
        ("rockwell-2", "Rockwell hardness tester"),
    ] {
        shop.act(
            "admin",
            &format!("register {e}"),
            Action::RegisterEquipment {
                id: e.into(),
                description: d.into(),
                calibration_due: Timestamp(smart_ledger::clock::now_ms() + 90 * 86_400_000),
            },
        )
        .await?;
    }
    shop.document(
        "compliance",
        DocumentType::SafetyDoc,
        None,
        "Furnace 3 JSA and SDS",
    )
    .await?;
    shop.document(
        "compliance",
        DocumentType::Procedure,
        None,
        "WI-HT-012 rev D",
    )
    .await?;
    shop.document(
        "compliance",
        DocumentType::EnvironmentalLog,
        None,
        "Furnace atmosphere log",
    )
    .await?;

    Ok(ShopFile {
        credential,
        lapse_ms: lapse.0,
        jobs: 0,
    })
}
