//! The per-thread recorder: one interval of histograms and counters, written by every task
//! on its worker thread without locks and handed to the aggregator once a second.

use std::time::Duration;

use super::connection::Phase;
use super::{micros, record_us, IntervalData, Sample};

/// Records samples of one worker thread. Lives in a `RefCell` on that thread; nothing
/// here is shared across threads.
#[derive(Debug)]
pub struct Recorder {
    current: IntervalData,
    /// `[balance]`: this thread's backend names, bounded for the whole run.
    names: super::balance::Names,
}

impl Recorder {
    pub fn new(endpoints: usize) -> Self {
        Recorder {
            current: IntervalData::new(endpoints),
            names: Default::default(),
        }
    }

    /// Where a sample of `endpoint` goes: the window, or the warmup set.
    fn endpoint_data(&mut self, endpoint: usize, warmup: bool) -> &mut super::EndpointData {
        let n = self.current.endpoints.len();
        if warmup {
            &mut self
                .current
                .warmup
                .get_or_insert_with(|| (0..n).map(|_| super::EndpointData::new()).collect())
                [endpoint]
        } else {
            &mut self.current.endpoints[endpoint]
        }
    }

    pub fn record(&mut self, endpoint: usize, s: &Sample) {
        let e = self.endpoint_data(endpoint, s.warmup);
        record_us(&mut e.latency, micros(s.latency));
        record_us(&mut e.service, micros(s.service));
        if let Some(code) = s.status {
            if let Some(n_of) = e.counts.status.get_mut(code as usize) {
                *n_of += 1;
            }
        }
        match (s.error, s.outcome) {
            (Some(kind), _) => e.counts.errors[kind as usize] += 1,
            (None, Some(o)) => e.counts.outcomes[o as usize] += 1,
            (None, None) => e.counts.ok += 1,
        }
        e.counts.bytes += s.bytes;
        let c = &s.conn;
        e.counts.conn.record(c);
        if c.phases.any() {
            e.phases_mut().record(&c.phases);
        }
        if s.warmup {
            return;
        }
        if let Some(lag) = s.send_lag {
            record_us(&mut self.current.send_lag, micros(lag));
        }
        if let Some(q) = s.queue_wait {
            record_us(&mut self.current.queue_wait, micros(q));
        }
    }

    /// The per-message times of one gRPC stream (`phase` is `MessageGap` or
    /// `MessageReply`), each recorded.
    pub fn messages(&mut self, endpoint: usize, warmup: bool, phase: Phase, times: &[Duration]) {
        if times.is_empty() {
            return;
        }
        let h = self
            .endpoint_data(endpoint, warmup)
            .phases_mut()
            .of_mut(phase);
        for t in times {
            record_us(h, micros(*t));
        }
    }

    /// `[balance]`: an answer of `backend` (`None`: it named none).
    /// Returns the name it was counted under (cleaned, or `(other)`).
    pub fn balance(
        &mut self,
        backend: Option<&str>,
        error: bool,
        latency_us: u64,
    ) -> Option<std::sync::Arc<str>> {
        let name = backend.map(|b| self.names.intern(b));
        self.current
            .balance_mut()
            .record(name.as_deref(), error, latency_us);
        name
    }

    /// A flow step left unsent because an earlier step of its iteration failed.
    pub fn skipped(&mut self, endpoint: usize, warmup: bool) {
        self.endpoint_data(endpoint, warmup).counts.skipped += 1;
    }

    /// An open-model request the window closed on before a connection was free.
    pub fn unsent(&mut self, endpoint: usize, warmup: bool) {
        self.endpoint_data(endpoint, warmup).counts.unsent += 1;
    }

    /// A request that could not be built: not sent, not the target's.
    pub fn invalid(&mut self, endpoint: usize, warmup: bool) {
        self.endpoint_data(endpoint, warmup).counts.invalid += 1;
    }

    /// A request that came due but could not be sent (`max_in_flight` reached).
    pub fn dropped(&mut self, endpoint: usize) {
        self.current.endpoints[endpoint].counts.dropped += 1;
    }

    /// Closes the interval: returns what it holds and starts an empty one, reusing
    /// `spare` (an interval the aggregator is done with) when there is one, so that a long
    /// run allocates no histograms after its first seconds.
    pub fn rotate(&mut self, in_flight: u64, spare: Option<IntervalData>) -> IntervalData {
        let fresh = match spare {
            Some(mut d) if d.endpoints.len() == self.current.endpoints.len() => {
                if d.balance.is_none() {
                    // Keeps the thread's backend names across seconds.
                    d.balance = self.current.balance.clone();
                }
                d.reset();
                d
            }
            _ => IntervalData::new(self.current.endpoints.len()),
        };
        let mut done = std::mem::replace(&mut self.current, fresh);
        done.in_flight = in_flight;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ErrorKind;
    use std::time::Duration;

    fn sample(ms: u64, error: Option<ErrorKind>, status: Option<u16>) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            service: Duration::from_millis(ms / 2),
            send_lag: Some(Duration::from_micros(100)),
            queue_wait: None,
            status,
            error,
            outcome: None,
            bytes: 10,
            warmup: false,
            conn: Default::default(),
        }
    }

    #[test]
    fn records_and_rotates() {
        let mut r = Recorder::new(2);
        r.record(0, &sample(10, None, Some(200)));
        r.record(1, &sample(20, Some(ErrorKind::Http5xx), Some(503)));
        r.record(1, &sample(30, Some(ErrorKind::Timeout), None));
        r.dropped(0);
        let d = r.rotate(7, None);
        assert_eq!(d.in_flight, 7);
        assert_eq!(d.endpoints[0].counts.ok, 1);
        assert_eq!(d.endpoints[0].counts.dropped, 1);
        assert_eq!(d.endpoints[1].counts.requests(), 2);
        assert_eq!(d.endpoints[1].counts.status[503], 1);
        assert_eq!(d.endpoints[1].counts.errors_of(ErrorKind::Timeout), 1);
        assert_eq!(d.endpoints[1].latency.len(), 2);
        assert_eq!(d.send_lag.len(), 3);
        assert_eq!(d.endpoints[0].counts.bytes, 10);
        // A recycled interval comes back empty.
        let empty = r.rotate(0, Some(d));
        assert_eq!(empty.endpoints[1].latency.len(), 0);
        let reused = r.rotate(0, None);
        assert_eq!(reused.endpoints[1].counts.requests(), 0);
        assert_eq!(reused.endpoints[1].counts.status[503], 0);
        assert_eq!(reused.send_lag.len(), 0);
    }

    #[test]
    fn warmup_requests_stay_apart() {
        let mut r = Recorder::new(1);
        let mut s = sample(10, None, Some(200));
        s.warmup = true;
        r.record(0, &s);
        s.warmup = false;
        r.record(0, &s);
        let d = r.rotate(0, None);
        assert_eq!(d.endpoints[0].counts.ok, 1);
        assert_eq!(d.warmup.as_ref().unwrap()[0].counts.ok, 1);
        assert_eq!(d.everything()[0].counts.ok, 2);
        assert_eq!(
            d.send_lag.len(),
            1,
            "generator health is judged on the window only"
        );
        assert!(r.rotate(0, None).warmup.is_none());
    }
}
