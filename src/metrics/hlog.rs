//! `histograms.hlog`: the run's HDR histograms as an interval log, one entry per second per
//! tag, streamed while the run goes (so nothing accumulates in memory) into a temporary
//! file that is renamed into place at the end.
//!
//! Tags: `lat.<request>` (latency from the intended start), `svc.<request>` (service
//! time), `dns.<request>` … `download.<request>` (the request's phases, see
//! [`super::connection`]), `send_lag` and `queue_wait` (generator health), all for requests intended in the
//! measured window, and `warmup.<request>` (latency of warmup requests). Values are
//! microseconds.
//! Timestamps count from `StartTime`, the start of the run's schedule.
//!
//! Besides the histograms, comment lines (which HdrHistogram readers skip) carry what a
//! histogram cannot: `#loadctl-planned {…}` in the header (requests the schedule planned
//! per second) and, before each interval's histograms, `#loadctl-counts {…}` (that second's
//! counters per request name). With them [`read`] rebuilds every interval exactly, so
//! `loadctl report` can re-render all reports from `summary.json` and this file alone.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use serde::{Deserialize, Serialize};

use super::connection::{ConnCounts, Phase, TLS_REASONS};
use super::sink::{Final, IntervalSink};
use super::{EndpointData, IntervalData, MAX_OUTCOMES};

const PLANNED: &str = "loadctl-planned ";
const COUNTS: &str = "loadctl-counts ";
/// The tag prefix of a backend's latency (`backend.<name>`, `[balance]`).
const BACKEND: &str = "backend.";
/// Backends read from one second of a log: what a run keeps, with room for agents.
const BACKENDS_READ: usize = 4 * super::balance::MAX_BACKENDS;

/// Requests (or iterations) the schedule planned in each second: `(idx, n)`.
pub type Planned = Vec<(i64, f64)>;

#[derive(Serialize, Deserialize)]
struct PlannedLine {
    planned: Planned,
}

/// One endpoint's counters in one second.
#[derive(Serialize, Deserialize, Default)]
struct CountsOf {
    ok: u64,
    /// By `ErrorKind` in order; logs of older versions have fewer kinds (new ones are
    /// appended), so this reads any length.
    errors: Vec<u64>,
    outcomes: [u64; MAX_OUTCOMES],
    dropped: u64,
    skipped: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    invalid: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    unsent: u64,
    bytes: u64,
    /// Non-zero status codes: `(code, n)`.
    status: Vec<(u16, u64)>,
    /// Connections opened, sessions resumed, refused streams, TLS failures by reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conn: Option<ConnLine>,
}

#[derive(Serialize, Deserialize, Default)]
struct ConnLine {
    opened: u64,
    /// Connections closed on purpose (absent in logs of older versions).
    #[serde(default, skip_serializing_if = "is_zero")]
    rotated: u64,
    resumed: u64,
    refused: u64,
    tls: Vec<u64>,
    /// Retries by `RetryCause` in order (absent in logs of older versions).
    #[serde(default, skip_serializing_if = "all_zero")]
    retried: Vec<u64>,
    /// `protocol` errors by `ProtocolReason` in order.
    #[serde(default, skip_serializing_if = "all_zero")]
    protocol: Vec<u64>,
    /// gRPC messages `[sent, received]` (absent in logs without gRPC).
    #[serde(default, skip_serializing_if = "all_zero")]
    messages: Vec<u64>,
}

fn all_zero(v: &[u64]) -> bool {
    v.iter().all(|n| *n == 0)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CountsOf {
    fn of(e: &EndpointData) -> Self {
        let c = &e.counts;
        CountsOf {
            ok: c.ok,
            errors: c.errors.to_vec(),
            outcomes: c.outcomes,
            dropped: c.dropped,
            skipped: c.skipped,
            invalid: c.invalid,
            unsent: c.unsent,
            bytes: c.bytes,
            status: c
                .status
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(code, n)| (code as u16, *n))
                .collect(),
            conn: (c.conn != ConnCounts::default()).then(|| ConnLine {
                opened: c.conn.opened,
                rotated: c.conn.rotated,
                resumed: c.conn.resumed,
                refused: c.conn.refused,
                tls: c.conn.tls.to_vec(),
                retried: c.conn.retried.to_vec(),
                protocol: c.conn.protocol.to_vec(),
                messages: c.conn.messages.to_vec(),
            }),
        }
    }

    fn apply(&self, e: &mut EndpointData) {
        let c = &mut e.counts;
        c.ok = self.ok;
        for (a, b) in c.errors.iter_mut().zip(&self.errors) {
            *a = *b;
        }
        if let Some(l) = &self.conn {
            c.conn.opened = l.opened;
            c.conn.rotated = l.rotated;
            c.conn.resumed = l.resumed;
            c.conn.refused = l.refused;
            for (a, b) in c.conn.tls.iter_mut().zip(l.tls.iter().take(TLS_REASONS)) {
                *a = *b;
            }
            for (a, b) in c.conn.retried.iter_mut().zip(&l.retried) {
                *a = *b;
            }
            for (a, b) in c.conn.protocol.iter_mut().zip(&l.protocol) {
                *a = *b;
            }
            for (a, b) in c.conn.messages.iter_mut().zip(&l.messages) {
                *a = *b;
            }
        }
        c.outcomes = self.outcomes;
        c.dropped = self.dropped;
        c.skipped = self.skipped;
        c.invalid = self.invalid;
        c.unsent = self.unsent;
        c.bytes = self.bytes;
        for &(code, n) in &self.status {
            if let Some(n_of) = c.status.get_mut(code as usize) {
                *n_of = n;
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CountsLine {
    idx: i64,
    in_flight: u64,
    endpoints: Vec<CountsOf>,
    warmup: Option<Vec<CountsOf>>,
    /// `[balance]`: answers by backend (absent in logs of runs without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    balance: Option<BalanceLine>,
}

/// One second's answers by backend: `(name, requests, errors)`, and those naming none.
#[derive(Serialize, Deserialize)]
struct BalanceLine {
    backends: Vec<(String, u64, u64)>,
    unnamed: u64,
}

pub struct HlogSink {
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    tmp: PathBuf,
    path: PathBuf,
    names: Vec<String>,
    warmup: Duration,
    failed: Option<String>,
    closed: bool,
}

impl IntervalSink for HlogSink {
    fn interval(&mut self, f: &Final<'_>) {
        self.write_interval(f.idx, f.data);
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.close()
    }
}

impl HlogSink {
    pub fn create(
        path: &Path,
        start: SystemTime,
        warmup: Duration,
        names: Vec<String>,
        planned: &Planned,
    ) -> anyhow::Result<Self> {
        let tmp = crate::files::tmp_path(path);
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut sink = HlogSink {
            out: BufWriter::new(file),
            serializer: V2DeflateSerializer::new(),
            tmp,
            path: path.to_path_buf(),
            names,
            warmup,
            failed: None,
            closed: false,
        };
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(&format!("loadctl {} interval log; values in microseconds", env!("CARGO_PKG_VERSION")))
            .add_comment("tags: lat.<request> latency from intended start, svc.<request> service time, dns|connect|tls|ttfb|download|first_message|message_gap|message_reply.<request> phases, send_lag, queue_wait; warmup.<request> latency of warmup requests")
            .add_comment(&format!(
                "{PLANNED}{}",
                serde_json::to_string(&PlannedLine {
                    planned: planned.clone()
                })
                .expect("plain data serialises")
            ))
            .with_start_time(start);
        builder
            .begin_log_with(&mut sink.out, &mut sink.serializer)
            .with_context(|| format!("cannot write {}", sink.tmp.display()))?;
        Ok(sink)
    }

    /// Appends interval `idx` (seconds from the measured window's start).
    pub fn write_interval(&mut self, idx: i64, data: &IntervalData) {
        if self.failed.is_some() {
            return;
        }
        let result = write_entries(
            &mut self.out,
            &mut self.serializer,
            &self.names,
            self.warmup,
            idx,
            data,
        );
        if let Err(e) = result {
            self.failed = Some(e);
        }
    }

    /// Flushes and moves the log into place.
    pub fn close(&mut self) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some(e) = self.failed.take() {
            anyhow::bail!("cannot write {}: {e}", self.tmp.display());
        }
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.tmp.display()))?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("cannot move {} into place", self.path.display()))
    }
}

/// One interval as the log's lines: its counts comment, then a line per non-empty
/// histogram.
fn write_entries<W: Write>(
    out: &mut W,
    serializer: &mut V2DeflateSerializer,
    names: &[String],
    warmup: Duration,
    idx: i64,
    data: &IntervalData,
) -> Result<(), String> {
    let start = (warmup.as_secs_f64() + idx as f64).max(0.0);
    let start = Duration::from_secs_f64(start);
    let mut entries: Vec<(String, &Histogram<u64>)> = Vec::new();
    for (name, e) in names.iter().zip(&data.endpoints) {
        entries.push((format!("lat.{name}"), &e.latency));
        entries.push((format!("svc.{name}"), &e.service));
        if let Some(ph) = &e.phases {
            for p in Phase::ALL {
                entries.push((format!("{}.{name}", p.name()), ph.of(p)));
            }
        }
    }
    if let Some(warm) = &data.warmup {
        for (name, e) in names.iter().zip(warm) {
            entries.push((format!("warmup.{name}"), &e.latency));
        }
    }
    entries.push(("send_lag".into(), &data.send_lag));
    entries.push(("queue_wait".into(), &data.queue_wait));
    if let Some(b) = &data.balance {
        for (name, d) in &b.backends {
            entries.push((format!("{BACKEND}{name}"), &d.latency));
        }
    }
    let counts = CountsLine {
        idx,
        in_flight: data.in_flight,
        endpoints: data.endpoints.iter().map(CountsOf::of).collect(),
        warmup: data
            .warmup
            .as_ref()
            .map(|w| w.iter().map(CountsOf::of).collect()),
        balance: data.balance.as_ref().map(|b| BalanceLine {
            backends: b.counts(),
            unnamed: b.unnamed,
        }),
    };
    let counts = serde_json::to_string(&counts).expect("plain data serialises");
    // A header-less builder writes nothing itself: it only lends a writer per interval.
    IntervalLogWriterBuilder::new()
        .begin_log_with(out, serializer)
        .map_err(|e| e.to_string())
        .and_then(|mut w| {
            w.write_comment(&format!("{COUNTS}{counts}"))
                .map_err(|e| e.to_string())?;
            for (tag, h) in entries.iter().filter(|(_, h)| !h.is_empty()) {
                w.write_histogram(*h, start, Duration::from_secs(1), Tag::new(tag))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })
}

/// One interval in the log's own text (what [`decode`] reads back exactly): how a remote
/// agent sends its seconds, so that a distributed run merges what the agents' own logs
/// hold, bit for bit.
pub fn encode(names: &[String], warmup: Duration, idx: i64, data: &IntervalData) -> String {
    let mut out = Vec::new();
    write_entries(
        &mut out,
        &mut V2DeflateSerializer::new(),
        names,
        warmup,
        idx,
        data,
    )
    .expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the log is text")
}

/// The intervals of [`encode`]d text.
pub fn decode(text: &str, names: &[String]) -> anyhow::Result<Vec<(i64, IntervalData)>> {
    Ok(parse(text, names, "interval")?.0.intervals)
}

/// A run as its interval log holds it.
#[derive(Debug)]
pub struct RunLog {
    pub planned: Planned,
    /// Every interval, in order: seconds from the measured window's start.
    pub intervals: Vec<(i64, IntervalData)>,
}

/// Reads a `histograms.hlog` that loadctl wrote; `names` are the run's request names in
/// order (from `summary.json`).
pub fn read(path: &Path, names: &[String]) -> anyhow::Result<RunLog> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (log, header) = parse(&text, names, &path.display().to_string())?;
    if !header {
        anyhow::bail!(
            "{} is not a loadctl interval log (it is empty, cut short or written by another tool): it has no `#{PLANNED}` header line; re-run the scenario",
            path.display()
        );
    }
    Ok(log)
}

/// The intervals of a log's text, and whether it had the planned header; `origin` names
/// the text in errors.
fn parse(text: &str, names: &[String], origin: &str) -> anyhow::Result<(RunLog, bool)> {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    let bad = |line: usize, what: &str| {
        anyhow::anyhow!("{origin}:{line}: {what}; was it written by loadctl 0.1 or later?")
    };
    let mut log = RunLog {
        planned: Vec::new(),
        intervals: Vec::new(),
    };
    let mut deserializer = Deserializer::new();
    let mut header = false;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some(json) = line.strip_prefix('#').and_then(|l| l.strip_prefix(PLANNED)) {
            let p: PlannedLine = serde_json::from_str(json)
                .map_err(|e| bad(n, &format!("bad planned line: {e}")))?;
            log.planned = p.planned;
            header = true;
            continue;
        }
        if let Some(json) = line.strip_prefix('#').and_then(|l| l.strip_prefix(COUNTS)) {
            let c: CountsLine =
                serde_json::from_str(json).map_err(|e| bad(n, &format!("bad counts line: {e}")))?;
            let mut data = IntervalData::new(names.len());
            data.in_flight = c.in_flight;
            for (e, counts) in data.endpoints.iter_mut().zip(&c.endpoints) {
                counts.apply(e);
            }
            if let Some(w) = &c.warmup {
                let mut warm: Vec<EndpointData> =
                    (0..names.len()).map(|_| EndpointData::new()).collect();
                for (e, counts) in warm.iter_mut().zip(w) {
                    counts.apply(e);
                }
                data.warmup = Some(warm);
            }
            if let Some(b) = &c.balance {
                let mine = data.balance_mut();
                for (name, requests, errors) in b.backends.iter().take(BACKENDS_READ) {
                    mine.apply(name, *requests, *errors);
                }
                mine.unnamed = b.unnamed;
            }
            log.intervals.push((c.idx, data));
            continue;
        }
        if !line.starts_with("Tag=") {
            continue;
        }
        let Some((_, data)) = log.intervals.last_mut() else {
            return Err(bad(n, "a histogram before any counts line"));
        };
        // The parser wants a whole line, newline included.
        let whole = format!("{line}\n");
        let Some(Ok(LogEntry::Interval(h))) = IntervalLogIterator::new(whole.as_bytes()).next()
        else {
            return Err(bad(n, "not an interval histogram"));
        };
        let tag = h.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(h.encoded_histogram())
            .map_err(|e| bad(n, &format!("bad base64: {e}")))?;
        let hist: Histogram<u64> = deserializer
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| bad(n, &format!("bad histogram: {e:?}")))?;
        let endpoint = |prefix: &str| {
            tag.strip_prefix(prefix)
                .and_then(|name| names.iter().position(|x| x == name))
        };
        let target = if tag == "send_lag" {
            Some(&mut data.send_lag)
        } else if tag == "queue_wait" {
            Some(&mut data.queue_wait)
        } else if let Some(i) = endpoint("lat.") {
            Some(&mut data.endpoints[i].latency)
        } else if let Some(i) = endpoint("svc.") {
            Some(&mut data.endpoints[i].service)
        } else if let Some(i) = endpoint("warmup.") {
            data.warmup.as_mut().map(|w| &mut w[i].latency)
        } else if let Some(name) = tag.strip_prefix(BACKEND) {
            data.balance
                .as_mut()
                .filter(|b| b.backends.iter().any(|(n, _)| &**n == name))
                .map(|b| b.latency_mut(name))
        } else {
            let found = Phase::ALL
                .into_iter()
                .find_map(|p| Some((p, endpoint(&format!("{}.", p.name()))?)));
            found.map(|(p, i)| data.endpoints[i].phases_mut().of_mut(p))
        };
        if let Some(t) = target {
            t.add(&hist)
                .map_err(|e| bad(n, &format!("histogram out of range: {e:?}")))?;
        }
    }
    Ok((log, header))
}
