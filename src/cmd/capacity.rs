//! `loadctl capacity`: the highest rate the scenario's SLOs hold at, searched by repeated
//! runs; the flags override the scenario's `[capacity]`.

use super::{load, services};
use crate::cli::CapacityArgs;
use crate::error::Result;

pub fn execute(args: CapacityArgs) -> Result<u8> {
    let plan = load(
        &args.scenario,
        &[
            ("capacity.min", "--min", &args.min),
            ("capacity.max", "--max", &args.max),
            ("capacity.precision", "--precision", &args.precision),
            ("capacity.step", "--step", &args.step),
            ("capacity.settle", "--settle", &args.settle),
            ("capacity.trials", "--trials", &args.trials),
            ("capacity.hold", "--hold", &args.hold),
        ],
    )?;
    let opts = crate::capacity::CapacityOptions {
        out: args.out.clone(),
        print: true,
        handle_signals: true,
        services: services(),
    };
    Ok(crate::capacity::search(&plan, &opts)?.result.exit_code())
}
