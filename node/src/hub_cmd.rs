//! Hub services on the command line: HubQuery (`smart ask` on a hub's
//! folder) and the SMART-Pay export for accounting (`smart pay export`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use smart_contracts::State;
use smart_contracts::refusal::format_time;
use smart_contracts::state::PaymentKind;
use smart_ledger::store::BlockStore as _;
use smart_ledger::{Keypair, PeerRole};

use crate::backup::StoreView;
use crate::hub_query::{self, cents};

/// Is `data` a hub's folder (its key is a hub of the genesis)?
pub fn is_hub(data: &Path) -> Result<bool> {
    let folder = crate::folders::PeerFolder::new(data);
    let genesis = folder.genesis()?;
    let key = Keypair::read_file(&data.join(crate::folders::PEER_KEY_FILE))
        .with_context(|| format!("the peer key of {}", data.display()))?;
    Ok(genesis
        .peers
        .iter()
        .any(|p| p.id == key.id() && p.role == PeerRole::Hub))
}

/// `smart ask --data HUB_DIR QUESTION`: exit 0 answered, 3 not understood.
pub fn ask(data: &Path, question: &str, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    let view = StoreView::open(data, metrics)?;
    let state = crate::devgen::tip_state(view.store())?;
    let history = hub_query::decisions(view.store(), &state)?;
    let now = smart_ledger::Timestamp(crate::run::now_ms().max(state.time.0));
    match hub_query::ask(&state, &history, now, question) {
        Ok(a) => {
            println!("{a}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(3))
        }
    }
}

/// One CSV field, quoted when it must be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The invoices and payments of `state` as CSV (one header line, then one
/// line per record in ledger order: invoices, then payments).
pub fn pay_csv(state: &State) -> String {
    let mut out = String::from("kind,job,for,party,party_id,amount,currency_cents,ledger_time\n");
    let mut row = |kind: &str, job: &str, what: &str, id: &smart_ledger::SmartId, c: u64, at| {
        let cols = [
            kind.to_string(),
            field(job),
            field(what),
            field(&state.name_of(id)),
            id.to_string(),
            cents(c),
            c.to_string(),
            format_time(at),
        ];
        out.push_str(&cols.join(","));
        out.push('\n');
    };
    for i in &state.invoices {
        row(
            "invoice",
            &i.job,
            &i.milestone,
            &i.client,
            i.amount_cents,
            i.at,
        );
    }
    for p in &state.payments {
        let kind = match p.kind {
            PaymentKind::Payout => "payout",
            PaymentKind::Bonus => "bonus",
        };
        row(kind, &p.job, &p.step, &p.to, p.amount_cents, p.at);
    }
    out
}

/// `smart pay export --data DIR --out FILE [--metrics ADDR]`.
pub fn pay_export(data: &Path, out: &Path, metrics: Option<SocketAddr>) -> Result<ExitCode> {
    if out.exists() {
        bail!(
            "{} exists; an export never overwrites a file",
            out.display()
        );
    }
    let view = StoreView::open(data, metrics)?;
    let state = crate::devgen::tip_state(view.store())?;
    let csv = pay_csv(&state);
    std::fs::write(out, &csv).with_context(|| format!("writing {}", out.display()))?;
    let invoiced: u64 = state.invoices.iter().map(|i| i.amount_cents).sum();
    let paid: u64 = state.payments.iter().map(|p| p.amount_cents).sum();
    println!(
        "{}: {} invoices ({}), {} payouts and bonuses ({}) at block {}",
        out.display(),
        state.invoices.len(),
        cents(invoiced),
        state.payments.len(),
        cents(paid),
        view.store().tip().height
    );
    Ok(ExitCode::SUCCESS)
}
