//! HTTP/1.1 on the wire, written for the generator's hot path: a request is encoded into
//! one reused buffer and written with one call, the answer's head is parsed in place by
//! `httparse` into a fixed array (a `HeaderMap` is built only when the request's rules
//! read headers), and the body is read through the framing its head chose (a length,
//! chunks, or the connection's end). The lane's own task does all of it: no second task
//! per connection and no channel per request, which is where two thirds of a request's
//! instructions went under hyper's connection driver (`bench/README.md`, issue 33).
//!
//! Every bound here is the target's to break, never the generator's memory to spend: a
//! head longer than [`MAX_HEAD`] or with more than [`MAX_HEADERS`] fields is a protocol
//! error; a body is handed on as it arrives, never gathered here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Waker};

use bytes::{Buf, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use crate::engine::body::Body;
use crate::engine::transport::io::Io;
use crate::metrics::ErrorKind;

/// An answer's head (status line and fields) may be this long.
pub const MAX_HEAD: usize = 256 << 10;
/// Fields an answer's head may carry (hyper's default too).
pub const MAX_HEADERS: usize = 100;
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
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the connection ends: the connection carries nothing after it.
    UntilClose,
}

/// An answer's head, as much of it as the request's rules read.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// The connection may carry another request once the body is read.
    pub reusable: bool,
    pub framing: Framing,
    pub headers: Option<HeaderMap>,
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
        }
    }

    /// Whether an idle connection may carry a request: it has not ended and has sent
    /// nothing unasked. Looks once, without waiting.
    pub fn alive(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut one = [0u8; 1];
        let mut buf = ReadBuf::new(&mut one);
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    }

    /// Whether every byte received so far was read: bytes after an answer were not
    /// asked for, and the connection is not reused.
    pub fn drained(&self) -> bool {
        self.rbuf.is_empty()
    }

    /// Writes `req`: its head and a small body in one write; a paced body's frames as
    /// they come.
    pub async fn send(&mut self, req: Request<Body>) -> Result<(), Failure> {
        let (parts, mut body) = req.into_parts();
        let chunked = encode_head(&mut self.wbuf, &parts, body.size_hint().exact());
        let mut ended = body.is_end_stream();
        while !ended {
            let Some(Ok(frame)) = body.frame().await else {
                break;
            };
            if let Ok(data) = frame.into_data() {
                if chunked && !data.is_empty() {
                    self.wbuf
                        .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                }
                if data.len() <= COALESCE {
                    self.wbuf.extend_from_slice(&data);
                } else {
                    self.flush().await?;
                    self.write(&data).await?;
                }
                if chunked && !data.is_empty() {
                    self.wbuf.extend_from_slice(b"\r\n");
                }
            }
            ended = body.is_end_stream();
            if !ended {
                // The next frame may be paced: what is due goes now.
                self.flush().await?;
            }
        }
        if chunked {
            self.wbuf.extend_from_slice(b"0\r\n\r\n");
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Failure> {
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
                match parse(&self.rbuf, head_request, keep_headers)? {
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

/// The request line and fields into `buf`, and the body's length when the request does
/// not state it. Returns whether the body goes chunked (the request asked for it).
fn encode_head(buf: &mut Vec<u8>, parts: &http::request::Parts, len: Option<u64>) -> bool {
    use std::io::Write;
    buf.clear();
    buf.extend_from_slice(parts.method.as_str().as_bytes());
    buf.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    buf.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    let chunked = parts
        .headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .next_back()
        .is_some_and(|v| last_token_is(v.as_bytes(), b"chunked"));
    let stated = chunked || parts.headers.contains_key(CONTENT_LENGTH);
    // A body-carrying method states its length even when empty (servers answer 411
    // otherwise); a GET without a body says nothing, as browsers do.
    let wants = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
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

/// Parses a head at the start of `buf`: `None` until it is whole; its length and what
/// it says once it is. Anything that is not a well-formed HTTP/1.x answer, within the
/// bounds, is the target's protocol error.
fn parse(
    buf: &[u8],
    head_request: bool,
    keep_headers: bool,
) -> Result<Option<(usize, Head)>, Failure> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut fields);
    let parsed = r.parse(buf);
    interpret(r, parsed, head_request, keep_headers)
}

/// What a parsed head says: its framing, whether the connection stays, its fields.
fn interpret(
    r: httparse::Response<'_, '_>,
    parsed: httparse::Result<usize>,
    head_request: bool,
    keep_headers: bool,
) -> Result<Option<(usize, Head)>, Failure> {
    let n = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Failure::protocol()),
    };
    let status = r.code.ok_or_else(Failure::protocol)?;
    let mut length: Option<u64> = None;
    let (mut te, mut chunked, mut close, mut keep_alive) = (false, false, false, false);
    let mut map = keep_headers.then(HeaderMap::new);
    for f in r.headers.iter() {
        let name = f.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(f.value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(Failure::protocol)?;
            if length.is_some_and(|l| l != v) {
                return Err(Failure::protocol());
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te = true;
            chunked = last_token_is(f.value, b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(f.value, b"close");
            keep_alive |= has_token(f.value, b"keep-alive");
        }
        if let Some(m) = &mut map {
            let name = HeaderName::from_bytes(name).map_err(|_| Failure::protocol())?;
            let value = HeaderValue::from_bytes(f.value).map_err(|_| Failure::protocol())?;
            m.append(name, value);
        }
    }
    let bodiless = head_request || status < 200 || status == 204 || status == 304;
    let framing = match (te, chunked, length) {
        _ if bodiless => Framing::Empty,
        (true, true, _) => Framing::Chunked,
        (true, false, _) => Framing::UntilClose,
        (false, _, Some(l)) => Framing::Length(l),
        (false, _, None) => Framing::UntilClose,
    };
    // HTTP/1.0 keeps a connection only when it says so. A length beside chunking is
    // answered, as RFC 9112 says, by chunks, and the connection is not trusted after.
    let persistent = !close && (r.version == Some(1) || keep_alive);
    let reusable =
        persistent && framing != Framing::UntilClose && !(te && length.is_some()) && status != 101;
    let head = Head {
        status,
        reusable,
        framing,
        headers: map,
    };
    Ok(Some((n, head)))
}

fn tokens(v: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(|t| t.trim_ascii())
}

fn has_token(v: &[u8], want: &[u8]) -> bool {
    tokens(v).any(|t| t.eq_ignore_ascii_case(want))
}

fn last_token_is(v: &[u8], want: &[u8]) -> bool {
    tokens(v)
        .next_back()
        .is_some_and(|t| t.eq_ignore_ascii_case(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Head)>, Failure> {
        parse(text.as_bytes(), false, true)
    }

    fn whole(text: &str) -> Head {
        let (n, h) = head(text).unwrap().unwrap();
        assert_eq!(n, text.len());
        h
    }

    #[test]
    fn framing_follows_the_head() {
        let h = whole("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.reusable),
            (200, Framing::Length(12), true)
        );
        let h = whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::Chunked, true));
        let h = whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::Chunked, false));
        let h = whole("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::UntilClose, false));
        for bodiless in ["204 No Content", "304 Not Modified", "100 Continue"] {
            let h = whole(&format!("HTTP/1.1 {bodiless}\r\nContent-Length: 5\r\n\r\n"));
            assert_eq!(h.framing, Framing::Empty, "{bodiless}");
        }
        let (_, h) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, false)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Empty, "the answer to HEAD");
        assert!(h.headers.is_none(), "kept only when asked");
    }

    #[test]
    fn persistence_follows_version_and_connection() {
        assert!(
            !whole("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").reusable
        );
        assert!(!whole("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").reusable);
        assert!(
            whole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                .reusable
        );
        assert!(!whole("HTTP/1.1 101 Switching Protocols\r\n\r\n").reusable);
    }

    #[test]
    fn a_broken_or_oversized_head_is_the_targets_protocol_error() {
        assert!(
            head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none(),
            "partial"
        );
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            let f = head(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted {bad:?}"));
            assert_eq!(f.kind, ErrorKind::Protocol, "{bad:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        let f = head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"))
            .err()
            .unwrap();
        assert_eq!(f.kind, ErrorKind::Protocol);
        // Many fields, within the bound: all kept.
        let some: String = (0..30).map(|i| format!("x-{i}: v\r\n")).collect();
        let h = whole(&format!(
            "HTTP/1.1 200 OK\r\n{some}Content-Length: 1\r\n\r\n"
        ));
        assert_eq!(h.framing, Framing::Length(1));
        assert_eq!(h.headers.unwrap().len(), 31);
        // The same value twice is one length.
        let h = whole("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(3));
    }

    #[test]
    fn a_request_states_its_length_unless_it_has_none() {
        let req = |m: Method, body: &'static [u8]| {
            let mut r = Request::new(());
            *r.method_mut() = m;
            *r.uri_mut() = http::Uri::from_static("/a?b=1");
            r.headers_mut()
                .insert("host", HeaderValue::from_static("h"));
            let (parts, ()) = r.into_parts();
            let mut buf = Vec::new();
            let chunked = encode_head(&mut buf, &parts, Some(body.len() as u64));
            assert!(!chunked);
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
        let req = Request::get("/")
            .body(Body::whole(bytes::Bytes::new()))
            .unwrap();
        w.send(req).await?;
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
