//! Merges the interval reports of all worker threads into the per-second time series and
//! the run totals.
//!
//! An interval is final once every thread has reported it (or has finished); only then is
//! its row computed and its histograms handed to the HDR log writer, after which they are
//! dropped. Requests intended during the warmup appear in the series but not in the
//! totals, whichever second they completed in.

use std::collections::BTreeMap;

use super::sink::{Final, IntervalSink};
use super::{percentile_ms, IntervalData};

pub use super::series::{IntervalReport, RowStats, SeriesRow};

#[derive(Debug)]
pub struct Aggregator {
    /// Per interval: the thread whose report became the accumulator, the accumulator, and
    /// the requests each thread reported for it.
    pending: BTreeMap<i64, (usize, IntervalData, Vec<u64>)>,
    /// Reports already merged, to hand back to their thread for reuse.
    spent: Vec<(usize, IntervalData)>,
    /// Last interval each thread reported.
    reported: Vec<Option<i64>>,
    done: Vec<bool>,
    totals: IntervalData,
    series: Vec<SeriesRow>,
}

impl Aggregator {
    pub fn new(endpoints: usize, threads: usize) -> Self {
        Aggregator {
            pending: BTreeMap::new(),
            spent: Vec::new(),
            reported: vec![None; threads],
            done: vec![false; threads],
            totals: IntervalData::new(endpoints),
            series: Vec::new(),
        }
    }

    /// Adds one thread's interval; hands every interval that became final to `on_final`.
    pub fn add(&mut self, r: IntervalReport, on_final: &mut dyn IntervalSink) {
        self.reported[r.thread] = Some(r.idx);
        let requests = r.data.requests();
        match self.pending.get_mut(&r.idx) {
            Some((_, p, by)) => {
                p.merge(&r.data);
                by[r.thread] += requests;
                self.spent.push((r.thread, r.data));
            }
            None => {
                let mut by = vec![0; self.reported.len()];
                by[r.thread] = requests;
                self.pending.insert(r.idx, (r.thread, r.data, by));
            }
        }
        self.flush(on_final);
    }

    /// The thread will report nothing more.
    pub fn thread_done(&mut self, thread: usize, on_final: &mut dyn IntervalSink) {
        self.done[thread] = true;
        self.flush(on_final);
    }

    pub fn all_done(&self) -> bool {
        self.done.iter().all(|d| *d)
    }

    fn flush(&mut self, on_final: &mut dyn IntervalSink) {
        while let Some((&idx, _)) = self.pending.first_key_value() {
            let complete = self
                .reported
                .iter()
                .zip(&self.done)
                .all(|(r, d)| *d || r.is_some_and(|r| r >= idx));
            if !complete {
                return;
            }
            let (thread, data, by) = self.pending.remove(&idx).expect("key just seen");
            let everything = data.everything();
            let mut overall = super::EndpointData::new();
            for e in &everything {
                overall.merge(e);
            }
            self.series.push(SeriesRow {
                idx,
                all: RowStats::of(&overall),
                endpoints: everything.iter().map(RowStats::of).collect(),
                in_flight: data.in_flight,
                send_lag_p99_ms: percentile_ms(&data.send_lag, 99.0),
                errors_by_kind: overall.counts.errors,
            });
            self.totals.merge(&data);
            on_final.interval(&Final {
                idx,
                data: &data,
                row: self.series.last().expect("pushed above"),
                totals: &self.totals,
                sources: &by,
            });
            self.spent.push((thread, data));
        }
    }

    /// Interval data the aggregator is done with, with the thread it came from.
    pub fn take_spent(&mut self) -> Vec<(usize, IntervalData)> {
        std::mem::take(&mut self.spent)
    }

    pub fn series(&self) -> &[SeriesRow] {
        &self.series
    }

    /// Totals of the measured window so far (`warmup` holds the warmup's own totals).
    pub fn totals(&self) -> &IntervalData {
        &self.totals
    }

    /// Ends aggregation; intervals still pending (a thread died without reporting) are
    /// finalised with what arrived.
    pub fn finish(mut self, on_final: &mut dyn IntervalSink) -> (IntervalData, Vec<SeriesRow>) {
        self.done.iter_mut().for_each(|d| *d = true);
        self.flush(on_final);
        (self.totals, self.series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::Recorder;
    use crate::metrics::Sample;
    use std::time::Duration;

    fn report(thread: usize, idx: i64, ms: &[u64]) -> IntervalReport {
        let mut r = Recorder::new(1);
        for &m in ms {
            r.record(
                0,
                &Sample {
                    latency: Duration::from_millis(m),
                    service: Duration::from_millis(m),
                    send_lag: None,
                    queue_wait: None,
                    status: Some(200),
                    error: None,
                    outcome: None,
                    bytes: 0,
                    warmup: idx < 0,
                    conn: Default::default(),
                },
            );
        }
        IntervalReport {
            thread,
            idx,
            data: r.rotate(0, None),
        }
    }

    #[test]
    fn intervals_finalise_only_when_every_thread_reported() {
        let mut agg = Aggregator::new(1, 2);
        let mut finals = Vec::new();
        let mut on = |i: i64, _: &IntervalData| finals.push(i);
        agg.add(report(0, -1, &[1]), &mut on);
        agg.add(report(0, 0, &[2, 2]), &mut on);
        assert!(agg.series().is_empty());
        agg.add(report(1, -1, &[1]), &mut on);
        assert_eq!(agg.series().len(), 1);
        agg.add(report(1, 0, &[4]), &mut on);
        agg.add(report(1, 1, &[5]), &mut on);
        agg.thread_done(0, &mut on);
        agg.thread_done(1, &mut on);
        assert!(agg.all_done());
        // Every report comes back for reuse once merged and final.
        assert_eq!(agg.take_spent().len(), 5);
        let (totals, series) = agg.finish(&mut |_: i64, _: &IntervalData| {});
        assert_eq!(finals, [-1, 0, 1]);
        assert_eq!(
            series.iter().map(|r| r.all.requests).collect::<Vec<_>>(),
            [2, 3, 1]
        );
        // requests intended in the warmup (interval -1 here) stay out of the totals
        assert_eq!(totals.endpoints[0].counts.ok, 4);
        assert!((series[1].all.max_ms.unwrap() - 4.0).abs() < 0.01);
    }
}
