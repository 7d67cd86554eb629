//! An answer's head, parsed in place (by [`quick`]'s fast path, else by `httparse`) into
//! what the lane needs: its status, its body's framing, whether the connection stays, and
//! its fields only when the request's rules read them; a head that repeats the
//! connection's last one is recalled ([`Memo`]). Anything that is not a well-formed
//! HTTP/1.x head within the bounds is [`Malformed`]: the target's protocol error.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::quick;

/// Fields an answer's head may carry (hyper's default too).
pub const MAX_HEADERS: usize = 100;

/// The head is not a well-formed HTTP/1.x answer within the bounds.
#[derive(Debug)]
pub struct Malformed;

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

/// A head this long or shorter is remembered by [`Memo`].
const MEMO_MAX: usize = 1024;

/// The last answer's head on a connection, its bytes and what they said. A server's heads
/// repeat byte for byte (nginx's change with its `Date`, once a second), and a head equal
/// to the last one says what it said: it is compared, not parsed again. Under callgrind
/// that turned 2,235 instructions per answer into a comparison (`bench/README.md`,
/// issue 33). Heads whose fields the request reads are not remembered.
#[derive(Debug, Default)]
pub struct Memo {
    bytes: Vec<u8>,
    /// The request was HEAD, and what the head said: status, reusable, framing.
    said: Option<(bool, u16, bool, Framing)>,
}

impl Memo {
    /// [`parse`], answered from memory when `buf` starts with the last head.
    pub fn parse(
        &mut self,
        buf: &[u8],
        head_request: bool,
        keep_headers: bool,
    ) -> Result<Option<(usize, Head)>, Malformed> {
        if let Some((was_head, status, reusable, framing)) = self.said {
            let n = self.bytes.len();
            if was_head == head_request && !keep_headers && buf.get(..n) == Some(&self.bytes) {
                let head = Head {
                    status,
                    reusable,
                    framing,
                    headers: None,
                };
                return Ok(Some((n, head)));
            }
        }
        let parsed = parse(buf, head_request, keep_headers)?;
        self.said = None;
        if let Some((n, h)) = &parsed {
            if !keep_headers && *n <= MEMO_MAX {
                self.bytes.clear();
                self.bytes.extend_from_slice(&buf[..*n]);
                self.said = Some((head_request, h.status, h.reusable, h.framing));
            }
        }
        Ok(parsed)
    }
}

/// Parses a head at the start of `buf`: `None` until it is whole; its length and what
/// it says once it is. Anything that is not a well-formed HTTP/1.x answer, within the
/// bounds, is the target's protocol error. A plain head is read by the fast path
/// ([`quick`]); `httparse` decides every other.
pub fn parse(
    buf: &[u8],
    head_request: bool,
    keep_headers: bool,
) -> Result<Option<(usize, Head)>, Malformed> {
    let mut fields = Fields::new(keep_headers);
    if let Some(line) = quick::scan(buf, MAX_HEADERS, |n, v| fields.field(n, v).is_ok()) {
        let head = fields.finish(line.version, line.status, head_request);
        return Ok(Some((line.len, head)));
    }
    // Left uninitialised: writing 100 empty fields cost more than parsing a short head.
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut []);
    let n = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut r,
        buf,
        &mut storage,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let (version, status) = (r.version.ok_or(Malformed)?, r.code.ok_or(Malformed)?);
    let mut fields = Fields::new(keep_headers);
    for f in r.headers.iter() {
        fields.field(f.name.as_bytes(), f.value)?;
    }
    Ok(Some((n, fields.finish(version, status, head_request))))
}

/// What a head's fields say, read one field at a time.
struct Fields {
    length: Option<u64>,
    te: bool,
    chunked: bool,
    close: bool,
    keep_alive: bool,
    map: Option<HeaderMap>,
}

impl Fields {
    fn new(keep_headers: bool) -> Self {
        Fields {
            length: None,
            te: false,
            chunked: false,
            close: false,
            keep_alive: false,
            map: keep_headers.then(HeaderMap::new),
        }
    }

    #[inline]
    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        // Most fields are none of the three: the length alone passes them by.
        match name.len() {
            14 if name_is(name, b"content-length") => {
                let v = decimal(value).ok_or(Malformed)?;
                if self.length.is_some_and(|l| l != v) {
                    return Err(Malformed);
                }
                self.length = Some(v);
            }
            17 if name_is(name, b"transfer-encoding") => {
                self.te = true;
                self.chunked = last_token_is(value, b"chunked");
            }
            10 if name_is(name, b"connection") => {
                // One token, the usual value, is matched whole before a list is split.
                if value.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                } else if value.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else {
                    self.close |= has_token(value, b"close");
                    self.keep_alive |= has_token(value, b"keep-alive");
                }
            }
            _ => {}
        }
        if let Some(m) = &mut self.map {
            let name = HeaderName::from_bytes(name).map_err(|_| Malformed)?;
            let value = HeaderValue::from_bytes(value).map_err(|_| Malformed)?;
            m.append(name, value);
        }
        Ok(())
    }

    /// The head, once every field is read: its framing and whether the connection stays.
    fn finish(self, version: u8, status: u16, head_request: bool) -> Head {
        let Fields {
            length,
            te,
            chunked,
            close,
            keep_alive,
            map,
        } = self;
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
        let persistent = !close && (version == 1 || keep_alive);
        let reusable = persistent
            && framing != Framing::UntilClose
            && !(te && length.is_some())
            && status != 101;
        Head {
            status,
            reusable,
            framing,
            headers: map,
        }
    }
}

/// `name` is `lower` (a field name of lowercase letters and `-`) in any case. Setting
/// bit 5 lowercases a letter and keeps `-`; of the bytes httparse lets into a name, no
/// other becomes a letter or `-` by it. A fifth of `eq_ignore_ascii_case`'s work, on
/// every field of every answer.
fn name_is(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && name.iter().zip(lower).all(|(a, b)| a | 0x20 == *b)
}

/// A length: decimal digits only, around them optional whitespace.
fn decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        (d < 10).then_some(())?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn tokens(v: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(|t| t.trim_ascii())
}

fn has_token(v: &[u8], want: &[u8]) -> bool {
    tokens(v).any(|t| t.eq_ignore_ascii_case(want))
}

pub fn last_token_is(v: &[u8], want: &[u8]) -> bool {
    tokens(v)
        .next_back()
        .is_some_and(|t| t.eq_ignore_ascii_case(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Head)>, Malformed> {
        parse(text.as_bytes(), false, true)
    }

    fn whole(text: &str) -> Head {
        let (n, h) = head(text).unwrap().unwrap();
        assert_eq!(n, text.len());
        h
    }

    #[test]
    fn a_repeated_head_is_recalled_and_any_other_is_parsed() {
        let mut memo = Memo::default();
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let read = |memo: &mut Memo, buf: &[u8], head_request, keep| {
            let (n, h) = memo.parse(buf, head_request, keep).unwrap().unwrap();
            (n, h.status, h.framing, h.reusable, h.headers.is_some())
        };
        let first = read(&mut memo, ok, false, false);
        assert_eq!(first, (38, 200, Framing::Length(2), true, false));
        assert!(memo.said.is_some(), "remembered");
        assert_eq!(read(&mut memo, ok, false, false), first, "recalled");
        // The same bytes after a HEAD request have no body.
        assert_eq!(read(&mut memo, ok, true, false).2, Framing::Empty);
        assert_eq!(read(&mut memo, ok, false, false), first);
        // A different head (one byte), a partial one, fields asked for: parsed.
        let other = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhey";
        assert_eq!(read(&mut memo, other, false, false).2, Framing::Length(3));
        assert!(memo
            .parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", false, false)
            .unwrap()
            .is_none());
        assert!(read(&mut memo, other, false, true).4, "fields asked for");
        assert!(
            memo.said.is_none(),
            "a head whose fields were read is not remembered"
        );
        // A malformed head is the target's error, whatever was remembered.
        read(&mut memo, ok, false, false);
        assert!(memo
            .parse(b"HTTP/1.1 200 OK\r\nA b\r\n\r\n", false, false)
            .is_err());
        // A long head is not kept.
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "v".repeat(MEMO_MAX));
        assert_eq!(read(&mut memo, long.as_bytes(), false, false).1, 200);
        assert!(memo.said.is_none() && memo.bytes.capacity() <= MEMO_MAX);
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
    fn field_names_match_in_any_case_and_only_themselves() {
        for yes in [
            "content-length",
            "Content-Length",
            "CONTENT-LENGTH",
            "cOnTeNt-LeNgTh",
        ] {
            assert!(name_is(yes.as_bytes(), b"content-length"), "{yes}");
        }
        for no in [
            "content_length",
            "content-lengths",
            "content-lengt",
            "contentxlength",
        ] {
            assert!(!name_is(no.as_bytes(), b"content-length"), "{no}");
        }
        assert_eq!(decimal(b" 18446744073709551615\t"), Some(u64::MAX));
        assert_eq!(decimal(b"007"), Some(7));
        let h = whole("HTTP/1.1 200 OK\r\nCONTENT-LENGTH:  3 \r\nconnection: CLOSE\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::Length(3), false));
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
        // A list, in any case: each token counts.
        assert!(
            whole(
                "HTTP/1.0 200 OK\r\nConnection: Upgrade, Keep-Alive\r\nContent-Length: 0\r\n\r\n"
            )
            .reusable
        );
        assert!(
            !whole("HTTP/1.1 200 OK\r\nConnection: te,  CLOSE \r\nContent-Length: 0\r\n\r\n")
                .reusable
        );
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
            "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(head(bad).is_err(), "accepted {bad:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        assert!(head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")).is_err());
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
}
