//! What the target said with its errors, for the reader: the first few distinct texts it
//! gave (a gRPC status's `grpc-message`), by request and error kind. Counting is the
//! recorders'; this keeps words, not numbers. Bounded twice: at most [`MAX_EXAMPLES`]
//! kept, and after [`MAX_OFFERS`] offers no thread takes the lock again, so a flood of
//! errors costs one atomic load each.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::metrics::ErrorKind;

pub const MAX_EXAMPLES: usize = 8;
const MAX_OFFERS: u32 = 256;

/// One text the target gave with an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub request: String,
    pub kind: ErrorKind,
    pub message: Box<str>,
}

#[derive(Debug, Default)]
pub struct Examples {
    offers: AtomicU32,
    kept: Mutex<Vec<Example>>,
}

impl Examples {
    pub fn offer(&self, request: &str, kind: ErrorKind, message: &str) {
        if self.offers.fetch_add(1, Ordering::Relaxed) >= MAX_OFFERS {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        let seen = kept
            .iter()
            .any(|e| e.kind == kind && e.request == request && &*e.message == message);
        if !seen && kept.len() < MAX_EXAMPLES {
            kept.push(Example {
                request: request.to_string(),
                kind,
                message: message.into(),
            });
        }
    }

    pub fn take(&self) -> Vec<Example> {
        self.kept
            .lock()
            .map(|mut k| std::mem::take(&mut *k))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_texts_are_kept_up_to_the_bound_and_offers_stop() {
        let ex = Examples::default();
        for i in 0..20 {
            ex.offer("r", ErrorKind::GrpcUnavailable, &format!("down {}", i % 10));
            ex.offer("r", ErrorKind::GrpcUnavailable, "down 0");
        }
        let kept = ex.take();
        assert_eq!(kept.len(), MAX_EXAMPLES);
        assert_eq!(&*kept[0].message, "down 0");
        for _ in 0..MAX_OFFERS {
            ex.offer("r", ErrorKind::GrpcInternal, "same");
        }
        assert_eq!(ex.take().len(), 1, "one text, once");
        ex.offer("r", ErrorKind::GrpcInternal, "late");
        assert!(
            ex.take().is_empty(),
            "after the bound, nothing more is taken"
        );
    }
}
