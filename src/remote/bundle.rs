//! A scenario made portable for a distributed run: the coordinator sends its agents the
//! scenario's text with the command line's overrides applied, every file it names (feeders,
//! TLS material) under a name of the bundle's own, and the environment values it read, so
//! that each agent builds exactly the coordinator's plan while reading nothing of its own
//! disk and nothing the coordinator did not send.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use crate::scenario::{apply_overrides, parse, Overrides, Plan, ScenarioError};

/// Most bytes of files one bundle carries (they travel in one frame).
pub const MAX_FILES_BYTES: u64 = 48 << 20;

/// What an agent needs to build the plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bundle {
    pub text: String,
    /// `(files/<n>-<base name>, bytes)`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Environment values the scenario read.
    pub env: Vec<(String, String)>,
}

/// The keys that hold file paths, as `(table, key)`; `feeders` is an array of tables.
const FILE_KEYS: [(&str, &str); 5] = [
    ("feeders", "file"),
    ("grpc", "descriptor_set"),
    ("tls", "ca"),
    ("tls", "client_cert"),
    ("tls", "client_key"),
];

/// Every file reference's value in `doc`, mutable, in a fixed order.
fn file_refs(doc: &mut toml_edit::DocumentMut) -> Vec<&mut toml_edit::Item> {
    let mut out = Vec::new();
    for (table, item) in doc.as_table_mut().iter_mut() {
        let keys: Vec<&str> = FILE_KEYS
            .iter()
            .filter(|(t, _)| *t == table.get())
            .map(|(_, k)| *k)
            .collect();
        if keys.is_empty() {
            continue;
        }
        let tables: Vec<&mut toml_edit::Table> = match item {
            toml_edit::Item::ArrayOfTables(a) => a.iter_mut().collect(),
            toml_edit::Item::Table(t) => vec![t],
            _ => Vec::new(),
        };
        for t in tables {
            for (k, v) in t.iter_mut() {
                if keys.contains(&k.get()) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// A table of [`FILE_KEYS`] written inline (`tls = { ca = … }`), whose paths
/// [`file_refs`] does not reach: refused on both sides rather than missed.
fn inline_table(doc: &toml_edit::DocumentMut) -> Option<&'static str> {
    ["feeders", "tls", "grpc"].into_iter().find(|t| {
        doc.get(t)
            .is_some_and(|i| !i.is_table() && !i.is_array_of_tables())
    })
}

/// A file name safe to write inside a folder: its base name's plain characters.
fn safe_base(path: &str) -> String {
    let base = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() || clean.starts_with('.') {
        format!("f{clean}")
    } else {
        clean
    }
}

/// Loads the scenario at `path` as [`crate::scenario::load`] does, and bundles it.
pub fn bundle(path: &Path, overrides: &Overrides) -> Result<(Plan, Bundle), ScenarioError> {
    let read_err = |p: &Path, source| ScenarioError::Read {
        path: p.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|e| read_err(path, e))?;
    let seen: RefCell<BTreeMap<String, String>> = RefCell::default();
    let env = |k: &str| {
        let v = std::env::var(k).ok();
        if let Some(v) = &v {
            seen.borrow_mut().insert(k.to_string(), v.clone());
        }
        v
    };
    let plan = parse(path, &text, overrides, &env)?;
    // The plan parsed, so the overrides apply and the text is TOML.
    let text = apply_overrides(&text, &overrides.set).unwrap_or(text);
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| ScenarioError::Bundle(format!("{}: {e}", path.display())))?;
    if let Some(t) = inline_table(&doc) {
        return Err(ScenarioError::Bundle(format!(
            "{}: write `{t}` as a [{t}] table (or [[{t}]]) to run it on agents; an inline table's file paths are not sent",
            path.display()
        )));
    }
    if let Some(t) = &overrides.target {
        doc["target"] = toml_edit::value(t.as_str());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    let mut total = 0u64;
    for (n, item) in file_refs(&mut doc).into_iter().enumerate() {
        let Some(written) = item.as_str().map(str::to_string) else {
            continue;
        };
        let full = base.join(&written);
        let bytes = std::fs::read(&full).map_err(|e| read_err(&full, e))?;
        total += bytes.len() as u64;
        if total > MAX_FILES_BYTES {
            return Err(ScenarioError::Bundle(format!(
                "{}: the files the scenario names add up to more than {} MiB, the most a distributed run sends its agents; shrink the feeders or run on one machine",
                path.display(),
                MAX_FILES_BYTES >> 20
            )));
        }
        let name = format!("files/{n}-{}", safe_base(&written));
        *item = toml_edit::value(name.as_str());
        files.push((name, bytes));
    }
    if let (Some(crate::grpc::Services::Known(schema)), Some(grpc)) = (
        &plan.grpc,
        doc.get_mut("grpc").and_then(|g| g.as_table_mut()),
    ) {
        if grpc.contains_key("protos") {
            // The agents get the descriptors compiled here, not the .proto files and
            // their imports: every agent resolves exactly the coordinator's methods.
            grpc.remove("protos");
            grpc.remove("includes");
            let name = format!("files/{}-grpc.protoset", files.len());
            grpc["descriptor_set"] = toml_edit::value(name.as_str());
            total += schema.encoded.len() as u64;
            if total > MAX_FILES_BYTES {
                return Err(ScenarioError::Bundle(format!(
                    "{}: the files and descriptors the scenario names add up to more than {} MiB",
                    path.display(),
                    MAX_FILES_BYTES >> 20
                )));
            }
            files.push((name, schema.encoded.to_vec()));
        }
    }
    let env = seen.into_inner().into_iter().collect();
    Ok((
        plan,
        Bundle {
            text: doc.to_string(),
            files,
            env,
        },
    ))
}

/// Builds the plan of a bundle received from a coordinator, in `dir` (the agent's scratch
/// folder for this run, which must exist). A file reference the bundle does not carry, or
/// one that would leave `dir`, is refused: an agent reads only what it was sent. Every
/// file is created new: an existing file, or a link planted where one goes, is an error,
/// never followed.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(bytes)
}

pub fn unbundle(dir: &Path, b: &Bundle, target: Option<String>) -> Result<Plan, ScenarioError> {
    let bad = |why: String| ScenarioError::Bundle(format!("the coordinator's scenario: {why}"));
    let mut doc: toml_edit::DocumentMut = b.text.parse().map_err(|e| bad(format!("{e}")))?;
    if let Some(t) = inline_table(&doc) {
        return Err(bad(format!(
            "`{t}` is an inline table, which a bundle never holds"
        )));
    }
    let sent: BTreeMap<&str, &[u8]> = b
        .files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    for item in file_refs(&mut doc) {
        let Some(name) = item.as_str() else { continue };
        if !sent.contains_key(name) {
            return Err(bad(format!(
                "it names the file `{name}`, which was not sent"
            )));
        }
    }
    std::fs::create_dir_all(dir.join("files")).map_err(|e| {
        bad(format!(
            "cannot create {}: {e}",
            dir.join("files").display()
        ))
    })?;
    for (name, bytes) in &sent {
        let ok = name
            .strip_prefix("files/")
            .is_some_and(|rest| !rest.is_empty() && safe_base(rest) == *rest);
        if !ok {
            return Err(bad(format!(
                "the file name `{name}` is not one a bundle makes"
            )));
        }
        let path = dir.join(name);
        write_new(&path, bytes)
            .map_err(|e| bad(format!("cannot write {}: {e}", path.display())))?;
    }
    let path = dir.join("scenario.toml");
    write_new(&path, b.text.as_bytes())
        .map_err(|e| bad(format!("cannot write {}: {e}", path.display())))?;
    let env: BTreeMap<&str, &str> = b
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let overrides = Overrides {
        target,
        ..Overrides::default()
    };
    parse(&path, &b.text, &overrides, &|k| {
        env.get(k).map(|v| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
name = "b"
target = "http://127.0.0.1:9"
[load]
rate = 10
duration = "1s"
[[feeders]]
name = "users"
file = "data/users.csv"
[[requests]]
name = "get"
path = "/u/{{user}}"
headers = { Authorization = "Bearer {{env.LOADCTL_BUNDLE_TEST_HOME}}" }
"#;

    fn written() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/users.csv"), "user\nann\nbob\n").unwrap();
        let file = dir.path().join("b.toml");
        std::fs::write(&file, SCENARIO.replace("LOADCTL_BUNDLE_TEST_HOME", "HOME")).unwrap();
        (dir, file)
    }

    #[test]
    fn an_agent_builds_the_coordinators_plan_from_the_bundle_alone() {
        let (_dir, file) = written();
        let overrides = Overrides {
            set: vec![("load.rate".into(), "20".into())],
            ..Overrides::default()
        };
        let (plan, b) = bundle(&file, &overrides).unwrap();
        assert_eq!(b.files.len(), 1);
        assert_eq!(b.files[0].0, "files/0-users.csv");
        assert!(
            b.text.contains("file = \"files/0-users.csv\""),
            "{}",
            b.text
        );
        assert!(b.env.iter().any(|(k, _)| k == "HOME"));
        let agent = tempfile::tempdir().unwrap();
        let theirs = unbundle(agent.path(), &b, None).unwrap();
        assert_eq!(theirs.load, plan.load, "the override travelled");
        assert_eq!(theirs.feeders[0].rows, plan.feeders[0].rows);
        assert_eq!(theirs.workload, plan.workload, "the environment value too");
    }

    #[test]
    fn an_agent_gets_the_compiled_grpc_descriptors_not_the_proto_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("protos/common")).unwrap();
        std::fs::write(
            dir.path().join("protos/common/money.proto"),
            "syntax = \"proto3\";\npackage common;\nmessage Money { int64 cents = 1; }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("protos/pay.proto"),
            "syntax = \"proto3\";\npackage pay;\nimport \"common/money.proto\";\nservice Pay { rpc Charge(common.Money) returns (common.Money); }\n",
        )
        .unwrap();
        let file = dir.path().join("g.toml");
        std::fs::write(
            &file,
            r#"
name = "g"
target = "http://127.0.0.1:9"
[http]
version = "h2c"
[grpc]
protos = ["protos/pay.proto"]
includes = ["protos"]
[load]
rate = 10
duration = "1s"
[[requests]]
name = "charge"
grpc = "pay.Pay/Charge"
message = '{"cents": "{{seq}}"}'
"#,
        )
        .unwrap();
        let (plan, b) = bundle(&file, &Overrides::default()).unwrap();
        assert_eq!(b.files.len(), 1);
        assert!(
            b.files[0].0.ends_with("-grpc.protoset"),
            "{:?}",
            b.files[0].0
        );
        assert!(!b.text.contains("protos ="), "{}", b.text);
        let agent = tempfile::tempdir().unwrap();
        let theirs = unbundle(agent.path(), &b, None).unwrap();
        assert_eq!(theirs.grpc, plan.grpc);
        assert!(matches!(theirs.grpc, Some(crate::grpc::Services::Known(_))));
        assert_eq!(theirs.workload, plan.workload);
        let call = theirs.workload.requests()[0].grpc.as_ref().unwrap();
        assert_eq!(call.method.as_ref().unwrap().full_name(), "pay.Pay.Charge");
    }

    #[test]
    fn an_agent_reads_nothing_it_was_not_sent() {
        let agent = tempfile::tempdir().unwrap();
        let b = Bundle {
            text: SCENARIO.replace("data/users.csv", "/etc/passwd"),
            ..Bundle::default()
        };
        let e = unbundle(agent.path(), &b, None).unwrap_err().to_string();
        assert!(e.contains("`/etc/passwd`, which was not sent"), "{e}");
        let b = Bundle {
            text: SCENARIO.replace("data/users.csv", "files/../../escape"),
            files: vec![("files/../../escape".into(), b"user\nx\n".to_vec())],
            env: Vec::new(),
        };
        let e = unbundle(agent.path(), &b, None).unwrap_err().to_string();
        assert!(e.contains("not one a bundle makes"), "{e}");
        let b = Bundle {
            text: "name = \"x\"\ntls = { ca = \"/etc/ssl/ca.pem\" }\n".into(),
            ..Bundle::default()
        };
        let e = unbundle(agent.path(), &b, None).unwrap_err().to_string();
        assert!(e.contains("inline table"), "{e}");
        assert!(!agent.path().join("escape").exists());
    }
}
