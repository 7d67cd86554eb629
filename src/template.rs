//! `{{…}}` templates in request paths, headers and bodies.
//!
//! A template is compiled once at validation into literal and dynamic parts; rendering
//! appends to a caller-owned buffer, so a static template costs nothing per request and a
//! dynamic one costs only the string it produces. Environment variables are resolved at
//! validation (a missing one is an error before any traffic) and marked secret: reports
//! show the template text, never the value. Variables (`{{token}}`: a feeder column or a
//! value an earlier flow step extracted) are resolved at validation to a index, so
//! rendering one is an index into the iteration's values.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    RandInt(i64, i64),
    Uuid,
    Seq,
    Env(String),
    Var(usize),
}

/// A compiled template. `source` is the text as written, safe to show in reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
    /// Variables are inserted into a JSON string literal: escape them.
    json_vars: bool,
}

/// A template problem: byte offset into the template text and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Per-render inputs: the worker's random generator, the run-wide sequence and the
/// iteration's variable values (by index).
pub struct RenderCtx<'a> {
    pub rng: &'a mut fastrand::Rng,
    pub seq: &'a AtomicU64,
    pub vars: &'a [String],
}

const FUNCTIONS: &str = "rand_int(MIN, MAX), uuid, seq, env.NAME";

/// What a template may refer to: environment variables, and the variables defined so far
/// (index = position in `vars`).
pub struct Scope<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub vars: &'a [String],
}

impl Template {
    /// Compiles `text` in `scope`.
    pub fn compile(text: &str, scope: &Scope<'_>) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find("}}") else {
                return Err(TemplateError {
                    offset: offset + open,
                    message: "`{{` is never closed; add `}}`".into(),
                });
            };
            let expr = rest[open + 2..open + close].trim();
            parts.push(parse_expr(expr, scope).map_err(|message| TemplateError {
                offset: offset + open,
                message,
            })?);
            offset += open + close + 2;
            rest = &rest[open + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
            json_vars: false,
        })
    }

    /// Text with no template in it, taken as it is.
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.to_string(),
            parts: vec![Part::Lit(text.to_string())],
            json_vars: false,
        }
    }

    /// Marks the template as JSON text whose variables sit inside string literals, so
    /// a value with a quote or backslash cannot break the document.
    pub fn json_escaped(mut self) -> Self {
        self.json_vars = true;
        self
    }

    /// variable indices the template reads.
    pub fn vars(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(*v),
            _ => None,
        })
    }

    /// The text as written in the scenario (with `{{env.X}}` unexpanded).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `Some(text)` when the template has no dynamic part; env values count as dynamic
    /// only in the sense that they are secret, so a static check uses [`Self::is_static`].
    pub fn is_static(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Lit(_) | Part::Env(_)))
    }

    /// True when rendering inserts an environment value (which must stay out of reports).
    pub fn has_secret(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Env(_)))
    }

    /// Appends the rendered template to `out`.
    pub fn render_into(&self, out: &mut String, ctx: &mut RenderCtx<'_>) {
        for part in &self.parts {
            match part {
                Part::Lit(s) | Part::Env(s) => out.push_str(s),
                Part::RandInt(lo, hi) => {
                    let _ = write!(out, "{}", ctx.rng.i64(*lo..=*hi));
                }
                Part::Seq => {
                    let _ = write!(out, "{}", ctx.seq.fetch_add(1, Ordering::Relaxed));
                }
                Part::Uuid => push_uuid_v4(out, ctx.rng.u128(..)),
                Part::Var(index) => {
                    let v = ctx.vars.get(*index).map_or("", String::as_str);
                    if self.json_vars {
                        push_json_escaped(out, v);
                    } else {
                        out.push_str(v);
                    }
                }
            }
        }
    }

    /// A representative rendering for validation: functions give a value of their kind,
    /// environment values are theirs, and each variable (a feeder or extracted value, known
    /// only at run time) is `x`. What fails to parse here fails because of what the file
    /// itself wrote.
    pub fn render_sample(&self) -> String {
        let mut rng = fastrand::Rng::with_seed(0);
        let seq = AtomicU64::new(0);
        let vars: Vec<String> = (0..self.var_count()).map(|_| "x".to_string()).collect();
        let mut out = String::new();
        self.render_into(
            &mut out,
            &mut RenderCtx {
                rng: &mut rng,
                seq: &seq,
                vars: &vars,
            },
        );
        out
    }

    /// Whether rendering reads variable `index`.
    pub fn uses_var(&self, index: usize) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(i) if *i == index))
    }

    /// One more than the highest variable indices the template reads.
    pub(crate) fn var_count(&self) -> usize {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Var(i) => Some(i + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Renders a static template (no random parts) without a context.
    pub fn render_static(&self) -> String {
        let mut rng = fastrand::Rng::with_seed(0);
        let seq = AtomicU64::new(0);
        let mut out = String::new();
        self.render_into(
            &mut out,
            &mut RenderCtx {
                rng: &mut rng,
                seq: &seq,
                vars: &[],
            },
        );
        out
    }
}

fn push_json_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn parse_expr(expr: &str, scope: &Scope<'_>) -> Result<Part, String> {
    if let Some(index) = scope.vars.iter().position(|v| v == expr) {
        return Ok(Part::Var(index));
    }
    if expr == "uuid" {
        return Ok(Part::Uuid);
    }
    // `{{"{{"}}`: literal text (how recorded text that holds `{{` is sent as it was).
    if let Some(text) = expr.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
        return Ok(Part::Lit(text.to_string()));
    }
    if expr == "seq" {
        return Ok(Part::Seq);
    }
    if let Some(name) = expr.strip_prefix("env.") {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`{{{{{expr}}}}}`: an environment variable name is letters, digits and `_`"
            ));
        }
        return (scope.env)(name).map(Part::Env).ok_or_else(|| {
            format!("environment variable `{name}` is not set; export it before running (its value is never written to reports)")
        });
    }
    if let Some(args) = expr
        .strip_prefix("rand_int(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let nums: Vec<&str> = args.split(',').map(str::trim).collect();
        let parsed: Option<Vec<i64>> = nums.iter().map(|n| n.parse().ok()).collect();
        return match parsed.as_deref() {
            Some([lo, hi]) if lo <= hi => Ok(Part::RandInt(*lo, *hi)),
            Some([lo, hi]) => Err(format!(
                "`rand_int({lo}, {hi})`: the minimum is larger than the maximum; swap them"
            )),
            _ => Err(format!(
                "`{{{{{expr}}}}}`: rand_int takes two integers, as in rand_int(1, 100)"
            )),
        };
    }
    let vars = if scope.vars.is_empty() {
        String::new()
    } else {
        format!(
            " and the variables defined before it: {}",
            scope.vars.join(", ")
        )
    };
    Err(format!(
        "unknown template `{{{{{expr}}}}}`; available: {FUNCTIONS}{vars}"
    ))
}

/// RFC 4122 version-4 text form of 128 random bits.
fn push_uuid_v4(out: &mut String, bits: u128) {
    let b = (bits & !(0xf000 << 64) | (0x4000 << 64)) & !(0xc000 << 48) | (0x8000 << 48);
    let hex = format!("{b:032x}");
    out.push_str(&hex[0..8]);
    out.push('-');
    out.push_str(&hex[8..12]);
    out.push('-');
    out.push_str(&hex[12..16]);
    out.push('-');
    out.push_str(&hex[16..20]);
    out.push('-');
    out.push_str(&hex[20..32]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: &str) -> Option<String> {
        None
    }

    const NO_ENV: Scope<'static> = Scope {
        env: &nothing,
        vars: &[],
    };
    #[allow(non_upper_case_globals)]
    const no_env: &Scope<'static> = &NO_ENV;

    fn render(t: &Template, seed: u64, seq: &AtomicU64) -> String {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut out = String::new();
        t.render_into(
            &mut out,
            &mut RenderCtx {
                rng: &mut rng,
                seq,
                vars: &[],
            },
        );
        out
    }

    #[test]
    fn variables_resolve_to_indices_and_escape_in_json() {
        let vars = ["user".to_string(), "token".to_string()];
        let scope = Scope {
            env: &nothing,
            vars: &vars,
        };
        let t = Template::compile("Bearer {{token}}", &scope).unwrap();
        assert!(!t.is_static());
        assert_eq!(t.vars().collect::<Vec<_>>(), [1]);
        let values = ["u\"1".to_string(), "abc".to_string()];
        let mut rng = fastrand::Rng::with_seed(1);
        let seq = AtomicU64::new(0);
        let mut out = String::new();
        let mut cx = RenderCtx {
            rng: &mut rng,
            seq: &seq,
            vars: &values,
        };
        t.render_into(&mut out, &mut cx);
        assert_eq!(out, "Bearer abc");
        let body = Template::compile(r#"{"user":"{{user}}"}"#, &scope)
            .unwrap()
            .json_escaped();
        out.clear();
        body.render_into(&mut out, &mut cx);
        assert_eq!(out, r#"{"user":"u\"1"}"#);
        let e = Template::compile("{{tokn}}", &scope).unwrap_err();
        assert!(
            e.message.contains("defined before it: user, token"),
            "{}",
            e.message
        );
    }

    #[test]
    fn literal_text_is_static() {
        let t = Template::compile("/api/v1/activities/", no_env).unwrap();
        assert!(t.is_static());
        assert_eq!(t.render_static(), "/api/v1/activities/");
    }

    #[test]
    fn rand_int_stays_in_range() {
        let t = Template::compile("/a/{{ rand_int(3, 5) }}/", no_env).unwrap();
        assert!(!t.is_static());
        let seq = AtomicU64::new(0);
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let s = render(&t, seed, &seq);
            let n: i64 = s
                .trim_matches('/')
                .trim_start_matches("a/")
                .parse()
                .unwrap();
            assert!((3..=5).contains(&n), "{s}");
            seen.insert(n);
        }
        assert_eq!(seen.len(), 3, "every value in the range appears");
    }

    #[test]
    fn seq_counts_up_across_renders() {
        let t = Template::compile("id-{{seq}}", no_env).unwrap();
        let seq = AtomicU64::new(0);
        assert_eq!(render(&t, 1, &seq), "id-0");
        assert_eq!(render(&t, 1, &seq), "id-1");
    }

    #[test]
    fn uuid_has_v4_shape() {
        let t = Template::compile("{{uuid}}", no_env).unwrap();
        let seq = AtomicU64::new(0);
        let u = render(&t, 7, &seq);
        assert_eq!(u.len(), 36);
        let groups: Vec<&str> = u.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{u}");
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, render(&t, 8, &seq));
    }

    #[test]
    fn env_is_resolved_and_marked_secret() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        let t = Template::compile(
            "Bearer {{env.TOKEN}}",
            &Scope {
                env: &env,
                vars: &[],
            },
        )
        .unwrap();
        assert!(t.has_secret());
        assert_eq!(t.render_static(), "Bearer s3cret");
        assert_eq!(t.source(), "Bearer {{env.TOKEN}}");
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = Template::compile("/x/{{env.MISSING}}", no_env).unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(e.message.contains("`MISSING` is not set"), "{}", e.message);
        let e = Template::compile("{{rand_int(9, 1)}}", no_env).unwrap_err();
        assert!(e.message.contains("swap"), "{}", e.message);
        let e = Template::compile("{{now}}", no_env).unwrap_err();
        assert!(e.message.contains("available: rand_int"), "{}", e.message);
        let e = Template::compile("/a/{{uuid", no_env).unwrap_err();
        assert!(e.message.contains("never closed"), "{}", e.message);
    }
}
