//! `loadctl agent`: serves coordinators that run their share of a scenario here, once the
//! token, TLS identity and target allow-list are read.

use crate::error::{Error, Result};

pub fn execute(args: &crate::cli::AgentArgs) -> Result<()> {
    let token = crate::remote::token::load(
        args.token_file.as_deref(),
        std::env::var(crate::remote::token::ENV).ok(),
    )
    .map_err(Error::usage)?;
    let delay_start = match &args.delay_start {
        Some(d) => humantime::parse_duration(d)
            .ok()
            .filter(|d| *d <= std::time::Duration::from_secs(60))
            .ok_or_else(|| {
                Error::usage(format!(
                    "--delay-start {d}: write a duration up to 60s, such as 300ms"
                ))
            })?,
        None => std::time::Duration::ZERO,
    };
    crate::agent::serve(crate::agent::AgentOptions {
        listen: args.listen,
        token,
        name: args.name.clone().unwrap_or_else(crate::agent::host_name),
        scratch: args
            .scratch
            .clone()
            .unwrap_or_else(crate::agent::scratch::default_path),
        scratch_private: args.scratch.is_none(),
        allow: args
            .allow_target
            .as_deref()
            .map(crate::agent::allow::AllowList::parse)
            .transpose()
            .map_err(Error::usage)?,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(c), Some(k)) => {
                Some(crate::remote::tls::server_config(c, k).map_err(Error::usage)?)
            }
            _ => None,
        },
        keep_runs: args.keep_runs,
        delay_start,
        runs: args.runs.unwrap_or(0),
    })
}
