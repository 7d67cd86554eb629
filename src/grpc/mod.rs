//! gRPC, as requests: a gRPC call is an HTTP/2 request (`POST /package.Service/Method`,
//! `content-type: application/grpc`, length-prefixed messages, the status in trailers),
//! so it rides the HTTP/2 transport, its TLS, its phases and every scheduler, flow and
//! shard unchanged. This module owns what is gRPC's own: `[grpc]` and the descriptors
//! ([`schema`]), a request's `grpc`/`message`/`stream`/`check.grpc_status` keys and their
//! resolution against the descriptors ([`call`]), the framing and the reading of an
//! answer's messages and status ([`wire`]), and the status names, each non-OK status its
//! own error kind ([`status`]).
//!
//! The scenario validates through [`call::call`], [`schema::schema`] and
//! [`call::resolve`]; the engine asks a [`Call`] for the body it sends and judges the
//! [`wire::Answer`] the transport read.

pub mod call;
pub mod reflection;
pub mod schema;
pub mod status;
pub mod wire;

pub use call::{Call, RawCall, RawStream};
pub use schema::{RawGrpc, Schema};

/// Where a run's gRPC services are described.
#[derive(Debug, Clone, PartialEq)]
pub enum Services {
    /// Compiled from `.proto` files or read from a descriptor set at validation.
    Known(std::sync::Arc<Schema>),
    /// Asked of the target's reflection service at the run's start (`reflection = true`).
    Reflection { max_message: u32 },
}
