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
    /// Interrupted a second time during the load: stopped at once, without reports
    /// (the first interrupt writes them): exit 130.
    #[error("interrupted again: stopped at once, without reports")]
    Interrupted,
    /// The command failed on the way: exit 1.
    #[error(transparent)]
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Error {
    /// A second interrupt travels up as an `anyhow` error like any other failure, and
    /// keeps its exit code here.
    fn from(e: anyhow::Error) -> Self {
        if e.is::<InterruptedTwice>() {
            Error::Interrupted
        } else {
            Error::Failed(e)
        }
    }
}

/// The marker a second Ctrl-C (or SIGTERM, SIGHUP) raises inside the run, so that `main`
/// exits 130 at once; the library itself never ends the process.
#[derive(Debug, thiserror::Error)]
#[error("interrupted again: stopped at once, without reports")]
pub struct InterruptedTwice;

impl Error {
    /// The documented exit code (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Scenario(_) | Error::Usage(_) | Error::Setup(_) => 2,
            Error::Failed(_) => 1,
            Error::Interrupted => 130,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
