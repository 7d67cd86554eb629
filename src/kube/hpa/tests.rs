//! The HPA model's tests. Those named after an upstream test port its table rows
//! (kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go` and
//! `replica_calculator_test.go`) with upstream's expected values; upstream seeds events
//! with `generateEventsUniformDistribution(changes, 120)`, which here are `(age, change)`
//! pairs with the same ages.

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn best_case_counts_sync_periods() {
    let b = Behavior::default();
    // 5 → 10 at the first sync, → 20 at the second (100 % per 15 s).
    assert_eq!(best_case(5, 20, Some(&b), 5, 10), Some(secs(0)));
    assert_eq!(best_case(5, 20, Some(&b), 5, 20), Some(secs(15)));
    assert_eq!(best_case(5, 20, Some(&b), 5, 21), None);
    let mut slow = Behavior::default();
    slow.up.policies = vec![Policy {
        kind: PolicyKind::Pods,
        value: 1,
        period: secs(60),
    }];
    slow.up.stabilization = secs(30);
    // The 30 s window holds the first step back one sync (a recommendation exactly 30 s
    // old is outside it, as upstream's `After(now - window)`); then one pod a minute
    // (an event exactly 60 s old is outside its period too): 6 at 15 s, 7 at 75 s, 8 at 135 s.
    assert_eq!(best_case(5, 20, Some(&slow), 5, 8), Some(secs(135)));
    slow.up.select = Select::Disabled;
    assert_eq!(best_case(5, 20, Some(&slow), 5, 8), None);
}

#[test]
fn desired_follows_the_ratio_outside_the_tolerance() {
    let h = Hpa::new(3, 10, vec![70.0], Behavior::default());
    assert_eq!(h.raw(4, &[140.0]), 8);
    assert_eq!(h.raw(4, &[75.0]), 4, "within 10%: no change");
    assert_eq!(h.raw(4, &[35.0]), 2);
    // Two metrics: the larger wins.
    let h = Hpa::new(3, 10, vec![70.0, 80.0], Behavior::default());
    assert_eq!(h.raw(4, &[35.0, 160.0]), 8);
}

#[test]
fn default_scale_up_is_the_larger_of_100_percent_and_4_pods() {
    let mut h = Hpa::new(5, 20, vec![65.0], Behavior::default());
    // 5 replicas at 4× the target want 20; one period allows max(5 + 4, 10) = 10.
    let d = h.sync(secs(0), 5, &[260.0]);
    assert_eq!(d, Decision::new(10, Some(Limit::ScaleUpLimit)));
    // Within the same 15 s period nothing more is allowed (start of period: 5).
    assert_eq!(h.sync(secs(10), 10, &[130.0]).desired, 10);
    // Next period: from 10, up to 20.
    assert_eq!(h.sync(secs(20), 10, &[130.0]).desired, 20);
    // Beyond max: clamped and marked.
    assert_eq!(
        h.sync(secs(40), 20, &[130.0]),
        Decision::new(20, Some(Limit::TooMany))
    );
}

#[test]
fn scale_down_waits_for_its_stabilization_window() {
    let mut h = Hpa::new(3, 10, vec![70.0], Behavior::default());
    assert_eq!(h.sync(secs(0), 8, &[70.0]).desired, 8);
    // Load drops: the metrics ask for 4, but the last 300 s held a recommendation of 8.
    assert_eq!(h.sync(secs(15), 8, &[35.0]).desired, 8);
    assert_eq!(h.sync(secs(299), 8, &[35.0]).desired, 8);
    // Once the 8 is older than the window, the highest left is 4.
    assert_eq!(h.sync(secs(301), 8, &[35.0]).desired, 4);
    // And never below min.
    assert_eq!(
        h.sync(secs(700), 4, &[5.0]),
        Decision::new(3, Some(Limit::TooFew))
    );
}

#[test]
fn policies_select_and_disable() {
    let pods = |v| Policy {
        kind: PolicyKind::Pods,
        value: v,
        period: secs(60),
    };
    let mut b = Behavior {
        up: Rules {
            stabilization: Duration::ZERO,
            select: Select::Min,
            policies: vec![pods(1), pods(3)],
            tolerance: None,
        },
        ..Behavior::default()
    };
    let mut h = Hpa::new(1, 50, vec![50.0], b.clone());
    assert_eq!(
        h.sync(secs(0), 2, &[500.0]).desired,
        3,
        "Min: the smaller step"
    );
    b.up.select = Select::Disabled;
    let mut h = Hpa::new(1, 50, vec![50.0], b);
    assert_eq!(
        h.sync(secs(0), 2, &[500.0]).desired,
        2,
        "Disabled: no scale-up"
    );
}

// --- upstream ports ---------------------------------------------------------------------

const NOW: Duration = Duration::from_secs(10_000);

/// Upstream's `generateScalingRules(pods, podsPeriod, percent, percentPeriod, window)`:
/// select Max; a zero value leaves that policy out.
fn rules(pods: u32, pods_period: u64, percent: u32, percent_period: u64, window: u64) -> Rules {
    let mut policies = Vec::new();
    if pods != 0 {
        policies.push(Policy {
            kind: PolicyKind::Pods,
            value: pods,
            period: secs(pods_period),
        });
    }
    if percent != 0 {
        policies.push(Policy {
            kind: PolicyKind::Percent,
            value: percent,
            period: secs(percent_period),
        });
    }
    Rules {
        stabilization: secs(window),
        select: Select::Max,
        policies,
        tolerance: None,
    }
}

/// `generateEventsUniformDistribution(changes, 120)`: the ages of the events.
fn uniform(changes: &[u32]) -> Vec<(u64, u32)> {
    let seg = 120.0 / changes.len() as f64;
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| ((120.0 - seg * (i + 1) as f64 + seg / 2.0) as u64, *c))
        .collect()
}

/// One row of `TestScalingWithRules`: `convertDesiredReplicasWithBehaviorRate`.
struct RateRow {
    name: &'static str,
    up_events: Vec<(u64, u32)>,
    down_events: Vec<(u64, u32)>,
    min: u32,
    max: u32,
    up: Option<Rules>,
    down: Option<Rules>,
    current: u32,
    desired: u32,
    expected: u32,
    condition: &'static str,
}

fn condition(l: Option<Limit>) -> &'static str {
    match l {
        None => "DesiredWithinRange",
        Some(Limit::TooMany) => "TooManyReplicas",
        Some(Limit::TooFew) => "TooFewReplicas",
        Some(Limit::ScaleUpLimit) => "ScaleUpLimit",
        Some(Limit::ScaleDownLimit) => "ScaleDownLimit",
    }
}

fn row(name: &'static str, min: u32, max: u32, current: u32, desired: u32) -> RateRow {
    RateRow {
        name,
        up_events: vec![],
        down_events: vec![],
        min,
        max,
        up: None,
        down: None,
        current,
        desired,
        expected: 0,
        condition: "",
    }
}

impl RateRow {
    fn up(mut self, r: Rules) -> Self {
        self.up = Some(r);
        self
    }
    fn down(mut self, r: Rules) -> Self {
        self.down = Some(r);
        self
    }
    fn events(mut self, up: &[u32], down: &[u32]) -> Self {
        self.up_events = if up.is_empty() { vec![] } else { uniform(up) };
        self.down_events = if down.is_empty() {
            vec![]
        } else {
            uniform(down)
        };
        self
    }
    fn expect(mut self, n: u32, c: &'static str) -> Self {
        self.expected = n;
        self.condition = c;
        self
    }
}

#[test]
fn upstream_test_scaling_with_rules() {
    let rows = vec![
        row("prenormalized desired replicas within range", 3, 8, 5, 7).expect(7, "DesiredWithinRange"),
        row("prenormalized desired replicas < minReplicas", 2, 8, 3, 1).expect(2, "TooFewReplicas"),
        row("prenormalized desired replicas within range when minReplicas is 0", 0, 10, 1, 0).expect(0, "DesiredWithinRange"),
        row("maxReplicas is the limit because maxReplicas < scaleUpLimit", 1, 10, 20, 1000).expect(10, "TooManyReplicas"),
        row("desired replica count is more than the maximum replica count", 100, 150, 100, 1000).expect(150, "TooManyReplicas"),
        row("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", 1, 2000, 3, 1000).up(rules(0, 0, 1, 60, 0)).expect(4, "ScaleUpLimit"),
        row("scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies", 3, 2000, 1000, 3).down(rules(20, 60, 0, 0, 0)).expect(980, "ScaleDownLimit"),
        row("scaleUp with default behavior", 1, 1000, 10, 50).expect(20, "ScaleUpLimit"),
        row("scaleUp with pods policy larger than percent policy", 1, 1000, 10, 500).up(rules(100, 60, 100, 60, 0)).expect(110, "ScaleUpLimit"),
        row("scaleUp with percent policy larger than pods policy", 1, 1000, 10, 500).up(rules(2, 60, 100, 60, 0)).expect(20, "ScaleUpLimit"),
        row("scaleUp with spec MaxReplicas limitation with large pod policy", 1, 1000, 10, 50).up(rules(100, 60, 0, 0, 0)).expect(50, "DesiredWithinRange"),
        row("scaleUp with spec MaxReplicas limitation with large percent policy", 1, 1000, 10, 50).up(rules(10000, 60, 0, 0, 0)).expect(50, "DesiredWithinRange"),
        row("scaleUp with pod policy limitation", 1, 1000, 10, 50).up(rules(30, 60, 0, 0, 0)).expect(40, "ScaleUpLimit"),
        row("scaleUp with percent policy limitation", 1, 1000, 10, 50).up(rules(0, 0, 200, 60, 0)).expect(30, "ScaleUpLimit"),
        row("scaleDown with percent policy larger than pod policy", 1, 1000, 100, 2).down(rules(20, 60, 1, 60, 300)).expect(80, "ScaleDownLimit"),
        row("scaleDown with pod policy larger than percent policy", 1, 1000, 100, 2).down(rules(2, 60, 1, 60, 300)).expect(98, "ScaleDownLimit"),
        row("scaleDown with spec MinReplicas=nil limitation with large pod policy", 1, 1000, 10, 0).down(rules(100, 60, 0, 0, 300)).expect(1, "TooFewReplicas"),
        row("scaleDown with spec MinReplicas limitation with large percent policy", 5, 1000, 10, 2).down(rules(0, 0, 100, 60, 300)).expect(5, "TooFewReplicas"),
        row("scaleDown with pod policy limitation", 1, 1000, 10, 2).down(rules(5, 60, 0, 0, 300)).expect(5, "ScaleDownLimit"),
        row("scaleDown with percent policy limitation", 1, 1000, 10, 5).down(rules(0, 0, 50, 60, 300)).expect(5, "DesiredWithinRange"),
        row("scaleUp with spec MaxReplicas limitation with large pod policy and events", 1, 200, 100, 500).events(&[1, 5, 9], &[]).up(rules(300, 60, 0, 0, 0)).expect(200, "TooManyReplicas"),
        row("scaleUp with spec MaxReplicas limitation with large percent policy and events", 1, 200, 100, 500).events(&[1, 5, 9], &[]).up(rules(0, 0, 10000, 60, 0)).expect(200, "TooManyReplicas"),
        row("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events", 1, 1000, 100, 500).events(&[1, 5, 9], &[]).up(rules(5, 120, 0, 0, 0)).expect(100, "ScaleUpLimit"),
        row("scaleUp with pod policy and previous scale up events", 1, 1000, 100, 500).events(&[1, 5, 9], &[]).up(rules(150, 120, 0, 0, 0)).expect(235, "ScaleUpLimit"),
        row("scaleUp with percent policy and previous scale up events", 1, 1000, 100, 500).events(&[1, 5, 9], &[]).up(rules(0, 0, 200, 120, 0)).expect(255, "ScaleUpLimit"),
        row("scaleUp with percent policy and previous scale up and down events", 1, 1000, 6, 24).events(&[4], &[2]).up(rules(0, 0, 300, 300, 0)).expect(16, "ScaleUpLimit"),
        row("scaleDown with default policy and previous events", 1, 1000, 10, 5).events(&[], &[1, 5, 9]).expect(5, "DesiredWithinRange"),
        row("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", 1, 1000, 100, 0).events(&[], &[1, 5, 9]).down(rules(115, 120, 0, 0, 300)).expect(1, "TooFewReplicas"),
        row("scaleDown with spec MinReplicas limitation with large pod policy and previous events", 5, 1000, 100, 0).events(&[], &[1, 5, 9]).down(rules(130, 120, 0, 0, 300)).expect(5, "TooFewReplicas"),
        row("scaleDown with spec MinReplicas limitation with large percent policy and previous events", 5, 1000, 100, 2).events(&[], &[1, 5, 9]).down(rules(0, 0, 100, 120, 300)).expect(5, "TooFewReplicas"),
        row("scaleDown with pod policy limitation and previous events", 1, 1000, 100, 2).events(&[], &[1, 5, 9]).down(rules(5, 120, 0, 0, 300)).expect(100, "ScaleDownLimit"),
        row("scaleDown with percent policy limitation and previous events", 1, 1000, 100, 0).events(&[], &[2, 4, 6]).down(rules(0, 0, 50, 120, 300)).expect(56, "ScaleDownLimit"),
        row("scaleDown with percent policy and previous scale up and down events", 1, 1000, 10, 1).events(&[2], &[4]).down(rules(0, 0, 50, 180, 0)).expect(6, "ScaleDownLimit"),
        row("scaleDown with previous events preventing further scale down", 1, 1000, 100, 0).events(&[], &[10, 10, 10]).down(rules(0, 0, 10, 120, 300)).expect(100, "ScaleDownLimit"),
        row("scaleDown with with previous events still allowing more scale down", 1, 1000, 10, 5).events(&[], &[10, 10, 10]).down(rules(0, 0, 1000, 120, 300)).expect(5, "DesiredWithinRange"),
        row("check 'outdated' flag for events for one behavior for up", 1, 1000, 100, 200).events(&[8, 12, 9, 11], &[]).up(rules(1000, 60, 0, 0, 0)).expect(200, "DesiredWithinRange"),
        row("check that events were not marked 'outdated' for two different policies in the behavior for up", 1, 1000, 100, 200).events(&[8, 12, 9, 11], &[]).up(rules(1000, 120, 100, 60, 0)).expect(200, "DesiredWithinRange"),
        row("check that events were marked 'outdated' for two different policies in the behavior for up", 1, 1000, 100, 200).events(&[8, 12, 9, 11], &[]).up(rules(1000, 30, 100, 60, 0)).expect(200, "DesiredWithinRange"),
        row("check 'outdated' flag for events for one behavior for down", 1, 1000, 100, 5).events(&[], &[8, 12, 9, 11]).down(rules(1000, 60, 0, 0, 300)).expect(5, "DesiredWithinRange"),
        row("check that events were not marked 'outdated' for two different policies in the behavior for down", 1, 1000, 100, 5).events(&[], &[8, 12, 9, 11]).down(rules(1000, 120, 100, 60, 300)).expect(5, "DesiredWithinRange"),
        row("check that events were marked 'outdated' for two different policies in the behavior for down", 1, 1000, 100, 5).events(&[], &[8, 12, 9, 11]).down(rules(1000, 30, 100, 60, 300)).expect(5, "DesiredWithinRange"),
    ];
    let d = Behavior::default();
    for r in &rows {
        let b = Behavior {
            up: r.up.clone().unwrap_or_else(|| d.up.clone()),
            down: r.down.clone().unwrap_or_else(|| d.down.clone()),
        };
        let h = Hpa::new(r.min, r.max, vec![50.0], b.clone()).seeded(
            NOW,
            None,
            &r.up_events,
            &r.down_events,
        );
        let (n, l) = h.limit_rate(NOW, r.current, r.desired, &b);
        assert_eq!(
            (n, condition(l)),
            (r.expected, r.condition),
            "TestScalingWithRules: {}",
            r.name
        );
    }
    assert_eq!(rows.len(), 41);
}

#[test]
fn upstream_test_calculate_scale_up_and_down_limit_with_min_change() {
    // TestCalculateScaleUpLimitWithScalingRules: from 1, Min of (Pods 2 → 3, 50 % → 2).
    let mut r = rules(2, 60, 50, 60, 300);
    r.select = Select::Min;
    let h = Hpa::new(1, 10, vec![50.0], Behavior::default());
    assert_eq!(h.up_limit(NOW, 1, &r), 2);
    // TestCalculateScaleDownLimitWithBehaviors: from 5, Min of (Pods 2 → 3, 50 % → 2): 3.
    assert_eq!(h.down_limit(NOW, 5, &r), 3);
}

#[test]
fn upstream_test_convert_desired_replicas_with_rules() {
    // TestConvertDesiredReplicasWithRules (the legacy rule without behavior), with the
    // controller's own factor (upstream's test raises it to 8; the default is 2).
    let rows = [
        (5, 7, 3, 8, 7, None),
        (3, 1, 2, 8, 2, Some(Limit::TooFew)),
        (1, 0, 0, 10, 0, None),
        (20, 1000, 1, 10, 10, Some(Limit::TooMany)),
        (3, 1000, 1, 2000, 6, Some(Limit::ScaleUpLimit)),
        // calculateScaleUpLimit's minimum of 4 from a small count.
        (1, 1000, 1, 2000, 4, Some(Limit::ScaleUpLimit)),
    ];
    for (cur, desired, min, max, want, limit) in rows {
        assert_eq!(
            legacy_rules(cur, desired, min, max),
            (want, limit),
            "{cur} → {desired}"
        );
    }
}

#[test]
fn upstream_test_normalize_desired_replicas_legacy_stabilization() {
    // TestNormalizeDesiredReplicas: the legacy 5 min downscale window, (age s, recommendation).
    type Row<'a> = (&'a str, &'a [(u64, u32)], u32, u32);
    let rows: [Row<'_>; 5] = [
        ("empty log", &[], 5, 5),
        ("stabilize", &[(120, 4), (60, 5)], 3, 5),
        ("no stabilize", &[(120, 1), (60, 2)], 3, 3),
        (
            "no stabilize - old recommendations",
            &[(600, 10), (540, 9)],
            3,
            3,
        ),
        (
            "stabilize - old recommendations",
            &[(600, 10), (60, 4), (120, 5), (540, 9)],
            3,
            5,
        ),
    ];
    for (name, recs, raw, want) in rows {
        let mut h = Hpa::legacy(1, 100, vec![50.0]).seeded(NOW, Some(recs), &[], &[]);
        assert_eq!(
            h.stabilize_legacy(NOW, raw),
            want,
            "TestNormalizeDesiredReplicas: {name}"
        );
    }
}

#[test]
fn upstream_test_scale_down_stabilize_initial_size() {
    // TestScaleDownStabilizeInitialSize: 5 pods at 28 % of a 50 % target ask for 3, but a
    // new controller's history is its current count: it stays at 5.
    let pods: Vec<PodSample> = [100, 300, 500, 250, 250]
        .iter()
        .map(|u| PodSample::Ready {
            usage: *u,
            request: 1000,
        })
        .collect();
    let mut h = Hpa::legacy(2, 6, vec![50.0]);
    let d = h.sync_with(NOW, 5, &[Observed::Pods(&pods)]);
    assert_eq!(d.desired, 5);
    // TestScaleDown: the same with an explicitly empty history scales to 3.
    let mut h = Hpa::legacy(2, 6, vec![50.0]).seeded(NOW, Some(&[]), &[], &[]);
    assert_eq!(h.sync_with(NOW, 5, &[Observed::Pods(&pods)]).desired, 3);
    // And with behavior (default 300 s scale-down window) the same holds.
    let mut h = Hpa::new(2, 6, vec![50.0], Behavior::default());
    assert_eq!(h.sync_with(NOW, 5, &[Observed::Pods(&pods)]).desired, 5);
}

#[test]
fn upstream_test_zero_replicas_and_bounds_without_metrics() {
    // TestZeroReplicas: min 3, max 5, target at 0 replicas: disabled, no change.
    let mut h = Hpa::legacy(3, 5, vec![90.0]);
    let d = h.sync(NOW, 0, &[10.0]);
    assert_eq!((d.desired, d.active), (0, false));
    // TestScaleUpRCImmediately (min 2, at 1, no load) and TestScaleDownRCImmediately
    // (max 5, at 6, loaded): straight to the bound, whatever the metric.
    let mut h = Hpa::legacy(2, 6, vec![80.0]);
    assert_eq!(h.sync(NOW, 1, &[0.0]).desired, 2);
    let mut h = Hpa::legacy(2, 5, vec![50.0]);
    assert_eq!(h.sync(NOW, 6, &[616.0]).desired, 5);
    // minReplicas 0 (HPAScaleToZero) does not disable a target at 0.
    let mut h = Hpa::legacy(0, 5, vec![50.0]);
    assert!(h.sync(NOW, 0, &[0.0]).active);
}

#[test]
fn upstream_test_tolerance_is_inclusive() {
    // TestTolerance: 3 pods at 102 % of a 100 % target stay at 3 (min 1, max 5).
    let pods = [
        PodSample::Ready {
            usage: 1010,
            request: 900,
        },
        PodSample::Ready {
            usage: 1030,
            request: 1000,
        },
        PodSample::Ready {
            usage: 1020,
            request: 1100,
        },
    ];
    let mut h = Hpa::legacy(1, 5, vec![100.0]);
    assert_eq!(h.sync_with(NOW, 3, &[Observed::Pods(&pods)]).desired, 3);
    // The bounds themselves are inside (upstream's isWithin: 1 − t ≤ ratio ≤ 1 + t):
    // the 88 % of an 80 % target is exactly 1.1.
    let t = Tolerances::default();
    assert!(t.within(88.0 / 80.0) && t.within(72.0 / 80.0));
    assert!(!t.within(89.0 / 80.0) && !t.within(71.0 / 80.0));
    let h = Hpa::legacy(1, 100, vec![80.0]);
    assert_eq!(h.raw(10, &[88.0]), 10, "88/80 = 1.1 exactly: no change");
    assert_eq!(h.raw(10, &[89.0]), 12);
    // Separate tolerances (behavior.scaleUp.tolerance, Kubernetes 1.33+).
    let mut b = Behavior::default();
    b.up.tolerance = Some(0.5);
    b.down.tolerance = Some(0.01);
    let h = Hpa::new(1, 100, vec![100.0], b);
    assert_eq!(h.raw(10, &[140.0]), 10, "within +50 %");
    assert_eq!(h.raw(10, &[95.0]), 10);
    let h2 = Hpa::new(1, 100, vec![100.0], Behavior::default());
    assert_eq!(h2.raw(10, &[95.0]), 10);
    let mut b = Behavior::default();
    b.down.tolerance = Some(0.01);
    let h3 = Hpa::new(1, 100, vec![100.0], b);
    assert_eq!(h3.raw(10, &[95.0]), 10, "ceil(9.5) = 10");
    assert_eq!(h3.raw(10, &[85.0]), 9);
}

#[test]
fn upstream_test_store_scale_events_counts_the_period() {
    // TestStoreScaleEvents: getReplicasChangePerPeriod(60, …) over the seeded events.
    let rows: [(&[(u64, u32)], i64); 5] = [
        (&[], 0),
        (&[(61, 7)], 0),
        (&[(58, 7)], 7),
        (&[(61, 7), (59, 6)], 6),
        (&[(29, 8), (59, 6), (61, 7), (61, 9)], 14),
    ];
    for (events, want) in rows {
        let h = Hpa::new(1, 100, vec![50.0], Behavior::default()).seeded(NOW, None, events, &[]);
        assert_eq!(
            Hpa::changed(&h.up_events, secs(60), NOW),
            want,
            "{events:?}"
        );
    }
    // Without behavior nothing is stored; with it, a change is.
    let mut legacy = Hpa::legacy(1, 100, vec![50.0]);
    legacy.store_event(NOW, 10, 15);
    assert!(legacy.up_events.is_empty());
    let mut h = Hpa::new(1, 100, vec![50.0], Behavior::default());
    h.store_event(NOW, 10, 15);
    assert_eq!(Hpa::changed(&h.up_events, secs(60), NOW), 5);
}

#[test]
fn a_missing_metric_stops_a_scale_down_but_not_a_scale_up() {
    // computeReplicasForMetrics: with a metric that cannot be read, the others may still
    // scale up; they may not scale down.
    let mut h = Hpa::legacy(1, 20, vec![50.0, 50.0]);
    let d = h.sync_with(
        NOW,
        4,
        &[Observed::Utilization(10.0), Observed::Unavailable],
    );
    assert_eq!((d.desired, d.active), (4, false));
    let d = h.sync_with(
        NOW,
        4,
        &[Observed::Utilization(100.0), Observed::Unavailable],
    );
    assert_eq!((d.desired, d.active), (8, true));
}

#[test]
fn desired_replicas_cap_at_int32() {
    let h = Hpa::legacy(1, u32::MAX, vec![1.0]);
    assert_eq!(h.raw(1_000_000, &[1e12]), i32::MAX as u32);
}

#[test]
fn upstream_test_normalize_desired_replicas_with_behavior() {
    // TestNormalizeDesiredReplicasWithBehavior: stabilizeRecommendationWithBehaviors with
    // (age s, recommendation) history, current, prenormalized, up and down windows (s).
    type Row<'a> = (&'a str, &'a [(u64, u32)], u32, u32, u64, u64, u32);
    let rows: [Row<'_>; 11] = [
        (
            "empty recommendations for scaling down",
            &[],
            100,
            5,
            0,
            0,
            5,
        ),
        (
            "simple scale down stabilization",
            &[(120, 4), (60, 5)],
            100,
            3,
            0,
            180,
            5,
        ),
        (
            "simple scale up stabilization",
            &[(120, 4), (60, 5)],
            1,
            7,
            300,
            0,
            4,
        ),
        (
            "no scale down stabilization",
            &[(120, 1), (60, 2)],
            100,
            3,
            300,
            0,
            3,
        ),
        (
            "no scale up stabilization",
            &[(120, 4), (60, 5)],
            1,
            3,
            0,
            300,
            3,
        ),
        (
            "no scale down stabilization, reuse recommendation element",
            &[(600, 10), (540, 9)],
            100,
            3,
            0,
            0,
            3,
        ),
        (
            "no scale up stabilization, reuse recommendation element",
            &[(600, 10), (540, 9)],
            1,
            100,
            0,
            0,
            100,
        ),
        (
            "scale down stabilization, reuse one of obsolete recommendation element",
            &[(600, 10), (60, 4), (120, 5), (540, 9)],
            100,
            3,
            0,
            180,
            5,
        ),
        (
            "scale up stabilization, reuse one of obsolete recommendation element",
            &[(6000, 10), (60, 6), (120, 5), (180, 9)],
            1,
            100,
            300,
            0,
            5,
        ),
        (
            "scale up and down stabilization, do not scale up when prenormalized rec goes down",
            &[(6000, 2), (180, 3)],
            2,
            1,
            300,
            300,
            2,
        ),
        (
            "scale up and down stabilization, do not scale down when prenormalized rec goes up",
            &[(6000, 2), (180, 1)],
            2,
            3,
            300,
            300,
            2,
        ),
    ];
    for (name, recs, current, raw, up, down, want) in rows {
        let mut b = Behavior::default();
        b.up.stabilization = secs(up);
        b.down.stabilization = secs(down);
        let mut h = Hpa::new(1, 1000, vec![50.0], b.clone()).seeded(NOW, Some(recs), &[], &[]);
        assert_eq!(
            h.stabilize(NOW, current, raw, &b),
            want,
            "TestNormalizeDesiredReplicasWithBehavior: {name}"
        );
    }
}

#[test]
fn upstream_test_stabilize_downscale_and_one_metric_invalid() {
    let at = |u: u64, r: u64| PodSample::Ready {
        usage: u,
        request: r,
    };
    // TestStabilizeDownscale: 3 pods at 50 % of 100 % ask for 2; the 4 of a minute ago holds.
    let pods = [at(50, 100), at(50, 100), at(50, 100)];
    let mut h = Hpa::legacy(1, 5, vec![100.0]).seeded(NOW, Some(&[(600, 10), (60, 4)]), &[], &[]);
    assert_eq!(h.sync_with(NOW, 4, &[Observed::Pods(&pods)]).desired, 4);
    // TestNoScaleDownOneMetricInvalid: CPU asks for 3 of 5, another metric cannot be read:
    // no scale down, ScalingActive false.
    let pods: Vec<PodSample> = [100, 300, 500, 250, 250]
        .iter()
        .map(|u| at(*u, 1000))
        .collect();
    let mut h = Hpa::legacy(2, 6, vec![50.0, 50.0]).seeded(NOW, Some(&[]), &[], &[]);
    let d = h.sync_with(NOW, 5, &[Observed::Pods(&pods), Observed::Unavailable]);
    assert_eq!((d.desired, d.active), (5, false));
    // TestScaleUpOneMetricEmpty: CPU asks for 4 of 3 (40 % of 30 %): scaled up anyway.
    let pods = [at(300, 1000), at(400, 1000), at(500, 1000)];
    let mut h = Hpa::legacy(2, 6, vec![30.0, 50.0]);
    let d = h.sync_with(NOW, 3, &[Observed::Pods(&pods), Observed::Unavailable]);
    assert_eq!(d.desired, 4);
}
