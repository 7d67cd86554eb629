//! What an agent grants a peer before it has shown the token: a few KiB to read, a few
//! seconds, and one of a few places. A peer without the token cannot make the agent
//! buffer a large message (the 64 MiB limit of `prepare` applies only after the hello),
//! nor hold more than [`MAX_UNAUTHENTICATED`] connections open at once.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes a peer may send before its hello is accepted: the WebSocket upgrade (a few
/// hundred bytes, more through a proxy) and the hello (a token and two versions).
pub const PREAUTH_BYTES: u64 = 16 * 1024;

/// Connections that have not yet shown the token, at once; more are closed on accept.
pub const MAX_UNAUTHENTICATED: usize = 16;

/// A connection whose reads are bounded until [`Budget::lift`].
pub struct Bounded {
    tcp: TcpStream,
    left: Arc<AtomicU64>,
}

/// The bound of one [`Bounded`] connection, kept by its session.
#[derive(Clone)]
pub struct Budget(Arc<AtomicU64>);

impl Budget {
    /// The peer showed the token: from now on the protocol's own limits apply.
    pub fn lift(&self) {
        self.0.store(u64::MAX, Ordering::Relaxed);
    }
}

impl Bounded {
    pub fn new(tcp: TcpStream) -> (Self, Budget) {
        let left = Arc::new(AtomicU64::new(PREAUTH_BYTES));
        (
            Bounded {
                tcp,
                left: left.clone(),
            },
            Budget(left),
        )
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let left = this.left.load(Ordering::Relaxed);
        if left == 0 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the peer sent more than a hello before showing the token",
            )));
        }
        if left == u64::MAX {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        let room = (buf.remaining() as u64).min(left) as usize;
        let mut sub = ReadBuf::new(buf.initialize_unfilled_to(room));
        let r = Pin::new(&mut this.tcp).poll_read(cx, &mut sub);
        let n = sub.filled().len();
        buf.advance(n);
        // A lift in between leaves u64::MAX, far above anything subtracted here.
        this.left.fetch_sub((n as u64).min(left), Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_stop_at_the_budget_until_lifted() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let writer = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let _ = c.write_all(&vec![7u8; 64 * 1024]).await;
        });
        let (tcp, _) = l.accept().await.unwrap();
        let (mut b, budget) = Bounded::new(tcp);
        let mut got = vec![0u8; PREAUTH_BYTES as usize];
        b.read_exact(&mut got).await.unwrap();
        let mut one = [0u8; 1];
        assert!(b.read(&mut one).await.is_err(), "past the budget");
        budget.lift();
        assert_eq!(b.read(&mut one).await.unwrap(), 1);
        writer.await.unwrap();
    }
}
