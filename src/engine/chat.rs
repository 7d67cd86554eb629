//! WebSocket chat fan-out: open `connections` at `connect_rate`, join each to its group,
//! hold them while the groups publish on an open-model schedule, and measure every
//! delivery.
//!
//! All members of a group live on the same worker thread (groups are dealt to threads
//! round-robin), so a message's fan-out state — how many members still have to receive it —
//! is thread-local and needs no lock. Each message carries its group sequence number and its
//! intended publish time (ns from the run's start), so a receiver can measure delivery
//! latency from the intended time (coordinated omission corrected, like HTTP), and tell
//! duplicates and out-of-order arrivals from a small per-connection window.
//!
//! The frames are the scenario's protocol (`[chat.protocol]`, or the reference gateway's
//! preset): a join frame and the acknowledgement it waits for, a publish frame carrying
//! loadctl's marker, an optional heartbeat. A received frame is searched for markers, not
//! parsed: any envelope a server wraps the text in is measured.
//!
//! Metrics reuse the HTTP machinery as "endpoints": `connect` (latency from the intended
//! connect time to the open socket; failures by kind), `publish` (the generator's
//! lateness, also its send lag), `delivery` (publish → each receiver; a duplicate is the
//! `duplicate` outcome), `fanout` (publish → the last member), `joined` (open socket →
//! the join's acknowledgement) and `echo` (publish → the sender itself, when the server
//! echoes: not a delivery). Counters a histogram cannot hold (expected and delivered
//! messages, disconnects by close code, frames without a marker, markers that do not
//! parse) are summed per thread and sent once at the end.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use super::timer::PreciseSleep;
use super::ThreadCtx;
use crate::metrics::connection::Phase;
use crate::metrics::{ConnSample, ErrorKind, Sample};
use crate::scenario::plan::chat::{ChatPlan, Marker, VARS};

pub use crate::scenario::plan::chat::{ENDPOINTS, OUTCOMES};
const CONNECT: usize = 0;
const PUBLISH: usize = 1;
const DELIVERY: usize = 2;
const FANOUT: usize = 3;
const JOINED: usize = 4;
const ECHO: usize = 5;
const DUPLICATE: u8 = 0;

/// How often the thread's controller looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

pub use crate::metrics::chat::ChatTotals;

struct Group {
    id: usize,
    members: Vec<Rc<Member>>,
    joined: Cell<usize>,
    next_seq: Cell<u64>,
    /// seq → (intended publish time, deliveries still owed).
    pending: RefCell<HashMap<u64, (Instant, u32)>>,
}

struct Member {
    index: usize,
    outbox: RefCell<Option<mpsc::UnboundedSender<(String, Instant)>>>,
}

/// Tells apart new, late (out-of-order) and duplicate sequence numbers within a window of
/// the 64 below the highest seen.
#[derive(Default)]
pub struct SeqWindow {
    hi: Option<u64>,
    seen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    New,
    Late,
    Duplicate,
}

impl SeqWindow {
    pub fn arrive(&mut self, seq: u64) -> Arrival {
        let Some(hi) = self.hi else {
            self.hi = Some(seq);
            self.seen = 1;
            return Arrival::New;
        };
        if seq > hi {
            let shift = seq - hi;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.hi = Some(seq);
            return Arrival::New;
        }
        let back = hi - seq;
        if back >= 64 {
            // Too old to remember: not a duplicate we can prove, but certainly late.
            return Arrival::Late;
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            Arrival::Duplicate
        } else {
            self.seen |= bit;
            Arrival::Late
        }
    }
}

pub(super) async fn run(ctx: Rc<ThreadCtx>, chat: ChatPlan, connect_rate: f64, hold: Duration) {
    // One copy for the thread's connections: its templates are not small.
    let chat = Rc::new(chat);
    let shared = ctx.shared.clone();
    // This generator's groups (whole groups per shard), dealt to its threads.
    let (shard, shards) = (shared.shard.0 as usize, shared.shard.1 as usize);
    let groups: Vec<Rc<Group>> = (shard..chat.groups)
        .step_by(shards)
        .skip(ctx.index)
        .step_by(shared.threads)
        .map(|g| {
            Rc::new(Group {
                id: g,
                members: (0..chat.members)
                    .map(|m| {
                        Rc::new(Member {
                            index: g * chat.members + m,
                            outbox: RefCell::new(None),
                        })
                    })
                    .collect(),
                joined: Cell::new(0),
                next_seq: Cell::new(0),
                pending: RefCell::new(HashMap::new()),
            })
        })
        .collect();
    let end = shared.measure_start + hold;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for g in &groups {
        for m in &g.members {
            // Connection i is due at i / connect_rate: the ramp interleaves the threads.
            let due = shared.t0 + Duration::from_secs_f64(m.index as f64 / connect_rate);
            tasks.push(tokio::task::spawn_local(connection(
                ctx.clone(),
                g.clone(),
                m.clone(),
                due,
                stop_rx.clone(),
                chat.clone(),
            )));
        }
    }
    let publisher =
        tokio::task::spawn_local(publish(ctx.clone(), groups.clone(), chat.clone(), end));
    // Hold until the end (plus grace for late deliveries), or until told to stop.
    let until = end + chat.grace;
    while Instant::now() < until && !shared.stopping() {
        tokio::time::sleep_until((until.min(Instant::now() + STOP_POLL)).into()).await;
    }
    let _ = stop_tx.send(true);
    let _ = publisher.await;
    for t in tasks {
        let _ = t.await;
    }
    let mut totals = ctx.chat_totals.borrow_mut();
    for g in &groups {
        totals.lost += g
            .pending
            .borrow()
            .values()
            .map(|(_, owed)| u64::from(*owed))
            .sum::<u64>();
    }
}

/// Publishes for this thread's groups: message `k` goes to group `k mod n` at
/// `measure_start + (k div n + (k mod n) / n) / rate`, so each group gets `rate` messages a
/// second and the groups are spread evenly across each second.
async fn publish(ctx: Rc<ThreadCtx>, groups: Vec<Rc<Group>>, chat: Rc<ChatPlan>, end: Instant) {
    if groups.is_empty() {
        return;
    }
    let shared = ctx.shared.clone();
    let n = groups.len() as u64;
    let sleep = PreciseSleep::new();
    // user, group, marker: reused from message to message.
    let mut vars = vec![String::new(), String::new(), String::new()];
    let mut k = 0u64;
    loop {
        let (round, gi) = (k / n, (k % n) as usize);
        let at = (round as f64 + gi as f64 / n as f64) / chat.publish_rate;
        let intended = shared.measure_start + Duration::from_secs_f64(at);
        if intended >= end || shared.stopping() {
            return;
        }
        if intended > Instant::now() {
            sleep.until(intended.min(Instant::now() + STOP_POLL)).await;
            continue;
        }
        k += 1;
        let g = &groups[gi];
        let members = g.members.len();
        // Members take turns; one that never joined passes its turn on.
        let sender = (0..members)
            .map(|i| &g.members[(round as usize + i) % members])
            .find(|m| m.outbox.borrow().is_some());
        let Some(sender) = sender else { continue };
        let seq = g.next_seq.get();
        g.next_seq.set(seq + 1);
        let owed = g.joined.get().saturating_sub(1) as u32;
        if owed > 0 {
            g.pending.borrow_mut().insert(seq, (intended, owed));
        }
        {
            let mut t = ctx.chat_totals.borrow_mut();
            t.published += 1;
            t.expected += u64::from(owed);
        }
        let marker = Marker {
            group: g.id as u64,
            seq,
            t_ns: (intended - shared.t0).as_nanos() as u64,
            from: sender.index as u64,
        };
        for v in &mut vars {
            v.clear();
        }
        use std::fmt::Write as _;
        let _ = write!(vars[0], "u{}", sender.index);
        let _ = write!(vars[1], "g{}", g.id);
        marker.write(&mut vars[2], chat.payload);
        let text = ctx.render(&chat.protocol.publish, &vars);
        if let Some(out) = sender.outbox.borrow().as_ref() {
            let _ = out.send((text, intended));
        }
    }
}

fn sample(latency: Duration, service: Duration) -> Sample {
    Sample {
        conn: Default::default(),
        latency,
        service,
        send_lag: None,
        queue_wait: None,
        status: None,
        error: None,
        outcome: None,
        bytes: 0,
        // Connects happen in the ramp but are what the connect figures are about; the
        // rest happens in the hold.
        warmup: false,
    }
}

fn record(ctx: &ThreadCtx, ep: usize, s: Sample) {
    ctx.rec.borrow_mut().record(ep, &s);
}

type Ws = tokio_tungstenite::WebSocketStream<super::transport::io::Io>;

/// Opens the WebSocket on the target (origin 0): over TLS for `wss://`.
async fn open(
    net: &super::transport::Connector,
    request: tungstenite::handshake::client::Request,
    timeout: Duration,
    conn: &mut ConnSample,
) -> Result<Ws, (Option<u16>, ErrorKind)> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let attempt = async {
        let io = net.open(0, &mut conn.phases, None).await.map_err(|e| {
            conn.tls = e.tls;
            (None, e.kind)
        })?;
        // The upgrade's answer is the connection's first byte: its wait is the `ttfb`.
        let upgrade = Instant::now();
        let r = tokio_tungstenite::client_async_with_config(request, io, Some(config)).await;
        conn.phases.set(Phase::Ttfb, upgrade.elapsed());
        match r {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(resp)) => {
                let code = resp.status().as_u16();
                let kind = match code {
                    400..=499 => ErrorKind::Http4xx,
                    500..=599 => ErrorKind::Http5xx,
                    _ => ErrorKind::HttpOther,
                };
                Err((Some(code), kind))
            }
            Err(tungstenite::Error::Io(_)) | Err(tungstenite::Error::ConnectionClosed) => {
                Err((None, ErrorKind::Reset))
            }
            Err(tungstenite::Error::Tls(_)) => Err((None, ErrorKind::Tls)),
            Err(_) => Err((None, ErrorKind::Protocol)),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) if conn.phases.handshaking => {
            conn.phases.handshaking = false;
            conn.tls = Some(crate::metrics::connection::TlsReason::HandshakeTimeout);
            Err((None, ErrorKind::Tls))
        }
        Err(_) => Err((None, ErrorKind::Timeout)),
    }
}

/// The upgrade request of member `me` of `group`: the path and headers rendered, the
/// subprotocol offered.
fn upgrade_request(
    ctx: &ThreadCtx,
    chat: &ChatPlan,
    vars: &[String],
) -> Option<tungstenite::handshake::client::Request> {
    use tungstenite::client::IntoClientRequest;
    let mut path = ctx.render(&chat.path, vars);
    if !chat.path.uses_var(0) {
        // The reference gateway names its users in the query.
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str("user=");
        path.push_str(&vars[0]);
    }
    let uri = format!("ws://{}{path}", ctx.shared.authority);
    let mut req = uri.into_client_request().ok()?;
    if let Some(p) = &chat.subprotocol {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().ok()?);
    }
    for (name, t) in &chat.headers {
        req.headers_mut()
            .insert(name.clone(), ctx.render(t, vars).parse().ok()?);
    }
    Some(req)
}

fn frame(text: String, binary: bool) -> Message {
    if binary {
        Message::Binary(text.into_bytes().into())
    } else {
        Message::Text(text.into())
    }
}

/// Sends the join frame and waits for its acknowledgement (when the protocol names one).
async fn join(ws: &mut Ws, ctx: &ThreadCtx, chat: &ChatPlan, vars: &[String]) -> Option<()> {
    let p = &chat.protocol;
    if let Some(j) = &p.join {
        ws.send(frame(ctx.render(j, vars), p.binary)).await.ok()?;
    }
    let Some(rule) = &p.joined else {
        return Some(());
    };
    loop {
        let bytes = match ws.next().await {
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(_)) => continue,
            _ => return None,
        };
        if rule.matches(&bytes) {
            return Some(());
        }
        ctx.chat_totals.borrow_mut().other += 1;
    }
}

async fn connection(
    ctx: Rc<ThreadCtx>,
    group: Rc<Group>,
    me: Rc<Member>,
    due: Instant,
    mut stop: watch::Receiver<bool>,
    chat: Rc<ChatPlan>,
) {
    let shared = ctx.shared.clone();
    tokio::time::sleep_until(due.into()).await;
    if shared.stopping() {
        return;
    }
    let mut vars = vec![String::new(); VARS.len() + shared.vars_len()];
    vars[0] = format!("u{}", me.index);
    vars[1] = format!("g{}", group.id);
    // A row of each feeder for this connection's path and headers.
    if !super::flow::feed_into(&ctx, &mut vars, VARS.len()) {
        return;
    }
    let started = Instant::now();
    let mut conn = ConnSample::default();
    let ws = match upgrade_request(&ctx, &chat, &vars) {
        // Boxed: the handshake's state is ~3 KiB and lives only until the socket is open;
        // inline, every connection's task would keep that size for the whole hold.
        Some(req) => Box::pin(open(&shared.net, req, shared.timeout, &mut conn)).await,
        None => Err((None, ErrorKind::Protocol)),
    };
    let opened = Instant::now();
    let mut ws = match ws {
        Ok(ws) => {
            let s = Sample {
                conn,
                ..sample(opened - due, opened - started)
            };
            record(
                &ctx,
                CONNECT,
                Sample {
                    status: Some(101),
                    ..s
                },
            );
            ws
        }
        Err((status, kind)) => {
            let s = Sample {
                conn,
                ..sample(opened - due, opened - started)
            };
            record(
                &ctx,
                CONNECT,
                Sample {
                    status,
                    error: Some(kind),
                    ..s
                },
            );
            return;
        }
    };
    ctx.in_flight.set(ctx.in_flight.get() + 1);
    let joined = tokio::time::timeout(shared.timeout, join(&mut ws, &ctx, &chat, &vars)).await;
    let acked = Instant::now();
    let s = sample(acked - opened, acked - opened);
    if joined.ok().flatten().is_none() {
        record(
            &ctx,
            JOINED,
            Sample {
                error: Some(ErrorKind::Timeout),
                ..s
            },
        );
        ctx.in_flight.set(ctx.in_flight.get() - 1);
        let mut t = ctx.chat_totals.borrow_mut();
        *t.disconnects.entry(1006).or_insert(0) += 1;
        return;
    }
    record(&ctx, JOINED, s);
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Instant)>();
    *me.outbox.borrow_mut() = Some(tx);
    group.joined.set(group.joined.get() + 1);
    ctx.chat_totals.borrow_mut().connected += 1;
    let mut window = SeqWindow::default();
    let binary = chat.protocol.binary;
    // Rendered once: a connection's variables do not change, and 10,000 idle connections
    // should not each hold their variables and a timer they never use.
    let mut heartbeat = match &chat.protocol.heartbeat {
        Some((t, every)) => {
            let mut i = tokio::time::interval(*every);
            i.tick().await;
            Some((ctx.render(t, &vars), i))
        }
        None => None,
    };
    drop(vars);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            beat = tick(&mut heartbeat), if heartbeat.is_some() => {
                if ws.send(frame(beat, binary)).await.is_err() {
                    *ctx.chat_totals.borrow_mut().disconnects.entry(1006).or_insert(0) += 1;
                    break;
                }
            }
            out = rx.recv() => {
                let Some((text, intended)) = out else { break };
                let ok = ws.send(frame(text, binary)).await.is_ok();
                let now = Instant::now();
                let lag = now.saturating_duration_since(intended);
                let s = sample(lag, Duration::ZERO);
                record(
                    &ctx,
                    PUBLISH,
                    Sample { error: (!ok).then_some(ErrorKind::Reset), send_lag: Some(lag), ..s },
                );
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(t))) => received(&ctx, &group, &me, &mut window, t.as_bytes()),
                Some(Ok(Message::Binary(b))) => received(&ctx, &group, &me, &mut window, &b),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    *ctx.chat_totals.borrow_mut().disconnects.entry(code).or_insert(0) += 1;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    *ctx.chat_totals.borrow_mut().disconnects.entry(1006).or_insert(0) += 1;
                    break;
                }
            },
        }
    }
    *me.outbox.borrow_mut() = None;
    group.joined.set(group.joined.get() - 1);
    ctx.in_flight.set(ctx.in_flight.get() - 1);
    if *stop.borrow() {
        let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    }
}

/// The heartbeat's next frame, when it is due; never when there is no heartbeat.
async fn tick(heartbeat: &mut Option<(String, tokio::time::Interval)>) -> String {
    match heartbeat {
        Some((text, every)) => {
            every.tick().await;
            text.clone()
        }
        None => std::future::pending().await,
    }
}

/// A received frame: each marker in it is a delivery (or an echo of this member's own
/// message, or a duplicate); a frame without one is `other`, a marker that does not parse
/// `corrupt`.
fn received(ctx: &ThreadCtx, group: &Group, me: &Member, window: &mut SeqWindow, frame: &[u8]) {
    let now = Instant::now();
    let mut any = false;
    for m in Marker::find_all(frame) {
        any = true;
        match m {
            Err(()) => ctx.chat_totals.borrow_mut().corrupt += 1,
            Ok(m) if m.group != group.id as u64 => ctx.chat_totals.borrow_mut().other += 1,
            Ok(m) if m.from == me.index as u64 => {
                let intended = ctx.shared.t0 + Duration::from_nanos(m.t_ns);
                let rtt = now.saturating_duration_since(intended);
                record(ctx, ECHO, sample(rtt, rtt));
                ctx.chat_totals.borrow_mut().echoes += 1;
            }
            Ok(m) => delivered(ctx, group, window, m, now),
        }
    }
    if !any {
        ctx.chat_totals.borrow_mut().other += 1;
    }
}

fn delivered(ctx: &ThreadCtx, group: &Group, window: &mut SeqWindow, m: Marker, now: Instant) {
    let intended = ctx.shared.t0 + Duration::from_nanos(m.t_ns);
    let latency = now.saturating_duration_since(intended);
    let arrival = window.arrive(m.seq);
    let dup = arrival == Arrival::Duplicate;
    let s = sample(latency, latency);
    record(
        ctx,
        DELIVERY,
        Sample {
            outcome: dup.then_some(DUPLICATE),
            ..s
        },
    );
    let mut t = ctx.chat_totals.borrow_mut();
    if dup {
        t.duplicates += 1;
        return;
    }
    t.delivered += 1;
    if arrival == Arrival::Late {
        t.out_of_order += 1;
    }
    let mut pending = group.pending.borrow_mut();
    if let Some((intended, owed)) = pending.get_mut(&m.seq) {
        *owed -= 1;
        if *owed == 0 {
            let fan = now.saturating_duration_since(*intended);
            pending.remove(&m.seq);
            drop(t);
            record(ctx, FANOUT, sample(fan, fan));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_tells_new_late_and_duplicate() {
        let mut w = SeqWindow::default();
        let got: Vec<Arrival> = [0, 1, 3, 2, 3, 1, 4, 200, 100, 199, 199]
            .iter()
            .map(|s| w.arrive(*s))
            .collect();
        use Arrival::*;
        assert_eq!(
            got,
            [New, New, New, Late, Duplicate, Duplicate, New, New, Late, Late, Duplicate]
        );
    }

    #[test]
    fn totals_merge() {
        let mut a = ChatTotals {
            delivered: 5,
            ..Default::default()
        };
        a.disconnects.insert(1006, 1);
        let mut b = a.clone();
        b.lost = 2;
        a.merge(&b);
        assert_eq!((a.delivered, a.lost, a.disconnects[&1006]), (10, 2, 2));
    }
}
