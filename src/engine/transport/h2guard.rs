//! A watch on what an HTTP/2 server sends, below the h2 library: the frames that demand an
//! answer from the client (PING, SETTINGS) are bounded per connection, and the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` is noted.
//!
//! The h2 driver runs on the generator's own thread and answers every PING and SETTINGS
//! it reads; a server that floods them would steal the scheduler's time and make the run
//! look like the generator's fault. Past the bound the connection is closed and its
//! requests are the target's `protocol` errors, reason `control_flood`. Only frame heads
//! are read (payloads are skipped by length), so watching costs a few comparisons per
//! frame.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::io::Io;

/// Control frames a connection may send at once, and how many more a second after that.
/// Servers send a PING every few seconds at most and SETTINGS a handful of times.
const BURST: f64 = 200.0;
const PER_SECOND: f64 = 50.0;

const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// What the watch learnt of one connection, read by the streams that share it (atomics
/// only because hyper wants the connection `Send`; one thread reads and writes them).
#[derive(Debug)]
pub struct Watch {
    /// The server's last `SETTINGS_MAX_CONCURRENT_STREAMS` (`NONE` until it sends one).
    max_streams: AtomicU64,
    /// The server sent more control frames than the bound: the connection was closed.
    flooded: AtomicBool,
}

const NONE: u64 = u64::MAX;

impl Default for Watch {
    fn default() -> Self {
        Watch {
            max_streams: AtomicU64::new(NONE),
            flooded: AtomicBool::new(false),
        }
    }
}

impl Watch {
    /// The server allows no stream at all on this connection.
    pub fn allows_no_streams(&self) -> bool {
        self.max_streams.load(Relaxed) == 0
    }

    pub fn flooded(&self) -> bool {
        self.flooded.load(Relaxed)
    }
}

/// Where the parser is in the server's byte stream.
#[derive(Debug, Clone, Copy)]
enum At {
    /// Reading a 9-byte frame head; `n` bytes of it so far.
    Head { n: usize },
    /// Skipping `left` bytes of a payload.
    Skip { left: usize },
    /// Reading a SETTINGS payload: `left` bytes to go, `n` bytes of the current 6-byte
    /// entry so far.
    Settings { left: usize, n: usize },
}

/// An HTTP/2 connection's stream with the watch on what it reads.
pub struct Guarded {
    io: Io,
    watch: Arc<Watch>,
    at: At,
    head: [u8; 9],
    entry: [u8; 6],
    tokens: f64,
    refilled: Instant,
}

impl Guarded {
    pub fn new(io: Io) -> (Self, Arc<Watch>) {
        let watch = Arc::new(Watch::default());
        let g = Guarded {
            io,
            watch: watch.clone(),
            at: At::Head { n: 0 },
            head: [0; 9],
            entry: [0; 6],
            tokens: BURST,
            refilled: Instant::now(),
        };
        (g, watch)
    }

    /// One control frame the client must answer: false past the bound.
    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * PER_SECOND;
        self.tokens = (self.tokens + earned).min(BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Reads the frame heads in `bytes`; false when the server went past the bound.
    fn scan(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self.at {
                At::Head { n } => {
                    let take = (9 - n).min(bytes.len());
                    self.head[n..n + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if n + take < 9 {
                        self.at = At::Head { n: n + take };
                        continue;
                    }
                    let len = usize::from(self.head[0]) << 16
                        | usize::from(self.head[1]) << 8
                        | usize::from(self.head[2]);
                    let (kind, flags) = (self.head[3], self.head[4]);
                    let demands_answer =
                        matches!(kind, FRAME_PING | FRAME_SETTINGS) && flags & FLAG_ACK == 0;
                    if demands_answer && !self.take_token() {
                        return false;
                    }
                    self.at = match (kind, demands_answer) {
                        (FRAME_SETTINGS, true) if len > 0 => At::Settings { left: len, n: 0 },
                        _ if len > 0 => At::Skip { left: len },
                        _ => At::Head { n: 0 },
                    };
                }
                At::Skip { left } => {
                    let take = left.min(bytes.len());
                    bytes = &bytes[take..];
                    self.at = if take == left {
                        At::Head { n: 0 }
                    } else {
                        At::Skip { left: left - take }
                    };
                }
                At::Settings { left, n } => {
                    let take = (6 - n).min(bytes.len()).min(left);
                    self.entry[n..n + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    let (left, n) = (left - take, n + take);
                    if n == 6 {
                        let id = u16::from_be_bytes([self.entry[0], self.entry[1]]);
                        if id == SETTINGS_MAX_CONCURRENT_STREAMS {
                            let v = u32::from_be_bytes([
                                self.entry[2],
                                self.entry[3],
                                self.entry[4],
                                self.entry[5],
                            ]);
                            self.watch.max_streams.store(u64::from(v), Relaxed);
                        }
                    }
                    self.at = match (left, n) {
                        (0, _) => At::Head { n: 0 },
                        (_, 6) => At::Settings { left, n: 0 },
                        _ => At::Settings { left, n },
                    };
                }
            }
        }
        true
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.watch.flooded() {
            return Poll::Ready(Err(flood()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            if !this.scan(&buf.filled()[before..]) {
                this.watch.flooded.store(true, Relaxed);
                // Nothing of this read reaches h2: it would answer the flood.
                buf.set_filled(before);
                return Poll::Ready(Err(flood()));
            }
        }
        r
    }
}

fn flood() -> std::io::Error {
    std::io::Error::other("the server sent more PING/SETTINGS frames than loadctl answers")
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    fn guard() -> (Guarded, Arc<Watch>) {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let tcp = rt.block_on(tokio::net::TcpStream::connect(addr)).unwrap();
        Guarded::new(Io::Plain(tcp))
    }

    #[test]
    fn settings_are_read_across_reads_and_pings_are_bounded() {
        let (mut g, watch) = guard();
        // MAX_CONCURRENT_STREAMS = 0 after INITIAL_WINDOW_SIZE, split at odd places.
        let mut bytes = frame(FRAME_SETTINGS, 0, &[0, 4, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0]);
        bytes.extend(frame(0x0, 0, &[7; 20]));
        for chunk in bytes.chunks(5) {
            assert!(g.scan(chunk));
        }
        assert!(watch.allows_no_streams());
        // A PING ACK costs nothing; PINGs past the burst are a flood.
        let ack = frame(FRAME_PING, FLAG_ACK, &[0; 8]);
        for _ in 0..1_000 {
            assert!(g.scan(&ack));
        }
        let ping = frame(FRAME_PING, 0, &[0; 8]);
        let mut allowed = 0;
        while g.scan(&ping) {
            allowed += 1;
            assert!(allowed < 1_000, "never bounded");
        }
        // One SETTINGS frame was already taken from the burst.
        assert!((198..=202).contains(&allowed), "{allowed}");
    }
}
