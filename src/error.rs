//! The one error type of the command line, and the exit code each kind of error means.
//! `main` prints it with its whole chain (`{:#}`) and exits with [`Error::exit_code`].

use crate::scenario::ScenarioError;

/// Why a command did not produce its result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file could not be read or is invalid: exit 2, nothing was sent.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The command line asks for something impossible: exit 2, nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// Something the run needs before any load is not there (the cluster or an object the
    /// scenario names, the open-file limit it needs): exit 2, nothing was sent.
    #[error(transparent)]
    Setup(anyhow::Error),
    /// The command failed on the way: exit 1.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Error {
    /// The documented exit code (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Scenario(_) | Error::Usage(_) | Error::Setup(_) => 2,
            Error::Failed(_) => 1,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
