//! SMART-ID, TokenAccessLayer and PeopleOps through the CLI on a real
//! 3-hub network: `smart id` and `smart token` sign and submit; the ledger's
//! records are read back through HubQuery on the running hub.

mod common;

use std::path::Path;

use common::*;
use smart_contracts::refusal::format_date;
use smart_ledger::{Keypair, Timestamp};

fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_and_tokens_are_issued_changed_and_revoked_through_the_cli() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = HubNet::start(tmp.path()).await;
    let hub = net.vault.to_string();
    let person = |p: &str| net.dir.join(format!("people/{p}.key"));
    let (admin, compliance) = (person("admin"), person("compliance"));
    let vault = net.dir.join("vault-hub");
    let ask = |q: &str| {
        let out = run_ok(&["ask", "--data", s(&vault), "--metrics", &net.metrics, q]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let signed = |key: &Path, args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--to", &hub, "--key", s(key)]);
        run(&all)
    };

    // Register a technician with a new key.
    let key9 = tmp.path().join("tech-9.key");
    let (code, said) = signed(
        &admin,
        &[
            "id",
            "register",
            "--name",
            "tech-9",
            "--role",
            "Technician",
            "--new-key",
            s(&key9),
        ],
    );
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("recorded ") && said.contains("new SMART-ID"),
        "{said}"
    );
    let tech9 = Keypair::read_file(&key9).expect("key").id().to_string();

    // Tokens: a certification expiring in 20 days, and a receiving access.
    let soon = format_date(Timestamp(now().0 + 20 * 86_400_000));
    for (token, kind, scope, expires) in [
        ("t9-ut", "Certified", "NDT-UT-L2", soon.as_str()),
        ("t9-safety", "Safety", "furnace-3", "2030-01-01"),
        ("t9-access", "Access", "receiving", "2030-01-01"),
    ] {
        let (code, said) = signed(
            &compliance,
            &[
                "token",
                "issue",
                "--token",
                token,
                "--holder",
                &tech9,
                "--kind",
                kind,
                "--scope",
                scope,
                "--expires",
                expires,
            ],
        );
        assert_eq!(code, 0, "{said}");
    }
    let expiring = ask("which certifications expire in 30 days");
    assert!(
        expiring.contains(&format!("{soon} Certified:NDT-UT-L2 of tech-9")),
        "{expiring}"
    );
    let held = ask("which tokens does tech-9 hold");
    assert!(
        held.starts_with("tech-9 (") && held.contains("holds 3 tokens"),
        "{held}"
    );

    // Refused and named: a technician issuing a token, an unknown kind, a
    // duplicate token id; nothing is recorded.
    let (code, said) = signed(
        &key9,
        &[
            "token",
            "issue",
            "--token",
            "t9-self",
            "--holder",
            &tech9,
            "--kind",
            "Certified",
            "--scope",
            "NDT-RT-L3",
            "--expires",
            "2030-01-01",
        ],
    );
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("not recorded") && said.contains("Admin"),
        "{said}"
    );
    let (code, said) = signed(
        &compliance,
        &[
            "token",
            "issue",
            "--token",
            "t9-x",
            "--holder",
            &tech9,
            "--kind",
            "Magic",
            "--scope",
            "x",
            "--expires",
            "2030-01-01",
        ],
    );
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("kinds: Access, Audit, Certified"), "{said}");
    let (code, said) = signed(
        &compliance,
        &[
            "token",
            "issue",
            "--token",
            "t9-ut",
            "--holder",
            &tech9,
            "--kind",
            "Certified",
            "--scope",
            "NDT-UT-L2",
            "--expires",
            "2030-01-01",
        ],
    );
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("already exists"), "{said}");

    // Revoke one by hand.
    let (code, said) = signed(
        &compliance,
        &[
            "token",
            "revoke",
            "--token",
            "t9-ut",
            "--reason",
            "failed the eye test",
        ],
    );
    assert_eq!(code, 0, "{said}");
    let held = ask("which tokens does tech-9 hold");
    assert!(
        held.contains("(token t9-ut) revoked") && held.contains("failed the eye test"),
        "{held}"
    );
    assert!(
        ask("which certifications expire in 30 days").starts_with("no certifications"),
        "the revoked certification is still listed"
    );

    // PeopleOps: tech-9 moves to project management; the Safety token goes
    // at once, the Access token stays.
    let (code, said) = signed(
        &admin,
        &["id", "roles", "--id", &tech9, "--role", "ProjectManager"],
    );
    assert_eq!(code, 0, "{said}");
    let held = ask("which tokens does tech-9 hold");
    assert!(
        held.contains("(token t9-safety) revoked")
            && held.contains("PeopleOps: tech-9's roles changed to ProjectManager")
            && held.contains("(token t9-access) live until 2030-01-01"),
        "{held}"
    );

    // Key rotation: the identity and its tokens move; the old key is done.
    let key9b = tmp.path().join("tech-9b.key");
    let (code, said) = signed(&key9, &["id", "rotate", "--new-key", s(&key9b)]);
    assert_eq!(code, 0, "{said}");
    let new_id = Keypair::read_file(&key9b).expect("key").id().to_string();
    let held = ask("which tokens does tech-9 hold");
    let short: String = new_id.chars().take(8).collect();
    assert!(held.starts_with(&format!("tech-9 ({short})")), "{held}");
    assert!(held.contains("(token t9-access) live"), "{held}");
    let (code, said) = signed(
        &key9,
        &["id", "rotate", "--new-key", s(&tmp.path().join("x.key"))],
    );
    assert_eq!(code, 1, "{said}");

    // A leave: every token revoked in the same block.
    let (code, said) = signed(&admin, &["id", "deactivate", "--id", &new_id]);
    assert_eq!(code, 0, "{said}");
    let held = ask("which tokens does tech-9 hold");
    assert!(
        held.contains("inactive")
            && held.contains("(token t9-access) revoked")
            && held.contains("PeopleOps: tech-9 was deactivated"),
        "{held}"
    );
    drop(net.procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certification_framework_issues_renews_and_revokes_through_the_cli() {
    use smart_contracts::action::Action;
    use smart_ledger::Role;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut net = HubNet::start(tmp.path()).await;
    let hub = net.vault.to_string();
    let person = |p: &str| net.dir.join(format!("people/{p}.key"));
    let (qa, compliance) = (person("qa"), person("compliance"));
    let vault = net.dir.join("vault-hub");
    let ask = |q: &str| {
        let out = run_ok(&["ask", "--data", s(&vault), "--metrics", &net.metrics, q]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let tech = Keypair::generate().expect("key").id();
    net.shop
        .act(
            "admin",
            Action::RegisterIdentity {
                id: tech,
                name: "tech-9".into(),
                roles: vec![Role::Technician],
                organisation: None,
            },
        )
        .await;
    let tech = tech.to_string();
    let record = |key: &Path, args: &[&str]| {
        let mut all = vec!["education"];
        all.extend(args);
        all.extend(["--person", &tech, "--to", &hub, "--key", s(key)]);
        run(&all)
    };
    let must = |key: &Path, args: &[&str]| {
        let (code, said) = record(key, args);
        assert_eq!(code, 0, "{args:?}: {said}");
    };

    // Training, experience and the three examinations, recorded by QA.
    must(
        &qa,
        &[
            "training",
            "--course",
            "ut-level-2",
            "--hours",
            "80",
            "--method",
            "UT",
        ],
    );
    must(&qa, &["experience", "--method", "UT", "--hours", "840"]);
    for (part, score) in [("general", "82"), ("specific", "85"), ("practical", "90")] {
        must(
            &qa,
            &[
                "exam", "--method", "UT", "--level", "2", "--part", part, "--score", score,
            ],
        );
    }
    let needs = ask("what does tech-9 need for NDT-UT-L2");
    assert!(
        needs.contains("needs for NDT-UT-L2") && needs.contains("- no vision test"),
        "{needs}"
    );
    assert!(
        needs.contains("80 classroom and 840 experience hours in UT, 3 examinations"),
        "{needs}"
    );
    // Nobody records their own vision test.
    let (code, said) = run(&[
        "education",
        "eye-test",
        "--person",
        &Keypair::read_file(&qa).expect("qa").id().to_string(),
        "--near-vision",
        "pass",
        "--color",
        "pass",
        "--to",
        &hub,
        "--key",
        s(&compliance),
    ]);
    assert_eq!(code, 0, "compliance may record QA's: {said}");
    let (code, said) = run(&[
        "education",
        "eye-test",
        "--person",
        &Keypair::read_file(&qa).expect("qa").id().to_string(),
        "--near-vision",
        "pass",
        "--color",
        "pass",
        "--to",
        &hub,
        "--key",
        s(&qa),
    ]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("their own"), "{said}");

    // The vision test completes the transcript: the token is issued at once.
    must(
        &compliance,
        &["eye-test", "--near-vision", "pass", "--color", "pass"],
    );
    let held = ask("which tokens does tech-9 hold");
    assert!(
        held.contains("Certified:NDT-UT-L2 (token edu-ndt-ut-l2-") && held.contains("live until"),
        "{held}"
    );
    assert!(ask("what does tech-9 need for NDT-UT-L2").contains("qualifies for NDT-UT-L2"));

    // A safety course grants its token; reminders name what renews each.
    must(
        &compliance,
        &[
            "training",
            "--course",
            "furnace-safety",
            "--hours",
            "4",
            "--grants",
            "Safety",
            "--valid-days",
            "20",
        ],
    );
    let due = ask("what renewals are due in 30 days");
    assert!(
        due.contains("Safety:furnace-safety of tech-9")
            && due.contains("repeat the course furnace-safety"),
        "{due}"
    );
    assert!(!due.contains("NDT-UT-L2"), "{due}");
    let due = ask("what renewals are due in 400 days");
    assert!(
        due.contains("Certified:NDT-UT-L2 of tech-9") && due.contains("renew by a vision test"),
        "{due}"
    );

    // A failed vision test revokes the certification on every peer.
    must(
        &compliance,
        &["eye-test", "--near-vision", "fail", "--color", "pass"],
    );
    let held = ask("which tokens does tech-9 hold");
    assert!(
        held.contains("Certified:NDT-UT-L2")
            && held.contains("CertifiedPeople: no longer qualified"),
        "{held}"
    );
    let out = run_ok(&["modules", "--data", s(&vault), "--metrics", &net.metrics]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 transcripts, 1 live tokens from the framework (0 certifications)"),
        "{text}"
    );
}
