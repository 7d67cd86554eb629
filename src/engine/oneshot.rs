//! Single requests outside the load: `[[setup]]` before it and `[[verify]]` after it. They
//! go through the same HTTP path as the load (one connection, the same request building)
//! on the run's side runtime, one after the other.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::request::{Keep, Prepared, Response};
use super::transport::{Connector, Lanes};
use crate::scenario::plan::net::Protocol;

/// Sends each of `requests` once, in order, to its origin in `net`, over `transport`.
/// `None`: the request could not be built from its templates, and was not sent.
pub fn send_all(
    rt: &super::runtime::Handle,
    requests: &[Prepared],
    net: &Connector,
    transport: Protocol,
    timeout: Duration,
) -> Vec<Option<Response>> {
    // The connection's tasks are spawned locally: they run on this thread, inside the
    // LocalSet, as a load worker's do.
    let local = tokio::task::LocalSet::new();
    rt.block_on(local.run_until(async {
        let mut conn = Lanes::new(transport).lane();
        let mut rng = fastrand::Rng::with_seed(0x5e70b);
        let seq = AtomicU64::new(0);
        let mut out = Vec::with_capacity(requests.len());
        for p in requests {
            let resp = match p.build(&mut rng, &seq, &[]) {
                Some(req) => {
                    let keep = Keep {
                        body: true,
                        ..p.keep()
                    };
                    let now = std::time::Instant::now();
                    conn.execute(req, net, p.origin, keep, (now, now + timeout))
                        .await
                }
                None => {
                    out.push(None);
                    continue;
                }
            };
            out.push(Some(resp));
        }
        out
    }))
}
