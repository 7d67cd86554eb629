//! Everything a run leaves behind: `summary.json`, `summary.csv`, `timeseries.csv`,
//! `histograms.hlog`, `junit.xml`, the console summary and the live progress line.
//!
//! Every file is written to a temporary name in the output folder and renamed into place,
//! so a reader (or a CI artifact upload) never sees half a file, even after Ctrl-C.

pub mod compare;
pub mod console;
pub mod csv;
pub mod hlog;
pub mod junit;
pub mod progress;
pub mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use summary::{Status, Summary};

/// Writes `bytes` to `path` via a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = tmp_path(path);
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// `dir/name` → `dir/.name.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `summary.json`.
pub fn write_summary(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    let mut json = serde_json::to_vec_pretty(s).context("cannot serialise summary.json")?;
    json.push(b'\n');
    write_atomic(&dir.join("summary.json"), &json)
}
