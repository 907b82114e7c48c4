//! The route table's tests: every route a read, an upload or auth; the
//! OpenAPI document; the handlers over a test backend.
use axum::http::{HeaderMap, HeaderValue};
use smart_contracts::State;
use smart_contracts::action::ClientAction;
use smart_ledger::Bytes;
use smart_ledger::store::RedbStore;

use super::*;
use crate::Submitted;

/// No external triggers, by construction: every route is a read (GET),
/// an upload relayed for the VM to judge, or auth; the writes are
/// exactly these three, and no path names an action on a job.
#[test]
fn every_route_is_a_read_an_upload_or_auth() {
    let mut writes = Vec::new();
    for r in ROUTES {
        match r.kind {
            RouteKind::Read => assert_eq!(r.method, "GET", "{r:?}"),
            RouteKind::Upload | RouteKind::Auth => writes.push((r.method, r.path)),
        }
        let words: Vec<&str> = r
            .path
            .split(['/', '-', '.', '_', '{', '}'])
            .filter(|w| !w.is_empty())
            .collect();
        for word in [
            "start", "cancel", "modify", "create", "open", "close", "activate", "propose",
            "assign", "invoice", "pay", "complete",
        ] {
            assert!(!words.contains(&word), "{} names an action: {word}", r.path);
        }
    }
    writes.sort();
    assert_eq!(
        writes,
        vec![
            ("DELETE", "/api/session"),
            ("POST", "/api/jobs/{job}/steps/{step}/approve"),
            ("POST", "/api/session"),
            ("POST", "/api/uploads"),
        ]
    );
    // A client request can only carry an upload or a step approval.
    let all = [
        ClientAction::FileDocument {
            hash: Hash::ZERO,
            doc_type: smart_contracts::model::DocumentType::Feedback,
            job: None,
            title: String::new(),
        },
        ClientAction::ApproveStep {
            job: String::new(),
            step: String::new(),
        },
    ];
    for a in all {
        match a {
            ClientAction::FileDocument { .. } | ClientAction::ApproveStep { .. } => {}
        }
    }
}

#[test]
fn every_route_has_a_handler_and_the_openapi_lists_them_all() {
    for r in ROUTES {
        assert!(
            handler::<NoBackend>(r.method, r.path).is_some(),
            "{} {}",
            r.method,
            r.path
        );
    }
    let doc = openapi_document();
    for r in ROUTES {
        assert!(
            doc["paths"][r.path][r.method.to_lowercase()].is_object(),
            "{} {} missing from the OpenAPI document",
            r.method,
            r.path
        );
    }
}

#[test]
fn credentials_are_read_from_the_header_or_the_cookie() {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer abc"),
    );
    assert_eq!(presented(&h).as_deref(), Some("abc"));
    let mut h = HeaderMap::new();
    h.insert(
        header::COOKIE,
        HeaderValue::from_static("a=b; smart_credential=xyz"),
    );
    assert_eq!(presented(&h).as_deref(), Some("xyz"));
    assert_eq!(presented(&HeaderMap::new()), None);
}

/// A backend that is never called (handler construction only).
struct NoBackend;

impl Backend for NoBackend {
    fn read<R>(&self, _f: impl FnOnce(&State, &RedbStore) -> R) -> R {
        unreachable!("not called in these tests")
    }
    fn tip(&self) -> tokio::sync::watch::Receiver<u64> {
        tokio::sync::watch::channel(0).1
    }
    async fn submit(&self, _tx: Bytes) -> Result<Submitted, String> {
        Err("offline".into())
    }
}
