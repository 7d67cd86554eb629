//! The dashboard's state: what a page that opens now is given (the plan's marks and
//! planned rate, the seconds so far, the verdict once there is one), and the stream of
//! seconds a page already open is sent. Bounded: the last [`KEEP`] seconds are kept for a
//! page that opens late; a page that falls [`BACKLOG`] events behind is disconnected (its
//! EventSource reconnects and starts again from the kept state), never waited for.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::export::serve::Body;

/// Seconds kept for a page that opens late (an hour).
pub const KEEP: usize = 3600;
/// Events a slow page may be behind before it is disconnected.
const BACKLOG: usize = 64;

pub struct Board {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Bytes>,
}

struct Inner {
    head: Value,
    seconds: VecDeque<Value>,
    verdict: Option<Value>,
}

/// One server-sent event.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

impl Board {
    pub fn new(head: Value) -> Arc<Board> {
        let (tx, _) = broadcast::channel(BACKLOG);
        Arc::new(Board {
            inner: Mutex::new(Inner {
                head,
                seconds: VecDeque::new(),
                verdict: None,
            }),
            tx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything a page opening now needs, as one JSON document.
    pub fn state(&self) -> Value {
        let i = self.lock();
        json!({ "head": i.head, "seconds": i.seconds, "verdict": i.verdict })
    }

    /// A final second: kept, and sent to every open page.
    pub fn second(&self, v: Value) {
        let ev = event("second", &v);
        {
            let mut i = self.lock();
            if i.seconds.len() == KEEP {
                i.seconds.pop_front();
            }
            i.seconds.push_back(v);
        }
        // No page open is not an error.
        let _ = self.tx.send(ev);
    }

    /// The run's verdict: kept, and sent.
    pub fn verdict(&self, v: Value) {
        let ev = event("verdict", &v);
        self.lock().verdict = Some(v);
        let _ = self.tx.send(ev);
    }

    /// The event stream of a page: the state now, then each event as it comes.
    pub fn events(&self) -> Body {
        // Subscribed before the state is read, so no second falls between the two (a
        // second in both is told apart by its `t`).
        let rx = self.tx.subscribe();
        let first = event("state", &self.state());
        let rest = futures_util::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(b) => Some((b, rx)),
                // Behind by more than the backlog, or the run's board is gone: end the
                // stream; the page reconnects if it wants to.
                Err(_) => None,
            }
        });
        let all = futures_util::stream::once(async move { first })
            .chain(rest)
            .map(|b| Ok::<_, Infallible>(Frame::data(b)));
        BodyExt::boxed(StreamBody::new(all))
    }
}
