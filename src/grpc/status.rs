//! gRPC status codes: their names as scenarios and reports write them, and the error kind
//! each non-OK status is counted as (one kind per status, `grpc_unavailable`, …).

use crate::metrics::ErrorKind;

/// Every status by its code (`grpc-status: 14` is `UNAVAILABLE`).
pub const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A status by name (any case) or number.
pub fn code(name: &str) -> Option<u32> {
    let name = name.trim();
    if let Ok(n) = name.parse::<u32>() {
        return (n < NAMES.len() as u32).then_some(n);
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
}

pub fn name(code: u32) -> &'static str {
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN")
}

/// The error kind of a non-OK status; a code beyond the list is `UNKNOWN`, as the
/// protocol says a client should take it.
pub fn kind(code: u32) -> ErrorKind {
    match code {
        1 => ErrorKind::GrpcCancelled,
        3 => ErrorKind::GrpcInvalidArgument,
        4 => ErrorKind::GrpcDeadlineExceeded,
        5 => ErrorKind::GrpcNotFound,
        6 => ErrorKind::GrpcAlreadyExists,
        7 => ErrorKind::GrpcPermissionDenied,
        8 => ErrorKind::GrpcResourceExhausted,
        9 => ErrorKind::GrpcFailedPrecondition,
        10 => ErrorKind::GrpcAborted,
        11 => ErrorKind::GrpcOutOfRange,
        12 => ErrorKind::GrpcUnimplemented,
        13 => ErrorKind::GrpcInternal,
        14 => ErrorKind::GrpcUnavailable,
        15 => ErrorKind::GrpcDataLoss,
        16 => ErrorKind::GrpcUnauthenticated,
        _ => ErrorKind::GrpcUnknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_ok_status_is_its_own_kind_named_after_it() {
        for (c, n) in NAMES.iter().enumerate().skip(1) {
            let k = kind(c as u32);
            assert_eq!(k.name(), format!("grpc_{}", n.to_ascii_lowercase()));
            assert!(k.is_grpc() && !k.is_transport());
            assert_eq!(code(n), Some(c as u32));
        }
        assert_eq!(kind(99), ErrorKind::GrpcUnknown);
        assert_eq!(code("unavailable"), Some(14));
        assert_eq!(code("17"), None);
        assert_eq!(
            ErrorKind::ALL.iter().filter(|k| k.is_grpc()).count(),
            NAMES.len() - 1
        );
    }
}
