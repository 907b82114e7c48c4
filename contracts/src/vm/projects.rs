//! Projects: a client's plan of milestones over its own jobs.

use smart_ledger::{Role, SmartId};

use super::actor::{Actor, check_id, require_active_client};
use crate::refusal::{Refusal, RefusalCode as Code};
use crate::state::{Milestone, Project, State};

/// Most milestones in a project, and jobs in a milestone.
const MAX_MILESTONES: usize = 64;
const MAX_MILESTONE_JOBS: usize = 256;

/// Projects: a client's plan of milestones over its own jobs.
pub(super) fn set_project(
    state: &mut State,
    actor: &Actor<'_>,
    id: String,
    client: SmartId,
    title: String,
    milestones: Vec<Milestone>,
) -> Result<(), Refusal> {
    actor.require_any(&[Role::Admin, Role::ProjectManager], "plan a project")?;
    check_id(&id, "project id")?;
    require_active_client(state, &client)?;
    let bad = |why: String| Err(Refusal::new(Code::InvalidArgument, why));
    if title.trim().is_empty() || title.len() > 200 {
        return bad("a project title has 1 to 200 characters".into());
    }
    if milestones.is_empty() || milestones.len() > MAX_MILESTONES {
        return bad(format!("a project has 1 to {MAX_MILESTONES} milestones"));
    }
    for (i, m) in milestones.iter().enumerate() {
        check_id(&m.id, "milestone id")?;
        if milestones[..i].iter().any(|o| o.id == m.id) {
            return bad(format!("milestone {} appears twice", m.id));
        }
        if m.jobs.is_empty() || m.jobs.len() > MAX_MILESTONE_JOBS {
            return bad(format!(
                "milestone {} needs 1 to {MAX_MILESTONE_JOBS} jobs",
                m.id
            ));
        }
        for j in &m.jobs {
            match state.jobs.get(j) {
                None => {
                    return Err(Refusal::new(
                        Code::UnknownJob,
                        format!("milestone {} names no job {j}", m.id),
                    ));
                }
                Some(job) if job.client != client => {
                    return Err(Refusal::new(
                        Code::NotClientOfJob,
                        format!("job {j} is not {}'s", state.name_of(&client)),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    state.projects.insert(
        id,
        Project {
            client,
            title,
            milestones,
            set_by: actor.id,
            set_at: state.time,
        },
    );
    Ok(())
}
