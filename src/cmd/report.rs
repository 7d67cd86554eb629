//! `loadctl report`: re-renders a run folder's reports from its `summary.json` and interval
//! log.

use super::emit;
use crate::cli::ReportArgs;
use crate::error::{Error, Result};

/// Re-renders the reports; the exit code is the run's own, so a script can gate on it.
pub fn execute(args: ReportArgs) -> Result<u8> {
    // A folder that is not a run, or a damaged one, is the user's to fix: nothing is written.
    let saved = crate::report::load_run(&args.dir).map_err(|e| Error::usage(format!("{e:#}")))?;
    crate::report::write_run(&args.dir, &saved)?;
    let s = &saved.summary;
    emit(&format!(
        "{} · {} · re-rendered {}\n",
        s.scenario,
        s.status.label(),
        args.dir.join("report.html").display()
    ));
    Ok(s.status.exit_code())
}
