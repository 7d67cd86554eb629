//! The open-file limit a run needs (a chat run holds a socket per connection, twice when
//! the embedded gateway runs in-process), raised before any load or refused with the fix;
//! and the local addresses `[load] source_ips` binds, checked to be this machine's.

use crate::error::Error;
use crate::scenario::Plan;

/// Every `[load] source_ips` address is this machine's (bound once), so that none turns
/// into connect errors charged to the target.
pub(super) fn source_ips(plan: &Plan) -> Result<(), Error> {
    crate::engine::transport::io::check_sources(&plan.source_ips)
        .map_err(|e| Error::Setup(anyhow::anyhow!(e)))
}

/// Raises the soft (and, when allowed, hard) open-file limit to what `plan` needs.
pub(super) fn open_files(plan: &Plan) -> Result<(), Error> {
    let Some(needed) = plan.open_files_needed() else {
        return Ok(());
    };
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(Error::Setup(anyhow::anyhow!(
            "cannot read the open-file limit"
        )));
    }
    if lim.rlim_cur >= needed {
        return Ok(());
    }
    let want = libc::rlimit {
        rlim_cur: needed,
        rlim_max: lim.rlim_max.max(needed),
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
        return Ok(());
    }
    Err(Error::Setup(anyhow::anyhow!(
        "this scenario needs {needed} open files (its connections, and the embedded gateway's), but the limit is {} (hard {}) and the system refused to raise it; raise it (`ulimit -n {needed}` as root, or LimitNOFILE in a systemd unit), lower load.connections, or run the gateway in its own process (`loadctl testbed serve chat`) and pass --target",
        lim.rlim_cur, lim.rlim_max
    )))
}
