//! MaintenanceHub and InventoryHub on a real 3-hub network: a maintenance
//! plan set with `smart maintenance plan`, equipment use and consumption
//! recorded by the station (its signed records), `smart ask` naming what is
//! due and what to order, `smart maintenance schedule` opening the service
//! job, its completion resetting the count, and `smart advise --record`
//! writing the procurement suggestion and the API-use findings from the
//! gateway's access log and anomaly flags.

mod common;

use common::*;
use smart_contracts::action::Action;
use smart_contracts::state::TokenKind;
use smart_contracts::station::{Fact, Module, StationRecord, Verdict};
use smart_ledger::{Keypair, Outcome, Role, Timestamp, TxKind};

const MAINT: &str = include_str!("../../contracts/examples/smart-maintenance.yaml");

fn record(fact: Fact) -> StationRecord {
    StationRecord {
        module: match fact {
            Fact::EquipmentUsed { .. } => Module::MaintenanceNode,
            _ => Module::InventoryNode,
        },
        station: "station-1".into(),
        verdict: Verdict::Allowed,
        job: None,
        operator: None,
        what: "recorded by the test".into(),
        reason: String::new(),
        fact: Some(fact),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_is_scheduled_from_usage_and_orders_suggested_from_stock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut net = HubNet::start(tmp.path()).await;
    let hub = net.vault.to_string();
    let key = |p: &str| net.dir.join(format!("people/{p}.key"));
    let vault = net.dir.join("vault-hub");
    let metrics = net.metrics.clone();
    let ask = |q: &str| {
        let out = run_ok(&["ask", "--data", s(&vault), "--metrics", &metrics, q]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let shop = &mut net.shop;

    // The service contract, a technician with its tokens, the equipment.
    shop.activate(MAINT).await;
    let tech = Keypair::generate().expect("key");
    shop.act(
        "admin",
        Action::RegisterIdentity {
            id: tech.id(),
            name: "tech-4".into(),
            roles: vec![Role::Technician],
            organisation: None,
        },
    )
    .await;
    let year = Timestamp(4_102_444_800_000);
    for (t, kind, scope) in [
        ("t4-loto", TokenKind::Safety, "lockout-tagout"),
        ("t4-pyro", TokenKind::Certified, "pyrometry"),
    ] {
        shop.act(
            "compliance",
            Action::IssueToken {
                token: t.into(),
                holder: tech.id(),
                kind,
                scope: scope.into(),
                expires: year,
            },
        )
        .await;
    }
    for e in ["furnace-3", "reference-tc-7"] {
        shop.act(
            "admin",
            Action::RegisterEquipment {
                id: e.into(),
                description: e.into(),
                calibration_due: year,
            },
        )
        .await;
    }

    // MaintenanceHub: a plan by the CLI; a Technician may not set one.
    let plan = |who: &str| {
        smart()
            .args([
                "maintenance",
                "plan",
                "--equipment",
                "furnace-3",
                "--contract",
                "maint-furnace-3-sat",
                "--every-cycles",
                "10",
                "--to",
                &hub,
                "--key",
            ])
            .arg(key(who))
            .output()
            .expect("run smart")
    };
    assert!(plan("compliance").status.success());
    assert_eq!(
        plan("qa").status.code(),
        Some(1),
        "QA may not plan maintenance"
    );

    // The station records a run of 6 cycles, a stock count and consumption.
    let station = Keypair::read_file(&net.dir.join("station-1/peer.key")).expect("station key");
    for fact in [
        Fact::EquipmentUsed {
            equipment: "furnace-3".into(),
            cycles: 6,
            minutes: 240,
        },
        Fact::Stocked {
            item: "quench-oil".into(),
            on_hand: 10,
            reorder_at: 4,
        },
        Fact::Consumed {
            item: "quench-oil".into(),
            quantity: 7,
        },
    ] {
        let outcome = shop
            .submit_as(&station, TxKind::Station, record(fact).encode())
            .await;
        assert_eq!(outcome, Outcome::Accepted);
    }
    let due = ask("what maintenance is due");
    assert!(
        due.contains("1 of 1 planned equipment due")
            && due.contains("DUE furnace-3: 60.0 % of its interval used")
            && due.contains("no service job open (maint-furnace-3-sat)")
            && due.contains("based on 1 usage records"),
        "{due}"
    );
    let order = ask("what should we order");
    assert!(
        order.contains("order 211 of quench-oil: 3 on hand (reorder point 4)")
            && order.contains("based on 1 consumption records (7 used)"),
        "{order}"
    );

    // Schedule: one service job opened, owned by the scheduler; again: none.
    let schedule = || {
        smart()
            .args([
                "maintenance",
                "schedule",
                "--data",
                s(&vault),
                "--metrics",
                &metrics,
            ])
            .args(["--to", &hub, "--key"])
            .arg(key("project-manager"))
            .output()
            .expect("run smart")
    };
    let out = schedule();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("furnace-3: opening service-furnace-3-1"),
        "{said}"
    );
    let due = ask("what maintenance is due");
    assert!(
        due.contains("service job service-furnace-3-1 open"),
        "{due}"
    );
    let out = schedule();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("service job service-furnace-3-1 already open"),
        "{said}"
    );
    let status = ask("what is the status of job service-furnace-3-1");
    assert!(status.contains("for project-manager"), "{status}");

    // The service runs; its completion resets the count.
    let step = |step: &str, m: &[(&str, i64)]| Action::CompleteStep {
        job: "service-furnace-3-1".into(),
        step: step.into(),
        station: None,
        measurements: m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    for a in [
        step("lockout", &[]),
        step("sat", &[("sat_difference", 1)]),
        step("tc-replacement", &[("thermocouples_replaced", 4)]),
    ] {
        assert_eq!(shop.act_as(&tech, a).await, Outcome::Accepted);
    }
    shop.act("qa", step("release", &[])).await;
    let due = ask("what maintenance is due");
    assert!(
        due.contains("0 of 1 planned equipment due")
            && due.contains("furnace-3: 0.0 % of its interval used")
            && due.contains("(service service-furnace-3-1)"),
        "{due}"
    );

    // The gateway's access log (a caller refused often) and one of its
    // anomaly flags, as the gateway writes them.
    let gateway = Keypair::read_file(&net.dir.join("gateway/peer.key")).expect("gateway key");
    let calls: Vec<smart_gateway::access_log::AccessRecord> = (0..24u64)
        .map(|i| smart_gateway::access_log::AccessRecord {
            at_ms: 1_000 + i,
            client: "cred-z".into(),
            method: "GET".into(),
            route: "/api/jobs".into(),
            status: if i % 2 == 0 { 401 } else { 200 },
            bytes_in: 0,
            body_hash: None,
        })
        .collect();
    let flag = serde_json::json!({
        "AnomalyFlagged": { "kind": "auth_failure_burst", "caller": "cred-z", "failures": 12, "window_s": 60 },
        "advisory": true
    });
    for (kind, payload) in [
        (
            TxKind::AccessLogBatch,
            serde_json::to_vec(&calls).expect("json"),
        ),
        (TxKind::Alert, flag.to_string().into_bytes()),
    ] {
        assert_eq!(
            shop.submit_as(&gateway, kind, payload).await,
            Outcome::Accepted
        );
    }

    // SMART-AI Central records InventoryHub's suggestion and the API findings.
    let out = run_ok(&[
        "advise",
        "--data",
        s(&vault),
        "--metrics",
        &metrics,
        "--record",
        &hub,
        "--key",
        s(&key("smart-ai")),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("InventoryHub: order 211 of quench-oil"),
        "{said}"
    );
    assert!(
        said.contains("API caller cred-z was refused 12 of its 24 calls (50%)")
            && said
                .contains("the gateway flagged auth_failure_burst for API caller cred-z 1 times"),
        "{said}"
    );
    let suggested = ask("what does smart-ai suggest");
    assert!(
        suggested.contains("InventoryHub: order 211 of quench-oil")
            && suggested.contains("based on order 211 of quench-oil: 3 on hand"),
        "{suggested}"
    );
    let out = run_ok(&["modules", "--data", s(&vault), "--metrics", &metrics]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 equipment planned, 0 due, 0 service jobs open")
            && text.contains("1 items stocked, 1 to order"),
        "{text}"
    );
}
