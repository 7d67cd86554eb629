//! The scenario an importer writes: a plain model of requests (or flow steps) rendered
//! as TOML text a person can read and edit, with the comments that say where each part
//! came from, what was left out and why.

use std::fmt::Write as _;
use std::time::Duration;

/// Where a step takes a value from its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Extract {
    Json(String),
    Header(String),
    Cookie(String),
}

/// One request (or flow step).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    pub name: String,
    pub method: String,
    /// Path and query, or a full URL, with `{{var}}` templates.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Sent as is; its `Content-Type` is among `headers`.
    pub body: Option<String>,
    /// The recorded or documented status, when it is not any 2xx.
    pub expect_status: Option<u16>,
    pub extract: Vec<(String, Extract)>,
    pub think: Option<Duration>,
    pub weight: Option<f64>,
    /// Lines said above the step (`# …`).
    pub comments: Vec<String>,
}

/// A feeder the scenario reads (values that are the user's own).
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    pub name: String,
    /// The CSV file's name, beside the scenario.
    pub file: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A whole scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The header comment: what was imported, from where, when.
    pub header: Vec<String>,
    pub target: Option<String>,
    /// Steps of one flow (an iteration does them all in order), else a weighted mix.
    pub flow: bool,
    pub steps: Vec<Step>,
    pub feeders: Vec<Feeder>,
    pub insecure: bool,
    /// Notes at the end (what was left out).
    pub dropped: Vec<String>,
}

/// A TOML basic string literal.
pub fn lit(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A name loadctl accepts (letters, digits, `-`, `_`), unique among `taken`.
pub fn step_name(raw: &str, taken: &[String]) -> String {
    // camelCase reads as snake_case: getItem → get_item.
    let mut spaced = String::with_capacity(raw.len() + 8);
    let mut prev_lower = false;
    for c in raw.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            spaced.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        spaced.push(c);
    }
    let mut base: String = spaced
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    base.truncate(48);
    if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        base = format!("r_{base}");
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// Unique names in `O(1)` each, however many are taken (a long recording names thousands).
#[derive(Debug, Default)]
pub struct Unique {
    taken: std::collections::HashSet<String>,
    next: std::collections::HashMap<String, usize>,
}

impl Unique {
    /// A name for `raw` ([`step_name`]'s rules) that no earlier call gave.
    pub fn name(&mut self, raw: &str) -> String {
        let base = step_name(raw, &[]);
        let mut name = base.clone();
        while self.taken.contains(&name) {
            let n = self.next.entry(base.clone()).or_insert(1);
            *n += 1;
            name = format!("{base}_{n}");
        }
        self.taken.insert(name.clone());
        name
    }

    /// Marks `name` as taken.
    pub fn take(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }
}

impl Scenario {
    /// The TOML text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        for h in &self.header {
            let _ = writeln!(o, "# {h}");
        }
        let _ = writeln!(o, "name = {}", lit(&self.name));
        let _ = writeln!(o, "description = {}", lit(&self.description));
        match &self.target {
            Some(t) => {
                let _ = writeln!(o, "target = {}", lit(t));
            }
            None => {
                let _ = writeln!(o, "# target = \"https://…\"          # none was recorded: give --target when running");
            }
        }
        let unit = if self.flow {
            "iterations (the whole flow)"
        } else {
            "requests"
        };
        let _ = writeln!(
            o,
            "\n[load]\n# A first, gentle open-model load: raise `rate` (in {unit} per second) as you learn the target.\nmodel = \"open\"\nrate = 5\nduration = \"30s\"\nwarmup = \"5s\"\ntimeout = \"10s\""
        );
        if self.insecure {
            let _ = writeln!(o, "\n[tls]\ninsecure = true             # as the command asked (-k): certificates are not verified");
        }
        for f in &self.feeders {
            let _ = writeln!(
                o,
                "\n[[feeders]]\nname = {}\nfile = {}               # the recorded values; add a row per user\nmode = \"sequential\"",
                lit(&f.name),
                lit(&f.file)
            );
        }
        for s in &self.steps {
            self.step(&mut o, s);
        }
        let _ = writeln!(
            o,
            "\n# Fill in the objectives your service promises, for example:\n[slo]\n# \"p99\" = \"< 500ms\"\n# \"error_rate\" = \"< 1%\""
        );
        if !self.dropped.is_empty() {
            let _ = writeln!(o, "\n# Left out of the import:");
            for d in &self.dropped {
                let _ = writeln!(o, "#   {d}");
            }
        }
        o
    }

    fn step(&self, o: &mut String, s: &Step) {
        let _ = writeln!(o);
        for c in &s.comments {
            let _ = writeln!(o, "# {c}");
        }
        let _ = writeln!(
            o,
            "{}",
            if self.flow {
                "[[flow.steps]]"
            } else {
                "[[requests]]"
            }
        );
        let _ = writeln!(o, "name = {}", lit(&s.name));
        let _ = writeln!(o, "method = {}", lit(&s.method));
        let _ = writeln!(o, "path = {}", lit(&s.path));
        if let Some(w) = s.weight {
            let _ = writeln!(o, "weight = {w}");
        }
        if !s.headers.is_empty() {
            let pairs: Vec<String> = s
                .headers
                .iter()
                .map(|(k, v)| format!("{} = {}", lit(k), lit(v)))
                .collect();
            let _ = writeln!(o, "headers = {{ {} }}", pairs.join(", "));
        }
        if let Some(b) = &s.body {
            let _ = writeln!(o, "body = {}", lit(b));
        }
        if let Some(code) = s.expect_status {
            let _ = writeln!(o, "expect_status = {code}");
        }
        if !s.extract.is_empty() {
            let parts: Vec<String> = s
                .extract
                .iter()
                .map(|(var, e)| {
                    let (k, v) = match e {
                        Extract::Json(p) => ("json", p),
                        Extract::Header(h) => ("header", h),
                        Extract::Cookie(c) => ("cookie", c),
                    };
                    format!("{var} = {{ {k} = {} }}", lit(v))
                })
                .collect();
            let _ = writeln!(o, "extract = {{ {} }}", parts.join(", "));
        }
        if let Some(t) = s.think {
            let _ = writeln!(o, "think = {}", lit(&format!("{}ms", t.as_millis())));
        }
    }

    /// The feeders' CSV files: `(file name, text)`.
    pub fn files(&self) -> Vec<(String, String)> {
        self.feeders
            .iter()
            .map(|f| {
                let mut w = csv::Writer::from_writer(Vec::new());
                let _ = w.write_record(&f.columns);
                for r in &f.rows {
                    let _ = w.write_record(r);
                }
                let text =
                    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
                (f.file.clone(), text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_unique() {
        let taken = vec!["get_items".to_string()];
        assert_eq!(step_name("GET /items", &taken), "get_items_2");
        assert_eq!(step_name("123", &[]), "r_123");
        assert_eq!(step_name("listPets", &[]), "list_pets");
        let mut u = Unique::default();
        let names: Vec<String> = (0..4).map(|_| u.name("id")).collect();
        assert_eq!(names, ["id", "id_2", "id_3", "id_4"]);
    }

    #[test]
    fn literals_read_back() {
        let raw = "a \"q\" \\ b\n\tc\u{1}";
        let v: toml::Value = toml::from_str(&format!("x = {}", lit(raw))).unwrap();
        assert_eq!(v["x"].as_str(), Some(raw));
    }
}
