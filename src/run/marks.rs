//! What the live exporters are told is planned to happen when: the warmup, each stage
//! of an open-model schedule, each `[[kube.fault]]` (a dashboard draws them, annotations
//! mark them), on the scale of the seconds a sink gets (from the measured window's start).

use crate::export::Mark;
use crate::scenario::plan::load::LoadPlan;
use crate::scenario::Plan;

/// The plan's marks, in time order.
pub(super) fn of(plan: &Plan) -> Vec<Mark> {
    let warm = plan.warmup.as_secs_f64();
    let mut out = Vec::new();
    if warm > 0.0 {
        out.push(Mark {
            at_s: -warm,
            until_s: Some(0.0),
            kind: "stage",
            text: "warmup".into(),
        });
    }
    if let LoadPlan::Open { schedule, .. } = &plan.load {
        let stages = schedule.stages();
        let after_warmup = |s: &&(f64, f64, f64, f64)| s.1 > 0.0 && s.0 + s.1 > warm;
        let many = stages.iter().filter(after_warmup).count() > 1;
        for (start, len, r0, r1) in stages {
            // The warmup is said above; one constant stage is the whole run, not news.
            if len <= 0.0 || start + len <= warm || !many {
                continue;
            }
            let text = if (r0 - r1).abs() < 1e-9 {
                format!("stage: {r0} req/s for {len}s")
            } else {
                format!("stage: {r0} → {r1} req/s over {len}s")
            };
            out.push(Mark {
                at_s: start - warm,
                until_s: Some(start + len - warm),
                kind: "stage",
                text,
            });
        }
    }
    if let Some(k) = &plan.kube {
        for f in &k.faults {
            let at = humantime::format_duration(f.at).to_string();
            out.push(Mark {
                at_s: f.at.as_secs_f64() - warm,
                until_s: None,
                kind: "fault",
                text: format!("{}: {}", f.name, f.action.describe(&at)),
            });
        }
    }
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_warmup_stages_and_faults_are_marked_on_the_sinks_scale() {
        let text = "name = \"m\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nwarmup = \"5s\"\nstart_rate = 10\nstages = [{ duration = \"10s\", target = 50 }, { duration = \"20s\", target = 50 }]\n[[requests]]\nname = \"u\"\npath = \"/\"\n[kube]\nnamespace = \"shop\"\n[[kube.fault]]\nname = \"kill\"\nat = \"20s\"\naction = \"pod-kill\"\nselector = \"app=x\"\n";
        let plan =
            crate::scenario::parse(Path::new("m.toml"), text, &Default::default(), &|_| None)
                .unwrap();
        let marks = super::of(&plan);
        let got: Vec<(f64, Option<f64>, &str)> =
            marks.iter().map(|m| (m.at_s, m.until_s, m.kind)).collect();
        assert_eq!(
            got,
            vec![
                (-5.0, Some(0.0), "stage"),
                (0.0, Some(10.0), "stage"),
                (10.0, Some(30.0), "stage"),
                (15.0, None, "fault"),
            ]
        );
        assert!(
            marks[1].text.contains("10 → 50 req/s over 10s"),
            "{}",
            marks[1].text
        );
        assert!(
            marks[3].text.starts_with("kill: pod-kill"),
            "{}",
            marks[3].text
        );
    }
}
