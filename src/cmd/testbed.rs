//! `loadctl testbed`: the reference services and the simulated control plane on their own,
//! for a scenario or a cluster to be pointed at.

use crate::error::Result;
use crate::testbed::serve::TestbedCommand;

pub fn execute(command: TestbedCommand) -> Result<u8> {
    match command {
        TestbedCommand::Serve(args) => crate::testbed::serve::serve(&args).map(|()| 0),
    }
}
