//! The agent's scratch folder and the run folders in it. Whoever can write into a shared
//! temporary folder could plant a link where the agent is about to write, or guess the
//! next run's name: so the default scratch is private to this user (0700, owned by it),
//! a scratch that is a link is refused, and each run folder gets an unguessable name and
//! is created exclusively (never an existing folder, never through a link).

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The default scratch: `$TMPDIR/loadctl-agent-<uid>`, private to this user.
pub fn default_path() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("loadctl-agent-{uid}"))
}

/// Makes `dir` ready to hold run folders: created private when missing; refused when it
/// is a link or not a folder, and, when `private` (the default path), when another user
/// owns it or may write into it.
pub fn prepare(dir: &Path, private: bool) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "the scratch folder {} is a symbolic link; pass --scratch with a real folder",
            dir.display()
        )),
        Ok(m) if !m.is_dir() => Err(format!(
            "the scratch folder {} is not a folder; pass --scratch DIR",
            dir.display()
        )),
        Ok(m) => {
            // SAFETY: getuid has no preconditions and cannot fail.
            let me = unsafe { libc::getuid() };
            if private && (m.uid() != me || m.mode() & 0o077 != 0) {
                return Err(format!(
                    "the scratch folder {} is not private to this user (owner uid {}, mode {:o}); remove it, or pass --scratch with a folder only you can write",
                    dir.display(),
                    m.uid(),
                    m.mode() & 0o777
                ));
            }
            Ok(())
        }
        Err(_) => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    format!(
                        "cannot create the scratch folder {}: {e}; pass --scratch DIR",
                        dir.display()
                    )
                })?;
            // The umask may have taken bits away, never added them; say it plainly.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make {} private: {e}", dir.display()))
        }
    }
}

/// A new, empty, private run folder in `scratch` with an unguessable name: two agents
/// sharing a scratch, or a run started in the same millisecond, never meet.
pub fn new_run(scratch: &Path) -> Result<PathBuf, String> {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for _ in 0..8 {
        let dir = scratch.join(format!("run-{ms}-{}", random_hex()?));
        // mkdir creates or fails: it never follows a link planted at the name.
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot create a fresh run folder in {}",
        scratch.display()
    ))
}

fn random_hex() -> Result<String, String> {
    let mut bytes = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_shared_folders_are_refused_and_runs_never_collide() {
        let tmp = tempfile::tempdir().unwrap();
        let scratch = tmp.path().join("s");
        prepare(&scratch, true).unwrap();
        let mode = std::fs::metadata(&scratch).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Again: it exists and is ours.
        prepare(&scratch, true).unwrap();

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&scratch, &link).unwrap();
        assert!(prepare(&link, false).unwrap_err().contains("symbolic link"));

        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(prepare(&shared, true).unwrap_err().contains("not private"));
        // A folder the user names is theirs to choose.
        prepare(&shared, false).unwrap();

        let runs: std::collections::BTreeSet<PathBuf> =
            (0..50).map(|_| new_run(&scratch).unwrap()).collect();
        assert_eq!(runs.len(), 50);
        for r in &runs {
            assert_eq!(std::fs::metadata(r).unwrap().mode() & 0o777, 0o700);
        }
    }
}
