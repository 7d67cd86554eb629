//! `loadctl import KIND`: scenarios from what users already have. Each importer is a
//! module that reads its format and returns a [`scenario::Scenario`] (requests or flow
//! steps, notes of what it left out), which renders as TOML a person can edit; the
//! command checks the text with the scenario validator before writing it, so what an
//! import writes passes `loadctl validate` as written.
//!
//! - [`har`]: a browser's recording, with correlation, think times and a feeder;
//! - [`openapi`]: an OpenAPI 3.0/3.1 document, one request per operation;
//! - [`curl`]: one request from a `curl` command line.

pub mod curl;
pub mod har;
pub mod openapi;
pub mod scenario;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not what it should be, at a known place.
    #[error("{line}:{column}: {message}")]
    At {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Parse(String),
    /// A feature loadctl cannot import, named.
    #[error("{0}")]
    Unsupported(String),
    /// Nothing was left to import.
    #[error("{0}")]
    Empty(String),
}
