//! A parser of the Prometheus text exposition format (version 0.0.4) and OpenMetrics text
//! (`# EOF`, `_created` series, exemplars): the samples of a scrape, with their labels
//! unescaped. No crate in the tree parses it without pulling a whole client library, and the
//! format is small: lines of `name{label="value",…} value [timestamp]` and `#` comments.
//!
//! Bounded: at most [`MAX_SAMPLES`] samples and [`MAX_LINE`] bytes a line; beyond that the
//! parse fails with where, as it does on a malformed line.

/// One sample of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub const MAX_SAMPLES: usize = 1_000_000;
pub const MAX_LINE: usize = 64 * 1024;

/// Parses a whole exposition; an error names the line.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    scan(text, |_| true, |s| out.push(s))?;
    Ok(out)
}

/// Reads an exposition line by line, handing each sample whose metric name `wanted`
/// accepts to `each` and keeping nothing: a page of a million series costs what the page
/// costs, whatever it holds. Lines of other metrics are counted, not parsed further.
/// Returns the samples on the page; an error names the line.
pub fn scan(
    text: &str,
    wanted: impl Fn(&str) -> bool,
    mut each: impl FnMut(Sample),
) -> Result<usize, String> {
    let mut samples = 0usize;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.len() > MAX_LINE {
            return Err(format!("line {}: longer than {MAX_LINE} bytes", n + 1));
        }
        let t = line.trim_start();
        if t == "# EOF" {
            break;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let name = t
            .find(|c: char| c == '{' || c.is_whitespace())
            .map_or(t, |end| &t[..end]);
        if name.ends_with("_created") {
            continue;
        }
        samples += 1;
        if samples > MAX_SAMPLES {
            return Err(format!("more than {MAX_SAMPLES} samples"));
        }
        if !wanted(name) {
            continue;
        }
        let s = sample(t).map_err(|e| format!("line {}: {e}: {t:.80}", n + 1))?;
        each(s);
    }
    Ok(samples)
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    let first_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("`{name}` is not a metric name"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let (l, after) = label_set(r)?;
        labels = l;
        rest = after;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = number(value).ok_or_else(|| format!("`{value}` is not a number"))?;
    // A timestamp may follow, then (OpenMetrics) an exemplar after `#`: neither is needed.
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

type Labels = Vec<(String, String)>;

/// `a="x",b="y"}` → the labels and what follows the `}`.
fn label_set(mut r: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        r = r.trim_start();
        if let Some(after) = r.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = r.find('=').ok_or("a label without `=`")?;
        let key = r[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{key}` is not a label name"));
        }
        r = r[eq + 1..].trim_start();
        r = r.strip_prefix('"').ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("a label value ends in `\\`".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        labels.push((key.to_string(), value));
        r = r[end + 1..].trim_start();
        r = r.strip_prefix(',').unwrap_or(r);
    }
}

fn number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A series selector as a scenario writes it: `name{label="value",…}` (equality only).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let s = sample(&format!("{} 0", text.trim()))?;
        Ok(Selector {
            name: s.name,
            labels: s.labels,
        })
    }

    /// Whether a metric named `name` may be one of the series selected with `suffix`.
    pub fn names(&self, name: &str, suffix: &str) -> bool {
        name.len() == self.name.len() + suffix.len()
            && name.starts_with(&self.name)
            && name.ends_with(suffix)
    }

    /// Whether `s` is one of the series selected; `suffix` selects `name` + suffix (`_bucket`).
    pub fn matches(&self, s: &Sample, suffix: &str) -> bool {
        self.names(&s.name, suffix)
            && self
                .labels
                .iter()
                .all(|(k, v)| s.label(k) == Some(v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a Go client (`promhttp`) writes: counters, a gauge, a classic histogram, a summary.
    const GO_CLIENT: &str = r#"# HELP http_requests_total Total HTTP requests.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get",path="/ws"} 1027
http_requests_total{code="500",method="get",path="/ws"} 3
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP http_request_duration_seconds A histogram of latencies.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.005"} 24054
http_request_duration_seconds_bucket{le="0.01"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
process_start_time_seconds 1.7e9 1395066363000
"#;

    #[test]
    fn a_go_client_page() {
        let s = parse(GO_CLIENT).unwrap();
        assert_eq!(s.len(), 12);
        assert_eq!(s[0].label("path"), Some("/ws"));
        assert_eq!(s[0].value, 1027.0);
        assert_eq!(s[5].label("le"), Some("+Inf"));
        assert_eq!(s[9].value, 1.7560473e7);
        assert_eq!(s[11].value, 1.7e9, "a timestamp after the value");
        let sel = Selector::parse(r#"http_requests_total{path="/ws"}"#).unwrap();
        let total: f64 = s
            .iter()
            .filter(|x| sel.matches(x, ""))
            .map(|x| x.value)
            .sum();
        assert_eq!(total, 1030.0);
        let b = Selector::parse("http_request_duration_seconds").unwrap();
        assert_eq!(s.iter().filter(|x| b.matches(x, "_bucket")).count(), 3);
    }

    #[test]
    fn escapes_openmetrics_and_errors() {
        let text = "# TYPE a counter\na_total{path=\"/a\\\"b\\\\c\\nd\",x=\"\"} 1.5 # {trace_id=\"x\"} 1\na_created 1.6e9\nb NaN\nc -Inf\n# EOF\nignored 1\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].label("path"), Some("/a\"b\\c\nd"));
        assert_eq!(s[0].label("x"), Some(""));
        assert!(s[1].value.is_nan() && s[2].value == f64::NEG_INFINITY);
        for bad in [
            "a{b=1} 2",
            "a{b=\"1} 2",
            "a",
            "a{} x",
            "1a 2",
            "a{b-c=\"1\"} 2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("ok 1\nbad{ 2\n").unwrap_err();
        assert!(e.starts_with("line 2"), "{e}");
    }
}
