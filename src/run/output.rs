//! Stage 3: the output folder, `--out` or `reports/<scenario>-<UTC timestamp>`.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;

/// Creates the folder the run writes into, and proves it writable before any load: a
/// path that is a file, lies under one, or cannot be written is the user's to fix (exit 2).
pub(super) fn create(name: &str, out: Option<&PathBuf>) -> crate::error::Result<PathBuf> {
    let dir = match out {
        Some(d) => d.clone(),
        None => default_dir(name),
    };
    let setup = |e: anyhow::Error| crate::error::Error::Setup(e);
    if dir.exists() && !dir.is_dir() {
        return Err(setup(anyhow::anyhow!(
            "--out {}: is a file, not a folder; name a folder (it is created if missing)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| {
            format!(
                "cannot create output folder {}; name a folder you can write (--out DIR)",
                dir.display()
            )
        })
        .map_err(setup)?;
    let probe = dir.join(".loadctl-write-probe.tmp");
    std::fs::write(&probe, b"")
        .with_context(|| {
            format!(
                "cannot write into the output folder {}; name a folder you can write (--out DIR)",
                dir.display()
            )
        })
        .map_err(setup)?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir)
}

fn default_dir(name: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = PathBuf::from("reports").join(format!("{name}-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}
