//! Validation of `[load]` (open, closed or connections model, warmup, timeout) and of
//! `[generator]` (threads, and the limits beyond which a run is invalid).

use serde::Deserialize;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::diag::Ctx;
use crate::scenario::limits::MAX_RUN;
use crate::scenario::plan::load::{GeneratorPlan, LoadModel, LoadPlan};
use crate::scenario::plan::schedule::RateSchedule;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub model: Option<Spanned<String>>,
    pub rate: Option<Spanned<f64>>,
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    pub start_rate: Option<Spanned<f64>>,
    pub connections: Option<Spanned<i64>>,
    pub max_in_flight: Option<Spanned<i64>>,
    pub vus: Option<Spanned<i64>>,
    pub think_time: Option<Spanned<String>>,
    pub iterations: Option<Spanned<i64>>,
    pub duration: Option<Spanned<String>>,
    pub warmup: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// Connections model: new connections per second.
    pub connect_rate: Option<Spanned<f64>>,
    /// Connections model: how long every connection is held once the ramp is done.
    pub hold: Option<Spanned<String>>,
    /// Local addresses the connections bind (`"127.0.0.2-127.0.0.200"`, or a list).
    pub source_ips: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: Option<Spanned<String>>,
    pub target: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerator {
    pub threads: Option<Spanned<i64>>,
    pub max_dropped: Option<Spanned<String>>,
    pub max_send_lag_p99: Option<Spanned<String>>,
    pub wake_grain: Option<Spanned<String>>,
}

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECTIONS: usize = 256;
const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;
/// The time cap of an `iterations` run that gives no `duration`.
const DEFAULT_ITERATIONS_CAP: Duration = Duration::from_secs(600);
const DEFAULT_MAX_DROPPED: f64 = 0.001;
const DEFAULT_MAX_SEND_LAG_P99: Duration = Duration::from_millis(10);
/// Requests due this close together share one scheduler wake-up (see `engine/open.rs`):
/// far below the 1 ms send-lag goal, and it halves the open model's wake-ups at 10,000/s.
const DEFAULT_WAKE_GRAIN: Duration = Duration::from_micros(250);

pub(super) fn generator(cx: &mut Ctx<'_>, raw: Option<&RawGenerator>) -> GeneratorPlan {
    let mut g = GeneratorPlan {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        max_dropped: DEFAULT_MAX_DROPPED,
        max_send_lag_p99: DEFAULT_MAX_SEND_LAG_P99,
        wake_grain: DEFAULT_WAKE_GRAIN,
    };
    let Some(raw) = raw else { return g };
    if let Some(t) = &raw.threads {
        g.threads = cx.positive(t, "generator.threads").unwrap_or(g.threads);
    }
    if let Some(m) = &raw.max_dropped {
        g.max_dropped = cx
            .fraction(m, "generator.max_dropped")
            .unwrap_or(g.max_dropped);
    }
    if let Some(m) = &raw.max_send_lag_p99 {
        g.max_send_lag_p99 = cx
            .duration(m, "generator.max_send_lag_p99")
            .unwrap_or(g.max_send_lag_p99);
    }
    if let Some(w) = &raw.wake_grain {
        g.wake_grain = cx
            .duration(w, "generator.wake_grain")
            .unwrap_or(g.wake_grain);
    }
    g
}

pub(super) fn load(
    cx: &mut Ctx<'_>,
    spanned: &Spanned<RawLoad>,
) -> (Option<LoadPlan>, Duration, Duration) {
    let l = spanned.get_ref();
    let whole = spanned.span();
    let before = cx.count();
    let timeout = l
        .timeout
        .as_ref()
        .and_then(|t| cx.duration(t, "load.timeout"))
        .unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        cx.err(
            l.timeout.as_ref().map_or(whole.clone(), |t| t.span()),
            "load.timeout",
            "must be longer than zero",
        );
    }
    let warmup = l
        .warmup
        .as_ref()
        .and_then(|w| cx.duration(w, "load.warmup"))
        .unwrap_or(Duration::ZERO);
    let duration = l
        .duration
        .as_ref()
        .and_then(|d| cx.duration(d, "load.duration"));
    if let (Some(d), Some(raw)) = (duration, &l.duration) {
        if d.is_zero() {
            cx.err(raw.span(), "load.duration", "must be longer than zero");
        }
    }

    let model = l
        .model
        .as_ref()
        .map(|m| (m.get_ref().as_str(), LoadModel::parse(m.get_ref())));
    let model = match model {
        Some((_, Some(LoadModel::Connections))) => {
            let plan = connections_load(cx, l, whole);
            if cx.count() > before {
                return (None, warmup, timeout);
            }
            // The ramp is the warmup: connections open before the measured hold.
            let ramp = plan.as_ref().map_or(Duration::ZERO, LoadPlan::ramp);
            return (plan, ramp, timeout);
        }
        Some((_, Some(m))) => m,
        Some((other, None)) => {
            let span = l.model.as_ref().unwrap().span();
            cx.err(span, "load.model", format!("unknown model `{other}`; use \"open\" (arrival rate), \"closed\" (virtual users) or \"connections\" (WebSocket chat)"));
            return (None, warmup, timeout);
        }
        // Infer the obvious: a rate means open, users mean closed.
        None if l.vus.is_some() => LoadModel::Closed,
        None => LoadModel::Open,
    };

    // Keys that belong to the other model are mistakes worth naming.
    let misplaced: Vec<(&str, Option<Range<usize>>)> = if model == LoadModel::Open {
        vec![
            ("vus", l.vus.as_ref().map(|v| v.span())),
            ("think_time", l.think_time.as_ref().map(|v| v.span())),
            ("iterations", l.iterations.as_ref().map(|v| v.span())),
        ]
    } else {
        vec![
            ("rate", l.rate.as_ref().map(|v| v.span())),
            ("stages", l.stages.as_ref().map(|v| v.span())),
            ("start_rate", l.start_rate.as_ref().map(|v| v.span())),
            ("max_in_flight", l.max_in_flight.as_ref().map(|v| v.span())),
            ("connections", l.connections.as_ref().map(|v| v.span())),
        ]
    };
    for (key, span) in misplaced {
        if let Some(span) = span {
            let other = if model == LoadModel::Open {
                "closed"
            } else {
                "open"
            };
            cx.err(
                span,
                format!("load.{key}"),
                format!("only applies to model = \"{other}\"; remove it or change the model"),
            );
        }
    }

    let plan = if model == LoadModel::Open {
        open_load(cx, l, whole, warmup, duration)
    } else {
        closed_load(cx, l, whole, duration)
    };
    if cx.count() > before {
        return (None, warmup, timeout);
    }
    (plan, warmup, timeout)
}

fn open_load(
    cx: &mut Ctx<'_>,
    l: &RawLoad,
    whole: Range<usize>,
    warmup: Duration,
    duration: Option<Duration>,
) -> Option<LoadPlan> {
    let connections = l
        .connections
        .as_ref()
        .and_then(|c| cx.positive(c, "load.connections"))
        .unwrap_or(DEFAULT_CONNECTIONS);
    let mut max_in_flight = l
        .max_in_flight
        .as_ref()
        .and_then(|c| cx.positive(c, "load.max_in_flight"))
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    if max_in_flight < connections {
        if let Some(m) = &l.max_in_flight {
            cx.err(
                m.span(),
                "load.max_in_flight",
                format!("is below connections ({connections}); raise it or lower connections"),
            );
        } else {
            max_in_flight = connections;
        }
    }
    let schedule = match (&l.rate, &l.stages) {
        (Some(_), Some(stages)) => {
            cx.err(
                stages.span(),
                "load.stages",
                "give either `rate` (constant) or `stages` (ramp), not both",
            );
            None
        }
        (None, None) => {
            cx.err(whole, "load", "the open model needs `rate = N` (requests per second) or `stages = [{ duration = \"30s\", target = N }]`");
            None
        }
        (Some(rate), None) => {
            let rate = rate_ok(cx, rate, "load.rate", false);
            let duration = match duration {
                Some(d) => Some(d),
                None => {
                    if l.duration.is_none() {
                        cx.err(
                            whole,
                            "load.duration",
                            "missing; every run is bounded in time: add duration = \"30s\"",
                        );
                    }
                    None
                }
            };
            if let Some(s) = &l.start_rate {
                cx.err(s.span(), "load.start_rate", "only applies with `stages`");
            }
            rate.zip(duration)
                .map(|(r, d)| (RateSchedule::constant(r, d).with_prefix(r, warmup), d))
        }
        (None, Some(stages)) => stages_schedule(cx, l, stages, warmup),
    };
    let (schedule, duration) = schedule?;
    Some(LoadPlan::Open {
        schedule,
        connections,
        max_in_flight,
        duration,
    })
}

fn closed_load(
    cx: &mut Ctx<'_>,
    l: &RawLoad,
    whole: Range<usize>,
    duration: Option<Duration>,
) -> Option<LoadPlan> {
    let vus = match &l.vus {
        Some(v) => cx.positive(v, "load.vus"),
        None => {
            cx.err(
                whole.clone(),
                "load.vus",
                "missing; the closed model needs `vus = N` virtual users",
            );
            None
        }
    };
    let think_time = l
        .think_time
        .as_ref()
        .and_then(|t| cx.duration(t, "load.think_time"))
        .unwrap_or(Duration::ZERO);
    let iterations = l
        .iterations
        .as_ref()
        .and_then(|i| cx.positive(i, "load.iterations"))
        .map(|n| n as u64);
    if let (Some(_), Some(w)) = (iterations, &l.warmup) {
        cx.err(w.span(), "load.warmup", "cannot be combined with `iterations` (a warmup is a time, iterations a count); remove one");
    }
    let duration = match (duration, iterations) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => Some(DEFAULT_ITERATIONS_CAP),
        (None, None) => {
            if l.duration.is_none() {
                cx.err(
                    whole,
                    "load.duration",
                    "missing; add duration = \"30s\", or iterations = N to stop after a count",
                );
            }
            None
        }
    };
    Some(LoadPlan::Closed {
        vus: vus?,
        think_time,
        iterations,
        duration: duration?,
    })
}

/// A rate as the open model takes it: finite, positive (or zero where a ramp may start or end
/// at zero), within its bound.
fn rate_ok(cx: &mut Ctx<'_>, v: &Spanned<f64>, field: &str, allow_zero: bool) -> Option<f64> {
    let r = *v.get_ref();
    if r.is_finite() && (r > 0.0 || (allow_zero && r == 0.0)) {
        cx.rate_bound(v, field)
    } else {
        cx.err(
            v.span(),
            field,
            format!("must be a positive number of requests per second, not {r}"),
        );
        None
    }
}

/// The open model's ramp: `stages` from `start_rate`, after the warmup at `start_rate`.
fn stages_schedule(
    cx: &mut Ctx<'_>,
    l: &RawLoad,
    stages: &Spanned<Vec<Spanned<RawStage>>>,
    warmup: Duration,
) -> Option<(RateSchedule, Duration)> {
    if let Some(d) = &l.duration {
        cx.err(
            d.span(),
            "load.duration",
            "cannot be combined with `stages`: the run lasts as long as the stages add up to",
        );
    }
    let start = match &l.start_rate {
        Some(s) => rate_ok(cx, s, "load.start_rate", true),
        None => Some(0.0),
    };
    if stages.get_ref().is_empty() {
        cx.err(
            stages.span(),
            "load.stages",
            "is empty; add at least one { duration = \"30s\", target = N }",
        );
    }
    let mut pieces = Vec::new();
    for (i, st) in stages.get_ref().iter().enumerate() {
        let field = format!("load.stages[{i}]");
        let s = st.get_ref();
        let d = match &s.duration {
            Some(d) => cx.duration(d, &format!("{field}.duration")),
            None => {
                cx.err(st.span(), &field, "missing `duration`");
                None
            }
        };
        let t = match &s.target {
            Some(t) => rate_ok(cx, t, &format!("{field}.target"), true),
            None => {
                cx.err(
                    st.span(),
                    &field,
                    "missing `target` (requests per second at the end of the stage)",
                );
                None
            }
        };
        if let (Some(d), Some(t)) = (d, t) {
            pieces.push((d, t));
        }
    }
    if warmup > Duration::ZERO && start == Some(0.0) {
        cx.err(
            l.warmup.as_ref().unwrap().span(),
            "load.warmup",
            "with `stages`, the warmup runs at `start_rate`; set start_rate above zero",
        );
    }
    start.and_then(|s| {
        let sched = RateSchedule::from_pieces(s, &pieces);
        let d = sched.len();
        if sched.is_empty() {
            cx.err(
                stages.span(),
                "load.stages",
                "plan no request at all; raise a target",
            );
            return None;
        }
        if d > MAX_RUN {
            cx.err(
                stages.span(),
                "load.stages",
                format!(
                    "add up to {}, longer than the 24 h a run may last; run a longer soak as several runs",
                    humantime::format_duration(d)
                ),
            );
            return None;
        }
        Some((sched.with_prefix(s, warmup), d))
    })
}

/// `[load]` for `model = "connections"` (a chat run): connections, their connect rate and
/// how long they are held.
fn connections_load(cx: &mut Ctx<'_>, l: &RawLoad, whole: Range<usize>) -> Option<LoadPlan> {
    let misplaced = [
        ("rate", l.rate.as_ref().map(|v| v.span())),
        ("stages", l.stages.as_ref().map(|v| v.span())),
        ("start_rate", l.start_rate.as_ref().map(|v| v.span())),
        ("max_in_flight", l.max_in_flight.as_ref().map(|v| v.span())),
        ("vus", l.vus.as_ref().map(|v| v.span())),
        ("think_time", l.think_time.as_ref().map(|v| v.span())),
        ("iterations", l.iterations.as_ref().map(|v| v.span())),
        ("duration", l.duration.as_ref().map(|v| v.span())),
        ("warmup", l.warmup.as_ref().map(|v| v.span())),
    ];
    for (key, span) in misplaced {
        if let Some(span) = span {
            let hint = match key {
                "duration" => "; the measured window is `hold` (on the command line, --duration sets it)",
                "rate" => "; the rate of a chat run is chat.publish_rate (per group) and load.connect_rate",
                _ => "",
            };
            cx.err(
                span,
                format!("load.{key}"),
                format!("does not apply to model = \"connections\"; it takes connections, connect_rate, hold and timeout (the ramp is the warmup){hint}"),
            );
        }
    }
    let connections = match &l.connections {
        Some(c) => cx.positive(c, "load.connections"),
        None => {
            cx.err(
                whole.clone(),
                "load.connections",
                "model = \"connections\" needs `connections = N`",
            );
            None
        }
    };
    let connect_rate = match &l.connect_rate {
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => {
            cx.rate_bound(r, "load.connect_rate")
        }
        Some(r) => {
            cx.err(
                r.span(),
                "load.connect_rate",
                "must be a positive number of connections per second",
            );
            None
        }
        None => {
            cx.err(
                whole.clone(),
                "load.connect_rate",
                "model = \"connections\" needs `connect_rate = N` (new connections per second)",
            );
            None
        }
    };
    let hold = match &l.hold {
        Some(h) => cx.duration(h, "load.hold").filter(|d| {
            let ok = !d.is_zero();
            if !ok {
                cx.err(h.span(), "load.hold", "must be longer than zero");
            }
            ok
        }),
        None => {
            cx.err(whole, "load.hold", "model = \"connections\" needs `hold = \"60s\"` (how long connections stay open, the measured window)");
            None
        }
    };
    Some(LoadPlan::Connections {
        connections: connections?,
        connect_rate: connect_rate?,
        hold: hold?,
    })
}
