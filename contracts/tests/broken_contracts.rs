//! A corpus of broken contracts, one kind of mistake each (41 files, 27
//! kinds). Each file's first line says the error it must give:
//! `# expect: KIND FIELD LINE` (`-` for the top level, 0 for "any line").
//! Every error names the file, line, column and field; none panics.

use smart_contracts::parse::{ContractError, parse_contract};

fn expected(text: &str) -> (String, String, u64) {
    let first = text.lines().next().unwrap_or_default();
    let mut parts = first.trim_start_matches("# expect:").split_whitespace();
    let kind = parts.next().unwrap_or_default().to_string();
    let field = parts
        .next()
        .map(|f| {
            if f == "-" {
                String::new()
            } else {
                f.to_string()
            }
        })
        .unwrap_or_default();
    let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    (kind, field, line)
}

fn kind_name(e: &ContractError) -> String {
    serde_json::to_value(e.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn every_broken_contract_gives_its_specific_error() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/broken");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus has {} files", files.len());
    let mut kinds = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let (kind, field, line) = expected(&text);
        match parse_contract(&name, &text) {
            Ok(_) => failures.push(format!("{name}: parsed, expected {kind}")),
            Err(e) => {
                kinds.insert(kind_name(&e));
                let shown = e.to_string();
                if kind_name(&e) != kind || e.field != field || (line != 0 && e.line != line) {
                    failures.push(format!("{name}: expected {kind} at {field:?} line {line}, got {:?} at {:?} line {}: {shown}", e.kind, e.field, e.line));
                }
                if !shown.starts_with(&format!("{name}:")) || e.message.is_empty() {
                    failures.push(format!(
                        "{name}: error does not name the file or say what is wrong: {shown}"
                    ));
                }
                if line != 0 && e.column == 0 {
                    failures.push(format!("{name}: no column: {shown}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        kinds.len() >= 20,
        "only {} kinds of mistake: {kinds:?}",
        kinds.len()
    );
}

#[test]
fn every_example_contract_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut templates = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("examples") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let c =
            parse_contract(&path.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
        templates.insert(format!("{:?}", c.template));
    }
    assert_eq!(
        templates.len(),
        9,
        "one example per template: {templates:?}"
    );
}

#[test]
fn the_client_po_references_the_sp_qa_and_pay_contracts() {
    let po = parse_contract("po", include_str!("../examples/smart-client-po.yaml")).expect("valid");
    let ids: Vec<(&str, u32)> = po
        .references
        .iter()
        .map(|r| (r.id.as_str(), r.version))
        .collect();
    for (file, text) in [
        ("sp", include_str!("../examples/smart-sp-heat-treat.yaml")),
        ("qa", include_str!("../examples/smart-qa.yaml")),
        ("pay", include_str!("../examples/smart-pay.yaml")),
    ] {
        let c = parse_contract(file, text).expect("valid");
        assert!(
            ids.contains(&(c.id.as_str(), c.version)),
            "PO does not reference {}",
            c.id
        );
    }
}

#[test]
fn a_huge_file_is_refused_before_parsing() {
    let text = format!("id: x\nversion: 1\ntitle: \"{}\"\n", "a".repeat(300 * 1024));
    let e = parse_contract("big.yaml", &text).expect_err("too large");
    assert_eq!(e.kind, smart_contracts::ErrorKind::TooLarge);
}
