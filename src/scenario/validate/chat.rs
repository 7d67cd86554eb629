//! Validation of WebSocket chat scenarios: the `connections` load model (open this many
//! connections at this rate, hold them) and the `[chat]` section (groups, members per
//! group, publish rate per group, payload size).

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::scenario::diag::Ctx;
use crate::scenario::plan::chat::ChatPlan;
use crate::scenario::plan::load::LoadPlan;
use crate::scenario::raw::{RawChat, RawLoad};

const DEFAULT_GRACE: Duration = Duration::from_secs(2);

pub(super) fn connections_load(
    cx: &mut Ctx<'_>,
    l: &RawLoad,
    whole: Range<usize>,
) -> Option<LoadPlan> {
    let misplaced = [
        ("rate", l.rate.as_ref().map(|v| v.span())),
        ("stages", l.stages.as_ref().map(|v| v.span())),
        ("start_rate", l.start_rate.as_ref().map(|v| v.span())),
        ("max_in_flight", l.max_in_flight.as_ref().map(|v| v.span())),
        ("vus", l.vus.as_ref().map(|v| v.span())),
        ("think_time", l.think_time.as_ref().map(|v| v.span())),
        ("iterations", l.iterations.as_ref().map(|v| v.span())),
        ("duration", l.duration.as_ref().map(|v| v.span())),
        ("warmup", l.warmup.as_ref().map(|v| v.span())),
    ];
    for (key, span) in misplaced {
        if let Some(span) = span {
            let hint = match key {
                "duration" => "; the measured window is `hold` (on the command line, --duration sets it)",
                "rate" => "; the rate of a chat run is chat.publish_rate (per group) and load.connect_rate",
                _ => "",
            };
            cx.err(
                span,
                format!("load.{key}"),
                format!("does not apply to model = \"connections\"; it takes connections, connect_rate, hold and timeout (the ramp is the warmup){hint}"),
            );
        }
    }
    let connections = match &l.connections {
        Some(c) => cx.positive(c, "load.connections"),
        None => {
            cx.err(
                whole.clone(),
                "load.connections",
                "model = \"connections\" needs `connections = N`",
            );
            None
        }
    };
    let connect_rate = match &l.connect_rate {
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => {
            cx.rate_bound(r, "load.connect_rate")
        }
        Some(r) => {
            cx.err(
                r.span(),
                "load.connect_rate",
                "must be a positive number of connections per second",
            );
            None
        }
        None => {
            cx.err(
                whole.clone(),
                "load.connect_rate",
                "model = \"connections\" needs `connect_rate = N` (new connections per second)",
            );
            None
        }
    };
    let hold = match &l.hold {
        Some(h) => cx.duration(h, "load.hold").filter(|d| {
            let ok = !d.is_zero();
            if !ok {
                cx.err(h.span(), "load.hold", "must be longer than zero");
            }
            ok
        }),
        None => {
            cx.err(whole, "load.hold", "model = \"connections\" needs `hold = \"60s\"` (how long connections stay open, the measured window)");
            None
        }
    };
    Some(LoadPlan::Connections {
        connections: connections?,
        connect_rate: connect_rate?,
        hold: hold?,
    })
}

pub(super) fn chat_plan(
    cx: &mut Ctx<'_>,
    raw: &Spanned<RawChat>,
    load: Option<&LoadPlan>,
) -> Option<ChatPlan> {
    let c = raw.get_ref();
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
        None => Some("/ws".to_string()),
        Some(p) if p.get_ref().starts_with('/') => Some(p.get_ref().clone()),
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
    })
}
