//! How far an agent's wall clock is from the coordinator's, estimated as NTP does: the
//! coordinator notes when it sent a ping (`t1`) and got the answer (`t4`), the agent says
//! what its clock read in between (`ta`). If the two legs took equally long, the offset is
//! `ta − (t1 + t4) / 2`; whatever the legs took, the true offset lies within half the
//! round trip of it. Of several samples the one with the shortest round trip is kept: it
//! has the tightest bound.

/// One ping: coordinator send and receive times, agent time, all ns since the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub sent: u64,
    pub agent: u64,
    pub received: u64,
}

/// The agent's clock minus the coordinator's, with its bound.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Offset {
    pub offset_ns: i64,
    /// The true offset is within ± this (half the kept sample's round trip).
    pub uncertainty_ns: u64,
}

/// The estimate from the sample with the shortest round trip; `None` without samples.
pub fn estimate(samples: &[Sample]) -> Option<Offset> {
    let best = samples
        .iter()
        .filter(|s| s.received >= s.sent)
        .min_by_key(|s| s.received - s.sent)?;
    let mid = best.sent as i128 + (best.received - best.sent) as i128 / 2;
    Some(Offset {
        offset_ns: (best.agent as i128 - mid) as i64,
        uncertainty_ns: (best.received - best.sent).div_ceil(2),
    })
}

impl Offset {
    /// An instant of the coordinator's clock on the agent's.
    pub fn to_agent(&self, coordinator_ns: u64) -> u64 {
        (coordinator_ns as i128 + self.offset_ns as i128).max(0) as u64
    }

    /// An instant of the agent's clock on the coordinator's.
    pub fn to_coordinator(&self, agent_ns: u64) -> u64 {
        (agent_ns as i128 - self.offset_ns as i128).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tightest_sample() {
        // The agent runs 5 ms ahead. A slow sample with an asymmetric delay would mislead.
        let ahead = 5_000_000u64;
        let samples = [
            Sample {
                sent: 1_000_000,
                agent: 1_000_000 + ahead + 9_000_000,
                received: 11_000_000,
            },
            Sample {
                sent: 20_000_000,
                agent: 20_000_100 + ahead,
                received: 20_000_200,
            },
            Sample {
                sent: 30_000_000,
                agent: 30_400_000 + ahead,
                received: 30_900_000,
            },
        ];
        let o = estimate(&samples).unwrap();
        assert_eq!(o.offset_ns, ahead as i64);
        assert_eq!(o.uncertainty_ns, 100);
        assert_eq!(o.to_agent(1_000), 1_000 + ahead);
        assert_eq!(o.to_coordinator(o.to_agent(77)), 77);
        assert_eq!(estimate(&[]), None);
    }

    #[test]
    fn the_truth_is_within_the_bound() {
        // Whatever the split of the round trip, |estimate − truth| ≤ uncertainty.
        let truth: i64 = -3_000;
        for leg in [0u64, 10, 500, 999, 1_000] {
            let s = Sample {
                sent: 10_000,
                agent: (10_000 + leg as i64 + truth) as u64,
                received: 11_000,
            };
            let o = estimate(&[s]).unwrap();
            assert!(
                (o.offset_ns - truth).unsigned_abs() <= o.uncertainty_ns,
                "leg {leg}: {o:?}"
            );
        }
    }
}
