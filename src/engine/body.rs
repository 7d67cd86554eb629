//! A request's body as the transports send it: whole (every HTTP request, and a gRPC
//! call whose messages go together), or paced (a streaming gRPC call's messages, one
//! each `every`, the first at once). Pacing lives in the body itself, so the transports
//! send it as any other body and the stream stays open until its last message is out.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// What a request carries.
pub enum Body {
    Whole(Full<Bytes>),
    Paced(Paced),
}

/// Frames sent one each `every`; `next` is when the next one is due.
pub struct Paced {
    frames: VecDeque<Bytes>,
    every: Duration,
    next: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body {
    pub fn whole(b: Bytes) -> Self {
        Body::Whole(Full::new(b))
    }

    /// `frames`, the first at once and each next `every` after the one before was due.
    pub fn paced(frames: Vec<Bytes>, every: Duration) -> Self {
        Body::Paced(Paced {
            frames: frames.into(),
            every,
            next: None,
        })
    }

    /// The whole body's bytes; a paced body is given back as it is.
    pub fn into_whole(self) -> Result<Bytes, Body> {
        match self {
            Body::Whole(mut full) => {
                // `Full` holds its bytes and gives them at the first poll, never waiting.
                let mut cx = Context::from_waker(std::task::Waker::noop());
                match Pin::new(&mut full).poll_frame(&mut cx) {
                    Poll::Ready(Some(Ok(frame))) => Ok(frame.into_data().unwrap_or_default()),
                    _ => Ok(Bytes::new()),
                }
            }
            paced => Err(paced),
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Whole(f) => Pin::new(f).poll_frame(cx),
            Body::Paced(p) => {
                if p.frames.is_empty() {
                    return Poll::Ready(None);
                }
                let due = match &mut p.next {
                    Some(sleep) => {
                        if sleep.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        sleep.deadline() + p.every
                    }
                    None => tokio::time::Instant::now() + p.every,
                };
                // From when the last one was due, not when it went: no drift.
                match &mut p.next {
                    Some(sleep) => sleep.as_mut().reset(due),
                    None => p.next = Some(Box::pin(tokio::time::sleep_until(due))),
                }
                Poll::Ready(p.frames.pop_front().map(|f| Ok(Frame::data(f))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Whole(f) => f.is_end_stream(),
            Body::Paced(p) => p.frames.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Whole(f) => f.size_hint(),
            Body::Paced(p) => SizeHint::with_exact(p.frames.iter().map(|f| f.len() as u64).sum()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn paced_frames_go_one_each_period_the_first_at_once() {
        let start = tokio::time::Instant::now();
        let frames = vec![
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        ];
        let mut body = Body::paced(frames, Duration::from_millis(100));
        let mut at = Vec::new();
        while let Some(f) = body.frame().await {
            at.push((f.unwrap().into_data().unwrap(), start.elapsed()));
        }
        let ms: Vec<u128> = at.iter().map(|(_, t)| t.as_millis()).collect();
        assert_eq!(ms, [0, 100, 200]);
        assert_eq!(at[2].0, Bytes::from_static(b"c"));
        assert!(body.is_end_stream());
    }
}
