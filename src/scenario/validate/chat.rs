//! Validation of WebSocket chat scenarios: the `connections` load model (open this many
//! connections at this rate, hold them) and the `[chat]` section (groups, members per
//! group, publish rate per group, payload size).

use indexmap::IndexMap;
use serde::Deserialize;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use std::sync::Arc;

use http::HeaderName;

use crate::diag::Ctx;
use crate::scenario::plan::chat::{ChatPlan, ChatProtocol, Joined, VARS};
use crate::scenario::plan::load::LoadPlan;
use crate::template::{Scope, Template};

/// Chat fan-out over WebSocket: who joins which group, who publishes how often.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChat {
    pub groups: Option<Spanned<i64>>,
    pub members: Option<Spanned<i64>>,
    pub publish_rate: Option<Spanned<f64>>,
    pub payload: Option<Spanned<i64>>,
    pub path: Option<Spanned<String>>,
    pub grace: Option<Spanned<String>>,
    /// `Sec-WebSocket-Protocol` to offer.
    pub subprotocol: Option<Spanned<String>>,
    /// Upgrade request headers (templates).
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    /// The server's protocol; absent: the reference gateway's.
    pub protocol: Option<RawChatProtocol>,
}

/// `[chat.protocol]`: the frames a chat server expects and sends.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChatProtocol {
    pub join: Option<Spanned<String>>,
    pub joined: Option<Spanned<RawJoined>>,
    pub publish: Option<Spanned<String>>,
    pub heartbeat: Option<Spanned<RawHeartbeat>>,
    /// `text` (default) or `binary`.
    pub frame: Option<Spanned<String>>,
}

/// How the join's acknowledgement is recognised.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJoined {
    pub json: Option<Spanned<String>>,
    pub equals: Option<toml::Value>,
    pub regex: Option<Spanned<String>>,
}

/// An application-level keepalive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    pub frame: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
}

/// The index of `{{marker}}` among the chat variables.
const MARKER: usize = 2;

/// A chat template: compiled against `{{user}}`, `{{group}}` and `{{marker}}`, which only
/// the publish frame may use.
/// How long deliveries are awaited after the last publish unless `chat.grace` says.
const DEFAULT_GRACE: Duration = Duration::from_secs(2);

fn chat_template(
    cx: &mut Ctx<'_>,
    v: &Spanned<String>,
    field: &str,
    scope: &Scope<'_>,
    marker: bool,
) -> Option<Template> {
    match Template::compile(v.get_ref(), scope) {
        Ok(t) if !marker && t.uses_var(MARKER) => {
            cx.err(
                v.span(),
                field,
                "`{{marker}}` belongs in the publish frame only; remove it here",
            );
            None
        }
        Ok(t) if marker && t.var_count() > VARS.len() => {
            cx.err(
                v.span(),
                field,
                "the publish frame may use {{user}}, {{group}} and {{marker}}; feeder columns go in the path, the headers, the join or the heartbeat",
            );
            None
        }
        Ok(t) if marker && !t.uses_var(MARKER) => {
            cx.err(
                v.span(),
                field,
                "the publish frame must carry `{{marker}}` (loadctl finds each message by it), such as '{\"op\":\"say\",\"text\":\"{{marker}}\"}'",
            );
            None
        }
        Ok(t) => Some(t),
        Err(e) => {
            let at = (v.span().start + 1 + e.offset).min(v.span().end);
            cx.err(at..at, field, e.message);
            None
        }
    }
}

/// The reference gateway's protocol: the default when `[chat.protocol]` is absent.
fn reference_protocol(scope: &Scope<'_>) -> ChatProtocol {
    let t = |s: &str| Template::compile(s, scope).expect("the preset compiles");
    ChatProtocol {
        join: Some(t(r#"{"type":"join","group":"{{group}}"}"#)),
        joined: Some(Joined::Json {
            pointer: "/type".into(),
            value: serde_json::Value::String("joined".into()),
        }),
        publish: t(r#"{"type":"send","group":"{{group}}","body":"{{marker}}"}"#),
        heartbeat: None,
        binary: false,
        custom: false,
    }
}

fn protocol(
    cx: &mut Ctx<'_>,
    p: &RawChatProtocol,
    span: Range<usize>,
    scope: &Scope<'_>,
) -> Option<ChatProtocol> {
    let before = cx.count();
    let join = p
        .join
        .as_ref()
        .and_then(|j| chat_template(cx, j, "chat.protocol.join", scope, false));
    let publish = match &p.publish {
        Some(v) => chat_template(cx, v, "chat.protocol.publish", scope, true),
        None => {
            cx.err(
                span.clone(),
                "chat.protocol.publish",
                "missing; the frame that publishes a message, with `{{marker}}` in it",
            );
            None
        }
    };
    let joined = p.joined.as_ref().and_then(|j| joined(cx, j));
    let heartbeat = p.heartbeat.as_ref().and_then(|h| {
        let r = h.get_ref();
        let frame = match &r.frame {
            Some(f) => chat_template(cx, f, "chat.protocol.heartbeat.frame", scope, false),
            None => {
                cx.err(h.span(), "chat.protocol.heartbeat", "missing `frame`");
                None
            }
        };
        let every = match &r.every {
            Some(e) => cx
                .duration(e, "chat.protocol.heartbeat.every")
                .filter(|d| !d.is_zero()),
            None => {
                cx.err(
                    h.span(),
                    "chat.protocol.heartbeat",
                    "missing `every` (such as \"20s\")",
                );
                None
            }
        };
        frame.zip(every)
    });
    let binary = match p.frame.as_ref().map(|f| f.get_ref().as_str()) {
        None | Some("text") => false,
        Some("binary") => true,
        Some(other) => {
            let f = p.frame.as_ref().expect("matched");
            cx.err(
                f.span(),
                "chat.protocol.frame",
                format!("`{other}`: use \"text\" or \"binary\""),
            );
            false
        }
    };
    if cx.count() > before {
        return None;
    }
    Some(ChatProtocol {
        join,
        joined,
        publish: publish?,
        heartbeat,
        binary,
        custom: true,
    })
}

fn joined(cx: &mut Ctx<'_>, j: &Spanned<RawJoined>) -> Option<Joined> {
    let r = j.get_ref();
    let field = "chat.protocol.joined";
    match (&r.json, &r.equals, &r.regex) {
        (Some(ptr), Some(eq), None) => {
            if !(ptr.get_ref().is_empty() || ptr.get_ref().starts_with('/')) {
                cx.err(
                    ptr.span(),
                    field,
                    format!(
                        "`{}` is not a JSON pointer; write it as \"/op\"",
                        ptr.get_ref()
                    ),
                );
                return None;
            }
            let value = serde_json::to_value(eq).ok()?;
            Some(Joined::Json {
                pointer: ptr.get_ref().clone(),
                value,
            })
        }
        (None, None, Some(re)) => match regex::Regex::new(re.get_ref()) {
            Ok(r) => Some(Joined::Regex(Arc::new(r))),
            Err(e) => {
                cx.err(re.span(), field, format!("not a regex: {e}"));
                None
            }
        },
        _ => {
            cx.err(
                j.span(),
                field,
                "write { json = \"/op\", equals = \"subscribed\" } or { regex = \"…\" }",
            );
            None
        }
    }
}
pub(super) fn chat_plan(
    cx: &mut Ctx<'_>,
    raw: &Spanned<RawChat>,
    load: Option<&LoadPlan>,
    env: &dyn Fn(&str) -> Option<String>,
    feeder_columns: &[String],
) -> Option<ChatPlan> {
    let c = raw.get_ref();
    // user, group, marker, then the feeders' columns (one row per connection).
    let vars: Vec<String> = VARS
        .iter()
        .map(|v| v.to_string())
        .chain(feeder_columns.iter().cloned())
        .collect();
    let scope = Scope { env, vars: &vars };
    let need = |cx: &mut Ctx<'_>, v: &Option<Spanned<i64>>, key: &str| match v {
        Some(v) => cx.positive(v, &format!("chat.{key}")),
        None => {
            cx.err(
                raw.span(),
                format!("chat.{key}"),
                format!("missing `{key}`"),
            );
            None
        }
    };
    let groups = need(cx, &c.groups, "groups");
    let members = need(cx, &c.members, "members");
    let publish_rate = match &c.publish_rate {
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => {
            cx.rate_bound(r, "chat.publish_rate")
        }
        Some(r) => {
            cx.err(
                r.span(),
                "chat.publish_rate",
                "must be a positive number of messages per second per group",
            );
            None
        }
        None => {
            cx.err(
                raw.span(),
                "chat.publish_rate",
                "missing `publish_rate` (messages per second per group)",
            );
            None
        }
    };
    let payload = match &c.payload {
        None => Some(64),
        Some(p) => match usize::try_from(*p.get_ref()) {
            Ok(n) if n <= 1 << 20 => Some(n),
            _ => {
                cx.err(p.span(), "chat.payload", "must be 0 to 1048576 bytes");
                None
            }
        },
    };
    let path = match &c.path {
        None => Template::compile("/ws", &scope).ok(),
        Some(p) if p.get_ref().starts_with('/') => chat_template(cx, p, "chat.path", &scope, false),
        Some(p) => {
            cx.err(
                p.span(),
                "chat.path",
                "must start with `/`, such as \"/ws\"",
            );
            None
        }
    };
    let grace = match &c.grace {
        None => Some(DEFAULT_GRACE),
        Some(g) => cx.duration(g, "chat.grace"),
    };
    let mut headers = Vec::new();
    for (name, v) in &c.headers {
        let field = format!("chat.headers.{name}");
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => {
                if let Some(t) = chat_template(cx, v, &field, &scope, false) {
                    headers.push((h, t));
                }
            }
            Err(_) => cx.err(
                v.span(),
                &field,
                format!("`{name}` is not a valid header name"),
            ),
        }
    }
    let subprotocol = c.subprotocol.as_ref().and_then(|s| {
        let ok = !s.get_ref().is_empty()
            && s.get_ref()
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b',');
        if !ok {
            cx.err(
                s.span(),
                "chat.subprotocol",
                "a subprotocol is one token, such as \"relay.v2\"",
            );
        }
        ok.then(|| s.get_ref().clone())
    });
    let protocol = match &c.protocol {
        Some(p) => protocol(cx, p, raw.span(), &scope),
        None => Some(reference_protocol(&scope)),
    };
    if let (Some(g), Some(m), Some(LoadPlan::Connections { connections, .. })) =
        (groups, members, load)
    {
        if g * m != *connections {
            cx.err(
                raw.span(),
                "chat",
                format!(
                    "{g} groups × {m} members = {} connections, but load.connections = {connections}; make them agree",
                    g * m
                ),
            );
            return None;
        }
        if m < 2 {
            cx.err(
                raw.span(),
                "chat.members",
                "a group needs at least 2 members for a message to fan out to",
            );
            return None;
        }
    }
    Some(ChatPlan {
        groups: groups?,
        members: members?,
        publish_rate: publish_rate?,
        payload: payload?,
        path: path?,
        grace: grace?,
        subprotocol,
        headers,
        protocol: protocol?,
    })
}
