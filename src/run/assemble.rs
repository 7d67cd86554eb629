//! Stage 7: the summary model of the run, from the plan, what was measured and what was
//! judged. The status is decided after, by the verdict, once the baseline is compared.

use super::drive::Measured;
use super::judge::Judged;
use super::target::Target;
use crate::metrics::chat::ChatTotals;
use crate::metrics::{EndpointData, LatencyStats};
use crate::scenario::{ChatPlan, LoadPlan, Plan, Workload};
use crate::slo;
use crate::summary::connection::{phases_ms, ConnSummary, TransportSummary};
use crate::summary::{
    endpoint_summary, figures, outcome_counts, EndpointSummary, GeneratorSummary, LoadSummary,
    Summary, WsSummary, SCHEMA_VERSION,
};

pub(super) fn summary(plan: &Plan, target: &Target, m: &Measured, j: Judged) -> Summary {
    let overall = m.totals.overall();
    let t = figures(&overall, j.window_s);
    let attempted = t.requests + t.dropped;
    let dropped_ratio = if attempted == 0 {
        0.0
    } else {
        t.dropped as f64 / attempted as f64
    };
    let lag = LatencyStats::of(&m.totals.send_lag);
    Summary {
        schema_version: SCHEMA_VERSION,
        loadctl_version: env!("CARGO_PKG_VERSION").into(),
        scenario: plan.name.clone(),
        description: plan.description.clone(),
        // Decided by the verdict, once the baseline comparison is known.
        status: slo::Status::Pass,
        reasons: Vec::new(),
        stopped_early: m.ended.stopped_early.as_ref().map(|(_, why)| why.clone()),
        started_at: humantime::format_rfc3339_seconds(m.started_wall).to_string(),
        duration_s: j.window_s,
        warmup_s: plan.warmup.as_secs_f64(),
        target: target.text.clone(),
        load: load(plan),
        totals: t,
        outcomes: outcome_counts(&overall, &plan.outcomes),
        latency_ms: LatencyStats::of(&overall.latency),
        service_latency_ms: LatencyStats::of(&overall.service),
        phases_ms: phases_ms(&overall),
        transport: Some(transport(plan, target, &overall)),
        endpoints: endpoints(plan, m, j.window_s),
        slo: j.slo,
        generator: GeneratorSummary {
            threads: m.threads as u64,
            send_lag_p50_ms: lag.p50,
            send_lag_p99_ms: lag.p99,
            send_lag_max_ms: lag.max,
            queue_wait_p99_ms: LatencyStats::of(&m.totals.queue_wait).p99,
            peak_in_flight: m.series.iter().map(|r| r.in_flight).max().unwrap_or(0),
            dropped: overall.counts.dropped,
            dropped_ratio,
            max_dropped_ratio: plan.generator.max_dropped,
            max_send_lag_p99_ms: plan.generator.max_send_lag_p99.as_secs_f64() * 1000.0,
            valid: true,
        },
        baseline: None,
        verify: j.verification,
        notes: j.notes,
        ws: match &plan.workload {
            Workload::Chat(c) => Some(ws(plan, c, &m.chat)),
            _ => None,
        },
        kube: j.kube,
        prometheus: j.prometheus,
        distributed: m.remote.as_ref().map(|r| r.distributed.clone()),
        agents: m
            .remote
            .as_ref()
            .map(|r| r.agents.clone())
            .unwrap_or_default(),
    }
}

fn transport(plan: &Plan, target: &Target, overall: &EndpointData) -> TransportSummary {
    TransportSummary {
        http: plan.http.version.name().into(),
        tls: target.net.tls.is_some(),
        insecure: target.net.tls.is_some() && plan.tls.insecure,
        no_keep_alive: !plan.http.keep_alive,
        connections: ConnSummary::of(&overall.counts.conn),
    }
}

fn endpoints(plan: &Plan, m: &Measured, window_s: f64) -> Vec<EndpointSummary> {
    match &plan.workload {
        Workload::Chat(c) => plan
            .endpoint_names()
            .iter()
            .zip(&m.totals.endpoints)
            .map(|(n, e)| endpoint_summary(n, "WS", c.path.source(), e, window_s, &plan.outcomes))
            .collect(),
        w => w
            .requests()
            .iter()
            .zip(&m.totals.endpoints)
            .map(|(r, e)| {
                endpoint_summary(
                    &r.name,
                    r.method.as_str(),
                    r.path.source(),
                    e,
                    window_s,
                    &plan.outcomes,
                )
            })
            .collect(),
    }
}

fn load(plan: &Plan) -> LoadSummary {
    let mut l = LoadSummary {
        model: plan.load.model().into(),
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
