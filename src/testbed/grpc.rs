//! The reference gRPC service (`loadctl testbed serve grpc`, or `[embedded] service =
//! "grpc"`): `examples/grpc/shop.proto`'s `shop.Inventory`, seed 003's flash sale as an
//! inventory service, with one method of each call kind. Messages are prost structs
//! that mirror the `.proto` (a test holds them to it); the faults (`--latency`,
//! `--error-rate`, `--capacity`, `--stall`) are the HTTP services', an injected error
//! answered as `UNAVAILABLE`. It serves the reflection service (v1 and v1alpha) with the
//! `.proto` compiled at start. It counts the calls and messages it saw, so tests can hold
//! loadctl's counts to the server's.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use prost::Message;

use super::FaultState;

/// The `.proto` the service implements.
pub const PROTO: &str = include_str!("../../examples/grpc/shop.proto");

/// The largest message the service reads.
const MAX_MESSAGE: usize = 4 << 20;

#[derive(Clone, PartialEq, Message)]
pub struct ReserveRequest {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(uint32, tag = "2")]
    pub qty: u32,
    #[prost(string, tag = "3")]
    pub user: String,
    #[prost(uint32, tag = "4")]
    pub fail_with: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct Reservation {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub sku: String,
    #[prost(uint32, tag = "3")]
    pub qty: u32,
    #[prost(uint64, tag = "4")]
    pub remaining: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct WatchRequest {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(uint32, tag = "2")]
    pub count: u32,
    #[prost(uint32, tag = "3")]
    pub every_ms: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct StockLevel {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(uint64, tag = "2")]
    pub remaining: u64,
    #[prost(uint64, tag = "3")]
    pub seq: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct RestockRequest {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(uint32, tag = "2")]
    pub qty: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct RestockSummary {
    #[prost(uint32, tag = "1")]
    pub messages: u32,
    #[prost(uint64, tag = "2")]
    pub total: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
}

/// What the service saw: calls by final status, messages in and out.
#[derive(Debug, Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub received: AtomicU64,
    pub sent: AtomicU64,
}

pub type Stats = Arc<Counters>;

#[derive(Clone)]
struct St {
    stats: Stats,
    faults: FaultState,
    seq: Arc<AtomicU64>,
    /// `shop.proto` as a `FileDescriptorProto`, for the reflection service.
    file: Bytes,
}

/// `shop.proto`, compiled from the text built in.
fn compiled() -> Bytes {
    struct Builtin;
    impl protox::file::FileResolver for Builtin {
        fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
            match name {
                "shop.proto" => protox::file::File::from_source(name, PROTO),
                _ => Err(protox::Error::file_not_found(name)),
            }
        }
    }
    let mut c = protox::Compiler::with_file_resolver(Builtin);
    c.open_file("shop.proto")
        .expect("the built-in shop.proto compiles");
    let pool = c.descriptor_pool();
    let file = pool.get_file_by_name("shop.proto").expect("compiled above");
    Bytes::from(file.file_descriptor_proto().encode_to_vec())
}

/// The service's routes, counting into `stats`.
pub(super) fn router(stats: Stats, faults: FaultState) -> Router {
    let st = St {
        stats,
        faults,
        seq: Arc::new(AtomicU64::new(0)),
        file: compiled(),
    };
    let mut r = Router::new().route("/shop.Inventory/{method}", axum::routing::post(call));
    for path in crate::grpc::reflection::PATHS {
        r = r.route(path, axum::routing::post(reflect));
    }
    r.with_state(st)
}

type Tx = tokio::sync::mpsc::Sender<Frame<Bytes>>;

async fn call(State(st): State<St>, Path(method): Path<String>, req: Request) -> Response {
    st.stats.calls.fetch_add(1, Ordering::Relaxed);
    st.faults.delay().await;
    if st.faults.fails() {
        return status_only(&st, 14, "injected error");
    }
    if !["Reserve", "Watch", "Restock", "Talk"].contains(&method.as_str()) {
        return status_only(&st, 12, "no such method");
    }
    answering(st, req, move |st, mut inbox, tx| async move {
        let (code, msg) = match method.as_str() {
            "Reserve" => reserve(&st, &mut inbox, &tx).await,
            "Watch" => watch(&st, &mut inbox, &tx).await,
            "Restock" => restock(&st, &mut inbox, &tx).await,
            _ => talk(&st, &mut inbox, &tx).await,
        };
        let counter = if code == 0 {
            &st.stats.ok
        } else {
            &st.stats.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        (code, msg)
    })
}

/// Answers `req` with what `serve` sends (messages) as it sends them, then the status it
/// returns, in trailers.
fn answering<F, Fut>(st: St, req: Request, serve: F) -> Response
where
    F: FnOnce(St, Inbox, Tx) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Frame<Bytes>>(16);
    let inbox = Inbox {
        body: req.into_body(),
        buf: BytesMut::new(),
    };
    tokio::spawn(async move {
        let (code, msg) = serve(st, inbox, tx.clone()).await;
        let _ = tx.send(Frame::trailers(trailers(code, msg))).await;
    });
    streaming(rx)
}

/// An answer whose frames (messages, then trailers) come from `rx` as they are sent.
fn streaming(rx: tokio::sync::mpsc::Receiver<Frame<Bytes>>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|f| (Ok::<_, Infallible>(f), rx))
    });
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(StreamBody::new(stream)))
        .unwrap_or_default()
}

/// A trailers-only answer: the status in the headers, no body.
fn status_only(st: &St, code: u32, msg: &str) -> Response {
    st.stats.failed.fetch_add(1, Ordering::Relaxed);
    let mut r = Response::new(Body::empty());
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/grpc"),
    );
    r.headers_mut().extend(trailers(code, msg));
    r
}

fn trailers(code: u32, msg: &str) -> http::HeaderMap {
    let mut t = http::HeaderMap::new();
    t.insert("grpc-status", http::HeaderValue::from(code));
    if !msg.is_empty() {
        let encoded: String = msg
            .bytes()
            .map(|b| match b {
                b' '..=b'~' if b != b'%' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        if let Ok(v) = http::HeaderValue::from_str(&encoded) {
            t.insert("grpc-message", v);
        }
    }
    t
}

/// The client's messages as they arrive.
struct Inbox {
    body: Body,
    buf: BytesMut,
}

impl Inbox {
    /// The next message; `Ok(None)` at the end of the client's stream.
    async fn next<M: Message + Default>(
        &mut self,
        st: &St,
    ) -> Result<Option<M>, (u32, &'static str)> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf[0] != 0 {
                    return Err((12, "compression is not supported"));
                }
                if len > MAX_MESSAGE {
                    return Err((8, "message too large"));
                }
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    let m = self.buf.split_to(len);
                    st.stats.received.fetch_add(1, Ordering::Relaxed);
                    return M::decode(m)
                        .map(Some)
                        .map_err(|_| (13, "cannot decode the message"));
                }
            }
            match self.body.frame().await {
                None => {
                    return match self.buf.is_empty() {
                        true => Ok(None),
                        false => Err((13, "message cut short")),
                    }
                }
                Some(Err(_)) => return Err((1, "the client went away")),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
            }
        }
    }
}

async fn send(st: &St, tx: &Tx, m: &impl Message) -> bool {
    let mut out = BytesMut::new();
    crate::grpc::wire::frame(&m.encode_to_vec(), &mut out);
    let ok = tx.send(Frame::data(out.freeze())).await.is_ok();
    if ok {
        st.stats.sent.fetch_add(1, Ordering::Relaxed);
    }
    ok
}

type Outcome = (u32, &'static str);

async fn reserve(st: &St, inbox: &mut Inbox, tx: &Tx) -> Outcome {
    let r: ReserveRequest = match inbox.next(st).await {
        Ok(Some(r)) => r,
        Ok(None) => return (3, "no message"),
        Err(e) => return e,
    };
    if r.fail_with != 0 {
        return (r.fail_with.min(16), "asked to fail");
    }
    if r.sku.is_empty() || r.qty == 0 {
        return (3, "sku and qty are required");
    }
    let n = st.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let answer = Reservation {
        id: format!("r-{n}"),
        sku: r.sku,
        qty: r.qty,
        remaining: 1_000_000u64.saturating_sub(n),
    };
    send(st, tx, &answer).await;
    (0, "")
}

async fn watch(st: &St, inbox: &mut Inbox, tx: &Tx) -> Outcome {
    let r: WatchRequest = match inbox.next(st).await {
        Ok(Some(r)) => r,
        Ok(None) => return (3, "no message"),
        Err(e) => return e,
    };
    let every = Duration::from_millis(u64::from(r.every_ms.min(60_000)));
    for seq in 0..u64::from(r.count.min(100_000)) {
        if seq > 0 && !every.is_zero() {
            tokio::time::sleep(every).await;
        }
        let level = StockLevel {
            sku: r.sku.clone(),
            remaining: 1000u64.saturating_sub(seq),
            seq,
        };
        if !send(st, tx, &level).await {
            return (1, "the client went away");
        }
    }
    (0, "")
}

async fn restock(st: &St, inbox: &mut Inbox, tx: &Tx) -> Outcome {
    let mut sum = RestockSummary::default();
    loop {
        match inbox.next::<RestockRequest>(st).await {
            Ok(Some(r)) => {
                sum.messages += 1;
                sum.total += u64::from(r.qty);
            }
            Ok(None) => break,
            Err(e) => return e,
        }
    }
    send(st, tx, &sum).await;
    (0, "")
}

async fn talk(st: &St, inbox: &mut Inbox, tx: &Tx) -> Outcome {
    loop {
        match inbox.next::<Note>(st).await {
            Ok(Some(n)) => {
                let ack = Note {
                    text: format!("ack {}", n.text),
                    seq: n.seq,
                };
                if !send(st, tx, &ack).await {
                    return (1, "the client went away");
                }
            }
            Ok(None) => return (0, ""),
            Err(e) => return e,
        }
    }
}

/// The reflection service: each question answered in turn.
async fn reflect(State(st): State<St>, req: Request) -> Response {
    use crate::grpc::reflection::{
        ErrorAnswer, FileDescriptors, Request as Q, Response as A, ServiceList, ServiceName,
    };
    answering(st, req, |st, mut inbox, tx| async move {
        loop {
            let q: Q = match inbox.next(&st).await {
                Ok(Some(q)) => q,
                Ok(None) => return (0, ""),
                Err(e) => return e,
            };
            let ours = |name: &str| name.starts_with("shop.") || name == "shop.proto";
            let mut a = A::default();
            if q.list_services.is_some() {
                let names = ["shop.Inventory", "grpc.reflection.v1.ServerReflection"];
                a.list_services_response = Some(ServiceList {
                    service: names
                        .iter()
                        .map(|n| ServiceName {
                            name: n.to_string(),
                        })
                        .collect(),
                });
            } else if q
                .file_containing_symbol
                .as_deref()
                .or(q.file_by_filename.as_deref())
                .is_some_and(ours)
            {
                a.file_descriptor_response = Some(FileDescriptors {
                    file_descriptor_proto: vec![st.file.to_vec()],
                });
            } else {
                a.error_response = Some(ErrorAnswer {
                    error_code: 5,
                    error_message: "not found".into(),
                });
            }
            if !send(&st, &tx, &a).await {
                return (1, "the client went away");
            }
        }
    })
}

/// The service's routes with `faults`, and the counters they count into: to serve as the
/// caller likes (over TLS, in a test).
pub fn app(faults: super::Faults) -> (Router, Stats) {
    let stats = Stats::default();
    let state = FaultState {
        faults: Arc::new(faults),
        epoch: std::time::Instant::now(),
        next_free: Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
    };
    (self::router(stats.clone(), state), stats)
}

/// Starts the service in-process on 127.0.0.1 (tests and the benchmark): its address,
/// its counters, and the handle that stops it when dropped.
pub fn start(faults: super::Faults) -> std::io::Result<(super::Embedded, Stats)> {
    let (router, stats) = app(faults);
    let e = super::Embedded::from_router(router, 2)?;
    Ok((e, stats))
}
