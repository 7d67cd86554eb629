//! The `loadctl` binary: parse, call the library, exit with the documented code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match loadctl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own exit codes are 0 (help, version) and 2 (usage): both documented.
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    match loadctl::app::execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
