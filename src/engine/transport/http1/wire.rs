//! HTTP/1.1 on the wire, written for the generator's hot path: a request is encoded into
//! one reused buffer and written with one call, the answer's head is read in place
//! ([`head`]: recalled when it repeats the connection's last one, else parsed; a
//! `HeaderMap` is built only when the request's rules read headers), and the body is read
//! through the framing its head chose (a length, chunks, or the connection's end). The
//! lane's own task does all of it: no second task per connection and no channel per
//! request, which is where two thirds of a request's instructions went under hyper's
//! connection driver (`bench/README.md`, issue 33).
//!
//! Every bound here is the target's to break, never the generator's memory to spend: a
//! head longer than [`MAX_HEAD`] or with more than [`head::MAX_HEADERS`] fields is a protocol
//! error; a body is handed on as it arrives, never gathered here.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Waker};

use bytes::{Buf, BytesMut};
use http::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Uri};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use crate::engine::body::Body;
use crate::engine::request::{Fixed, Outgoing};
use crate::engine::transport::io::Io;
use crate::metrics::ErrorKind;

use super::head::{self, Framing, Head};

/// An answer's head (status line and fields) may be this long.
pub const MAX_HEAD: usize = 256 << 10;
/// A chunk-size line (with its extensions) may be this long.
const MAX_CHUNK_LINE: usize = 4 << 10;
/// A body this small goes in the same write as the head.
const COALESCE: usize = 64 << 10;
/// The read buffer grows by this much when it is nearly full.
const READ_CHUNK: usize = 16 << 10;

/// One open HTTP/1.1 connection and its buffers, reused for every request it carries.
pub struct Wire {
    io: Io,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    /// Reads done on the connection, so that the caller can tell whether a body came
    /// with the read that brought its head.
    reads: u64,
    /// The last answer's head.
    memo: head::Memo,
}

/// What of a request is left to write once its head (and a small body) is encoded.
enum Rest {
    Nothing,
    /// A body too large to copy into the write buffer.
    Large(bytes::Bytes),
    /// A body whose frames are paced.
    Paced(Body, bool),
}

/// Why an exchange failed.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    /// The connection ended (closed, reset, broken pipe) before any byte of an answer:
    /// nothing says the target processed the request.
    pub before_answer: bool,
    /// The I/O error under it, where a TLS alert may say why.
    pub err: Option<io::Error>,
}

impl Failure {
    fn protocol() -> Self {
        Failure {
            kind: ErrorKind::Protocol,
            before_answer: false,
            err: None,
        }
    }

    fn body(err: Option<io::Error>) -> Self {
        Failure {
            kind: ErrorKind::Body,
            before_answer: false,
            err,
        }
    }

    fn closed(nothing: bool, err: Option<io::Error>) -> Self {
        let ended = err.as_ref().is_none_or(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            )
        });
        Failure {
            kind: ErrorKind::Reset,
            before_answer: nothing && ended,
            err,
        }
    }
}

impl Wire {
    pub fn new(io: Io) -> Self {
        Wire {
            io,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: Vec::with_capacity(1024),
            reads: 0,
            memo: head::Memo::default(),
        }
    }

    /// How many reads the connection has done.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Whether an idle connection may carry a request: it has not ended and has sent
    /// nothing unasked. Looks once, without waiting.
    pub fn alive(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        let mut one = [0u8; 1];
        match &mut self.io {
            // Readiness is looked at without registering a waker (a lock and a waker
            // clone, on every request): no system call while the last read drained it.
            Io::Plain(tcp) => {
                matches!(tcp.try_read(&mut one), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Io::Tls(_) => {
                let mut cx = Context::from_waker(Waker::noop());
                let mut buf = ReadBuf::new(&mut one);
                Pin::new(&mut self.io)
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            }
        }
    }

    /// Whether every byte received so far was read: bytes after an answer were not
    /// asked for, and the connection is not reused.
    pub fn drained(&self) -> bool {
        self.rbuf.is_empty()
    }

    /// Writes `req`: its head and a small body in one write; a paced body's frames as
    /// they come. The encoding is done before the first await, so the future holds
    /// no request (every level of a request's future is moved whole when awaited).
    pub fn send(&mut self, req: Outgoing<'_>) -> impl Future<Output = Result<(), Failure>> + '_ {
        let rest = self.encode(req);
        async move {
            match rest {
                Rest::Nothing => self.flush().await,
                Rest::Large(body) => {
                    self.flush().await?;
                    self.write(&body).await?;
                    self.flush().await
                }
                // Rare (a paced body over HTTP/1.1): boxed, so that it costs nothing to
                // the requests that do not have one.
                Rest::Paced(body, chunked) => Box::pin(self.paced(body, chunked)).await,
            }
        }
    }

    /// `req`'s head and a small body into the write buffer; what is left to write.
    fn encode(&mut self, req: Outgoing<'_>) -> Rest {
        let (head, body) = match req {
            Outgoing::Fixed(f) => {
                let bytes = f.encoded.get_or_init(|| encode_fixed(f));
                self.wbuf.clear();
                self.wbuf.extend_from_slice(bytes);
                return match f.body.len() > COALESCE {
                    true => Rest::Large(f.body.clone()),
                    false => Rest::Nothing,
                };
            }
            Outgoing::Built(req) => req.into_parts(),
        };
        let len = body.size_hint().exact();
        let chunked = encode_head(
            &mut self.wbuf,
            (&head.method, &head.uri, &head.headers),
            len,
        );
        match body.into_whole() {
            Ok(data) if chunked => {
                push_chunk(&mut self.wbuf, &data);
                push_chunk(&mut self.wbuf, b"");
                Rest::Nothing
            }
            Ok(data) if data.len() > COALESCE => Rest::Large(data),
            Ok(data) => {
                self.wbuf.extend_from_slice(&data);
                Rest::Nothing
            }
            Err(paced) => Rest::Paced(paced, chunked),
        }
    }

    /// A paced body's frames, each written when it is due, after the head.
    async fn paced(&mut self, mut body: Body, chunked: bool) -> Result<(), Failure> {
        let mut ended = body.is_end_stream();
        while !ended {
            let Some(Ok(frame)) = body.frame().await else {
                break;
            };
            if let Ok(data) = frame.into_data() {
                if chunked {
                    if !data.is_empty() {
                        push_chunk(&mut self.wbuf, &data);
                    }
                } else if data.len() <= COALESCE {
                    self.wbuf.extend_from_slice(&data);
                } else {
                    self.flush().await?;
                    self.write(&data).await?;
                }
            }
            ended = body.is_end_stream();
            if !ended {
                // The next frame may be paced: what is due goes now.
                self.flush().await?;
            }
        }
        if chunked {
            push_chunk(&mut self.wbuf, b"");
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Failure> {
        if let Io::Plain(tcp) = &self.io {
            // A request fits the socket's buffer nearly always: written at once, without
            // a write future polled through the runtime's readiness.
            match tcp.try_write(&self.wbuf) {
                Ok(n) if n == self.wbuf.len() => {
                    self.wbuf.clear();
                    return Ok(());
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.wbuf.clear();
                    return Err(Failure::closed(true, Some(e)));
                }
            }
        }
        let r = self.io.write_all(&self.wbuf).await;
        self.wbuf.clear();
        r.map_err(|e| Failure::closed(true, Some(e)))?;
        self.io
            .flush()
            .await
            .map_err(|e| Failure::closed(true, Some(e)))
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.io
            .write_all(data)
            .await
            .map_err(|e| Failure::closed(true, Some(e)))
    }

    async fn fill(&mut self) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(READ_CHUNK);
        }
        self.reads += 1;
        self.io.read_buf(&mut self.rbuf).await
    }

    /// More bytes of a body: its end before its framing says so is a cut body.
    async fn more(&mut self) -> Result<(), Failure> {
        match self.fill().await {
            Ok(0) => Err(Failure::body(None)),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::body(Some(e))),
        }
    }

    /// Reads the answer's head, passing over interim (1xx) answers. `head_request`: the
    /// request was HEAD, so the answer has no body whatever its fields say.
    pub async fn head(&mut self, head_request: bool, keep_headers: bool) -> Result<Head, Failure> {
        let mut interim = false;
        loop {
            if !self.rbuf.is_empty() {
                match self
                    .memo
                    .parse(&self.rbuf, head_request, keep_headers)
                    .map_err(|_| Failure::protocol())?
                {
                    Some((n, head)) => {
                        self.rbuf.advance(n);
                        if (100..200).contains(&head.status) && head.status != 101 {
                            interim = true;
                            continue;
                        }
                        return Ok(head);
                    }
                    None if self.rbuf.len() > MAX_HEAD => return Err(Failure::protocol()),
                    None => {}
                }
            }
            let nothing = self.rbuf.is_empty() && !interim;
            match self.fill().await {
                Ok(0) => return Err(Failure::closed(nothing, None)),
                Ok(_) => {}
                Err(e) => return Err(Failure::closed(nothing, Some(e))),
            }
        }
    }

    /// Reads the body framed as `framing`, handing each piece to `sink` as it arrives.
    pub async fn body(
        &mut self,
        framing: Framing,
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), Failure> {
        match framing {
            Framing::Empty => Ok(()),
            Framing::Length(n) => self.exactly(n, sink).await,
            Framing::Chunked => self.chunked(sink).await,
            Framing::UntilClose => loop {
                if !self.rbuf.is_empty() {
                    sink(&self.rbuf);
                    self.rbuf.clear();
                }
                match self.fill().await {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(Failure::body(Some(e))),
                }
            },
        }
    }

    async fn exactly(
        &mut self,
        mut left: u64,
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), Failure> {
        loop {
            let take = (self.rbuf.len() as u64).min(left) as usize;
            if take > 0 {
                sink(&self.rbuf[..take]);
                self.rbuf.advance(take);
                left -= take as u64;
            }
            if left == 0 {
                return Ok(());
            }
            self.more().await?;
        }
    }

    async fn chunked(&mut self, sink: &mut impl FnMut(&[u8])) -> Result<(), Failure> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.rbuf) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.rbuf.advance(n);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.rbuf.len() <= MAX_CHUNK_LINE => {
                        self.more().await?
                    }
                    _ => return Err(Failure::body(None)),
                }
            };
            if size == 0 {
                return self.trailers().await;
            }
            self.exactly(size, sink).await?;
            while self.rbuf.len() < 2 {
                self.more().await?;
            }
            if &self.rbuf[..2] != b"\r\n" {
                return Err(Failure::body(None));
            }
            self.rbuf.advance(2);
        }
    }

    /// A chunked body's trailer fields, up to the empty line: read and dropped (an
    /// HTTP/1.1 answer is judged by its head and body).
    async fn trailers(&mut self) -> Result<(), Failure> {
        loop {
            if let Some(i) = self.rbuf.windows(2).position(|w| w == b"\r\n") {
                self.rbuf.advance(i + 2);
                if i == 0 {
                    return Ok(());
                }
                continue;
            }
            if self.rbuf.len() > MAX_HEAD {
                return Err(Failure::body(None));
            }
            self.more().await?;
        }
    }
}

/// One chunk of a chunked body; the empty one ends the body.
fn push_chunk(buf: &mut Vec<u8>, data: &[u8]) {
    use std::io::Write;
    let _ = write!(buf, "{:x}\r\n", data.len());
    buf.extend_from_slice(data);
    buf.extend_from_slice(b"\r\n");
}

/// A fixed request's head, and its body when small enough to go in the same write.
fn encode_fixed(f: &Fixed) -> bytes::Bytes {
    let mut buf = Vec::new();
    let len = f.body.len() as u64;
    encode_head(&mut buf, (&f.method, &f.uri, &f.headers), Some(len));
    if f.body.len() <= COALESCE {
        buf.extend_from_slice(&f.body);
    }
    buf.into()
}

/// The request line and fields into `buf`, and the body's length when the request does
/// not state it. Returns whether the body goes chunked (the request asked for it).
fn encode_head(
    buf: &mut Vec<u8>,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    len: Option<u64>,
) -> bool {
    use std::io::Write;
    buf.clear();
    buf.extend_from_slice(method.as_str().as_bytes());
    buf.push(b' ');
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    buf.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    let chunked = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .next_back()
        .is_some_and(|v| head::last_token_is(v.as_bytes(), b"chunked"));
    let stated = chunked || headers.contains_key(CONTENT_LENGTH);
    // A body-carrying method states its length even when empty (servers answer 411
    // otherwise); a GET without a body says nothing, as browsers do.
    let wants = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    match len {
        _ if stated => {}
        Some(0) if !wants => {}
        Some(n) => {
            let _ = write!(buf, "content-length: {n}\r\n");
        }
        None => {
            buf.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            return true;
        }
    }
    buf.extend_from_slice(b"\r\n");
    chunked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_and_the_empty_one_ends_the_body() {
        let mut buf = Vec::new();
        push_chunk(&mut buf, &[b'x'; 26]);
        push_chunk(&mut buf, b"");
        let want = format!("1a\r\n{}\r\n0\r\n\r\n", "x".repeat(26));
        assert_eq!(String::from_utf8(buf).unwrap(), want);
    }

    #[test]
    fn a_request_states_its_length_unless_it_has_none() {
        let req = |m: Method, body: &'static [u8]| {
            let uri = http::Uri::from_static("/a?b=1");
            let mut headers = HeaderMap::new();
            headers.insert("host", http::HeaderValue::from_static("h"));
            let mut buf = Vec::new();
            let chunked = encode_head(&mut buf, (&m, &uri, &headers), Some(body.len() as u64));
            assert!(!chunked);
            // A fixed request is the same head, its small body in the same bytes.
            let fixed = Fixed {
                method: m,
                uri,
                headers,
                body: bytes::Bytes::from_static(body),
                encoded: Default::default(),
            };
            let whole = encode_fixed(&fixed);
            assert_eq!(whole[..buf.len()], buf[..]);
            assert_eq!(&whole[buf.len()..], body);
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(
            req(Method::GET, b""),
            "GET /a?b=1 HTTP/1.1\r\nhost: h\r\n\r\n"
        );
        assert_eq!(
            req(Method::POST, b""),
            "POST /a?b=1 HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            req(Method::PUT, b"abc"),
            "PUT /a?b=1 HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n\r\n"
        );
    }

    /// A connection to a loopback peer that reads one request head and then writes
    /// `answer`, closing after it when `close`.
    async fn peer(answer: &'static [u8], close: bool) -> Wire {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
            let _ = s.write_all(answer);
            if !close {
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        Wire::new(Io::Plain(tcp))
    }

    async fn exchange(w: &mut Wire) -> Result<(Head, Vec<u8>), Failure> {
        let req = http::Request::get("/")
            .body(crate::engine::body::Body::whole(bytes::Bytes::new()))
            .unwrap();
        w.send(Outgoing::Built(Box::new(req))).await?;
        let h = w.head(false, false).await?;
        let mut got = Vec::new();
        w.body(h.framing, &mut |d| got.extend_from_slice(d)).await?;
        Ok((h, got))
    }

    #[tokio::test]
    async fn bodies_are_read_through_their_framing() {
        let mut w = peer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nx-sum: 1\r\n\r\n",
            false,
        )
        .await;
        let (h, body) = exchange(&mut w).await.unwrap();
        assert_eq!((h.status, h.framing), (200, Framing::Chunked));
        assert_eq!(body, b"abc0123456789");
        assert!(w.drained() && w.alive(), "reusable after its trailers");

        let mut w = peer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", true).await;
        let (h, body) = exchange(&mut w).await.unwrap();
        assert_eq!(
            (h.framing, body.as_slice()),
            (Framing::UntilClose, &b"until the end"[..])
        );
    }

    #[tokio::test]
    async fn an_end_is_told_apart_by_where_it_came() {
        let mut w = peer(b"", true).await;
        let f = exchange(&mut w).await.unwrap_err();
        assert_eq!((f.kind, f.before_answer), (ErrorKind::Reset, true));

        let mut w = peer(b"HTTP/1.1 200 OK\r\nContent-", true).await;
        let f = exchange(&mut w).await.unwrap_err();
        assert_eq!(
            (f.kind, f.before_answer),
            (ErrorKind::Reset, false),
            "a cut head"
        );

        let mut w = peer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true).await;
        assert_eq!(exchange(&mut w).await.unwrap_err().kind, ErrorKind::Body);

        let mut w = peer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            true,
        )
        .await;
        assert_eq!(exchange(&mut w).await.unwrap_err().kind, ErrorKind::Body);

        // An idle connection the peer closed is seen before anything is written on it.
        let mut w = peer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true).await;
        exchange(&mut w).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!w.alive());
    }
}
