//! `loadctl compare`: two run folders side by side; exit 1 when the new one regressed
//! beyond the tolerances.

use super::{emit, load_run, tolerances};
use crate::cli::{CompareArgs, CompareFormat};
use crate::error::Result;
use crate::report::compare::{render_md, render_text};
use crate::scenario::Tolerances;
use crate::summary::compare::compare;

pub fn execute(args: CompareArgs) -> Result<u8> {
    let base = load_run(&args.base)?;
    let new = load_run(&args.new)?;
    let c = compare(
        &base,
        &new,
        &tolerances(Tolerances::default(), &args.tolerances)?,
    );
    match args.format {
        CompareFormat::Text => emit(&render_text(&c)),
        CompareFormat::Md => emit(&render_md(&c)),
    }
    Ok(u8::from(c.regressions > 0))
}
