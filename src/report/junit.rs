//! `junit.xml`: one test case per SLO, plus the run-level checks (the generator held the
//! load, at least one request succeeded, the run was not interrupted), so a CI system shows
//! a performance gate the way it shows unit tests.

use std::fmt::Write as _;
use std::path::Path;

use super::escape::esc;
use super::exporter::{Exporter, ReportInput};
use crate::files::write_atomic;
use crate::summary::{Status, Summary};

struct Case {
    class: &'static str,
    name: String,
    /// `(element, message)`: `failure` for a failed check, `error` for a run that did not finish.
    problem: Option<(&'static str, String)>,
}

pub fn render(s: &Summary) -> String {
    let mut cases = vec![
        Case {
            class: "run",
            name: "completed as planned".into(),
            problem: (s.status == Status::Interrupted)
                .then(|| ("error", "interrupted before the planned end".to_string())),
        },
        Case {
            class: "generator",
            name: "held the planned load".into(),
            problem: (!s.generator.valid).then(|| {
                (
                    "failure",
                    format!(
                        "dropped {:.3}% (tolerance {:.3}%), send lag p99 {:.2} ms (tolerance {:.2} ms)",
                        s.generator.dropped_ratio * 100.0,
                        s.generator.max_dropped_ratio * 100.0,
                        s.generator.send_lag_p99_ms,
                        s.generator.max_send_lag_p99_ms
                    ),
                )
            }),
        },
        Case {
            class: "run",
            name: "at least one request succeeded".into(),
            problem: (s.totals.ok == 0).then(|| ("failure", "not one request succeeded".to_string())),
        },
    ];
    if let Some(c) = &s.baseline {
        cases.push(Case {
            class: "baseline",
            name: format!("no regression against {}", c.base),
            problem: (c.regressions > 0).then(|| ("failure", c.regression_lines().join("; "))),
        });
    }
    for r in &s.slo {
        let observed = r
            .observed
            .map_or("no data".into(), |v| format!("{v:.3} {}", r.unit));
        cases.push(Case {
            class: "slo",
            name: format!("{} {}", r.name, r.threshold),
            problem: (!r.pass).then(|| ("failure", format!("observed {observed}"))),
        });
    }
    for c in &s.verify {
        cases.push(Case {
            class: "verify",
            name: format!("{}: {}", c.name, c.check),
            problem: (!c.pass).then(|| ("failure", format!("observed {}", c.observed))),
        });
    }
    if let Some(k) = &s.kube {
        for e in &k.expectations {
            cases.push(Case {
                class: "kube",
                name: format!("hpa/{}: {}", e.hpa, e.expectation),
                problem: (!e.pass).then(|| ("failure", format!("observed {}", e.observed))),
            });
        }
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.problem, Some(("failure", _))))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.problem, Some(("error", _))))
        .count();
    let mut o = String::new();
    let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        o,
        r#"<testsuites name="loadctl" tests="{}" failures="{failures}" errors="{errors}" time="{:.3}">"#,
        cases.len(),
        s.duration_s
    );
    let _ = writeln!(
        o,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="0" time="{:.3}" timestamp="{}">"#,
        esc(&s.scenario),
        cases.len(),
        s.duration_s,
        esc(s.started_at.trim_end_matches('Z'))
    );
    let _ = writeln!(o, "    <properties>");
    for (k, v) in [
        ("status", format!("{:?}", s.status).to_lowercase()),
        ("target", s.target.clone()),
        ("requests", s.totals.requests.to_string()),
        ("rps", format!("{:.1}", s.totals.rps)),
        ("p99_ms", format!("{:.3}", s.latency_ms.p99)),
        ("loadctl_version", s.loadctl_version.clone()),
    ] {
        let _ = writeln!(o, r#"      <property name="{k}" value="{}"/>"#, esc(&v));
    }
    let _ = writeln!(o, "    </properties>");
    for c in &cases {
        let head = format!(
            r#"    <testcase classname="{}.{}" name="{}" time="0""#,
            esc(&s.scenario),
            c.class,
            esc(&c.name)
        );
        match &c.problem {
            None => {
                let _ = writeln!(o, "{head}/>");
            }
            Some((kind, msg)) => {
                let _ = writeln!(o, "{head}>");
                let _ = writeln!(
                    o,
                    r#"      <{kind} message="{}" type="{}">{}: {}</{kind}>"#,
                    esc(msg),
                    c.class,
                    esc(&c.name),
                    esc(msg)
                );
                let _ = writeln!(o, "    </testcase>");
            }
        }
    }
    let _ = writeln!(o, "  </testsuite>");
    let _ = writeln!(o, "</testsuites>");
    o
}

pub fn write(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    write_atomic(&dir.join("junit.xml"), render(s).as_bytes())
}

/// `junit.xml`.
pub struct Junit;

impl Exporter for Junit {
    fn file(&self) -> &'static str {
        "junit.xml"
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        write(dir, input.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            esc(r#"p95 < 100ms & "x" 'y' >"#),
            "p95 &lt; 100ms &amp; &quot;x&quot; &apos;y&apos; &gt;"
        );
        assert_eq!(esc("a\u{1}b\nc"), "ab\nc");
    }
}
