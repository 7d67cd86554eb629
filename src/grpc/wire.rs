//! gRPC on the wire (the "gRPC over HTTP2" protocol document): each message is a 5-byte
//! prefix (a compressed flag, then the length as a big-endian u32) and the message; the
//! call's outcome is the `grpc-status` trailer (or header, for a trailers-only answer),
//! with `grpc-message` percent-encoded beside it.
//!
//! [`Reader`] counts and times the messages of an answer as its DATA frames arrive,
//! keeping the first message for the request's checks; a length beyond the bound is
//! refused before a byte of it is buffered, so a hostile server cannot make the generator
//! hold a 100 MB message.

use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use http::HeaderMap;

/// What came back of one call beyond HTTP: read by the request's judgement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// `grpc-status`; `None` when the answer had none (a protocol error), or when loadctl
    /// ended a stream itself after the messages it wanted ([`Answer::ended_early`]).
    pub status: Option<u32>,
    /// `grpc-message`, decoded and cut to [`MAX_STATUS_MESSAGE`] bytes.
    pub message: Option<Box<str>>,
    /// Messages received whole.
    pub received: u32,
    /// Messages sent (one for unary and server-streaming calls).
    pub sent: u32,
    /// From the request's send to its first whole message.
    pub first: Option<Duration>,
    /// Gaps between consecutive messages of a stream (at most [`MAX_GAPS`] kept).
    pub gaps: Vec<Duration>,
    /// A paced stream: from the send of message i to the i-th message back (at most
    /// [`MAX_GAPS`] kept).
    pub replies: Vec<Duration>,
    /// loadctl reset the stream once it had `receive` messages: the call is complete.
    pub ended_early: bool,
}

/// What a reader does wrong: each a protocol error of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A message longer than the bound.
    TooLarge,
    /// A compressed message (loadctl offers no `grpc-accept-encoding`), or a message cut
    /// short by the end of the answer.
    Framing,
}

/// `grpc-message` texts kept per answer: enough for the console's examples.
pub const MAX_STATUS_MESSAGE: usize = 256;
/// Gaps kept per stream: a stream is timed message by message up to here.
pub const MAX_GAPS: usize = 4096;

/// One message, framed.
pub fn frame(message: &[u8], out: &mut BytesMut) {
    out.reserve(5 + message.len());
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
}

/// Reads the messages of an answer from its DATA frames.
#[derive(Debug)]
pub struct Reader {
    max_message: u32,
    /// Messages wanted before loadctl ends the stream itself (`stream.receive`).
    wanted: u32,
    keep_first: bool,
    /// The prefix being read (up to 5 bytes) and the rest of the current message.
    prefix: [u8; 5],
    have: usize,
    left: u32,
    /// The first message, while it is read and once it is whole (when kept).
    pub first: Option<Vec<u8>>,
    pub answer: Answer,
    started: Instant,
    last: Option<Instant>,
    /// A paced stream's period and how many it sends.
    paced: Option<(Duration, u32)>,
}

impl Reader {
    pub fn new(max_message: u32, wanted: u32, keep_first: bool, started: Instant) -> Self {
        Reader {
            max_message,
            wanted: wanted.max(1),
            keep_first,
            prefix: [0; 5],
            have: 0,
            left: 0,
            first: None,
            answer: Answer::default(),
            started,
            last: None,
            paced: None,
        }
    }

    /// The request sends `sent` messages one each `every`: answers are timed from theirs.
    pub fn paced(mut self, every: Duration, sent: u32) -> Self {
        self.paced = Some((every, sent));
        self
    }

    /// Reads one DATA frame. `Ok(true)`: the messages wanted are in; read no further.
    pub fn data(&mut self, mut d: &[u8]) -> Result<bool, Fault> {
        while !d.is_empty() {
            if self.have < 5 {
                let take = (5 - self.have).min(d.len());
                self.prefix[self.have..self.have + take].copy_from_slice(&d[..take]);
                self.have += take;
                d = &d[take..];
                if self.have < 5 {
                    break;
                }
                if self.prefix[0] != 0 {
                    return Err(Fault::Framing);
                }
                let len = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]);
                if len > self.max_message {
                    return Err(Fault::TooLarge);
                }
                self.left = len;
                if self.keep_first && self.answer.received == 0 {
                    // Grown by what arrives, never by what the prefix announces: a server
                    // announcing large messages it never sends costs nothing.
                    self.first = Some(Vec::new());
                }
            }
            let take = (self.left as usize).min(d.len());
            if self.answer.received == 0 {
                if let Some(first) = &mut self.first {
                    first.extend_from_slice(&d[..take]);
                }
            }
            self.left -= take as u32;
            d = &d[take..];
            if self.left == 0 {
                self.have = 0;
                if self.message_done() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn message_done(&mut self) -> bool {
        let now = Instant::now();
        let a = &mut self.answer;
        a.received += 1;
        match self.last {
            None => a.first = Some(now.saturating_duration_since(self.started)),
            Some(prev) if a.gaps.len() < MAX_GAPS => a.gaps.push(now - prev),
            Some(_) => {}
        }
        self.last = Some(now);
        let i = a.received - 1;
        if let Some((every, sent)) = self.paced {
            if i < sent && a.replies.len() < MAX_GAPS {
                let sent_at = self.started.checked_add(every.saturating_mul(i));
                let reply = sent_at.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                a.replies.push(reply);
            }
        }
        a.received >= self.wanted
    }

    /// The answer ended (its trailers, or its headers for a trailers-only answer, in
    /// `fields`): a message cut short is a framing fault.
    pub fn end(&mut self, fields: Option<&HeaderMap>) -> Result<(), Fault> {
        if let Some(f) = fields {
            self.status(f);
        }
        if self.have != 0 {
            return Err(Fault::Framing);
        }
        Ok(())
    }

    /// Takes `grpc-status` and `grpc-message` from `fields`, when there.
    pub fn status(&mut self, fields: &HeaderMap) {
        if let Some(s) = fields.get("grpc-status") {
            self.answer.status = s.to_str().ok().and_then(|s| s.trim().parse().ok());
            if self.answer.status.is_none() {
                // Present but not a number: as if missing, and said so.
                self.answer.message = Some("grpc-status is not a number".into());
                return;
            }
            self.answer.message = fields
                .get("grpc-message")
                .map(|m| percent_decoded(m.as_bytes()));
        }
    }

    /// The first message whole, when it was kept (taken: the reader keeps no copy).
    pub fn first_message(&mut self) -> Option<Vec<u8>> {
        self.first.take().filter(|_| self.answer.received > 0)
    }
}

/// `grpc-message` is percent-encoded UTF-8; kept at most [`MAX_STATUS_MESSAGE`] bytes.
fn percent_decoded(raw: &[u8]) -> Box<str> {
    let mut out = Vec::with_capacity(raw.len().min(MAX_STATUS_MESSAGE));
    let mut i = 0;
    while i < raw.len() && out.len() < MAX_STATUS_MESSAGE {
        let hex = |b: u8| (b as char).to_digit(16);
        match (raw[i], raw.get(i + 1).copied(), raw.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(msgs: &[&[u8]]) -> Vec<u8> {
        let mut b = BytesMut::new();
        for m in msgs {
            frame(m, &mut b);
        }
        b.to_vec()
    }

    #[test]
    fn messages_split_anywhere_are_counted_whole() {
        let bytes = framed(&[b"hello", b"", b"world!"]);
        for cut in 0..bytes.len() {
            let mut r = Reader::new(1024, u32::MAX, true, Instant::now());
            assert_eq!(r.data(&bytes[..cut]), Ok(false));
            assert_eq!(r.data(&bytes[cut..]), Ok(false));
            assert_eq!(r.end(None), Ok(()));
            assert_eq!(r.answer.received, 3, "cut at {cut}");
            assert_eq!(r.first_message().as_deref(), Some(&b"hello"[..]));
            assert_eq!(r.answer.gaps.len(), 2);
        }
    }

    #[test]
    fn a_length_over_the_bound_is_refused_before_it_is_read() {
        let mut r = Reader::new(10, u32::MAX, true, Instant::now());
        // 100 MB announced: refused on its prefix alone.
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&100_000_000u32.to_be_bytes());
        assert_eq!(r.data(&prefix), Err(Fault::TooLarge));
        assert!(r.first.is_none());
    }

    #[test]
    fn compressed_and_cut_messages_are_framing_faults() {
        let mut r = Reader::new(1024, u32::MAX, false, Instant::now());
        assert_eq!(r.data(&[1, 0, 0, 0, 1, 7]), Err(Fault::Framing));
        let mut r = Reader::new(1024, u32::MAX, false, Instant::now());
        assert_eq!(r.data(&[0, 0, 0, 0, 9, 7]), Ok(false));
        assert_eq!(r.end(None), Err(Fault::Framing));
    }

    #[test]
    fn a_paced_streams_answers_are_timed_from_their_own_sends() {
        let started = Instant::now() - Duration::from_millis(250);
        let mut r =
            Reader::new(1024, u32::MAX, false, started).paced(Duration::from_millis(100), 2);
        assert_eq!(r.data(&framed(&[b"a", b"b", b"c"])), Ok(false));
        // Three answers, two sends: the third has no send of its own.
        assert_eq!(r.answer.replies.len(), 2);
        // Message 0 was sent 250 ms ago, message 1 150 ms ago.
        assert!(r.answer.replies[0] >= Duration::from_millis(250));
        assert!(r.answer.replies[1] >= Duration::from_millis(150));
        assert!(r.answer.replies[1] < r.answer.replies[0]);
    }

    #[test]
    fn enough_messages_end_the_read() {
        let bytes = framed(&[b"a", b"b", b"c"]);
        let mut r = Reader::new(1024, 2, false, Instant::now());
        assert_eq!(r.data(&bytes), Ok(true));
        assert_eq!(r.answer.received, 2);
    }

    #[test]
    fn status_and_its_message_are_read_from_trailers() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", "14".parse().unwrap());
        t.insert(
            "grpc-message",
            "no%20capacity%3A%20try%20later".parse().unwrap(),
        );
        let mut r = Reader::new(1024, u32::MAX, false, Instant::now());
        r.end(Some(&t)).unwrap();
        assert_eq!(r.answer.status, Some(14));
        assert_eq!(r.answer.message.as_deref(), Some("no capacity: try later"));
        let mut t = HeaderMap::new();
        t.insert("grpc-status", "OK".parse().unwrap());
        let mut r = Reader::new(1024, u32::MAX, false, Instant::now());
        r.end(Some(&t)).unwrap();
        assert_eq!(r.answer.status, None);
    }
}
