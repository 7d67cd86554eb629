//! `loadctl validate`: reads the scenario as a run would and prints what it would do,
//! sending nothing.

use super::{emit, load};
use crate::cli::ScenarioArgs;
use crate::error::Result;
use crate::report::describe::describe;

pub fn execute(args: &ScenarioArgs) -> Result<u8> {
    let plan = load(args, &[])?;
    emit(&describe(&plan));
    Ok(0)
}
