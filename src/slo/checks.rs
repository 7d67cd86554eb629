//! Post-run checks: `sold <= initial_stock`, `oversold == 0`, `/ledger/orders == sold` —
//! comparisons between fields of a JSON answer and numbers, as `[[verify]]` and
//! `[[setup]]` requests state them.
//!
//! A field is a JSON pointer (`/a/b`) or a dotted key path (`a.b`, `sold`). Numbers are
//! compared as numbers; `==` and `!=` also compare strings and booleans (`status == "ok"`).
//! A field that is missing fails the check and says so, rather than comparing as zero.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    fn text(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// JSON pointer, and the field as written.
    Field(String, String),
    Literal(Value),
}

/// One parsed check.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub text: String,
    left: Operand,
    op: CmpOp,
    right: Operand,
}

/// How a check came out, for summary.json, the console and JUnit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// The `[[verify]]` (or `[[setup]]`) entry's name.
    pub name: String,
    /// The check as written, or `status` for the answer's status code.
    pub check: String,
    pub pass: bool,
    /// The values compared (`sold = 1000, initial_stock = 1000`) or what went wrong.
    pub observed: String,
}

/// Judges the answer to a `[[setup]]` / `[[verify]]` request: `status` is the code when
/// it was an expected one, or what went wrong. One result per check; a failed status or a
/// body that is not JSON fails them all, and an answer with no checks is judged on its
/// status alone.
pub fn judge(
    name: &str,
    status: Result<u16, String>,
    body: &[u8],
    checks: &[Assertion],
) -> Vec<CheckResult> {
    let result = |check: &str, pass: bool, observed: String| CheckResult {
        name: name.to_string(),
        check: check.to_string(),
        pass,
        observed,
    };
    let code = match status {
        Ok(code) => code,
        Err(why) => return vec![result("status", false, why)],
    };
    if checks.is_empty() {
        return vec![result("status", true, format!("status {code}"))];
    }
    let doc: Value = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => {
            return checks
                .iter()
                .map(|c| result(&c.text, false, format!("the answer is not JSON: {e}")))
                .collect()
        }
    };
    checks
        .iter()
        .map(|c| {
            let (pass, observed) = c.evaluate(&doc);
            result(&c.text, pass, observed)
        })
        .collect()
}

/// Parses `left op right`.
pub fn parse(text: &str) -> Result<Assertion, String> {
    let t = text.trim();
    let ops = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];
    let Some((at, sym, op)) = ops
        .iter()
        .filter_map(|(sym, op)| t.find(sym).map(|at| (at, *sym, *op)))
        .min_by_key(|(at, sym, _)| (*at, std::cmp::Reverse(sym.len())))
    else {
        return Err(format!(
            "`{t}` has no comparison; write it as `sold <= initial_stock` or `oversold == 0` (<, <=, >, >=, ==, !=)"
        ));
    };
    let left = operand(t[..at].trim())?;
    let right = operand(t[at + sym.len()..].trim())?;
    if matches!((&left, &right), (Operand::Literal(_), Operand::Literal(_))) {
        return Err(format!(
            "`{t}` compares two constants; name a field of the answer on one side"
        ));
    }
    let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
    for o in [&left, &right] {
        if let Operand::Literal(v) = o {
            if ordered && !v.is_number() {
                return Err(format!("`{t}`: {} compares numbers only", op.text()));
            }
        }
    }
    Ok(Assertion {
        text: t.to_string(),
        left,
        op,
        right,
    })
}

fn operand(s: &str) -> Result<Operand, String> {
    if s.is_empty() {
        return Err("a comparison needs a value on both sides".into());
    }
    if let Ok(n) = s.replace('_', "").parse::<f64>() {
        return Ok(Operand::Literal(serde_json::json!(n)));
    }
    match s {
        "true" => return Ok(Operand::Literal(Value::Bool(true))),
        "false" => return Ok(Operand::Literal(Value::Bool(false))),
        _ => {}
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return Ok(Operand::Literal(Value::String(s[1..s.len() - 1].into())));
    }
    if s.starts_with('/') {
        return Ok(Operand::Field(s.to_string(), s.to_string()));
    }
    let ok = s.split('.').all(|k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    });
    if !ok {
        return Err(format!(
            "`{s}` is neither a number, a quoted string, a JSON pointer (/a/b) nor a field path (a.b)"
        ));
    }
    Ok(Operand::Field(
        format!("/{}", s.replace('.', "/")),
        s.into(),
    ))
}

impl Assertion {
    /// Evaluates the check against a JSON answer: pass, and the values it saw.
    pub fn evaluate(&self, doc: &Value) -> (bool, String) {
        let mut seen = Vec::new();
        let mut resolve = |o: &Operand| -> Option<Value> {
            match o {
                Operand::Literal(v) => Some(v.clone()),
                Operand::Field(ptr, name) => match doc.pointer(ptr) {
                    Some(v) => {
                        seen.push(format!("{name} = {v}"));
                        Some(v.clone())
                    }
                    None => {
                        seen.push(format!("{name} is missing"));
                        None
                    }
                },
            }
        };
        let (l, r) = (resolve(&self.left), resolve(&self.right));
        let observed = seen.join(", ");
        let (Some(l), Some(r)) = (l, r) else {
            return (false, observed);
        };
        let pass = match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) => match self.op {
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                CmpOp::Ge => a >= b,
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
            },
            _ => match self.op {
                CmpOp::Eq => l == r,
                CmpOp::Ne => l != r,
                _ => return (false, format!("{observed} (not numbers)")),
            },
        };
        (pass, observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_numbers() {
        let doc = json!({"sold": 1000, "initial_stock": 1000, "oversold": 0, "ledger": {"orders": 1001}, "state": "open"});
        let check = |t: &str| parse(t).unwrap().evaluate(&doc);
        assert_eq!(
            check("sold <= initial_stock"),
            (true, "sold = 1000, initial_stock = 1000".into())
        );
        assert!(check("oversold == 0").0);
        assert!(!check("ledger.orders == sold").0);
        assert!(!check("/ledger/orders <= 1_000").0);
        assert!(check("state == \"open\"").0);
        assert!(check("state != \"closed\"").0);
        let (pass, observed) = check("refunds == 0");
        assert!(!pass);
        assert_eq!(observed, "refunds is missing");
    }

    #[test]
    fn judging_an_answer() {
        let checks = [
            parse("oversold == 0").unwrap(),
            parse("sold <= 10").unwrap(),
        ];
        let r = judge(
            "ledger",
            Ok(200),
            br#"{"oversold": 0, "sold": 11}"#,
            &checks,
        );
        assert_eq!(r.iter().map(|c| c.pass).collect::<Vec<_>>(), [true, false]);
        assert_eq!(r[1].observed, "sold = 11");
        let r = judge(
            "ledger",
            Err("status 503, expected 2xx".into()),
            b"",
            &checks,
        );
        assert_eq!(r.len(), 1);
        assert!(!r[0].pass && r[0].check == "status");
        let r = judge("ledger", Ok(200), b"<html>", &checks);
        assert!(r.iter().all(|c| !c.pass && c.observed.contains("not JSON")));
        let r = judge("reset", Ok(200), b"", &[]);
        assert!(r[0].pass);
    }

    #[test]
    fn bad_checks_say_how_to_write_them() {
        assert!(parse("sold").unwrap_err().contains("no comparison"));
        assert!(parse("1 < 2").unwrap_err().contains("two constants"));
        assert!(parse("state < \"x\"").unwrap_err().contains("numbers only"));
        assert!(parse("sold <= ").unwrap_err().contains("both sides"));
        assert!(parse("so ld == 1").unwrap_err().contains("neither"));
    }
}
