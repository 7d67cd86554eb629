//! Helpers shared by the integration tests.

use std::path::Path;

use loadctl::run::{run, RunOptions, RunOutcome};
use loadctl::scenario::{self, Overrides, Plan};

/// A plan from scenario text, with no environment variables.
pub fn plan(text: &str) -> Plan {
    scenario::parse(Path::new("test.toml"), text, &Overrides::default(), &|_| {
        None
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a plan into a fresh temporary folder.
pub fn run_plan(plan: &Plan) -> (RunOutcome, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: Some(dir.path().join("out")),
        services: Some(loadctl::testbed::services()),
        ..RunOptions::default()
    };
    let outcome = run(plan, &opts).unwrap_or_else(|e| panic!("{e:#}"));
    (outcome, dir)
}

/// A loopback port with nothing listening on it.
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Binds 127.0.0.1:0 and runs `serve(listener)` on a runtime thread of its own; returns
/// the address.
pub fn spawn_server<F>(
    serve: impl FnOnce(tokio::net::TcpListener) -> F + Send + 'static,
) -> std::net::SocketAddr
where
    F: std::future::Future,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(serve(listener));
    });
    addr
}

/// Serves `app` on 127.0.0.1:0 from a runtime thread of its own; returns the address.
pub fn serve(app: axum::Router) -> std::net::SocketAddr {
    spawn_server(|listener| async move { axum::serve(listener, app).await.unwrap() })
}

/// A target that records each request's user and `seq`.
pub fn counting_target() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let s2 = seen.clone();
    let addr = serve(axum::Router::new().route(
        "/u/{user}",
        axum::routing::get(
            move |axum::extract::Path(user): axum::extract::Path<String>,
                  axum::extract::RawQuery(q): axum::extract::RawQuery| {
                let s2 = s2.clone();
                async move {
                    s2.lock()
                        .unwrap()
                        .push(format!("{user} {}", q.unwrap_or_default()));
                    "ok"
                }
            },
        ),
    ));
    (addr, seen)
}

/// `loadctl merge DIRS --out OUT`, which must succeed; the merged run's summary.
pub fn merge_ok<P: AsRef<Path>>(dirs: &[P], out: &Path) -> loadctl::summary::Summary {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .arg("merge")
        .args(dirs.iter().map(AsRef::as_ref))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    loadctl::summary::load_summary(out).unwrap()
}

/// Reads one HTTP/1.1 request head (at most 64 KiB); false when the peer closed first.
pub fn read_head(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(20)));
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return false,
        }
        if buf.len() > 64 * 1024 {
            return false;
        }
    }
    true
}

/// Closes `s` with RST (SO_LINGER 0) instead of FIN.
pub fn reset(s: std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads the struct passed to it, on a socket we own.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// `loadctl ARGS` through the built binary: its exit code, stdout and stderr.
pub fn loadctl_out(args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// playwright-core's folder: `LOADCTL_NODE_MODULES`, else where ci/test.sh installs it.
pub fn node_modules() -> std::path::PathBuf {
    let dir = std::env::var_os("LOADCTL_NODE_MODULES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules"));
    assert!(
        dir.join("playwright-core").is_dir(),
        "the browser tests need playwright-core: `npm install --prefix target/npm playwright-core@1` (ci/test.sh does), or LOADCTL_NODE_MODULES"
    );
    dir
}
