//! Reading an answer, whatever the protocol carried it: the status, the headers and body a
//! request's rules keep (bounded), and the `ttfb` and `download` phases.

use std::time::Instant;

use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::io::ConnectError;
use crate::engine::request::{GrpcRead, Keep, Response};
use crate::grpc::wire::{Fault, Reader};
use crate::metrics::connection::{Phase, Phases, ProtocolReason, TlsReason};
use crate::metrics::{ConnSample, ErrorKind};

/// Bodies kept for outcome checks and extraction are cut here: a flow reads tokens and
/// ids, not downloads, and a runaway answer must not grow the generator's memory.
const MAX_KEPT_BODY: usize = 1 << 20;

/// Reads `resp` to its end. `written` is when the request was handed to the connection,
/// `head` when the answer's head arrived; `phases` holds the connection's, if one opened.
pub async fn read(
    resp: http::Response<Incoming>,
    keep: Keep,
    written: Instant,
    head: Instant,
    mut phases: Phases,
) -> Response {
    if let Some(g) = keep.grpc {
        return read_grpc(resp, keep, g, written, head, phases).await;
    }
    let code = resp.status().as_u16();
    let (parts, mut body) = resp.into_parts();
    let mut out = Response {
        status: Some(code),
        headers: keep.headers.then(|| Box::new(parts.headers)),
        body: keep.body.then(Vec::new),
        ..Default::default()
    };
    phases.set(Phase::Ttfb, head - written);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    take(&mut out, d);
                }
            }
            Err(_) => {
                out.error = Some(ErrorKind::Body);
                out.conn = ConnSample {
                    phases,
                    ..Default::default()
                };
                return out;
            }
        }
    }
    phases.set(Phase::Download, head.elapsed());
    out.conn = ConnSample {
        phases,
        ..Default::default()
    };
    out
}

/// A piece of an answer's body: counted, and kept (up to the bound) when the rules read it.
pub fn take(out: &mut Response, d: &[u8]) {
    out.bytes += d.len() as u64;
    if let Some(kept) = &mut out.body {
        let room = MAX_KEPT_BODY.saturating_sub(kept.len());
        kept.extend_from_slice(&d[..d.len().min(room)]);
    }
}

/// Reads a gRPC answer: its messages as they arrive (counted, timed, the first kept when
/// the rules read it), then its status from the trailers (or, for a trailers-only
/// answer, the headers). Once the messages wanted are in, the stream is reset rather
/// than read on: the call is complete.
async fn read_grpc(
    resp: http::Response<Incoming>,
    keep: Keep,
    g: GrpcRead,
    written: Instant,
    head: Instant,
    mut phases: Phases,
) -> Response {
    let code = resp.status().as_u16();
    let (parts, mut body) = resp.into_parts();
    phases.set(Phase::Ttfb, head - written);
    let mut reader = Reader::new(g.max_message, g.wanted, keep.body, written);
    if let Some(every) = g.every {
        reader = reader.paced(every, g.sent);
    }
    reader.status(&parts.headers);
    let mut out = Response {
        status: Some(code),
        headers: keep.headers.then(|| Box::new(parts.headers)),
        ..Default::default()
    };
    let mut fault = None;
    let mut trailers = false;
    while let Some(frame) = body.frame().await {
        let f = match frame {
            Ok(f) => f,
            Err(_) => {
                out.error = Some(ErrorKind::Body);
                break;
            }
        };
        if let Some(d) = f.data_ref() {
            out.bytes += d.len() as u64;
            match reader.data(d) {
                Ok(false) => {}
                Ok(true) => {
                    reader.answer.ended_early = true;
                    break;
                }
                Err(e) => {
                    fault = Some(e);
                    break;
                }
            }
        } else if let Some(t) = f.trailers_ref() {
            trailers = true;
            if let Err(e) = reader.end(Some(t)) {
                fault = Some(e);
            }
        }
    }
    if out.error.is_none() && fault.is_none() && !trailers && !reader.answer.ended_early {
        // Ended without trailers: only a trailers-only answer may (its status came in
        // the headers).
        if let Err(e) = reader.end(None) {
            fault = Some(e);
        }
    }
    // Why the answer is not a gRPC answer, when it is not: its framing, or no status.
    let no_status = out.error.is_none()
        && code == 200
        && reader.answer.status.is_none()
        && !reader.answer.ended_early;
    let broken = match fault {
        Some(Fault::TooLarge) => Some(ProtocolReason::GrpcTooLarge),
        Some(Fault::Framing) => Some(ProtocolReason::GrpcFraming),
        None => no_status.then_some(ProtocolReason::GrpcNoStatus),
    };
    phases.set(Phase::Download, head.elapsed());
    if let Some(first) = reader.answer.first.filter(|_| broken.is_none()) {
        phases.set(Phase::FirstMessage, first);
    }
    out.conn = ConnSample {
        phases,
        ..Default::default()
    };
    if let Some(reason) = broken {
        out.error = Some(ErrorKind::Protocol);
        out.conn.protocol = Some(reason);
        return out;
    }
    out.conn.messages = [g.sent, reader.answer.received];
    out.body = reader.first_message();
    out.grpc = Some(Box::new(reader.answer));
    out
}

/// A failure before any answer, carrying the phases of a connection opened for it.
pub fn failed(kind: ErrorKind, phases: Phases) -> Response {
    let mut r = Response::failed(kind);
    r.conn.phases = phases;
    r
}

/// A request out of time: a `timeout`, unless it was waiting on a TLS handshake, which is
/// then the `tls` error `handshake_timeout` (a stalled TLS terminator is told apart).
pub fn timed_out(mut phases: Phases) -> Response {
    if phases.handshaking {
        phases.handshaking = false;
        let mut r = failed(ErrorKind::Tls, phases);
        r.conn.tls = Some(TlsReason::HandshakeTimeout);
        return r;
    }
    failed(ErrorKind::Timeout, phases)
}

/// A connection that could not be opened: its kind and, for TLS, the reason.
pub fn connect_failed(e: ConnectError, phases: Phases) -> Response {
    let mut r = failed(e.kind, phases);
    r.conn.tls = e.tls;
    r
}

/// A request that failed on an open connection as `kind`, unless a TLS alert under `err`
/// says why (a server refusing the client certificate after a TLS 1.3 handshake).
pub fn exchange_failed(
    kind: ErrorKind,
    err: &(dyn std::error::Error + 'static),
    phases: Phases,
) -> Response {
    let mut r = failed(kind, phases);
    if let Some(reason) = super::tls::reason(err) {
        r.error = Some(ErrorKind::Tls);
        r.conn.tls = Some(reason);
    }
    r
}
