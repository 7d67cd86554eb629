//! `loadctl import curl '…'`: one request from a curl command line, as browser devtools'
//! "Copy as cURL" writes it (bash quoting, `\` line continuations). Flags that change
//! what is sent are kept; flags that only change curl's own output are ignored; anything
//! else is named in the scenario's notes, never silently lost.

use base64::Engine as _;

use super::scenario::{step_name, Scenario, Step};
use super::ImportError;

/// Splits a command line as a POSIX shell would (quotes, backslashes), without expansion.
fn words(cmd: &str) -> Result<Vec<String>, ImportError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(ImportError::Parse("an unclosed ' quote".into())),
                    }
                }
            }
            '"' => {
                has = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(ImportError::Parse("an unclosed \" quote".into())),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(ImportError::Parse("an unclosed \" quote".into())),
                    }
                }
            }
            // `$'…'` (ANSI-C quoting, as Chrome writes bodies with newlines).
            '$' if chars.peek() == Some(&'\'') => {
                chars.next();
                has = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => cur.push('\n'),
                            Some('t') => cur.push('\t'),
                            Some('r') => cur.push('\r'),
                            Some(ch) => cur.push(ch),
                            None => return Err(ImportError::Parse("an unclosed $' quote".into())),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(ImportError::Parse("an unclosed $' quote".into())),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | Some('\r') => {}
                Some(ch) => {
                    has = true;
                    cur.push(ch);
                }
                None => {}
            },
            c if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                has = true;
                cur.push(c);
            }
        }
    }
    if has {
        out.push(cur);
    }
    Ok(out)
}

/// Flags that only shape curl's own output or connection handling: nothing to send.
const QUIET: &[&str] = &[
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-v",
    "--verbose",
    "-i",
    "--include",
    "--compressed-ssh",
    "-#",
    "--progress-bar",
    "--no-buffer",
    "-N",
    "-f",
    "--fail",
    "--http1.1",
    "--http2",
];
/// Flags with a value that only shape curl's own output.
const QUIET_VALUE: &[&str] = &[
    "-o",
    "--output",
    "-w",
    "--write-out",
    "-m",
    "--max-time",
    "--connect-timeout",
];

struct Parsed {
    url: Option<String>,
    method: Option<String>,
    headers: Vec<(String, String)>,
    data: Vec<String>,
    get: bool,
    insecure: bool,
    notes: Vec<String>,
}

fn parse(args: &[String]) -> Result<Parsed, ImportError> {
    let mut p = Parsed {
        url: None,
        method: None,
        headers: Vec::new(),
        data: Vec::new(),
        get: false,
        insecure: false,
        notes: Vec::new(),
    };
    let mut i = 0;
    let value = |i: &mut usize, flag: &str| -> Result<String, ImportError> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| ImportError::Parse(format!("{flag} needs a value")))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "curl" if i == 0 => {}
            "-X" | "--request" => p.method = Some(value(&mut i, a)?.to_uppercase()),
            "-H" | "--header" => {
                let h = value(&mut i, a)?;
                match h.split_once(':') {
                    // An HTTP/2 pseudo-header (`:authority: …`) is not a header.
                    _ if h.starts_with(':') => {}
                    Some((k, v)) if http::HeaderName::from_bytes(k.trim().as_bytes()).is_ok() => {
                        p.headers.push((k.trim().to_string(), v.trim().to_string()))
                    }
                    _ => p.notes.push(format!("-H {h}: not `Name: value`, left out")),
                }
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
                let d = value(&mut i, a)?;
                if d.starts_with('@') && a != "--data-raw" {
                    p.notes.push(format!("{a} {d}: a body read from a file is not imported; put its content in `body`"));
                } else {
                    p.data.push(d);
                }
            }
            "--data-urlencode" => {
                let d = value(&mut i, a)?;
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                p.data.push(match d.split_once('=') {
                    Some((k, v)) => format!("{k}={}", enc(v)),
                    None => enc(&d),
                });
            }
            "--json" => {
                p.data.push(value(&mut i, a)?);
                p.headers.push(("Content-Type".into(), "application/json".into()));
                p.headers.push(("Accept".into(), "application/json".into()));
            }
            "-G" | "--get" => p.get = true,
            "-u" | "--user" => {
                let cred = value(&mut i, a)?;
                let b64 = base64::engine::general_purpose::STANDARD.encode(cred.as_bytes());
                p.headers.push(("Authorization".into(), format!("Basic {b64}")));
            }
            "-A" | "--user-agent" => p.headers.push(("User-Agent".into(), value(&mut i, a)?)),
            "-e" | "--referer" => p.headers.push(("Referer".into(), value(&mut i, a)?)),
            "-b" | "--cookie" => {
                let c = value(&mut i, a)?;
                if c.contains('=') {
                    p.headers.push(("Cookie".into(), c));
                } else {
                    p.notes.push(format!("{a} {c}: a cookie file is not imported"));
                }
            }
            "--compressed" => {
                p.headers.push(("Accept-Encoding".into(), "deflate, gzip, br".into()));
                p.notes.push("--compressed: the answers are asked for compressed, as curl does; loadctl counts their bytes and does not decode them".into());
            }
            "-k" | "--insecure" => p.insecure = true,
            "-L" | "--location" => p.notes.push("-L: loadctl does not follow redirects; a redirect is the answer (add its target as its own request)".into()),
            "-I" | "--head" => p.method = Some("HEAD".into()),
            "--url" => p.url = Some(value(&mut i, a)?),
            a if QUIET.contains(&a) => {}
            a if QUIET_VALUE.contains(&a) => {
                value(&mut i, a)?;
            }
            a if a.starts_with('-') => p.notes.push(format!("{a}: not imported (loadctl has no equivalent)")),
            a if p.url.is_none() => p.url = Some(a.to_string()),
            a => p.notes.push(format!("`{a}`: a second URL is not imported")),
        }
        i += 1;
    }
    Ok(p)
}

/// The scenario of one curl command.
pub fn import(cmd: &str) -> Result<Scenario, ImportError> {
    let args = words(cmd)?;
    if args.first().map(String::as_str) != Some("curl") {
        return Err(ImportError::Parse(
            "a curl command starts with `curl`".into(),
        ));
    }
    let mut p = parse(&args)?;
    let raw_url = p
        .url
        .clone()
        .ok_or_else(|| ImportError::Parse("no URL in the command".into()))?;
    let with_scheme = if raw_url.contains("://") {
        raw_url.clone()
    } else {
        format!("http://{raw_url}")
    };
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| ImportError::Parse(format!("`{raw_url}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ImportError::Unsupported(format!(
            "{}: only http and https URLs",
            url.scheme()
        )));
    }
    let body = (!p.data.is_empty()).then(|| p.data.join("&"));
    let mut method = p.method.clone();
    let body = match (p.get, body) {
        (true, Some(q)) => {
            let joined = match url.query() {
                Some(old) if !old.is_empty() => format!("{old}&{q}"),
                _ => q,
            };
            url.set_query(Some(&joined));
            None
        }
        (_, b) => b,
    };
    if method.is_none() {
        method = Some(if body.is_some() { "POST" } else { "GET" }.to_string());
    }
    let has_type = p
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !has_type {
        p.headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    // `Host` is the target's; HTTP/2 pseudo-headers are not headers.
    p.headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case("host")
            && !k.starts_with(':')
            && !k.eq_ignore_ascii_case("content-length")
    });
    let origin = url.origin().ascii_serialization();
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let method = method.unwrap_or_default();
    let name = step_name(&format!("{} {}", method.to_lowercase(), url.path()), &[]);
    Ok(Scenario {
        name: step_name(&format!("curl {}", url.host_str().unwrap_or("target")), &[]),
        description: format!("Imported from a curl command: {method} {}", url.path()),
        header: vec![format!(
            "Imported by `loadctl import curl` from: {}",
            raw_url
        )],
        target: Some(origin),
        flow: false,
        steps: vec![Step {
            name,
            method,
            path: escape_templates(&path),
            headers: p
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), escape_templates(v)))
                .collect(),
            body: body.map(|b| escape_templates(&b)),
            ..Default::default()
        }],
        insecure: p.insecure,
        dropped: p.notes,
        ..Default::default()
    })
}

/// Recorded text is sent as is: a literal `{{` must not read as a template.
pub fn escape_templates(s: &str) -> String {
    s.replace("{{", "{{\"{{\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        let w = words("curl 'http://a/b c' -H \"X: \\\"q\\\"\" \\\n  --data-raw $'a\\nb' plain")
            .unwrap();
        assert_eq!(
            w,
            [
                "curl",
                "http://a/b c",
                "-H",
                "X: \"q\"",
                "--data-raw",
                "a\nb",
                "plain"
            ]
        );
        assert!(words("curl 'open").is_err());
    }
}
