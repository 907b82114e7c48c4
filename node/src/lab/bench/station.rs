//! `smart bench station`: what a station's specialists cost on its own
//! core (a Raspberry Pi 5 in production): reading a part's QR code from a
//! camera frame, the Gatekeeper judging one step (a VM dry run on a copy of
//! the station's state), and the kiosk's whole screen (one judgement per
//! open step), on a state holding `jobs` finished jobs and one at the bench.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use smart_contracts::{TxInput, apply};
use smart_ledger::{Outcome, Timestamp};

use super::{Figure, PO_TXS_PER_JOB, figure, po_history};
use crate::station::specialists::{self as sp, IoView, Session, StationConfig};

#[derive(Debug, Serialize)]
struct StationBench {
    jobs_in_state: usize,
    state_bytes: usize,
    runs: usize,
    qr_label_png: Figure,
    qr_1080p_frame_png: Figure,
    qr_1080p_frame_jpeg: Figure,
    gatekeeper_judges_a_step: Figure,
    kiosk_screen: Figure,
}

/// A 1920×1080 grey frame with the label somewhere off-centre, as PNG and JPEG.
fn frame(label: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let label = image::load_from_memory(label)?.to_luma8();
    let mut frame = image::GrayImage::from_pixel(1920, 1080, image::Luma([200u8]));
    image::imageops::overlay(&mut frame, &label, 1100, 380);
    let mut png = std::io::Cursor::new(Vec::new());
    frame.write_to(&mut png, image::ImageFormat::Png)?;
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(frame)
        .to_rgb8()
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)?;
    Ok((png.into_inner(), jpeg.into_inner()))
}

fn time_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Figure> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(figure(samples, "ms"))
}

pub(crate) fn station(jobs: usize, runs: usize) -> Result<ExitCode> {
    let runs = runs.max(1);
    // `jobs` finished jobs, and one more stopped before harden.
    let history = po_history(jobs + 1)?;
    let keep = history.txs.len() - (PO_TXS_PER_JOB - 5);
    let mut state = history.base.clone();
    for (i, (author, kind, payload)) in history.txs[..keep].iter().enumerate() {
        let applied = apply(
            &mut state,
            &TxInput {
                author: *author,
                kind: *kind,
                payload,
                time: Timestamp(history.start.0 + 1000 * i as u64),
                tx_hash: smart_ledger::Hash::ZERO,
            },
        );
        anyhow::ensure!(
            applied.outcome == Outcome::Accepted,
            "setup: {:?}",
            applied.outcome
        );
    }
    let job = format!("job-{jobs}");
    let tech = smart_contracts::simulate::actor_key("tech").id();
    let at = Timestamp(history.start.0 + 1000 * keep as u64);
    let cfg = StationConfig {
        name: "station-1".into(),
        equipment: vec!["furnace-3".into(), "quench-tank-1".into()],
        logistics: false,
    };
    let session = Session {
        operator: Some(tech),
        job: Some(job.clone()),
        part: Some("P-1".into()),
        draft: [("soak_temp", 846), ("soak_time", 64), ("quench_delay", 8)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        unlocked_at: None,
    };
    let harden = state
        .jobs
        .get(&job)
        .and_then(|j| sp::pinned_steps(&state, j))
        .and_then(|steps| steps.iter().find(|s| s.id == "harden").cloned())
        .context("the bench job's harden step")?;
    let io = IoView::default();
    anyhow::ensure!(
        sp::blocker(&state, &cfg, &session, &io, &harden, at, true).is_none(),
        "the bench step should be allowed"
    );

    let text = sp::part_label(&job, "P-1");
    let label = crate::station::vision::label_png(&text)?;
    let (png, jpeg) = frame(&label)?;
    let read = |bytes: &[u8]| -> Result<()> {
        let got = crate::station::vision::read_qr(bytes)?;
        anyhow::ensure!(got == text, "misread {got:?}");
        Ok(())
    };
    let report = StationBench {
        jobs_in_state: jobs + 1,
        state_bytes: state.canonical_bytes().len(),
        runs,
        qr_label_png: time_ms(runs, || read(&label))?,
        qr_1080p_frame_png: time_ms(runs, || read(&png))?,
        qr_1080p_frame_jpeg: time_ms(runs, || read(&jpeg))?,
        gatekeeper_judges_a_step: time_ms(runs, || {
            std::hint::black_box(sp::blocker(&state, &cfg, &session, &io, &harden, at, true));
            Ok(())
        })?,
        kiosk_screen: time_ms(runs, || {
            std::hint::black_box(sp::step_views(&state, &cfg, &session, &io, at));
            Ok(())
        })?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
