//! The answer head's fast path: one pass over a whole, plain HTTP/1.x head (CRLF line
//! ends, a three-digit status and a reason, `name: value` fields), handing each field on
//! as it is found. It accepts only heads that `httparse` (with its default rules) accepts
//! and reads them as it does; anything else (a head not yet whole, a bare LF, a folded
//! line, a space before a colon, a byte out of place, a field its reader refuses) is left
//! to `httparse`, which decides. Measured under callgrind, `httparse` and the reading of
//! its fields spent 2,657 instructions on nginx's eight-field head, 37% of the generator
//! thread, and this path 2,235 (`bench/README.md`, issue 33); a test holds the two to the
//! same answers.

/// A byte class: may appear in a field name (RFC 9110's `tchar`).
const NAME: u8 = 1;
/// A byte class: may appear in a field value or a reason phrase (HTAB, SP, VCHAR,
/// obs-text), as `httparse` allows.
const VALUE: u8 = 2;

static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let name = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        let value = c == b'\t' || (c >= b' ' && c != 0x7f);
        t[b] = (name as u8 * NAME) | (value as u8 * VALUE);
        b += 1;
    }
    t
}

/// A whole head's status line, as the fast path read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusLine {
    /// The head's length, its final empty line included.
    pub len: usize,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub version: u8,
    pub status: u16,
}

/// Reads `buf`'s head when it is whole and plain, calling `field` with each field's
/// name and value (trailing whitespace trimmed, as `httparse` does) in order. `None`:
/// the fast path does not decide (the head is partial, unusual or malformed, it has
/// more than `max_fields` fields, or `field` returned `false`).
pub fn scan(
    buf: &[u8],
    max_fields: usize,
    mut field: impl FnMut(&[u8], &[u8]) -> bool,
) -> Option<StatusLine> {
    let mut at = status_line(buf)?;
    let (version, status) = (
        buf[7] - b'0',
        buf[9..12]
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
    );
    let mut fields = 0;
    loop {
        let rest = &buf[at..];
        if *rest.first()? == b'\r' {
            return (*rest.get(1)? == b'\n').then_some(StatusLine {
                len: at + 2,
                version,
                status,
            });
        }
        let name = name_len(rest);
        if name == 0 || *rest.get(name)? != b':' {
            return None;
        }
        let mut start = name + 1;
        while matches!(rest.get(start)?, b' ' | b'\t') {
            start += 1;
        }
        let end = value_end(rest, start)?;
        if rest[end] != b'\r' || *rest.get(end + 1)? != b'\n' {
            return None;
        }
        fields += 1;
        // The only whitespace a value can hold here is SP and HTAB, what httparse trims.
        let value = rest[start..end].trim_ascii_end();
        if fields > max_fields || !field(&rest[..name], value) {
            return None;
        }
        at += end + 2;
    }
}

/// The end of a plain status line (`HTTP/1.x ddd reason\r\n`), when `buf` starts with one.
fn status_line(buf: &[u8]) -> Option<usize> {
    let line = buf.get(..13)?;
    let plain = line.starts_with(b"HTTP/1.")
        && matches!(line[7], b'0' | b'1')
        && line[8] == b' '
        && line[9..12].iter().all(u8::is_ascii_digit)
        && line[12] == b' ';
    if !plain {
        return None;
    }
    let cr = value_end(buf, 13)?;
    (buf[cr] == b'\r' && *buf.get(cr + 1)? == b'\n').then_some(cr + 2)
}

/// How many bytes at the start of `s` may be in a field name.
fn name_len(s: &[u8]) -> usize {
    let mut i = 0;
    // Four at a time: one branch for four bytes of a name.
    while let Some(&[a, b, c, d]) = s.get(i..i + 4) {
        let class = CLASS[a as usize] & CLASS[b as usize] & CLASS[c as usize] & CLASS[d as usize];
        if class & NAME == 0 {
            break;
        }
        i += 4;
    }
    while s.get(i).is_some_and(|&b| CLASS[b as usize] & NAME != 0) {
        i += 1;
    }
    i
}

/// The first byte of `s` from `i` on that may not be in a value or a reason phrase (a
/// control byte other than HTAB, or DEL); `None` when `s` ends first.
fn value_end(s: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    loop {
        // Eight bytes at a time while none is below 0x20 or DEL. Of the bytes flagged,
        // the first is exact (a borrow only carries upward), and it is the one looked at.
        while let Some(eight) = s.get(i..i + 8) {
            let w = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
            let del = w ^ (ONES * 0x7f);
            let flagged = (w.wrapping_sub(ONES * 0x20) & !w | del.wrapping_sub(ONES) & !del) & HIGH;
            if flagged != 0 {
                i += (flagged.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        if CLASS[*s.get(i)? as usize] & VALUE == 0 {
            return Some(i);
        }
        // A tab, or one of the last seven bytes.
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    fn quick(buf: &[u8], max: usize) -> Option<(StatusLine, Fields)> {
        let mut fields = Vec::new();
        let line = scan(buf, max, |n, v| {
            fields.push((n.to_vec(), v.to_vec()));
            true
        })?;
        Some((line, fields))
    }

    /// What httparse, with the rules the lane uses, makes of `buf`: `None` unless whole.
    fn reference(buf: &[u8], max: usize) -> Option<(StatusLine, Fields)> {
        let mut storage = vec![httparse::EMPTY_HEADER; max];
        let mut r = httparse::Response::new(&mut storage);
        match r.parse(buf) {
            Ok(httparse::Status::Complete(len)) => Some((
                StatusLine {
                    len,
                    version: r.version?,
                    status: r.code?,
                },
                r.headers
                    .iter()
                    .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                    .collect(),
            )),
            _ => None,
        }
    }

    const NGINX: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 \
        23:22:54 GMT\r\nContent-Type: application/json\r\nContent-Length: 216\r\n\
        Last-Modified: Sun, 06 Dec 2026 23:22:54 GMT\r\nConnection: keep-alive\r\n\
        ETag: \"6b15ee4e-d8\"\r\nAccept-Ranges: bytes\r\n\r\n{\"id\": 42}";

    #[test]
    fn plain_heads_take_the_fast_path_and_read_as_httparse_reads_them() {
        for head in [
            NGINX,
            b"HTTP/1.0 404 Not Found\r\n\r\n",
            b"HTTP/1.1 204 \r\nX-Empty:\r\nX-Pad: \t v \t\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Obs: caf\xc3\xa9 \x80\xff\r\n\r\n",
        ] {
            let fast = quick(head, 100);
            assert!(fast.is_some(), "{:?}", String::from_utf8_lossy(head));
            assert_eq!(fast, reference(head, 100));
        }
        let (line, fields) = quick(NGINX, 100).unwrap();
        assert_eq!((line.version, line.status, fields.len()), (1, 200, 8));
        assert_eq!(&NGINX[line.len..], b"{\"id\": 42}");
        assert_eq!(fields[3], (b"Content-Length".to_vec(), b"216".to_vec()));
    }

    #[test]
    fn anything_unusual_is_left_to_httparse() {
        for head in [
            &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
            b"HTTP/1.1 200 OK\r\n\r",
            b"HTTP/1.1 200 OK\nA: b\n\n",
            b"HTTP/1.1 200\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: b\r\n\r\n",
            b"HTTP/2.0 200 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 20x OK\r\n\r\n",
        ] {
            assert_eq!(
                quick(head, 100),
                None,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        assert!(quick(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", 2).is_some());
        assert_eq!(quick(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", 1), None);
        assert_eq!(
            scan(b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", 9, |_, _| false),
            None,
            "the reader refused a field"
        );
    }

    /// Every byte at every place of a name, a value and a reason (the eight-byte steps
    /// included): the fast path and httparse agree, or the fast path stands aside.
    #[test]
    fn every_byte_anywhere_reads_as_httparse_reads_it() {
        for b in 0..=255u8 {
            for at in 0..19 {
                let mut value = b"0123456789abcdefghi".to_vec();
                value[at] = b;
                for head in [
                    [&b"HTTP/1.1 200 OK\r\nX-Field: "[..], &value, b"\r\n\r\n"].concat(),
                    [&b"HTTP/1.1 200 "[..], &value, b"\r\n\r\n"].concat(),
                    [&b"HTTP/1.1 200 OK\r\n"[..], &value, b": v\r\n\r\n"].concat(),
                ] {
                    if let Some(fast) = quick(&head, 8) {
                        assert_eq!(Some(fast), reference(&head, 8), "{head:?}");
                    }
                }
            }
        }
        assert!(quick(b"HTTP/1.1 200 OK\r\nX: a\tb\x80c~d\r\n\r\n", 8).is_some());
    }

    /// Heads mutated at random (bytes replaced, cut, doubled) from plain ones: whatever
    /// the fast path accepts, httparse accepts with the same length, status and fields.
    #[test]
    fn the_fast_path_never_accepts_what_httparse_would_read_otherwise() {
        let alphabet = b"\r\n\t :;,-_.!0123456789aZ\x00\x1f\x7e\x7f\x80\xff/HTTP";
        let bases: [&[u8]; 3] = [
            NGINX,
            b"HTTP/1.0 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA:b\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(33);
        let (mut accepted, mut cases) = (0, 0);
        for _ in 0..20_000 {
            let mut head = bases[rng.usize(..bases.len())].to_vec();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..head.len());
                match rng.u8(..4) {
                    0 => head[at] = alphabet[rng.usize(..alphabet.len())],
                    1 => head.truncate(at),
                    2 => head.insert(at, alphabet[rng.usize(..alphabet.len())]),
                    _ => drop(head.remove(at)),
                };
                if head.is_empty() {
                    head.push(b'H');
                }
            }
            cases += 1;
            // Eight: nginx's head sits on the bound, so that mutants cross it both ways.
            if let Some(fast) = quick(&head, 8) {
                accepted += 1;
                assert_eq!(
                    Some(fast),
                    reference(&head, 8),
                    "{:?}",
                    String::from_utf8_lossy(&head)
                );
            }
        }
        // Both sides are exercised: many mutants stay plain, many do not.
        assert!(
            accepted > cases / 20 && accepted < cases,
            "{accepted} of {cases}"
        );
    }
}
