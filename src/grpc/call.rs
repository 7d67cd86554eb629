//! One gRPC request as a scenario writes it (`grpc = "pkg.Svc/Method"`, `message`,
//! `stream`, `check.grpc_status`), validated in two steps: its own keys when the request
//! is read, then [`resolve`] against the [`Schema`] once `[grpc]` is read (the method,
//! the call kind, the message against its type). At run time it makes the request's body
//! (messages from the JSON mapping, framed) and judges the answer's status and first
//! message.

use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor};
use serde::Deserialize;
use toml::Spanned;

use super::schema::{call_kind, Schema};
use super::status;
use super::wire::{self, Answer};
use crate::diag::Ctx;
use crate::metrics::ErrorKind;
use crate::template::{RenderCtx, Scope, Template};

/// `stream = { … }` of a streaming call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    /// Messages to read before the call is complete (server and bidi streaming).
    pub receive: Option<Spanned<i64>>,
    /// Messages to send (client and bidi streaming).
    pub send: Option<Spanned<i64>>,
    /// Pause between sent messages.
    pub every: Option<Spanned<String>>,
    /// The message each send renders (else the request's `message`).
    pub message: Option<Spanned<toml::Value>>,
    /// The whole call's deadline, in place of `[load] timeout`.
    pub timeout: Option<Spanned<String>>,
}

/// What a streaming call sends and reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamPlan {
    /// `None`: read until the server ends the call.
    pub receive: Option<u32>,
    pub send: u32,
    pub every: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// What a call sends: its messages together, or one each period.
pub enum CallBody {
    Whole(Bytes),
    Paced(Vec<Bytes>, Duration),
}

/// A validated gRPC request.
#[derive(Debug, Clone)]
pub struct Call {
    /// `package.Service/Method`.
    pub name: String,
    /// Where it is in the scenario (`requests[2]`), for the errors of [`resolve`].
    field: String,
    at: Range<usize>,
    message: Template,
    message_at: Range<usize>,
    /// Statuses that count as success (`check.grpc_status`; `OK` when not given).
    pub expect: Vec<u32>,
    pub stream: StreamPlan,
    /// Set by [`resolve`].
    pub method: Option<MethodDescriptor>,
    /// The body, framed, when the messages are static.
    body: Option<Bytes>,
    pub max_message: u32,
    /// The call's deadline (`stream.timeout`, else `[load] timeout`), sent as
    /// `grpc-timeout`.
    pub deadline: Duration,
    /// `line:column` of its `grpc` key and of its message, for errors found at the run's
    /// start.
    places: [String; 2],
}

impl PartialEq for Call {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.message == other.message
            && self.expect == other.expect
            && self.stream == other.stream
            && self.max_message == other.max_message
            && self.deadline == other.deadline
    }
}

/// The keys of a gRPC request, as its table has them.
pub struct RawCall<'a> {
    pub grpc: &'a Spanned<String>,
    pub message: Option<&'a Spanned<toml::Value>>,
    pub stream: Option<&'a Spanned<RawStream>>,
    pub status: Option<&'a Spanned<toml::Value>>,
}

/// Reads a gRPC request's own keys (`field` is `requests[i]`).
pub(crate) fn call(
    cx: &mut Ctx<'_>,
    raw: RawCall<'_>,
    field: &str,
    scope: &Scope<'_>,
) -> Option<Call> {
    let name = raw
        .grpc
        .get_ref()
        .trim()
        .trim_start_matches('/')
        .to_string();
    let stream = raw.stream.map(|s| stream(cx, s.get_ref(), field));
    let in_stream = raw.stream.and_then(|s| s.get_ref().message.as_ref());
    if let (Some(m), Some(_)) = (in_stream, raw.message) {
        cx.err(
            m.span(),
            format!("{field}.stream.message"),
            "the message is given twice: keep it here or in `message`, not both",
        );
    }
    let written = in_stream.or(raw.message);
    let message = match written {
        Some(m) => message(cx, m, &format!("{field}.message"), scope),
        None => Template::compile("{}", scope)
            .ok()
            .map(|t| (t, raw.grpc.span())),
    };
    let expect = match raw.status {
        None => Some(vec![0]),
        Some(s) => statuses(cx, s, &format!("{field}.check.grpc_status")),
    };
    // No `stream`: a unary call, or a server-streaming one read to its end.
    let stream = match stream {
        None => StreamPlan {
            send: 1,
            ..Default::default()
        },
        Some(s) => s?,
    };
    let (message, message_at) = message?;
    Some(Call {
        name,
        field: field.to_string(),
        at: raw.grpc.span(),
        message,
        message_at,
        expect: expect?,
        stream,
        method: None,
        body: None,
        max_message: super::schema::DEFAULT_MAX_MESSAGE,
        deadline: Duration::ZERO,
        places: Default::default(),
    })
}

fn stream(cx: &mut Ctx<'_>, s: &RawStream, field: &str) -> Option<StreamPlan> {
    let mut ok = true;
    let mut count = |cx: &mut Ctx<'_>, v: &Option<Spanned<i64>>, key: &str| {
        let field = format!("{field}.stream.{key}");
        let (most, why) = crate::diag::limits::count(&field).unwrap_or((100_000, ""));
        match v {
            None => None,
            Some(n) if (1..=most as i64).contains(n.get_ref()) => Some(*n.get_ref() as u32),
            Some(n) => {
                cx.err(n.span(), field, format!("must be 1 to {most} ({why})"));
                ok = false;
                None
            }
        }
    };
    let receive = count(cx, &s.receive, "receive");
    let send = count(cx, &s.send, "send");
    let timeout = s
        .timeout
        .as_ref()
        .map(|t| cx.duration(t, &format!("{field}.stream.timeout")));
    if let (Some(e), None) = (&s.every, &s.send) {
        cx.err(
            e.span(),
            format!("{field}.stream.every"),
            "paces the messages sent: give `send` too",
        );
        ok = false;
    }
    let every = match &s.every {
        None => None,
        Some(e) => match cx.duration(e, &format!("{field}.stream.every")) {
            Some(d) if !d.is_zero() => Some(d),
            Some(_) => {
                cx.err(
                    e.span(),
                    format!("{field}.stream.every"),
                    "must be longer than 0 (leave it out to send the messages together)",
                );
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
        },
    };
    let timeout = match timeout {
        Some(None) => {
            ok = false;
            None
        }
        Some(Some(d)) => Some(d),
        None => None,
    };
    ok.then_some(StreamPlan {
        receive,
        send: send.unwrap_or(1),
        every,
        timeout,
    })
}

fn message(
    cx: &mut Ctx<'_>,
    m: &Spanned<toml::Value>,
    field: &str,
    scope: &Scope<'_>,
) -> Option<(Template, Range<usize>)> {
    let (text, table) = match m.get_ref() {
        toml::Value::String(s) => (s.clone(), false),
        v @ toml::Value::Table(_) => (serde_json::to_string(v).unwrap_or_default(), true),
        _ => {
            cx.err(
                m.span(),
                field,
                "must be the message in protobuf's JSON mapping, as a string ('{\"sku\": \"A-1\"}') or a table",
            );
            return None;
        }
    };
    match Template::compile(&text, scope) {
        // A table's values put into its strings must stay inside them.
        Ok(t) if table => Some((t.json_escaped(), m.span())),
        Ok(t) => Some((t, m.span())),
        Err(e) => {
            let at = (m.span().start + 1 + e.offset).min(m.span().end);
            cx.err(at..at, field, e.message);
            None
        }
    }
}

fn statuses(cx: &mut Ctx<'_>, s: &Spanned<toml::Value>, field: &str) -> Option<Vec<u32>> {
    let items: Vec<&toml::Value> = match s.get_ref() {
        toml::Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let mut out = Vec::new();
    for v in items {
        let code = match v {
            toml::Value::String(n) => status::code(n),
            toml::Value::Integer(n) => u32::try_from(*n)
                .ok()
                .and_then(|n| status::code(&n.to_string())),
            _ => None,
        };
        match code {
            Some(c) => out.push(c),
            None => {
                let written = match v {
                    toml::Value::String(n) => n.clone(),
                    other => format!("{other:?}"),
                };
                let near = crate::diag::closest(&written, status::NAMES);
                let hint = near
                    .first()
                    .map(|n| format!("did you mean \"{n}\"? "))
                    .unwrap_or_default();
                cx.err(
                    s.span(),
                    field,
                    format!("`{written}` is not a gRPC status; {hint}use names such as \"OK\", \"NOT_FOUND\", \"RESOURCE_EXHAUSTED\" (or codes 0 to 16)"),
                );
                return None;
            }
        }
    }
    Some(out)
}

/// A mistake found resolving a call: where (its `grpc` key or its message), the key, and
/// what to do.
struct Mistake {
    on_message: bool,
    key: &'static str,
    message: String,
}

/// Resolves `call` against `schema`: its method, whether its `stream` keys fit the
/// method's kind, and its message against the method's input type (a static message
/// is encoded once, here). `timeout` is `[load] timeout`. Also keeps where the call is
/// written, for [`resolve_late`].
pub(crate) fn resolve(cx: &mut Ctx<'_>, schema: &Schema, call: &mut Call, timeout: Duration) {
    call.places = [cx.place(call.at.start), cx.place(call.message_at.start)];
    for m in mistakes(schema, call, timeout) {
        let at = if m.on_message {
            call.message_at.clone()
        } else {
            call.at.clone()
        };
        cx.err(at, format!("{}.{}", call.field, m.key), m.message);
    }
}

/// Keeps where `call` is written, for a run that resolves it late (reflection).
pub(crate) fn place(cx: &Ctx<'_>, call: &mut Call, max_message: u32) {
    call.places = [cx.place(call.at.start), cx.place(call.message_at.start)];
    call.max_message = max_message;
}

/// Resolves `call` at the run's start, against the services the target's reflection
/// described: the mistakes [`resolve`] would have found, each with the line and column
/// of the scenario it is at.
pub fn resolve_late(schema: &Schema, call: &mut Call, timeout: Duration) -> Result<(), String> {
    let found: Vec<String> = mistakes(schema, call, timeout)
        .into_iter()
        .map(|m| {
            let at = &call.places[usize::from(m.on_message)];
            format!("line {at}: {}.{}: {}", call.field, m.key, m.message)
        })
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(found.join("; "))
    }
}

fn mistakes(schema: &Schema, call: &mut Call, timeout: Duration) -> Vec<Mistake> {
    let mut out = Vec::new();
    let mut said = |on_message, key, message| {
        out.push(Mistake {
            on_message,
            key,
            message,
        })
    };
    call.max_message = schema.max_message;
    call.deadline = call.stream.timeout.unwrap_or(timeout);
    let method = match schema.method(&call.name) {
        Ok(m) => m,
        Err(e) => {
            said(false, "grpc", e);
            return out;
        }
    };
    let kind = call_kind(&method);
    if call.stream.send > 1 && !method.is_client_streaming() {
        let m = format!(
            "`{}` is {kind}: it takes one message; remove `send` and `every`",
            call.name
        );
        said(false, "stream.send", m);
    }
    if call.stream.receive.is_some() && !method.is_server_streaming() {
        let m = format!(
            "`{}` is {kind}: it answers one message; remove `receive`",
            call.name
        );
        said(false, "stream.receive", m);
    }
    if let Some(every) = call.stream.every {
        let pacing = every.saturating_mul(call.stream.send.saturating_sub(1));
        if pacing >= call.deadline {
            let m = format!(
                "{} messages one each {} take {}, as long as the call's timeout ({}): lengthen `stream.timeout` or send fewer",
                call.stream.send,
                humantime::format_duration(every),
                humantime::format_duration(pacing),
                humantime::format_duration(call.deadline)
            );
            said(false, "stream.every", m);
        }
    }
    let input = method.input();
    if call.message.is_static() {
        match frames(&input, call.stream.send, |_| call.message.render_static()) {
            Ok(b) => call.body = Some(b),
            Err(e) => said(true, "message", e),
        }
    } else if let Err(e) = encode(&input, &call.message.render_sample()) {
        said(
            true,
            "message",
            format!("{e} (with its templates rendered as samples)"),
        );
    }
    call.method = Some(method);
    out
}

/// A message of type `desc` from its JSON mapping, encoded.
fn encode(desc: &MessageDescriptor, json: &str) -> Result<Vec<u8>, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(desc.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| {
            format!(
                "is not a `{}` in protobuf's JSON mapping: {e}{}",
                desc.full_name(),
                field_hint(desc, &e.to_string())
            )
        })?;
    Ok(msg.encode_to_vec())
}

/// For an unknown field of `desc`, the closest of its fields: "; did you mean `sku`?".
fn field_hint(desc: &MessageDescriptor, error: &str) -> String {
    let Some(rest) = error.split("unrecognized field name '").nth(1) else {
        return String::new();
    };
    let name = rest.split('\'').next().unwrap_or("");
    let fields: Vec<String> = desc
        .fields()
        .flat_map(|f| [f.name().to_string(), f.json_name().to_string()])
        .collect();
    match crate::diag::closest(name, fields.iter().map(String::as_str)).first() {
        Some(n) => format!("; did you mean `{n}`?"),
        None => {
            let names: Vec<String> = desc.fields().map(|f| f.name().to_string()).collect();
            format!("; its fields are {}", names.join(", "))
        }
    }
}

fn frames(
    desc: &MessageDescriptor,
    n: u32,
    mut render: impl FnMut(u32) -> String,
) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    for i in 0..n.max(1) {
        let msg = encode(desc, &render(i))?;
        wire::frame(&msg, &mut out);
    }
    Ok(out.freeze())
}

impl Call {
    /// A call of loadctl's own (the reflection service's questions): `body` already framed,
    /// complete at its first answer, no method descriptor needed.
    pub fn raw(path: &str, body: Bytes, deadline: Duration) -> Call {
        Call {
            name: path.trim_start_matches('/').to_string(),
            field: String::new(),
            at: 0..0,
            message: Template::literal(""),
            message_at: 0..0,
            expect: vec![0],
            stream: StreamPlan {
                receive: Some(1),
                send: 1,
                ..StreamPlan::default()
            },
            method: None,
            body: Some(body),
            max_message: super::schema::DEFAULT_MAX_MESSAGE,
            deadline,
            places: Default::default(),
        }
    }

    /// Where its `grpc` key is in the scenario.
    pub fn at(&self) -> Range<usize> {
        self.at.clone()
    }

    /// `requests[2]`, as errors name it.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The path the call is sent to: `/package.Service/Method`.
    pub fn path(&self) -> String {
        format!("/{}", self.name)
    }

    /// The request's body: its message(s) framed, together or paced. `None` when a
    /// template rendered something that is not a message of the input type (nothing is
    /// sent: the scenario's error, never the target's).
    pub fn body(&self, ctx: &mut RenderCtx<'_>) -> Option<CallBody> {
        if let (Some(b), None) = (&self.body, self.stream.every) {
            return Some(CallBody::Whole(b.clone()));
        }
        let input = self.method.as_ref()?.input();
        let mut render = |_| {
            let mut s = String::new();
            self.message.render_into(&mut s, ctx);
            s
        };
        match self.stream.every {
            None => match &self.body {
                Some(b) => Some(CallBody::Whole(b.clone())),
                None => frames(&input, self.stream.send, render)
                    .ok()
                    .map(CallBody::Whole),
            },
            Some(every) => {
                let mut out = Vec::with_capacity(self.stream.send as usize);
                for i in 0..self.stream.send {
                    out.push(frames(&input, 1, |_| render(i)).ok()?);
                }
                Some(CallBody::Paced(out, every))
            }
        }
    }

    /// The `grpc-timeout` header's value: milliseconds, or seconds past eight digits.
    pub fn timeout_header(&self) -> String {
        let ms = self.deadline.as_millis().max(1);
        if ms <= 99_999_999 {
            format!("{ms}m")
        } else {
            format!("{}S", (ms / 1000).min(99_999_999))
        }
    }

    /// Messages to read before the call is complete (`stream.receive`); without it the
    /// call is read to its status, whatever it sends before.
    pub fn wanted(&self) -> u32 {
        self.stream.receive.unwrap_or(u32::MAX)
    }

    /// The error, if any, of an answer that came back whole over HTTP: its status.
    pub fn judge(&self, answer: &Answer) -> Option<ErrorKind> {
        if answer.ended_early {
            return None;
        }
        // The transport says `grpc_no_status` when it read the answer; an answer without a
        // status is never a success, whoever read it.
        let Some(code) = answer.status else {
            return Some(ErrorKind::Protocol);
        };
        if self.expect.contains(&code) {
            return None;
        }
        Some(if code == 0 {
            // OK where only errors were expected.
            ErrorKind::CheckFailed
        } else {
            status::kind(code)
        })
    }

    /// The answer's first message in the JSON mapping, for checks and extraction.
    pub fn first_json(&self, message: &[u8]) -> Option<serde_json::Value> {
        let out = self.method.as_ref()?.output();
        let msg = DynamicMessage::decode(out, message).ok()?;
        serde_json::to_value(&msg).ok()
    }

    /// For `loadctl validate`: `shop.Inventory/Reserve (unary)`.
    pub fn describe(&self) -> String {
        let kind = self.method.as_ref().map_or("unresolved", call_kind);
        let mut s = format!("{} ({kind})", self.name);
        if self.stream.send > 1 {
            s.push_str(&format!(", sends {}", self.stream.send));
            if let Some(e) = self.stream.every {
                s.push_str(&format!(" every {}", humantime::format_duration(e)));
            }
        }
        if let Some(r) = self.stream.receive {
            s.push_str(&format!(", reads {r}"));
        }
        if self.expect != [0] {
            let names: Vec<&str> = self.expect.iter().map(|c| status::name(*c)).collect();
            s.push_str(&format!(", accepts {}", names.join("|")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_judged_by_its_status_and_never_passes_without_one() {
        let mut call = Call::raw("/a.B/C", Bytes::new(), Duration::from_secs(1));
        call.expect = vec![0, 5];
        let with = |status: Option<u32>| Answer {
            status,
            ..Answer::default()
        };
        assert_eq!(call.judge(&with(Some(0))), None);
        assert_eq!(call.judge(&with(Some(5))), None, "an accepted status");
        assert_eq!(
            call.judge(&with(Some(14))),
            Some(ErrorKind::GrpcUnavailable)
        );
        assert_eq!(call.judge(&with(None)), Some(ErrorKind::Protocol));
        let early = Answer {
            ended_early: true,
            ..Answer::default()
        };
        assert_eq!(
            call.judge(&early),
            None,
            "loadctl ended it after `receive` messages"
        );
        call.expect = vec![5];
        assert_eq!(call.judge(&with(Some(0))), Some(ErrorKind::CheckFailed));
    }
}
