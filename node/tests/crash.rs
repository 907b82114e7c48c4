//! Crash safety: a child process appends blocks of real job histories
//! (jobs, steps, documents, tokens, calibrations through the VM) and prints
//! each height once it is durable; it is SIGKILLed at random moments 20
//! times. After each kill every printed height is in the reopened store, the
//! stored state records hash to the state root the tip's header certifies,
//! and verify passes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use smart_ledger::store::{BlockStore, RedbStore};

/// xorshift64 with a fixed seed: random moments, reproducible runs.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn sigkill_at_random_moments_loses_no_durable_block() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("business-hub");
    let mut rng = 0x5EED_CAFE_F00Du64;
    // The shop set up (people, contract, equipment) and a few jobs, whole.
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--jobs",
        "3",
        "--block-size",
        "16",
    ]);
    let mut max_seen = 0u64;
    for round in 0..20 {
        let mut child = smart()
            .args([
                "ledger",
                "generate",
                "--data",
                s(&hub),
                "--jobs",
                "100000000",
                "--block-size",
                "16",
                "--print-durable",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(tmp.path().join("generator.err")).expect("stderr file"),
            ))
            .spawn()
            .expect("spawn generator");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("durable ")
                        .and_then(|h| h.parse::<u64>().ok())
                })
                .collect::<Vec<u64>>()
        });
        // Random moment: 30-400 ms after start.
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 370));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let printed = reader.join().expect("reader");
        let errors = std::fs::read_to_string(tmp.path().join("generator.err")).unwrap_or_default();
        assert!(
            !errors.contains("Error"),
            "round {round}: the generator stopped on its own: {errors}"
        );

        let store = RedbStore::open(&hub.join(RedbStore::FILE_NAME)).expect("reopen after crash");
        let tip = store.tip().height;
        for &h in &printed {
            assert!(
                h <= tip,
                "round {round}: height {h} was reported durable but the tip is {tip}"
            );
            assert!(
                store.block(h).expect("read").is_some(),
                "round {round}: block {h} lost"
            );
        }
        assert!(
            tip >= max_seen,
            "round {round}: tip went back from {max_seen} to {tip}"
        );
        max_seen = tip;
        // The stored records hash to the root the tip's header certifies.
        let header = store.block(tip).expect("read").expect("tip block").header;
        let state =
            smart_ledger::audit::verify_state(&store, Some(&header)).expect("state after crash");
        assert_eq!(state.state_root, header.state_root);
        drop(store);
        let (code, json) = verify_json(&hub);
        assert_eq!(code, 0, "round {round}: verify after crash: {json}");
        assert_eq!(json["state"]["height"], tip, "round {round}: {json}");
    }
    assert!(
        max_seen > 20,
        "the generator made progress ({max_seen} blocks)"
    );
}
