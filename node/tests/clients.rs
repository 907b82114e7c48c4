//! ClientManager, HandoffCentral and Projects on a real 3-hub network:
//! `smart client add` registers an account and hands its first gateway
//! credential to a file (the ledger keeps the hash), further credentials
//! are issued and revoked; the client's jobs are staged as its PO and
//! parts arrive; `smart project set` plans milestones over its jobs and
//! HubQuery tracks them.

mod common;

use common::*;
use smart_contracts::action::Action;
use smart_contracts::model::DocumentType;
use smart_contracts::station::{Fact, Module, StationRecord, Verdict};
use smart_ledger::{Hash, Keypair, Outcome, TxKind};

const PO: &str = include_str!("../../contracts/examples/smart-client-po.yaml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_accounts_staging_and_projects_through_the_cli() {
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
    let list = || {
        let out = run_ok(&["client", "list", "--data", s(&vault), "--metrics", &metrics]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    // ClientManager: an account and its first credential.
    let globex_key = tmp.path().join("globex.key");
    let cred1 = tmp.path().join("globex-1.credential");
    let (code, said) = run(&[
        "client",
        "add",
        "--name",
        "globex",
        "--organisation",
        "Globex Aero",
        "--new-key",
        s(&globex_key),
        "--credential-out",
        s(&cred1),
        "--to",
        &hub,
        "--key",
        s(&key("admin")),
    ]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(said.matches("recorded ").count(), 2, "{said}");
    let text = std::fs::read_to_string(&cred1).expect("credential");
    assert!(text.starts_with("smart_"), "{text}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cred1)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = text.trim().rsplit('_').next().expect("secret").to_string();
    let cred1_id = text.trim().split('_').nth(1).expect("id").to_string();
    let globex = Keypair::read_file(&globex_key).expect("key");
    // A second credential by the project manager; the first revoked.
    let cred2 = tmp.path().join("globex-2.credential");
    let gid = globex.id().to_string();
    let (code, said) = run(&[
        "client",
        "credential",
        "--client",
        &gid,
        "--out",
        s(&cred2),
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 0, "{said}");
    let (code, _) = run(&[
        "client",
        "credential",
        "--client",
        &gid,
        "--out",
        s(&cred2),
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 2, "a credential file is never overwritten");
    let before = list();
    assert!(
        before.contains("globex (Globex Aero, ") && before.contains("2 live credentials, 0 jobs"),
        "{before}"
    );
    let (code, said) = run(&[
        "client",
        "revoke",
        "--credential",
        &cred1_id,
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 0, "{said}");
    assert!(list().contains("1 live credentials"));
    // The ledger holds the hash of the secret, never the secret.
    assert!(!std::fs::read_dir(&vault).expect("dir").flatten().any(|e| {
        std::fs::read(e.path())
            .is_ok_and(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes()))
    }));

    // Two jobs for globex under the PO contract.
    let shop = &mut net.shop;
    shop.activate(PO).await;
    for (job, parts) in [("job-a", 2), ("job-b", 1)] {
        shop.act(
            "project-manager",
            Action::OpenJob {
                job: job.into(),
                contract: "po-4471-heat-treat".into(),
                client: globex.id(),
                parts: (0..parts).map(|i| format!("BR-{i}")).collect(),
            },
        )
        .await;
    }

    // HandoffCentral: PO, then parts, then staged.
    let staged = ask("which jobs are staged");
    assert!(
        staged.contains("0 of 2 open client jobs staged")
            && staged.contains("job-a (globex): waiting for the client's PO"),
        "{staged}"
    );
    assert_eq!(
        shop.act_as(
            &globex,
            Action::FileDocument {
                hash: Hash::of(b"PO 7781"),
                doc_type: DocumentType::ClientPo,
                job: Some("job-a".into()),
                title: "PO 7781".into(),
            },
        )
        .await,
        Outcome::Accepted
    );
    assert!(ask("which jobs are staged").contains("waiting for parts (0 of 2 received)"));
    let station = Keypair::read_file(&net.dir.join("station-1/peer.key")).expect("station key");
    let received = StationRecord {
        module: Module::LogisticsNode,
        station: "station-1".into(),
        verdict: Verdict::Allowed,
        job: Some("job-a".into()),
        operator: None,
        what: "receiving 2 parts for job-a".into(),
        reason: String::new(),
        fact: Some(Fact::Received { parts: 2 }),
    };
    assert_eq!(
        shop.submit_as(&station, TxKind::Station, received.encode())
            .await,
        Outcome::Accepted
    );
    let staged = ask("which jobs are staged");
    assert!(
        staged.contains("1 of 2 open client jobs staged")
            && staged.contains("job-a (globex): staged — PO on file, all parts received; next: "),
        "{staged}"
    );

    // Projects: milestones over the client's jobs.
    let (code, said) = run(&[
        "project",
        "set",
        "--id",
        "globex-brackets",
        "--client",
        &gid,
        "--title",
        "Brackets 2027",
        "--milestone",
        "first-lot:2099-01-15:job-a:First lot",
        "--milestone",
        "second-lot:2020-01-01:job-b",
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 0, "{said}");
    let (code, said) = run(&[
        "project",
        "set",
        "--id",
        "globex-x",
        "--client",
        &gid,
        "--title",
        "X",
        "--milestone",
        "m:2099-01-01:job-zz",
        "--to",
        &hub,
        "--key",
        s(&key("project-manager")),
    ]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("names no job job-zz"), "{said}");
    let status = ask("what is the status of project globex-brackets");
    assert!(
        status.contains(
            "project globex-brackets for globex: Brackets 2027; 0 of 2 milestones reached"
        ) && status.contains("first-lot (First lot): 0 of 1 jobs complete, due 2099-01-15\n")
            && status.contains(
                "second-lot (second-lot): 0 of 1 jobs complete, due 2020-01-01 — OVERDUE"
            ),
        "{status}"
    );
    assert!(list().contains("2 jobs (0 completed), 1 projects"));
    let out = run_ok(&["modules", "--data", s(&vault), "--metrics", &metrics]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 open client jobs, 1 staged for the floor")
            && text.contains("1 projects, 2 milestones"),
        "{text}"
    );
}
