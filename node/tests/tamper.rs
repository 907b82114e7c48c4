//! Flipping any single byte of a stored block, in the real file the store
//! wrote, makes `smart ledger verify` exit non-zero and name the block.

mod common;

use common::*;
use smart_ledger::store::RedbStore;

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Where `record` lies in the file at `db_path` as the store reads it: redb
/// is copy-on-write, so stale copies of a page can remain; the live copy is
/// the one whose change (byte `at` flipped) `read` sees.
fn live_copy(
    db_path: &std::path::Path,
    original: &[u8],
    record: &[u8],
    at: usize,
    read: impl Fn() -> Option<Vec<u8>>,
) -> Option<usize> {
    find_all(original, record).into_iter().find(|&start| {
        let mut file = original.to_vec();
        file[start + at] ^= 0xff;
        std::fs::write(db_path, &file).expect("write");
        let seen = read();
        std::fs::write(db_path, original).expect("restore");
        seen.as_deref() != Some(record)
    })
}

#[test]
fn every_byte_of_a_stored_block_is_covered_by_verify() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("vault-hub");
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "6",
        "--block-size",
        "2",
    ]);
    let (code, json) = verify_json(&hub);
    assert_eq!(code, 0, "fresh ledger verifies: {json}");

    let target_height = 2u64;
    let db_path = hub.join(RedbStore::FILE_NAME);
    let read_record = || {
        RedbStore::open(&db_path)
            .ok()
            .and_then(|s| s.raw_block_record(target_height).ok().flatten())
    };
    let record = read_record().expect("block 2 record");
    let original = std::fs::read(&db_path).expect("read file");

    let live = live_copy(&db_path, &original, &record, 40, read_record)
        .expect("the block record is stored verbatim in the file");

    let mut failures = Vec::new();
    for pos in live..live + record.len() {
        let mut file = original.clone();
        file[pos] ^= 0xff;
        std::fs::write(&db_path, &file).expect("write");
        let (code, json) = verify_json(&hub);
        let named = json["failure"]["height"].as_u64();
        if code != 1 || named != Some(target_height) {
            failures.push(format!(
                "byte {} of the record: exit {code}, named {named:?}: {json}",
                pos - live
            ));
        }
    }
    std::fs::write(&db_path, &original).expect("restore");
    assert!(
        failures.is_empty(),
        "{} of {} flips not caught:\n{}",
        failures.len(),
        record.len(),
        failures.join("\n")
    );
    let (code, _) = verify_json(&hub);
    assert_eq!(code, 0, "restored file verifies again");
}

#[test]
fn verify_names_the_block_and_says_why_in_text_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("floor-hub");
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "9",
        "--block-size",
        "3",
    ]);
    let db_path = hub.join(RedbStore::FILE_NAME);
    let record = RedbStore::open(&db_path)
        .expect("open")
        .raw_block_record(3)
        .expect("read")
        .expect("block 3");
    let mut file = std::fs::read(&db_path).expect("read");
    // Corrupt every copy so whichever is live is hit.
    for at in find_all(&file.clone(), &record) {
        file[at + record.len() - 1] ^= 0x01;
    }
    std::fs::write(&db_path, &file).expect("write");
    let out = smart()
        .args(["ledger", "verify", "--data", s(&hub)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("LEDGER DAMAGED: block 3"), "{text}");
    assert!(text.contains("corrupt"), "{text}");
}

/// The contract state is stored as records (one table per kind). Flipping
/// one byte of any of them in the file makes `smart ledger verify` exit 1
/// and name the record; the restored file verifies again.
#[test]
fn a_flipped_byte_in_any_stored_state_record_is_named_by_verify() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = init_network(tmp.path(), 1);
    let hub = net.join("vault-hub");
    run_ok(&[
        "ledger",
        "generate",
        "--data",
        s(&hub),
        "--txs",
        "6",
        "--block-size",
        "2",
    ]);
    let (code, json) = verify_json(&hub);
    assert_eq!(code, 0, "fresh ledger verifies: {json}");
    assert!(
        json["state"]["records"].as_u64().unwrap_or(0) > 10,
        "{json}"
    );

    let db_path = hub.join(RedbStore::FILE_NAME);
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    RedbStore::open(&db_path)
        .expect("open")
        .visit_state(|kind, key, _| records.push((kind.to_string(), key.to_vec())))
        .expect("visit");
    let original = std::fs::read(&db_path).expect("read file");
    let read_raw = |kind: &str, key: &[u8]| {
        RedbStore::open(&db_path)
            .ok()
            .and_then(|s| s.raw_state_record(kind, key).ok().flatten())
    };
    let mut failures = Vec::new();
    for (i, (kind, key)) in records.iter().enumerate() {
        let raw = read_raw(kind, key).expect("stored record");
        let at = i * 7 % raw.len();
        let live = live_copy(&db_path, &original, &raw, at, || read_raw(kind, key));
        let Some(live) = live else {
            failures.push(format!("{kind}: not found verbatim in the file"));
            continue;
        };
        let mut file = original.clone();
        file[live + at] ^= 0x01;
        std::fs::write(&db_path, &file).expect("write");
        let (code, json) = verify_json(&hub);
        let name = smart_ledger::store::record_name(kind, key);
        let reason = json["failure"]["reason"].as_str().unwrap_or_default();
        if code != 1 || !reason.contains(&format!("state record {name}")) {
            failures.push(format!("{name} byte {at}: exit {code}: {json}"));
        }
    }
    std::fs::write(&db_path, &original).expect("restore");
    assert!(
        failures.is_empty(),
        "{} of {} records not named:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
    let (code, _) = verify_json(&hub);
    assert_eq!(code, 0, "restored file verifies again");
}
