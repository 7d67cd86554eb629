//! Carries out the parsed command line: a table from each subcommand to its module in
//! [`crate::cmd`]. Errors bubble up to `main` as [`Error`], which prints their whole chain
//! and exits with [`Error::exit_code`].

use crate::cli::{Cli, Command};
use crate::cmd;
use crate::error::Result;

pub fn execute(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run(args) => cmd::run::execute(args),
        Command::Capacity(args) => cmd::capacity::execute(args),
        Command::Validate(args) => cmd::validate::execute(&args),
        Command::Compare(args) => cmd::compare::execute(args),
        Command::Report(args) => cmd::report::execute(args),
        Command::Merge(args) => cmd::merge::execute(&args),
        Command::History { command } => cmd::history::execute(command),
        Command::Trend(args) => cmd::trend::execute(&args),
        Command::Import { command } => cmd::import::execute(command),
        Command::Agent(args) => cmd::agent::execute(&args).map(|()| 0),
        #[cfg(feature = "testbed")]
        Command::Testbed { command } => cmd::testbed::execute(command),
    }
}
