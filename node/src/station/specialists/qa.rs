//! QANode: measurements entered at the station, checked against the
//! step's limits before the VM judges the step.

use smart_contracts::model::Step;
use smart_contracts::station::Module;
use std::collections::BTreeMap;

use super::*;

/// QANode: every measurement of the step entered and within its limits.
pub fn qa_check(step: &Step, draft: &BTreeMap<String, i64>) -> Option<Decision> {
    let mut missing = Vec::new();
    for l in &step.measurements {
        let (lo, hi) = l.bounds();
        match draft.get(&l.name) {
            None => missing.push(l.name.clone()),
            Some(v) if *v < lo || *v > hi => {
                return Some(Decision::refuse(
                    Module::QaNode,
                    format!("step {}", step.id),
                    format!("{} = {v} {:?} is outside {lo}..{hi}", l.name, l.unit),
                ));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        None
    } else {
        Some(Decision::refuse(
            Module::QaNode,
            format!("step {}", step.id),
            format!("measurement missing: {}", missing.join(", ")),
        ))
    }
}

/// QANode: a measurement entered for a step of the job, checked against its limit.
pub fn measure(step: &Step, name: &str, value: i64) -> Decision {
    let what = format!("{name} = {value} for step {}", step.id);
    match step.measurements.iter().find(|l| l.name == name) {
        None => Decision::refuse(
            Module::QaNode,
            what,
            format!(
                "step {} measures no {name} (it measures: {})",
                step.id,
                step.measurements
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(l) => {
            let (lo, hi) = l.bounds();
            if value < lo || value > hi {
                Decision::refuse(
                    Module::QaNode,
                    what,
                    format!(
                        "outside the contract's limits {} {:?}",
                        limit_text(lo, hi),
                        l.unit
                    ),
                )
            } else {
                Decision::allow(Module::QaNode, what).because(format!(
                    "within {} {:?}",
                    limit_text(lo, hi),
                    l.unit
                ))
            }
        }
    }
}
