//! AuditCentral on a real network: three hub processes order a heat-treat
//! job whose contract is hot-swapped mid-way; the audit pack is exported
//! from a running hub (it writes a consistent copy itself) and verified by a
//! fresh `smart` process that has nothing but the file and the genesis hash
//! (empty environment, an empty working folder, no peer running for it).

mod common;

use common::*;
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::state::TokenKind;
use smart_ledger::{Hash, Keypair, Outcome, Role, Timestamp};

const PO: &str = include_str!("../../contracts/examples/smart-client-po.yaml");

fn step(job: &str, step: &str, m: &[(&str, i64)]) -> Action {
    Action::CompleteStep {
        job: job.into(),
        step: step.into(),
        station: None,
        measurements: m.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_pack_from_a_running_hub_verifies_offline_with_the_pinned_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = HubNet::start(tmp.path()).await;
    let (dir, procs, a0, metrics, mut shop) =
        (net.dir, net.procs, net.vault, net.metrics, net.shop);
    let chain = shop.chain;

    // The shop: a technician, a client, the PO contract v1, tokens,
    // equipment, documents.
    let tech = Keypair::generate().expect("key");
    let acme = Keypair::generate().expect("key");
    for (k, name, role) in [
        (&tech, "tech-7", Role::Technician),
        (&acme, "acme-aero", Role::Client),
    ] {
        shop.act(
            "admin",
            Action::RegisterIdentity {
                id: k.id(),
                name: name.into(),
                roles: vec![role],
                organisation: None,
            },
        )
        .await;
    }
    let approve_all = |version: u32| {
        [
            ("admin", Role::Admin),
            ("compliance", Role::Compliance),
            ("qa", Role::Qa),
            ("project-manager", Role::ProjectManager),
        ]
        .map(|(who, role)| {
            (
                who,
                Action::ApproveContract {
                    id: "po-4471-heat-treat".into(),
                    version,
                    role,
                },
            )
        })
    };
    shop.act("admin", Action::ProposeContract { yaml: PO.into() })
        .await;
    for (who, a) in approve_all(1) {
        shop.act(who, a).await;
    }
    let year = Timestamp(4_102_444_800_000); // 2100
    for (i, (kind, scope)) in [
        (TokenKind::Access, "receiving"),
        (TokenKind::Training, "furnace-operation"),
        (TokenKind::Safety, "furnace-3"),
        (TokenKind::Certified, "heat-treat-operator"),
    ]
    .into_iter()
    .enumerate()
    {
        shop.act(
            "compliance",
            Action::IssueToken {
                token: format!("t-{i}"),
                holder: tech.id(),
                kind,
                scope: scope.into(),
                expires: year,
            },
        )
        .await;
    }
    for e in ["furnace-3", "quench-tank-1"] {
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
    for (doc_type, title) in [
        (DocumentType::SafetyDoc, "Furnace 3 JSA"),
        (DocumentType::Procedure, "WI-HT-012 rev D"),
    ] {
        shop.act(
            "compliance",
            Action::FileDocument {
                hash: Hash::of(title.as_bytes()),
                doc_type,
                job: None,
                title: title.into(),
            },
        )
        .await;
    }

    // job-1 opens under v1; v2 (soak tolerance 20 degC instead of 10) is
    // proposed, approved and active while it runs.
    shop.act(
        "project-manager",
        Action::OpenJob {
            job: "job-1".into(),
            contract: "po-4471-heat-treat".into(),
            client: acme.id(),
            parts: vec!["AA-88213-C x120".into()],
        },
    )
    .await;
    for (doc_type, title) in [
        (DocumentType::ClientPo, "PO 4471"),
        (DocumentType::MaterialCert, "Mill cert 88127"),
    ] {
        shop.act(
            "compliance",
            Action::FileDocument {
                hash: Hash::of(title.as_bytes()),
                doc_type,
                job: Some("job-1".into()),
                title: title.into(),
            },
        )
        .await;
    }
    assert_eq!(
        shop.act_as(
            &tech,
            step("job-1", "receive-parts", &[("part_count", 120)])
        )
        .await,
        Outcome::Accepted
    );
    assert_eq!(
        shop.act_as(&tech, step("job-1", "pre-check", &[])).await,
        Outcome::Accepted
    );
    let v2 = PO
        .replace("version: 1", "version: 2")
        .replace("target: 845, tolerance: 10", "target: 845, tolerance: 20");
    assert_ne!(v2, PO);
    shop.act("admin", Action::ProposeContract { yaml: v2.clone() })
        .await;
    for (who, a) in approve_all(2) {
        shop.act(who, a).await;
    }
    let harden = |t| {
        step(
            "job-1",
            "harden",
            &[("soak_temp", t), ("soak_time", 62), ("quench_delay", 9)],
        )
    };
    // 860 degC: inside v2's limits, outside v1's; job-1 is pinned to v1.
    let refused = shop.act_as(&tech, harden(860)).await;
    assert!(
        matches!(&refused, Outcome::Refused { reason, .. } if reason.contains("835..855")),
        "{refused:?}"
    );
    assert_eq!(shop.act_as(&tech, harden(848)).await, Outcome::Accepted);

    // Export from the running vault hub (its store is locked: it writes the copy).
    let pack = tmp.path().join("job-1.pack");
    let out = run_ok(&[
        "audit",
        "export",
        "--data",
        s(&dir.join("vault-hub")),
        "--job",
        "job-1",
        "--out",
        s(&pack),
        "--metrics",
        &metrics,
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("audit pack of job-1"), "{said}");

    // The job runs to its invoice; SMART-Pay and HubQuery answer from the
    // running hub's ledger.
    finish_job(&mut shop, &tech, &acme).await;
    hub_services_answer_from_the_ledger(
        &dir.join("vault-hub"),
        &metrics,
        &a0.to_string(),
        tmp.path(),
    );
    // The Advisor can record suggestions and do nothing else.
    let advisor = shop.key("smart-ai");
    let refused = shop
        .act_as(
            &advisor,
            Action::IssueToken {
                token: "t-ai".into(),
                holder: advisor.id(),
                kind: TokenKind::Certified,
                scope: "qa-inspector".into(),
                expires: year,
            },
        )
        .await;
    assert!(matches!(refused, Outcome::Refused { .. }), "{refused:?}");
    drop(procs);

    // A fresh process with only the file and the genesis hash.
    let offline = tempfile::tempdir().expect("tempdir");
    let copy = offline.path().join("job-1.pack");
    std::fs::copy(&pack, &copy).expect("copy");
    let verify = |file: &std::path::Path| {
        smart()
            .env_clear()
            .current_dir(offline.path())
            .args(["audit", "verify", s(file), "--json", "--genesis"])
            .arg(chain.to_string())
            .output()
            .expect("run verify")
    };
    let out = verify(&copy);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let r = &json["report"];
    assert_eq!(r["job"], "job-1");
    assert_eq!(r["pinned_version"], 1);
    assert_eq!(
        r["pinned_yaml_hash"].as_str(),
        Some(Hash::of(PO.as_bytes()).to_string().as_str())
    );
    let versions = r["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{r}");
    assert!(versions[1]["active_from"].as_u64() > r["opened_at"].as_u64());
    let txs = r["job_txs"].as_array().expect("job txs");
    // open, 2 documents, receive, pre-check, refused harden, harden.
    assert_eq!(txs.len(), 7, "{r}");
    assert_eq!(r["refused"], 1);
    assert!(
        txs.iter().any(|t| t["what"]
            .as_str()
            .is_some_and(|w| w.contains("soak_temp=860"))
            && t["outcome"]["Refused"].is_object()),
        "{r}"
    );
    // The accepted harden relied on the operator's certification and the
    // furnace's calibration, proven in the certified state at its block.
    let relied = r["relied_on"].as_array().expect("relied on");
    let harden: Vec<&serde_json::Value> = relied.iter().filter(|x| x["step"] == "harden").collect();
    assert!(
        harden
            .iter()
            .any(|x| x["value"]["scope"] == "heat-treat-operator"),
        "{r}"
    );
    assert!(
        harden
            .iter()
            .any(|x| x["record"] == "equipment/furnace-3" && x["value"]["calibration_due"].is_u64()),
        "{r}"
    );

    // One flipped byte, or another chain id: refused, exit 1.
    let mut bytes = std::fs::read(&copy).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let bad = offline.path().join("flipped.pack");
    std::fs::write(&bad, &bytes).expect("write");
    let out = verify(&bad);
    assert_eq!(out.status.code(), Some(1));
    let out = smart()
        .env_clear()
        .args(["audit", "verify", s(&copy), "--genesis"])
        .arg(Hash::of(b"another chain").to_string())
        .output()
        .expect("run verify");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("REFUSED"));
}

/// Runs job-1 from temper to its invoice; one technician certification
/// expires in ten days (wall clock), another in 2100.
async fn finish_job(shop: &mut Shop, tech: &Keypair, acme: &Keypair) {
    let year = Timestamp(4_102_444_800_000);
    let soon = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
            + 10 * 86_400_000,
    );
    let qa = shop.key("qa").id();
    for (token, holder, scope, expires) in [
        ("t-hrc", tech.id(), "hardness-testing", year),
        ("t-qa", qa, "qa-inspector", year),
        ("t-et", tech.id(), "eddy-current", soon),
    ] {
        shop.act(
            "compliance",
            Action::IssueToken {
                token: token.into(),
                holder,
                kind: TokenKind::Certified,
                scope: scope.into(),
                expires,
            },
        )
        .await;
    }
    shop.act(
        "admin",
        Action::RegisterEquipment {
            id: "rockwell-2".into(),
            description: "Rockwell hardness tester 2".into(),
            calibration_due: year,
        },
    )
    .await;
    shop.act(
        "compliance",
        Action::FileDocument {
            hash: Hash::of(b"furnace 3 chart"),
            doc_type: DocumentType::EnvironmentalLog,
            job: Some("job-1".into()),
            title: "Furnace 3 chart".into(),
        },
    )
    .await;
    // Temper twice too hot (540 +- 8 degC), then in limits.
    for t in [560, 552] {
        let refused = shop
            .act_as(
                tech,
                step(
                    "job-1",
                    "temper",
                    &[("temper_temp", t), ("temper_time", 121)],
                ),
            )
            .await;
        assert!(
            matches!(refused, Outcome::Refused { code: 16, .. }),
            "{refused:?}"
        );
    }
    for a in [
        step(
            "job-1",
            "temper",
            &[("temper_temp", 541), ("temper_time", 121)],
        ),
        step(
            "job-1",
            "hardness-test",
            &[("hardness_min", 37), ("hardness_max", 39)],
        ),
    ] {
        assert_eq!(shop.act_as(tech, a).await, Outcome::Accepted);
    }
    shop.act("qa", step("job-1", "qa-signoff", &[])).await;
    shop.act("qa", step("job-1", "report", &[])).await;
    assert_eq!(
        shop.act_as(acme, step("job-1", "client-approval", &[]))
            .await,
        Outcome::Accepted
    );
    shop.act("project-manager", step("job-1", "invoice", &[]))
        .await;
    // The client's feedback (as the gateway records a rated upload), and
    // an incident: the hardness tester locked out.
    assert_eq!(
        shop.act_as(
            acme,
            Action::FileDocument {
                hash: Hash::of(b"two temper retries delayed us"),
                doc_type: DocumentType::Feedback,
                job: Some("job-1".into()),
                title: smart_contracts::model::feedback_title(2, "late by a day"),
            },
        )
        .await,
        Outcome::Accepted
    );
    assert_eq!(
        shop.act_as(
            tech,
            Action::LockOut {
                id: "rockwell-2".into(),
                reason: "cracked indenter".into(),
            },
        )
        .await,
        Outcome::Accepted
    );
}

/// `smart ask` and `smart pay export` against the running hub at `data`.
fn hub_services_answer_from_the_ledger(
    data: &std::path::Path,
    metrics: &str,
    hub: &str,
    tmp: &std::path::Path,
) {
    let ask = |q: &str| {
        let out = run_ok(&["ask", "--data", s(data), "--metrics", metrics, q]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let why = ask("Why was job job-1 refused at step harden?");
    assert!(
        why.contains("refused 1 times at step harden") && why.contains("835..855"),
        "{why}"
    );
    assert!(why.contains("tech-7"), "{why}");
    let by_number = ask("why was job 1 refused at step 3");
    assert_eq!(by_number, why);
    let expiring = ask("which certifications expire in 30 days");
    assert!(
        expiring.contains("1 certifications")
            && expiring.contains("Certified:eddy-current of tech-7"),
        "{expiring}"
    );
    let status = ask("what is the status of job job-1");
    assert!(
        status.contains("Completed") && status.contains("9 of 9 steps"),
        "{status}"
    );
    let paid = ask("what was paid for job job-1");
    assert!(
        paid.contains("invoice final to acme-aero: 4860.00"),
        "{paid}"
    );
    let most = ask("what is refused most");
    assert!(
        most.contains("3 refused job decisions") && most.contains("2  [16] at step temper"),
        "{most}"
    );
    // ComplianceCentral: refusals per person and per station.
    let by_person = ask("what is refused most by person");
    assert!(by_person.contains("    3  tech-7: [16] 3"), "{by_person}");
    let by_station = ask("what is refused most by station");
    assert!(
        by_station.contains("(no station): 3 job steps refused by the contract VM"),
        "{by_station}"
    );
    // SafetyCentral: the lockout is an incident.
    let incidents = ask("what incidents happened in 7 days");
    assert!(
        incidents.contains("1 incidents in the last 7 days (tech-7 1)")
            && incidents.contains("tech-7: locked out rockwell-2: cracked indenter"),
        "{incidents}"
    );
    // Growth / Feedback.
    let doing = ask("how is the shop doing");
    assert!(
        doing.contains("throughput: 1, 0, 0, 0 jobs completed")
            && doing.contains("first-pass yield: 0 % (0 of 1 completed jobs")
            && doing.contains("1 feedback documents from 1 clients, 1 rated, average 2.0/5"),
        "{doing}"
    );
    let say = ask("what do clients say");
    assert!(
        say.contains("acme-aero: 1 documents, average 2.0/5 over 1 ratings")
            && say.contains("2/5 acme-aero job-1")
            && say.contains("late by a day"),
        "{say}"
    );
    let out = smart()
        .args([
            "ask",
            "--data",
            s(data),
            "--metrics",
            metrics,
            "how is the weather",
        ])
        .output()
        .expect("run ask");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("I understand"));

    // The accounting export: one invoice, two payouts, and no on-time bonus
    // because harden was once refused out of limits (a nonconformance).
    let csv = tmp.join("pay.csv");
    run_ok(&[
        "pay",
        "export",
        "--data",
        s(data),
        "--metrics",
        metrics,
        "--out",
        s(&csv),
    ]);
    let text = std::fs::read_to_string(&csv).expect("csv");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let summary: Vec<(&str, &str, &str, &str)> =
        rows.iter().map(|r| (r[0], r[2], r[3], r[5])).collect();
    assert_eq!(
        summary,
        [
            ("invoice", "final", "acme-aero", "4860.00"),
            ("payout", "harden", "tech-7", "180.00"),
            ("payout", "temper", "tech-7", "90.00"),
        ],
        "{text}"
    );
    assert!(rows.iter().all(|r| r[1] == "job-1"), "{text}");
    // An export never overwrites.
    let out = smart()
        .args([
            "pay",
            "export",
            "--data",
            s(data),
            "--metrics",
            metrics,
            "--out",
            s(&csv),
        ])
        .output()
        .expect("run pay export");
    assert!(!out.status.success());

    // SMART-AI Central: the twice-refused temper is a finding; --record
    // writes it once as a Suggestion signed by the Advisor identity.
    let advisor = data.parent().expect("net").join("people/smart-ai.key");
    let advise = || {
        let out = run_ok(&[
            "advise",
            "--data",
            s(data),
            "--metrics",
            metrics,
            "--record",
            hub,
            "--key",
            s(&advisor),
        ]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = advise();
    assert!(
        first
            .contains("step temper is refused often under rule [16]: 2 of 3 refused job decisions")
            && first.contains("based on the 3 refused job decisions in the ledger")
            && first.contains("recorded "),
        "{first}"
    );
    let again = advise();
    assert!(
        again.contains("(0 not yet recorded)") && again.contains("nothing new to record"),
        "{again}"
    );
    let suggested = ask("what does smart-ai suggest");
    assert!(
        suggested.starts_with("1 suggestions")
            && suggested.contains("by smart-ai: step temper is refused often"),
        "{suggested}"
    );

    // The hub's services and what each holds.
    let out = run_ok(&["modules", "--data", s(data), "--metrics", metrics, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let module = |name: &str| {
        list.as_array()
            .and_then(|l| l.iter().find(|m| m["name"] == name))
            .and_then(|m| m["state"].as_str())
            .unwrap_or_else(|| panic!("no module {name} in {list}"))
            .to_string()
    };
    assert_eq!(
        module("SMART-Pay"),
        "1 invoices (4860.00), 2 payouts and bonuses (270.00)"
    );
    assert_eq!(
        module("SMART-AI Central"),
        "1 suggestions recorded (advisory only)"
    );
    assert!(
        module("PolicyCentral").starts_with("2 contract versions: 1 active"),
        "{list}"
    );
    assert!(module("ComplianceCentral").ends_with("3 refused"), "{list}");
    assert_eq!(
        module("QACentral"),
        "3 out-of-limit measurements refused; 1 of 1 jobs with a nonconformance"
    );
    assert!(
        module("StandardsCentral")
            .ends_with("3 equipment: 0 calibrations overdue, 0 due within 30 days"),
        "{list}"
    );
    assert_eq!(
        module("SafetyCentral"),
        "1 incidents recorded, 1 in the last 7 days"
    );
    assert!(
        module("Growth/Feedback").starts_with("1 jobs completed in 4 weeks")
            && module("Growth/Feedback").ends_with("1 feedback (average 2.0/5)"),
        "{list}"
    );
}
