//! The run's seconds kept in memory for its judgement: windowed SLOs and fault windows are
//! judged on these, never on the interval log read back from disk (which stays the run's
//! output and the input of `loadctl report` and `merge`).
//!
//! A second is kept as the interval log's own compressed text of it (a few KiB), not as
//! its histograms (about 190 KB each at full resolution), so memory grows by kilobytes per
//! second of run, and what the judge sees decodes to exactly what the log holds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::hlog;
use super::sink::{Final, IntervalSink};
use super::IntervalData;

/// The sink that keeps each final second; [`Seconds`] reads them.
pub struct SecondsSink {
    names: Vec<String>,
    warmup: Duration,
    kept: Arc<Mutex<String>>,
}

/// The run's seconds, shared with the sink that keeps them.
#[derive(Clone)]
pub struct Seconds {
    names: Vec<String>,
    /// `None`: the run said it would not read them ([`Seconds::none`]).
    kept: Option<Arc<Mutex<String>>>,
}

/// A sink and the handle that reads what it keeps.
pub fn keep(names: Vec<String>, warmup: Duration) -> (SecondsSink, Seconds) {
    let kept = Arc::new(Mutex::new(String::new()));
    (
        SecondsSink {
            names: names.clone(),
            warmup,
            kept: kept.clone(),
        },
        Seconds {
            names,
            kept: Some(kept),
        },
    )
}

impl Seconds {
    /// Nothing kept: a run whose judgement never reads its seconds again saves their
    /// memory (a few KiB per second, ≈ 18 MiB an hour). Reading them is then an error,
    /// never an empty answer.
    pub fn none(names: Vec<String>) -> Seconds {
        Seconds { names, kept: None }
    }
}

impl IntervalSink for SecondsSink {
    fn interval(&mut self, f: &Final<'_>) {
        let text = hlog::encode(&self.names, self.warmup, f.idx, f.data);
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&text);
    }
}

impl Seconds {
    /// Every second so far, in order: seconds from the measured window's start.
    pub fn intervals(&self) -> anyhow::Result<Vec<(i64, IntervalData)>> {
        let Some(kept) = &self.kept else {
            anyhow::bail!("the run kept no seconds to judge again (Plan::keeps_seconds said none would be read)");
        };
        let text = kept.lock().unwrap_or_else(|e| e.into_inner());
        hlog::decode(&text, &self.names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_kept_nothing_says_so_when_read() {
        let e = Seconds::none(vec!["a".into()]).intervals().unwrap_err();
        assert!(format!("{e}").contains("kept no seconds"), "{e}");
    }

    #[test]
    fn what_is_kept_decodes_to_what_was_given() {
        let names = vec!["a".to_string(), "b".to_string()];
        let (mut sink, seconds) = keep(names.clone(), Duration::from_secs(2));
        let mut data = IntervalData::new(2);
        data.endpoints[1].latency.record(1234).unwrap();
        data.endpoints[1].counts.ok = 1;
        data.in_flight = 3;
        let row = crate::metrics::series::SeriesRow {
            idx: 0,
            all: crate::metrics::series::RowStats::of(&crate::metrics::EndpointData::new()),
            endpoints: Vec::new(),
            in_flight: 0,
            send_lag_p99_ms: None,
            errors_by_kind: [0; crate::metrics::ERROR_KINDS],
        };
        for idx in [-1, 0, 1] {
            sink.interval(&Final {
                idx,
                data: &data,
                row: &row,
                totals: &data,
                sources: &[],
            });
        }
        let got = seconds.intervals().unwrap();
        assert_eq!(got.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [-1, 0, 1]);
        for (_, d) in &got {
            assert_eq!(d.in_flight, 3);
            assert_eq!(d.endpoints[1].counts.ok, 1);
            assert_eq!(d.endpoints[1].latency.len(), 1);
            assert_eq!(
                d.endpoints[1].latency.max(),
                data.endpoints[1].latency.max()
            );
            assert!(d.endpoints[0].latency.is_empty());
        }
    }
}
