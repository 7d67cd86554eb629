//! Command-line definitions (clap derive). Parsing only; `app` carries the commands out.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadctl",
    version,
    about = "Load-testing and capacity verification: correct percentiles, SLO gates, reports",
    after_help = "Exit codes: 0 pass · 1 SLO/expectation failed or nothing succeeded · 2 usage or scenario error · 3 run invalid (generator could not hold the load) · 130 interrupted"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and judge it against its SLOs.
    Run(RunArgs),
    /// Find the highest rate the scenario's SLOs hold at: growth, then bisection, each step judged after a settle.
    Capacity(CapacityArgs),
    /// Check a scenario and print the expanded plan; sends no traffic.
    Validate(ScenarioArgs),
    /// Compare two runs' summary.json; exit 1 on a regression beyond the tolerances.
    Compare(CompareArgs),
    /// Merge run folders of one scenario made on separate machines at the same time, exactly (from their histograms.hlog), into one run folder.
    Merge(MergeArgs),
    /// Re-render a run folder's reports (HTML, CSV, JUnit) from its summary.json and histograms.hlog.
    Report(ReportArgs),
    /// The run store (SQLite) that the nightly gate reads: add runs, list, show, prune.
    History {
        #[command(subcommand)]
        command: HistoryCommand,
    },
    /// Write a scenario from what you have: a browser's HAR recording, an OpenAPI document, a curl command.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// A scenario's metrics over its recorded runs: change points (E-divisive means), trend.html, trend.json; --gate exits 1 on a new regression.
    Trend(TrendArgs),
    /// Serve as a generator that `loadctl run --agents` (or `--kube-agents`) drives; needs LOADCTL_AGENT_TOKEN or --token-file.
    Agent(AgentArgs),
    /// Reference services (the embedded default target, and the kind testbed images).
    #[cfg(feature = "testbed")]
    Testbed {
        #[command(subcommand)]
        command: crate::testbed::serve::TestbedCommand,
    },
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Target base URL, e.g. http://127.0.0.1:30081 (default: the file's `target`, else the embedded reference service).
    #[arg(long)]
    pub target: Option<String>,
    /// Measured duration, e.g. 30s or 2m (sets load.duration).
    #[arg(long)]
    pub duration: Option<String>,
    /// Constant arrival rate in requests/s (sets load.rate; replaces stages).
    #[arg(long)]
    pub rate: Option<String>,
    /// Virtual users of the closed model (sets load.vus).
    #[arg(long)]
    pub vus: Option<String>,
    /// Override any scenario value: --set load.timeout=5s (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Output folder (default: reports/<scenario>-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No live progress on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Compare with this earlier run folder; a regression fails the run (exit 1).
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Option<PathBuf>,
    /// Regression tolerance, overriding the scenario's [compare]: p99=10%, p95=10%, rps=5%, error_rate=0.05 (points). Repeatable.
    #[arg(long = "tolerance", value_name = "KEY=VALUE")]
    pub tolerances: Vec<String>,
    /// Kubeconfig context for [kube] (default: the scenario's kube.context, else the current one).
    #[arg(long)]
    pub kube_context: Option<String>,
    /// Be generator K of N (from 0) of one run made on N machines at once: this one sends its share of the one schedule (requests i with i mod N = K, or that share of the virtual users); merge the N folders with `loadctl merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Drive the load through these agents (`loadctl agent` on each), each sending its share of the one schedule: host:port,host:port (token from LOADCTL_AGENT_TOKEN or --agent-token-file).
    #[arg(long, value_name = "HOST:PORT,...", value_delimiter = ',')]
    pub agents: Vec<String>,
    /// Run N agents as a Kubernetes Indexed Job ([distributed.kubernetes]; the kubeconfig as [kube] finds it), reached through the API server, deleted afterwards.
    #[arg(long, value_name = "N")]
    pub kube_agents: Option<u32>,
    /// Trust wss:// agents whose certificates this CA (PEM) issued for their host names.
    #[arg(long, value_name = "FILE", conflicts_with = "agent_fingerprint")]
    pub agent_ca: Option<PathBuf>,
    /// Trust wss:// agents by their certificate's SHA-256, as `loadctl agent --tls-cert` prints it (sha256:…).
    #[arg(long, value_name = "SHA256")]
    pub agent_fingerprint: Option<String>,
    /// The agents' token, from this file instead of LOADCTL_AGENT_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,
    /// Serve live figures at http://ADDR/metrics in the Prometheus exposition format while the run goes (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve a live dashboard at http://ADDR/ while the run goes (e.g. 127.0.0.1:5665).
    #[arg(long, value_name = "ADDR")]
    pub dashboard: Option<SocketAddr>,
    /// Keep serving the dashboard's final state this long after the run (e.g. 60s; at most 1h; Ctrl-C ends it).
    #[arg(long, value_name = "DURATION", value_parser = linger, requires = "dashboard")]
    pub dashboard_linger: Option<std::time::Duration>,
    /// Record the run in this run store (SQLite, created if missing) for `loadctl trend`.
    #[arg(long, value_name = "DB")]
    pub history: Option<PathBuf>,
    /// A label recorded with the run: rev=$GITHUB_SHA, branch=main (repeatable; with --history).
    #[arg(long = "label", value_name = "KEY=VALUE", requires = "history")]
    pub labels: Vec<String>,
    /// After recording, judge the scenario's trend (p50, p99, rps, error_rate) and exit 1 on a new regression.
    #[arg(long, requires = "history")]
    pub gate_trend: bool,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Record run folders (each holding summary.json); a run already recorded is skipped.
    Add {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        db: DbArg,
        /// A label for each run added: rev=abc123 (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Record every run folder found in these folders (a run folder, or a folder of them such as reports/).
    Import {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    /// The recorded runs, oldest first.
    List {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        scenario: Option<String>,
        /// Only the newest N.
        #[arg(long)]
        last: Option<usize>,
    },
    /// One recorded run: labels, figures and SLO verdicts.
    Show {
        id: i64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Keep the newest N runs of each scenario.
    Prune {
        #[arg(long)]
        keep: usize,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A HAR recording (browser devtools: "Save all as HAR"): one flow step per request kept, correlated values extracted.
    Har {
        file: PathBuf,
        #[command(flatten)]
        out: ImportOut,
        /// Keep only requests whose URL matches this regex (also keeps another host's).
        #[arg(long)]
        include: Option<String>,
        /// Drop requests whose URL matches this regex.
        #[arg(long)]
        exclude: Option<String>,
        /// No think times from the recording's pauses.
        #[arg(long)]
        no_think: bool,
        /// Longest think time kept from the recording.
        #[arg(long, default_value = "5s")]
        max_think: String,
        /// The target instead of the recording's main origin.
        #[arg(long)]
        target: Option<String>,
    },
    /// An OpenAPI 3.0 or 3.1 document (YAML or JSON): one request per operation in a weighted mix.
    Openapi {
        file: PathBuf,
        #[command(flatten)]
        out: ImportOut,
        /// Only these operations: operation ids or method_path names, `*` globs (get*,postOrder).
        #[arg(long, value_delimiter = ',')]
        operations: Vec<String>,
    },
    /// A curl command (devtools' "Copy as cURL"), as one argument: one request.
    Curl {
        command: String,
        #[command(flatten)]
        out: ImportOut,
    },
}

#[derive(Debug, Args)]
pub struct ImportOut {
    /// Write the scenario here (and its feeder's CSV beside it); default: standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// The run store (SQLite).
    #[arg(long, value_name = "DB")]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct TrendArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// The scenario (default: the only one recorded).
    #[arg(long)]
    pub scenario: Option<String>,
    /// A metric to follow (repeatable; default p50, p99, rps, error_rate): p50 … p999, max, mean, service_p99, rps, error_rate, availability, errors, dropped, send_lag_p99, ttfb.p99, ….
    #[arg(long = "metric")]
    pub metrics: Vec<String>,
    /// One request name's figures instead of the whole run's.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The newest N runs.
    #[arg(long, default_value_t = 60)]
    pub last: usize,
    /// Where trend.html and trend.json go (default: reports/<scenario>-trend).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the Markdown summary here (with GITHUB_STEP_SUMMARY set, it is appended there too).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Significance level of the permutation test.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    #[arg(long, default_value_t = 200)]
    pub permutations: usize,
    /// Runs each side of a change keeps at least.
    #[arg(long, default_value_t = 4)]
    pub min_segment: usize,
    /// The smallest relative move that is a regression: 5%, or per metric p99=10% (repeatable).
    #[arg(long = "min-change", value_name = "[METRIC=]SHARE")]
    pub min_change: Vec<String>,
    /// Seed of the permutations (the same seed, the same answer).
    #[arg(long, default_value_t = 0x0c4a_96e5)]
    pub seed: u64,
    /// Exit 1 when the newest run lies in a segment that a regression began.
    #[arg(long)]
    pub gate: bool,
}

/// `loadctl capacity`: each flag sets the scenario's `[capacity]` key of its name.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// The first rate tried, per second (capacity.min).
    #[arg(long)]
    pub min: Option<String>,
    /// The highest rate tried (capacity.max).
    #[arg(long)]
    pub max: Option<String>,
    /// Bisection stops within this share: 2% (capacity.precision).
    #[arg(long)]
    pub precision: Option<String>,
    /// Each step's judged time: 20s (capacity.step).
    #[arg(long)]
    pub step: Option<String>,
    /// Each step's unjudged lead-in: 5s (capacity.settle).
    #[arg(long)]
    pub settle: Option<String>,
    /// Runs of each boundary rate, for the spread (capacity.trials).
    #[arg(long)]
    pub trials: Option<String>,
    /// Confirm the capacity with a sustained run this long: 60s (capacity.hold).
    #[arg(long)]
    pub hold: Option<String>,
    /// Output folder (default: reports/<scenario>-capacity-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:7700")]
    pub listen: SocketAddr,
    /// Read the token from this file instead of LOADCTL_AGENT_TOKEN (at least 16 characters).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The name the coordinator's reports give this agent (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Folder for each run's files and results; nothing is written elsewhere (default: $TMPDIR/loadctl-agent-<uid>, private to this user). A link is refused.
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// Send load only to these networks, whatever a coordinator asks: 10.0.0.0/24,127.0.0.1,… (default: any target the scenario names).
    #[arg(long, value_name = "NETWORKS")]
    pub allow_target: Option<String>,
    /// Serve wss:// with this certificate chain (PEM), so the token never crosses the network in clear; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Keep each run's folder (summary.json, histograms.hlog) in the scratch folder, for `loadctl merge`.
    #[arg(long)]
    pub keep_runs: bool,
    /// Start this long after the coordinator's instant (a late agent on purpose, to test the start-spread check), e.g. 300ms.
    #[arg(long, value_name = "DURATION")]
    pub delay_start: Option<String>,
    /// Exit after serving this many runs (default: serve until SIGINT/SIGTERM).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run folders (each holding summary.json and histograms.hlog).
    #[arg(required = true, num_args = 2..)]
    pub dirs: Vec<PathBuf>,
    /// The merged run folder to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run folder (holding summary.json and histograms.hlog).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline run folder (holding summary.json).
    pub base: PathBuf,
    /// New run folder.
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
    /// Regression tolerance: p99=10%, p95=10%, rps=5%, error_rate=0.05 (points). Repeatable.
    #[arg(long = "tolerance", value_name = "KEY=VALUE")]
    pub tolerances: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Text,
    Md,
}

/// `--dashboard-linger`: a duration of at most an hour.
fn linger(s: &str) -> Result<std::time::Duration, String> {
    let d =
        humantime::parse_duration(s).map_err(|e| format!("{e}: write a duration such as 60s"))?;
    if d > crate::export::dashboard::MAX_LINGER {
        return Err("at most 1h: the dashboard keeps a finished run's state, not a service".into());
    }
    Ok(d)
}
