//! Stages 2 and 7: the `[[setup]]` requests before the load (a failure stops the run
//! before any load is sent) and the `[[verify]]` requests after it.

use anyhow::bail;

use super::target::Target;
use crate::engine::request::Prepared;
use crate::engine::runtime::Handle;
use crate::engine::transport::Connector;
use crate::scenario::{CheckedRequest, Plan};
use crate::slo::checks::{self, CheckResult};

/// Sends the setup requests; an answer that fails its checks ends the run here.
pub(super) fn setup(rt: &Handle, plan: &Plan, target: &Target) -> anyhow::Result<()> {
    if target.setup.is_empty() {
        return Ok(());
    }
    let results = checked(rt, plan, &plan.setup, &target.setup, &target.net);
    if let Some(bad) = results.iter().find(|r| !r.pass) {
        bail!(
            "setup request `{}` failed: {} ({}); nothing was sent to the load",
            bad.name,
            bad.check,
            bad.observed
        );
    }
    Ok(())
}

/// Sends the verify requests and judges their answers.
pub(super) fn verify(rt: &Handle, plan: &Plan, target: &Target) -> Vec<CheckResult> {
    if target.verify.is_empty() {
        return Vec::new();
    }
    checked(rt, plan, &plan.verify, &target.verify, &target.net)
}

fn checked(
    rt: &Handle,
    plan: &Plan,
    entries: &[CheckedRequest],
    prepared: &[Prepared],
    net: &Connector,
) -> Vec<CheckResult> {
    let transport = plan.http;
    let answers = crate::engine::oneshot::send_all(rt, prepared, net, transport, plan.timeout);
    let mut out = Vec::new();
    for ((entry, p), resp) in entries.iter().zip(prepared).zip(answers) {
        let Some(resp) = resp else {
            out.extend(checks::judge(
                &entry.request.name,
                Err("not sent: a value made its path or a header invalid (request_invalid)".into()),
                &[],
                &entry.checks,
            ));
            continue;
        };
        let status = match (resp.error, resp.status) {
            (Some(kind), _) => Err(kind.name().to_string()),
            (None, Some(code)) if p.expect.contains(code) => Ok(code),
            (None, Some(code)) => Err(format!("status {code}, expected {}", p.expect)),
            (None, None) => Err("no answer".to_string()),
        };
        out.extend(checks::judge(
            &entry.request.name,
            status,
            resp.body.as_deref().unwrap_or_default(),
            &entry.checks,
        ));
    }
    out
}
