//! Stage 1b: `[grpc] reflection = true`. Before any load, the target's reflection
//! service (v1, then v1alpha) is asked for its services and their files, through the
//! run's own transport, and every gRPC request is resolved against what it said: a
//! method, message or type that does not exist stops the run here (exit 2) with the line
//! and column of the scenario it is written at, as validation would have said it.

use std::sync::Arc;

use anyhow::anyhow;

use crate::engine::request::Prepared;
use crate::engine::runtime::Handle;
use crate::engine::transport::Connector;
use crate::grpc::reflection::{question, Fetch, PATHS};
use crate::grpc::{Call, Services};
use crate::scenario::{Plan, RequestPlan};

/// The plan with its gRPC requests resolved from the target's reflection, when it asks
/// for that; `None` otherwise.
pub(super) fn reflected(
    rt: &Handle,
    plan: &Plan,
    net: &Connector,
    (authority, base_path): (&str, &str),
) -> crate::error::Result<Option<Plan>> {
    let Some(Services::Reflection { max_message }) = plan.grpc else {
        return Ok(None);
    };
    let setup = crate::error::Error::Setup;
    let mut said = Vec::new();
    let mut found = None;
    for path in PATHS {
        match fetch(rt, plan, net, (authority, base_path), path) {
            Ok(f) => {
                found = Some(f);
                break;
            }
            Err(Asked::Unimplemented) => said.push(format!("{path}: not served")),
            Err(Asked::Failed(e)) => {
                return Err(setup(anyhow!(
                    "[grpc] reflection: the target's reflection service ({path}) {e}"
                )))
            }
        }
    }
    let Some(fetch) = found else {
        return Err(setup(anyhow!(
            "[grpc] reflection: the target serves no reflection service ({}); describe its services with `protos` or `descriptor_set` instead",
            said.join(", ")
        )));
    };
    let schema = fetch
        .schema("the target's reflection service", max_message)
        .map_err(|e| setup(anyhow!("[grpc] reflection: {e}")))?;
    let mut resolved = plan.clone();
    let mut wrong = Vec::new();
    for r in resolved.workload.requests_mut() {
        if let Some(call) = r.grpc.as_deref_mut() {
            if let Err(e) = crate::grpc::call::resolve_late(&schema, call, plan.timeout) {
                wrong.push(e);
            }
        }
    }
    if !wrong.is_empty() {
        return Err(crate::error::Error::Usage(format!(
            "the scenario's gRPC requests do not fit the target's services (from its reflection): {}",
            wrong.join("; ")
        )));
    }
    resolved.grpc = Some(Services::Known(Arc::new(schema)));
    Ok(Some(resolved))
}

enum Asked {
    /// This version of the service is not there (UNIMPLEMENTED, or not a gRPC answer).
    Unimplemented,
    Failed(String),
}

/// Asks the questions of each round over `path` until the files are whole.
fn fetch(
    rt: &Handle,
    plan: &Plan,
    net: &Connector,
    (authority, base_path): (&str, &str),
    path: &str,
) -> Result<Fetch, Asked> {
    let mut fetch = Fetch::default();
    loop {
        let questions = fetch.questions().map_err(Asked::Failed)?;
        if questions.is_empty() {
            return Ok(fetch);
        }
        let prepared: Vec<Prepared> = questions
            .iter()
            .map(|q| {
                let call = Call::raw(path, question(q), plan.timeout);
                Prepared::new(&asking(path, call), 0, authority, base_path)
            })
            .collect();
        let answers = crate::engine::oneshot::send_all(rt, &prepared, net, plan.http, plan.timeout);
        for a in answers {
            let message = answered(a).map_err(|e| match e {
                None => Asked::Unimplemented,
                Some(e) => Asked::Failed(e),
            })?;
            fetch.answer(&message).map_err(Asked::Failed)?;
        }
    }
}

/// The first message of an answer; `Err(None)` when the method is not served.
fn answered(a: Option<crate::engine::request::Response>) -> Result<Vec<u8>, Option<String>> {
    let Some(resp) = a else {
        return Err(Some("could not be asked".into()));
    };
    if let Some(kind) = resp.error {
        return Err(Some(format!("failed: {}", kind.name())));
    }
    if resp.status != Some(200) {
        return Err(None);
    }
    let g = resp.grpc.as_deref().cloned().unwrap_or_default();
    match g.status {
        Some(12) => return Err(None),
        Some(code) if code != 0 => {
            return Err(Some(format!(
                "answered {}: {}",
                crate::grpc::status::name(code),
                g.message.as_deref().unwrap_or("")
            )))
        }
        _ => {}
    }
    match resp.body {
        Some(b) if g.received > 0 => Ok(b),
        _ => Err(Some("answered no message".into())),
    }
}

/// The request one question goes as.
fn asking(path: &str, call: Call) -> RequestPlan {
    RequestPlan {
        name: "grpc-reflection".into(),
        method: http::Method::POST,
        origin: None,
        path: crate::template::Template::literal(path),
        headers: Vec::new(),
        body: None,
        weight: 1.0,
        expect: crate::scenario::plan::request::StatusSet::success(),
        rules: Default::default(),
        grpc: Some(Box::new(call)),
    }
}
