//! The kiosk over a real station folder (redb store and outbox), without
//! the network: what an operator's action does when it cannot be recorded.

use std::sync::atomic::Ordering;

use smart_ledger::{Genesis, Keypair, TxBody};

use super::*;

/// A network folder and station-1's kiosk over it (furnace-3 its interlock).
struct Bench1 {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    genesis: Genesis,
    kiosk: Kiosk,
    panel: Arc<Panel>,
}

fn bench() -> Bench1 {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("net");
    let genesis = crate::peer::init::create(&root, 3, 1, "kiosk-test").expect("init");
    let dir = root.join("station-1");
    let station = Station::open(&dir, &genesis).expect("station");
    let key = Keypair::read_file(&dir.join(crate::peer::folders::PEER_KEY_FILE)).expect("key");
    let panel: Arc<Panel> = Arc::default();
    let cfg = StationConfig {
        name: "station-1".into(),
        equipment: vec!["furnace-3".into()],
        logistics: false,
    };
    let kiosk = Kiosk::new(
        Arc::new(Mutex::new(station)),
        cfg,
        key,
        genesis.chain_id(),
        panel.clone(),
    );
    Bench1 {
        _tmp: tmp,
        root,
        genesis,
        kiosk,
        panel,
    }
}

impl Bench1 {
    fn person(&self, who: &str) -> Keypair {
        Keypair::read_file(&self.root.join(format!("people/{who}.key"))).expect("person")
    }

    fn badge(&self, who: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("people/{who}.key"))).expect("badge")
    }

    /// An admin's action decided at the station (provisional, in the outbox).
    fn admin(&self, action: Action) {
        let key = self.person("admin");
        let body = TxBody {
            chain_id: self.genesis.chain_id(),
            author: key.id(),
            kind: action.kind(),
            payload: Bytes(action.encode()),
            author_time: now(),
            location: None,
            contract: None,
            nonce: 1,
        };
        let tx = SignedTx::sign(body, &key).expect("sign");
        let mut st = lock(&self.kiosk.station);
        let receipt = st.decide(Bytes(tx.encode()), &self.genesis.chain_id());
        assert!(
            matches!(
                receipt.verdict,
                TxVerdict::Provisional {
                    outcome: Outcome::Accepted,
                    ..
                }
            ),
            "{receipt:?}"
        );
    }

    fn locked_out(&self) -> bool {
        lock(&self.kiosk.station)
            .provisional()
            .equipment
            .get("furnace-3")
            .is_some_and(|e| e.locked_out.is_some())
    }
}

#[test]
fn the_e_stop_latch_stays_when_its_clearing_cannot_be_written_to_the_outbox() {
    let b = bench();
    b.admin(Action::RegisterEquipment {
        id: "furnace-3".into(),
        description: "a box furnace".into(),
        calibration_due: Timestamp(now().0 + 86_400_000),
    });
    // The e-stop: the SafetyNode locks the station's equipment out.
    b.kiosk.incident("e-stop pressed");
    assert!(b.locked_out(), "the incident did not lock furnace-3 out");
    assert!(b.kiosk.badge(&b.badge("compliance")).ok);

    // The outbox is full: the clearing cannot be recorded.
    {
        let mut st = lock(&b.kiosk.station);
        let held = st.outbox.pending().expect("pending").len() as u64;
        st.outbox.set_limit(held);
    }
    let reply = b.kiosk.clear();
    assert!(!reply.ok, "{}", reply.message);
    assert!(
        reply.message.contains("SafetyNode") && reply.message.contains("outbox: full"),
        "the kiosk should say why: {}",
        reply.message
    );
    assert!(
        !b.panel.clear.load(Ordering::SeqCst),
        "the latch was released although its clearing was not recorded"
    );
    assert!(b.locked_out(), "the lockout went away without a record");

    // Room again: the clearing is recorded and the latch released.
    lock(&b.kiosk.station)
        .outbox
        .set_limit(crate::peer::outbox::DEFAULT_LIMIT);
    let reply = b.kiosk.clear();
    assert!(reply.ok, "{}", reply.message);
    assert!(b.panel.clear.load(Ordering::SeqCst));
    assert!(!b.locked_out());
}
