//! Stage 7: the summary model of the run, from the plan, what was measured, what was
//! judged and the status the verdict decided from the figures and the baseline.

use super::drive::Measured;
use super::judge::Decided;
use super::judge::Judged;
use super::target::Target;
use crate::metrics::chat::ChatTotals;
use crate::metrics::EndpointData;
use crate::scenario::{ChatPlan, LoadPlan, Plan, Workload};
use crate::summary::build::{measured, Measured as Figures};
use crate::summary::connection::{ConnSummary, TransportSummary};
use crate::summary::{GeneratorSummary, LoadSummary, Summary, WsSummary, SCHEMA_VERSION};

/// The figures of the measured window, as the summary and the baseline comparison read
/// them.
pub(super) fn figures(plan: &Plan, m: &Measured, j: &Judged) -> Figures {
    let requests = requests(plan);
    let requests: Vec<(&str, &str, &str)> = requests
        .iter()
        .map(|(n, method, p)| (n.as_str(), *method, p.as_str()))
        .collect();
    measured(&m.totals, &m.series, j.window_s, &requests, &plan.outcomes)
}

pub(super) fn started_at(m: &Measured) -> String {
    humantime::format_rfc3339_seconds(m.started_wall).to_string()
}

/// The summary, with the status the verdict decided (`d`) from these figures (`f`).
pub(super) fn summary(
    plan: &Plan,
    target: &Target,
    m: &Measured,
    (j, d): (Judged, Decided),
    f: Figures,
) -> Summary {
    let overall = m.totals.overall();
    Summary {
        schema_version: SCHEMA_VERSION,
        loadctl_version: env!("CARGO_PKG_VERSION").into(),
        scenario: plan.name.clone(),
        description: plan.description.clone(),
        status: d.verdict.status,
        reasons: d.verdict.reasons,
        stopped_early: m.ended.stopped_early.as_ref().map(|(_, why)| why.clone()),
        started_at: started_at(m),
        duration_s: j.window_s,
        warmup_s: plan.warmup.as_secs_f64(),
        target: target.text.clone(),
        load: load(plan),
        outcomes: f.outcomes,
        latency_ms: f.latency_ms,
        service_latency_ms: f.service_latency_ms,
        phases_ms: f.phases_ms,
        transport: Some(transport(plan, target, &overall)),
        endpoints: f.endpoints,
        generator: GeneratorSummary {
            threads: m.threads as u64,
            send_lag_p50_ms: f.send_lag.p50,
            send_lag_p99_ms: f.send_lag.p99,
            send_lag_max_ms: f.send_lag.max,
            queue_wait_p99_ms: f.queue_wait_p99_ms,
            peak_in_flight: f.peak_in_flight,
            dropped: overall.counts.dropped,
            dropped_ratio: f.dropped_ratio,
            max_dropped_ratio: plan.generator.max_dropped,
            max_send_lag_p99_ms: plan.generator.max_send_lag_p99.as_secs_f64() * 1000.0,
            valid: d.verdict.valid,
        },
        totals: f.totals,
        slo: j.slo,
        baseline: d.baseline,
        verify: j.verification,
        notes: j.notes,
        ws: match &plan.workload {
            Workload::Chat(c) => Some(ws(plan, c, &m.chat)),
            _ => None,
        },
        kube: j.kube,
        prometheus: j.prometheus,
        balance: j.balance,
        distributed: m.remote.as_ref().map(|r| r.distributed.clone()),
        agents: m
            .remote
            .as_ref()
            .map(|r| r.agents.clone())
            .unwrap_or_default(),
        // Read once the exporters have finished (the run fills it in).
        exports: Vec::new(),
    }
}

fn transport(plan: &Plan, target: &Target, overall: &EndpointData) -> TransportSummary {
    TransportSummary {
        http: plan.http.version.name().into(),
        tls: target.net.tls.is_some(),
        insecure: target.net.tls.is_some() && plan.tls.insecure,
        no_keep_alive: !plan.http.keep_alive,
        max_requests_per_connection: plan.http.max_requests_per_connection,
        max_connection_age_s: plan.http.max_connection_age.map(|d| d.as_secs_f64()),
        connections: ConnSummary::of(&overall.counts.conn),
    }
}

/// `(name, method, path)` of each request name, in the plan's order.
fn requests(plan: &Plan) -> Vec<(String, &str, String)> {
    match &plan.workload {
        Workload::Chat(c) => plan
            .endpoint_names()
            .into_iter()
            .map(|n| (n, "WS", c.path.source().to_string()))
            .collect(),
        w => w
            .requests()
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.method.as_str(),
                    r.path.source().to_string(),
                )
            })
            .collect(),
    }
}

fn load(plan: &Plan) -> LoadSummary {
    let mut l = LoadSummary {
        model: plan.load.model(),
        peak_rate: None,
        planned_requests: None,
        connections: None,
        max_in_flight: None,
        vus: None,
        iterations: None,
        think_time_ms: None,
        timeout_ms: plan.timeout.as_secs_f64() * 1000.0,
        flow_steps: match &plan.workload {
            Workload::Flow { steps, .. } => steps.iter().map(|r| r.name.clone()).collect(),
            _ => Vec::new(),
        },
    };
    match &plan.load {
        LoadPlan::Open {
            connections,
            max_in_flight,
            ..
        } => {
            l.peak_rate = plan
                .load
                .peak_rate()
                .map(|r| r / plan.shard.map_or(1.0, |s| s.of as f64));
            l.planned_requests = plan.planned_requests();
            l.connections = Some(*connections as u64);
            l.max_in_flight = Some(*max_in_flight as u64);
        }
        LoadPlan::Closed {
            vus,
            think_time,
            iterations,
            ..
        } => {
            l.vus = Some(*vus as u64);
            l.iterations = *iterations;
            l.think_time_ms = Some(think_time.as_secs_f64() * 1000.0);
        }
        LoadPlan::Connections { connections, .. } => {
            l.connections = Some(*connections as u64);
            l.peak_rate = plan.load.peak_rate();
        }
    }
    l
}

fn ws(plan: &Plan, c: &ChatPlan, t: &ChatTotals) -> WsSummary {
    let connections = match plan.load {
        LoadPlan::Connections { connections, .. } => connections as u64,
        _ => 0,
    };
    WsSummary {
        connections,
        connected: t.connected,
        groups: c.groups as u64,
        members: c.members as u64,
        published: t.published,
        expected: t.expected,
        delivered: t.delivered,
        lost: t.lost,
        loss_rate: t.loss_rate(),
        duplicates: t.duplicates,
        out_of_order: t.out_of_order,
        disconnects: t
            .disconnects
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
        other: t.other,
        corrupt: t.corrupt,
        echoes: t.echoes,
    }
}
