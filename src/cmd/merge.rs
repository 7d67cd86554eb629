//! `loadctl merge`: the run folders of a split run (shards or agents) merged exactly into
//! one, judged again; the exit code is the merged run's.

use super::emit;
use crate::cli::MergeArgs;
use crate::error::Result;

pub fn execute(args: &MergeArgs) -> Result<u8> {
    let s = crate::merge::merge(&args.dirs, &args.out)?;
    emit(&crate::report::console::render(
        &s,
        &args.out.display().to_string(),
    ));
    Ok(s.status.exit_code())
}
