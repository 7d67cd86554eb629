//! The chat fan-out workload: groups of WebSocket members publishing to each other, and
//! the protocol the chat server speaks ([`ChatProtocol`]): what frame joins a group, how
//! its acknowledgement is recognised, what frame publishes, and an optional heartbeat.
//!
//! Every published frame carries loadctl's [`Marker`] (`{{marker}}` in the publish
//! template): the group, the sequence number, the intended publish time, the sender and
//! the padding, in letters, digits and `-` only, so that it survives being embedded in
//! JSON and re-encoded by a relay. A receiver finds it anywhere in a frame with a
//! substring search, whatever envelope the server wraps it in.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::template::Template;

/// A chat run's endpoints (in recorder order): the names its SLO keys scope to.
pub const ENDPOINTS: [&str; 6] = ["connect", "publish", "delivery", "fanout", "joined", "echo"];
/// Outcome names of a chat run (index order).
pub const OUTCOMES: [&str; 1] = ["duplicate"];
/// The variables chat templates may use, by index.
pub const VARS: [&str; 3] = ["user", "group", "marker"];

/// The chat workload, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPlan {
    pub groups: usize,
    /// Members per group; groups × members = connections.
    pub members: usize,
    /// Messages per second per group, published by its members in turn.
    pub publish_rate: f64,
    /// Bytes of padding per message (the measurement fields come on top).
    pub payload: usize,
    /// Upgrade path (a template of `{{user}}` and `{{group}}`); without `{{user}}` in it,
    /// `user=u<N>` is appended to the query, as the reference gateway expects.
    pub path: Template,
    /// After the hold, how long late deliveries are still awaited before they count as lost.
    pub grace: Duration,
    /// `Sec-WebSocket-Protocol` to offer.
    pub subprotocol: Option<String>,
    /// Upgrade request headers (templates; environment values stay secret).
    pub headers: Vec<(HeaderName, Template)>,
    pub protocol: ChatProtocol,
}

/// What the chat server expects and sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatProtocol {
    /// Sent once connected; `None`: nothing to join.
    pub join: Option<Template>,
    /// How the acknowledgement is recognised; `None`: joined once the join is written.
    pub joined: Option<Joined>,
    /// The publish frame; holds `{{marker}}`.
    pub publish: Template,
    /// An application-level keepalive: a frame and how often each connection sends it.
    pub heartbeat: Option<(Template, Duration)>,
    /// Frames go (and markers are searched) as binary frames instead of text.
    pub binary: bool,
    /// Written by the user (`[chat.protocol]`), or the reference gateway's preset.
    pub custom: bool,
}

/// How a join's acknowledgement is recognised.
#[derive(Debug, Clone)]
pub enum Joined {
    /// The frame is JSON and the value at `pointer` equals `value`.
    Json {
        pointer: String,
        value: serde_json::Value,
    },
    Regex(Arc<regex::Regex>),
}

impl PartialEq for Joined {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Joined::Json { pointer, value },
                Joined::Json {
                    pointer: p,
                    value: v,
                },
            ) => pointer == p && value == v,
            (Joined::Regex(a), Joined::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Joined {
    /// Whether a received frame is the acknowledgement.
    pub fn matches(&self, frame: &[u8]) -> bool {
        match self {
            Joined::Json { pointer, value } => serde_json::from_slice::<serde_json::Value>(frame)
                .ok()
                .and_then(|v| v.pointer(pointer).cloned())
                .is_some_and(|v| &v == value),
            Joined::Regex(re) => std::str::from_utf8(frame).is_ok_and(|t| re.is_match(t)),
        }
    }

    /// As `validate` shows it.
    pub fn describe(&self) -> String {
        match self {
            Joined::Json { pointer, value } => format!("JSON {pointer} == {value}"),
            Joined::Regex(re) => format!("regex /{}/", re.as_str()),
        }
    }
}

/// What a published frame carries, found again in whatever frame relays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub group: u64,
    pub seq: u64,
    /// Intended publish time, ns from the run's start.
    pub t_ns: u64,
    /// The sender's connection index.
    pub from: u64,
}

/// Every marker starts with this; it cannot occur inside one.
pub const MARKER_PREFIX: &[u8] = b"lct1-";

impl Marker {
    /// `lct1-g<group>-s<seq>-t<ns>-f<from>-<padding of x>`.
    pub fn write(&self, out: &mut String, padding: usize) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "lct1-g{}-s{}-t{}-f{}-",
            self.group, self.seq, self.t_ns, self.from
        );
        out.extend(std::iter::repeat_n('x', padding));
    }

    /// Every marker in `frame`, in order: `Ok` for one that parses, `Err(())` for one that
    /// starts like a marker and does not.
    pub fn find_all(frame: &[u8]) -> impl Iterator<Item = Result<Marker, ()>> + '_ {
        // memchr's vectorised search: every delivered byte passes through here.
        memchr::memmem::find_iter(frame, MARKER_PREFIX)
            .map(move |i| Self::parse(&frame[i + MARKER_PREFIX.len()..]))
    }

    fn parse(mut s: &[u8]) -> Result<Marker, ()> {
        let mut field = |tag: u8| -> Result<u64, ()> {
            if s.first() != Some(&tag) {
                return Err(());
            }
            let digits = s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 20 || s.get(1 + digits) != Some(&b'-') {
                return Err(());
            }
            let n = std::str::from_utf8(&s[1..1 + digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or(())?;
            s = &s[2 + digits..];
            Ok(n)
        };
        Ok(Marker {
            group: field(b'g')?,
            seq: field(b's')?,
            t_ns: field(b't')?,
            from: field(b'f')?,
        })
    }
}

impl ChatPlan {
    /// Messages published per second over all groups.
    pub fn publish_per_second(&self) -> f64 {
        self.publish_rate * self.groups as f64
    }

    /// Deliveries owed per second: each message to every other member of its group.
    pub fn deliveries_per_second(&self) -> f64 {
        self.publish_per_second() * (self.members - 1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_survive_envelopes() {
        let m = Marker {
            group: 12,
            seq: 345,
            t_ns: 6_789_000,
            from: 7,
        };
        let mut s = String::new();
        m.write(&mut s, 5);
        assert_eq!(s, "lct1-g12-s345-t6789000-f7-xxxxx");
        let framed = format!(r#"{{"b":{{"text":"{s}"}},"n":1}} and again {s}"#);
        let found: Vec<_> = Marker::find_all(framed.as_bytes()).collect();
        assert_eq!(found, vec![Ok(m), Ok(m)]);
        assert_eq!(
            Marker::find_all(b"x lct1-g1-sX-t2-f3- y").collect::<Vec<_>>(),
            vec![Err(())]
        );
        assert_eq!(Marker::find_all(b"{\"op\":\"ping\"}").count(), 0);
    }
}
