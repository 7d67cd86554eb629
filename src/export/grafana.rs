//! `grafana_annotations`: marks the run on the team's Grafana dashboards through its
//! HTTP API (`POST /api/annotations`): the run's start, each stage of the load and each
//! planned fault as the run reaches it (a span for a ramp or the warmup), and at the end
//! the verdict over the whole run, so a dashboard shows where the ramps and faults were
//! and how the run ended.
//!
//! ```toml
//! [[export]]
//! kind = "grafana_annotations"
//! url = "http://127.0.0.1:3000"          # Grafana's origin
//! bearer_env = "GRAFANA_TOKEN"           # a service account token (Editor)
//! dashboard_uid = "shop-slo"             # optional: only on this dashboard
//! tags = ["perf"]                        # beside loadctl, the scenario and the run id
//! ```
//!
//! The start annotation is the healthcheck: a Grafana that refuses it (wrong token, wrong
//! URL) stops the run before any load (exit 2). Annotations go through the same bounded
//! queue and retries as the other push kinds; the verdict is sent after the reports are
//! written, with a bounded wait.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{config, push, unix_ms, Build, Ending, Export, Mark, Running, Stats};
use crate::diag::Ctx;
use crate::metrics::sink::{Final, IntervalSink};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    url: Option<Spanned<String>>,
    bearer_env: Option<Spanned<String>>,
    ca: Option<Spanned<String>>,
    dashboard_uid: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    headers: IndexMap<String, Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

const MAX_TAGS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct Grafana {
    /// `…/api/annotations` of the Grafana.
    pub url: url::Url,
    /// Headers, token, CA, timeout.
    pub access: config::Access,
    pub dashboard_uid: Option<String>,
    pub tags: Vec<String>,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let before = cx.count();
    let url = config::url(
        cx,
        r.url.as_ref(),
        span.clone(),
        format!("{field}.url"),
        "http://127.0.0.1:3000",
    );
    let access = config::access(cx, config::access_of!(r), span.clone(), field);
    if r.tags.len() > MAX_TAGS {
        cx.err(
            span.clone(),
            format!("{field}.tags"),
            format!("at most {MAX_TAGS} tags"),
        );
    }
    for t in &r.tags {
        if t.get_ref().trim().is_empty() || t.get_ref().len() > 100 {
            cx.err(
                t.span(),
                format!("{field}.tags"),
                "a tag of 1 to 100 characters",
            );
        }
    }
    if let Some(d) = &r.dashboard_uid {
        let ok = !d.get_ref().is_empty()
            && d.get_ref().len() <= 40
            && d.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            cx.err(d.span(), format!("{field}.dashboard_uid"), "a dashboard UID: up to 40 letters, digits, `-` and `_` (from the dashboard's URL, /d/UID/…)");
        }
    }
    if cx.count() != before {
        return None;
    }
    let mut url = url?;
    // Grafana may be served under a sub-path: the API is below the origin given.
    let base = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base}/api/annotations"));
    Some(Arc::new(Grafana {
        url,
        access: access?,
        dashboard_uid: r.dashboard_uid.map(|d| d.into_inner()),
        tags: r.tags.into_iter().map(|t| t.into_inner()).collect(),
    }))
}

impl Export for Grafana {
    fn kind(&self) -> &'static str {
        "grafana_annotations"
    }

    fn describe(&self) -> String {
        format!("grafana_annotations to {}", config::shown(&self.url))
    }

    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running> {
        let fixed = vec![(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )];
        let target = push::receiver(cx.rt, &self.url, &self.access, fixed, false)?;
        let mut tags = vec![
            "loadctl".to_string(),
            cx.scenario.to_string(),
            format!("run:{}", cx.run_id),
        ];
        tags.extend(self.tags.iter().cloned());
        let note = Notes {
            tags,
            dashboard_uid: self.dashboard_uid.clone(),
        };
        let start = note.body(
            SystemTime::now(),
            None,
            &format!("loadctl: {} starts (run {})", cx.scenario, cx.run_id),
            &[],
        );
        // The healthcheck: the start annotation itself.
        let queue = push::Queue::start(cx.rt, target.clone(), start, Duration::ZERO)?;
        let stats = queue.stats();
        // Counted as sent, like every annotation after it.
        stats
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let end = Verdict {
            rt: cx.rt.clone(),
            target,
            note: note.clone(),
            stats: stats.clone(),
            scenario: cx.scenario.to_string(),
        };
        Ok(Running {
            sink: Box::new(MarkSink {
                marks: cx.marks.to_vec(),
                next: 0,
                warmup_s: cx.warmup_s,
                origin: None,
                note,
                queue,
            }),
            stats,
            keep: Box::new(()),
            end: Some(Box::new(move |e| {
                end.send(e);
                None
            })),
        })
    }
}

/// What every annotation of the run carries.
#[derive(Clone)]
struct Notes {
    tags: Vec<String>,
    dashboard_uid: Option<String>,
}

impl Notes {
    fn body(&self, at: SystemTime, until: Option<SystemTime>, text: &str, more: &[&str]) -> Bytes {
        let mut tags = self.tags.clone();
        tags.extend(more.iter().map(|t| t.to_string()));
        let mut v = json!({ "time": unix_ms(at), "tags": tags, "text": text });
        if let Some(u) = until {
            v["timeEnd"] = json!(unix_ms(u));
        }
        if let Some(d) = &self.dashboard_uid {
            v["dashboardUID"] = json!(d);
        }
        Bytes::from(v.to_string())
    }
}

/// Annotates each mark once the run has reached it.
struct MarkSink {
    marks: Vec<Mark>,
    next: usize,
    warmup_s: f64,
    origin: Option<SystemTime>,
    note: Notes,
    queue: push::Queue,
}

impl MarkSink {
    fn wall(&self, at_s: f64) -> SystemTime {
        let from_origin = (at_s + self.warmup_s).max(0.0);
        self.origin.unwrap_or_else(SystemTime::now) + Duration::from_secs_f64(from_origin)
    }
}

impl IntervalSink for MarkSink {
    fn begin(&mut self, origin: SystemTime) {
        self.origin = Some(origin);
    }

    fn interval(&mut self, f: &Final<'_>) {
        // Second `idx` is over: every mark up to its end has happened.
        let reached = f.idx as f64 + 1.0;
        while let Some(m) = self.marks.get(self.next).filter(|m| m.at_s < reached) {
            let body = self.note.body(
                self.wall(m.at_s),
                m.until_s.map(|u| self.wall(u)),
                &format!("loadctl: {}", m.text),
                &[m.kind],
            );
            self.next += 1;
            self.queue.offer(body);
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.queue.close();
        Ok(())
    }
}

/// The verdict over the whole run, sent once the reports are written.
struct Verdict {
    rt: tokio::runtime::Handle,
    target: push::Target,
    note: Notes,
    stats: Arc<Stats>,
    scenario: String,
}

impl Verdict {
    fn send(self, e: &Ending<'_>) {
        let mut text = format!("loadctl: {} {}", self.scenario, e.status);
        for r in e.reasons.iter().take(5) {
            text.push_str("\n- ");
            text.push_str(r);
        }
        let body = self
            .note
            .body(e.started, Some(e.ended), &text, &["verdict", e.status]);
        match push::send_once(&self.rt, &self.target, body, &self.stats) {
            Ok(()) => {
                self.stats
                    .sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(why) => {
                // summary.json is written by now: say it where the person running it looks.
                eprintln!("loadctl: grafana_annotations: the verdict was not annotated: {why}");
                self.stats.fail(format!("the verdict: {why}"));
            }
        }
    }
}
