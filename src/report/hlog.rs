//! `histograms.hlog`: the run's HDR histograms as an interval log, one entry per second per
//! tag, streamed while the run goes (so nothing accumulates in memory) into a temporary
//! file that is renamed into place at the end.
//!
//! Tags: `lat.<request>` (latency from the intended start), `svc.<request>` (service
//! time), `send_lag` and `queue_wait` (generator health), all for requests intended in the
//! measured window, and `warmup.<request>` (latency of warmup requests). Values are
//! microseconds.
//! Timestamps count from `StartTime`, the start of the run's schedule.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::metrics::IntervalData;

pub struct HlogSink {
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    tmp: PathBuf,
    path: PathBuf,
    names: Vec<String>,
    warmup: Duration,
    failed: Option<String>,
}

impl HlogSink {
    pub fn create(
        path: &Path,
        start: SystemTime,
        warmup: Duration,
        names: Vec<String>,
    ) -> anyhow::Result<Self> {
        let tmp = super::tmp_path(path);
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
        };
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(&format!("loadctl {} interval log; values in microseconds", env!("CARGO_PKG_VERSION")))
            .add_comment("tags: lat.<request> latency from intended start, svc.<request> service time, send_lag, queue_wait; warmup.<request> latency of warmup requests")
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
        let start = (self.warmup.as_secs_f64() + idx as f64).max(0.0);
        let start = Duration::from_secs_f64(start);
        let mut entries: Vec<(String, &Histogram<u64>)> = Vec::new();
        for (name, e) in self.names.iter().zip(&data.endpoints) {
            entries.push((format!("lat.{name}"), &e.latency));
            entries.push((format!("svc.{name}"), &e.service));
        }
        if let Some(warm) = &data.warmup {
            for (name, e) in self.names.iter().zip(warm) {
                entries.push((format!("warmup.{name}"), &e.latency));
            }
        }
        entries.push(("send_lag".into(), &data.send_lag));
        entries.push(("queue_wait".into(), &data.queue_wait));
        // A header-less builder writes nothing itself: it only lends a writer per interval.
        let result = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(|e| e.to_string())
            .and_then(|mut w| {
                for (tag, h) in entries.iter().filter(|(_, h)| !h.is_empty()) {
                    w.write_histogram(*h, start, Duration::from_secs(1), Tag::new(tag))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            });
        if let Err(e) = result {
            self.failed = Some(e);
        }
    }

    /// Flushes and moves the log into place.
    pub fn finish(mut self) -> anyhow::Result<()> {
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
