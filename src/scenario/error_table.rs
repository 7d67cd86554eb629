//! The malformed-scenario table: each file must fail with a message at a given line and
//! column, so users can trust where an error points.

use std::path::Path;

use super::{parse, Overrides, ScenarioError};

const GOOD_LOAD: &str = "[load]\nrate = 10\nduration = \"1s\"\n";
const GOOD_REQ: &str = "[[requests]]\nname = \"a\"\npath = \"/x\"\n";

fn env(name: &str) -> Option<String> {
    (name == "TOKEN").then(|| "s3cret".into())
}

fn errors(text: &str) -> Vec<String> {
    match parse(Path::new("t.toml"), text, &Overrides::default(), &env) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(ScenarioError::Invalid { diagnostics, .. }) => {
            diagnostics.iter().map(|d| d.to_string()).collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

/// Every `(file, "line:column: field:", text)` row must fail with an error at that place
/// containing that text; all misses are reported together.
fn assert_table(table: &[(String, &str, &str)]) {
    let misses: Vec<String> = table
        .iter()
        .filter_map(|(text, at, needle)| {
            let errs = errors(text);
            (!errs.iter().any(|e| e.starts_with(at) && e.contains(needle))).then(|| {
                format!(
                    "expected an error at {at} containing {needle:?}, got {errs:#?}\nfor:\n{text}"
                )
            })
        })
        .collect();
    assert!(misses.is_empty(), "{}", misses.join("\n\n"));
}

#[test]
fn malformed_files_name_line_column_and_fix() {
    // (file, expected "line:column:" prefix, text the message must contain)
    let table: Vec<(String, &str, &str)> = vec![
        ("name = \"x\"\nrate = = 3\n".into(), "2:8:", "invalid"),
        (format!("name = \"x\"\ncolour = \"red\"\n{GOOD_LOAD}{GOOD_REQ}"), "2:1:", "unknown field `colour`"),
        (format!("name = \"x\"\n[load]\nrate = 10\nduraton = \"1s\"\n{GOOD_REQ}"), "4:1:", "unknown field `duraton`"),
        (format!("{GOOD_LOAD}{GOOD_REQ}"), "1:1: name:", "add `name = \"t\"`"),
        (format!("name = \"x\"\n[load]\nmodel = \"opne\"\nrate = 1\nduration = \"1s\"\n{GOOD_REQ}"), "3:9: load.model:", "use \"open\""),
        (format!("name = \"x\"\n[load]\nduration = \"1s\"\n{GOOD_REQ}"), "2:1: load:", "needs `rate = N`"),
        (format!("name = \"x\"\n[load]\nrate = 5\nstages = [{{ duration = \"1s\", target = 5 }}]\n{GOOD_REQ}"), "4:10: load.stages:", "not both"),
        (format!("name = \"x\"\n[load]\nrate = -3\nduration = \"1s\"\n{GOOD_REQ}"), "3:8: load.rate:", "positive number"),
        (format!("name = \"x\"\n[load]\nrate = 3\nduration = \"thirty\"\n{GOOD_REQ}"), "4:12: load.duration:", "such as 30s"),
        (format!("name = \"x\"\n[load]\nmodel = \"closed\"\nduration = \"1s\"\n{GOOD_REQ}"), "2:1: load.vus:", "needs `vus = N`"),
        (format!("name = \"x\"\n[load]\nvus = 0\nduration = \"1s\"\n{GOOD_REQ}"), "3:7: load.vus:", "positive integer"),
        (format!("name = \"x\"\n{GOOD_LOAD}"), "1:1: requests:", "add a [[requests]]"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}{GOOD_REQ}"), "9:8: requests[1].name:", "already used"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a b\"\npath = \"/\"\n"), "6:8: requests[0].name:", "letters, digits"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\nmethod = \"FETCH\"\npath = \"/\"\n"), "7:10: requests[0].method:", "unknown method `FETCH`"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\npath = \"api/v1\"\n"), "7:8: requests[0].path:", "must start with `/`"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\npath = \"/a/{{{{now}}}}\"\n"), "7:12: requests[0].path:", "unknown template `{{now}}`"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\npath = \"/\"\nheaders = {{ Authorization = \"Bearer {{{{env.NOPE}}}}\" }}\n"), "8:37: requests[0].headers.Authorization:", "`NOPE` is not set"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\npath = \"http://10.1.2.3/x\"\n"), "7:8: requests[0].path:", "not loopback"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[slo]\n\"p95\" = \"< 100\"\n"), "9:9: slo.\"p95\":", "needs a unit"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[slo]\n\"latency\" = \"< 1ms\"\n"), "9:13: slo.\"latency\":", "unknown metric"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[slo]\n\"checkout.p99\" = \"< 1ms\"\n"), "9:18:", "not a request name"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\npath = \"/\"\nexpect_status = 42\n"), "8:17: requests[0].expect_status:", "not an HTTP status"),
        (format!("name = \"x\"\n{GOOD_LOAD}[[requests]]\nname = \"a\"\npath = \"/\"\nweight = 0\n"), "8:10: requests[0].weight:", "positive"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[http]\nversion = \"3\"\n"), "9:11: http.version:", "not an HTTP version; use \"1.1\", \"2\""),
        (format!("name = \"x\"\ntarget = \"http://127.0.0.1:1\"\n{GOOD_LOAD}{GOOD_REQ}[http]\nversion = \"2\"\n"), "9:1: http.version:", "or version = \"h2c\""),
        (format!("name = \"x\"\ntarget = \"https://127.0.0.1:1\"\n{GOOD_LOAD}{GOOD_REQ}[http]\nversion = \"h2c\"\n"), "9:1: http.version:", "use version = \"2\""),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[http]\nmax_streams = 5000\n"), "9:15: http.max_streams:", "above the 1000"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[http]\nkeep_alive = \"no\"\n"), "9:14: http.keep_alive:", "true or false"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[tls]\nca = \"no-such-ca.pem\"\n"), "9:6: tls.ca:", "cannot read"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[tls]\nclient_cert = \"c.pem\"\n"), "9:15: tls.client_cert:", "needs `client_key` too"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[tls]\nserver_name = \"not a name\"\n"), "9:15: tls.server_name:", "not a DNS name"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[tls]\nverify = false\n"), "9:1:", "unknown field `verify`, expected one of `ca`, `insecure`"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[distributed]\nstart_tolerance = \"1h\"\n"), "9:19: distributed.start_tolerance:", "10 s"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[distributed]\nheartbeat_timeout = \"100ms\"\n"), "9:21: distributed.heartbeat_timeout:", "at least 1s"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[distributed.kubernetes]\nnamespace = \"Flash_Sale\"\n"), "9:13: distributed.kubernetes.namespace:", "not a namespace name"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[distributed.kubernetes]\ncpu = \"lots\"\n"), "9:7: distributed.kubernetes.cpu:", "such as 2 or 500m"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[distributed.kubernetes]\ntolerations = [\"gpu\"]\n"), "9:16: distributed.kubernetes.tolerations:", "key=value:Effect"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[distributed]\nagents = 3\n"), "9:1:", "unknown field `agents`"),
        (format!("name = \"x\"\n[load]\nrate = 3\niterations = 5\nduration = \"1s\"\n{GOOD_REQ}"), "4:14: load.iterations:", "only applies to model = \"closed\""),
        (format!("name = \"x\"\n[load]\nvus = 2\niterations = 5\nwarmup = \"1s\"\n{GOOD_REQ}"), "5:10: load.warmup:", "cannot be combined with `iterations`"),
        (format!("name = \"x\"\n[load]\nrate = \"fast\"\nduration = \"1s\"\n{GOOD_REQ}"), "3:8: load.rate:", "expects a number, such as 1000"),
        (format!("name = \"x\"\n[load]\nrate = 1\nduration = \"1s\"\nconnections = 10\nmax_in_flight = 5\n{GOOD_REQ}"), "6:17: load.max_in_flight:", "below connections"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[embedded]\nstall = \"1s\"\n"), "9:9: embedded:", "go together"),
    ];
    assert!(table.len() >= 15);
    assert_table(&table);
}

const FLOW_HEAD: &str = "name = \"x\"\n[load]\nrate = 10\nduration = \"1s\"\n[flow]\n";

#[test]
fn malformed_flows_name_line_column_and_fix() {
    let step = |extra: &str| format!("[[flow.steps]]\nname = \"s\"\npath = \"/x\"\n{extra}");
    let table: Vec<(String, &str, &str)> = vec![
        (format!("{FLOW_HEAD}{}{}", step("extract = { t = { json = \"/t\" } }\n"), "[[flow.steps]]\nname = \"u\"\npath = \"/y/{{tok}}\"\n"), "12:12: flow.steps[1].path:", "defined before it: t"),
        (format!("{FLOW_HEAD}{}", step("extract = { t = { json = \"t\" } }\n")), "9:26: flow.steps[0].extract.t.json:", "not a JSON pointer"),
        (format!("{FLOW_HEAD}{}", step("extract = { t = { json = \"/t\", header = \"x\" } }\n")), "9:17: flow.steps[0].extract.t:", "exactly one of"),
        (format!("{FLOW_HEAD}{}", step("extract = { t = { regex = \"(\" } }\n")), "9:27: flow.steps[0].extract.t.regex:", "unclosed group"),
        (format!("{FLOW_HEAD}{}", step("weight = 2\n")), "9:10: flow.steps[0].weight:", "remove `weight`"),
        (format!("{FLOW_HEAD}{}", step("outcomes = { sold_out = \"409\" }\n")), "9:25: flow.steps[0].outcomes.sold_out:", "not a status"),
        (format!("{FLOW_HEAD}{}", step("outcomes = { sold_out = { status = 409, body = 1 } }\n")), "9:25: flow.steps[0].outcomes.sold_out:", "unknown key `body`"),
        (format!("{FLOW_HEAD}{}", step("check = { status = \"ok\" }\n")), "9:20: flow.steps[0].check:", "not a JSON pointer"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[flow]\n"), "5:1: requests:", "not both"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}extract = {{ t = {{ json = \"/t\" }} }}\n"), "8:17: requests[0].extract.t:", "[[flow.steps]]"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}once = true\n"), "8:8: requests[0].once:", "belongs to [flow] steps"),
        (format!("name = \"x\"\n[load]\nvus = 2\nduration = \"1s\"\n[flow]\nsessions = 5\n{}", step("")), "6:12: flow.sessions:", "every virtual user is a session"),
        (FLOW_HEAD.to_string(), "5:1: flow.steps:", "a flow needs steps"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[[feeders]]\nname = \"users\"\nfile = \"no/such.csv\"\n"), "10:8: feeders[0].file:", "cannot read"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[[feeders]]\nname = \"users\"\nfile = \"x.csv\"\nmode = \"shuffle\"\n"), "11:8: feeders[0].mode:", "sequential, random or unique"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[[feeders]]\nname = \"users\"\nfile = \"x.csv\"\nmode = \"random\"\non_exhausted = \"stop\"\n"), "12:16: feeders[0].on_exhausted:", "never runs out"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[[verify]]\nname = \"v\"\npath = \"/stats\"\nchecks = [\"sold\"]\n"), "11:11: verify[0].checks[0]:", "no comparison"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[[setup]]\npath = \"/reset\"\n"), "8:1: setup[0]:", "missing `name`"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[slo]\n\"a.throttled\" = \"< 1%\"\n"), "9:17: slo.\"a.throttled\":", "unknown metric"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[slo]\n\"p99\" = 100\n"), "9:9: slo.\"p99\":", "list of them for a range"),
        (format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}[embedded]\nservice = \"kafka\"\n"), "9:11: embedded.service:", "available: activities, flash-sale, chat"),
    ];
    assert_table(&table);
}

#[test]
fn malformed_chat_scenarios_name_line_column_and_fix() {
    let head = "name = \"x\"\n[embedded]\nservice = \"chat\"\n";
    let chat = "[chat]\ngroups = 2\nmembers = 5\npublish_rate = 1\n";
    let conns =
        "[load]\nmodel = \"connections\"\nconnections = 10\nconnect_rate = 10\nhold = \"1s\"\n";
    let table: Vec<(String, &str, &str)> = vec![
        (format!("{head}{conns}[chat]\ngroups = 3\nmembers = 5\npublish_rate = 1\n"), "9:1: chat:", "3 groups × 5 members = 15 connections"),
        (format!("{head}[load]\nrate = 5\nduration = \"1s\"\n{chat}"), "7:1: chat:", "needs load.model = \"connections\""),
        (format!("{head}[load]\nmodel = \"connections\"\nconnections = 10\nconnect_rate = 10\n{chat}"), "4:1: load.hold:", "needs `hold"),
        (format!("{head}{conns}duration = \"5s\"\n{chat}"), "9:12: load.duration:", "the measured window is `hold`"),
        (format!("{head}{conns}"), "5:9: chat:", "needs a [chat] section"),
        (format!("name = \"x\"\n{conns}{chat}"), "7:1: embedded.service:", "needs `service = \"chat\"`"),
        (format!("{head}{conns}{chat}[slo]\n\"delivery.p99\" = \"< 1ms\"\n\"list.p99\" = \"< 1ms\"\n"), "15:14: slo.\"list.p99\":", "requests: connect, publish, delivery, fanout"),
    ];
    assert_table(&table);
}

#[test]
fn a_good_flow_expands_to_a_plan() {
    let text = format!("{FLOW_HEAD}sessions = 3\n[[flow.steps]]\nname = \"login\"\nonce = true\nmethod = \"POST\"\npath = \"/login\"\nextract = {{ token = {{ json = \"/token\" }} }}\noutcomes = {{ throttled = 429 }}\n[[flow.steps]]\nname = \"order\"\npath = \"/o\"\nheaders = {{ Authorization = \"Bearer {{{{token}}}}\" }}\noutcomes = {{ sold_out = {{ status = 409, json = {{ \"/error\" = \"sold_out\" }} }}, throttled = 429 }}\n[[verify]]\nname = \"ledger\"\npath = \"/stats\"\nchecks = [\"oversold == 0\"]\n[slo]\n\"login.throttled\" = [\">= 1%\", \"<= 5%\"]\n");
    let plan = parse(Path::new("t.toml"), &text, &Overrides::default(), &env).unwrap();
    let super::Workload::Flow { flow, .. } = &plan.workload else {
        panic!()
    };
    assert_eq!(flow.sessions, Some(3));
    assert_eq!(plan.vars, ["token"]);
    assert_eq!(plan.outcomes, ["throttled", "sold_out"]);
    assert!(plan.workload.requests()[0].rules.once);
    let order = &plan.workload.requests()[1].rules;
    // `throttled` shares its index with the login step's.
    assert_eq!(
        order
            .outcomes
            .iter()
            .map(|o| (o.name.as_str(), o.index))
            .collect::<Vec<_>>(),
        [("sold_out", 1), ("throttled", 0)]
    );
    assert!(order.needs_body() && !order.needs_headers());
    assert_eq!(plan.verify.len(), 1);
    assert_eq!(plan.slos.len(), 2, "a range is two objectives");
}

#[test]
fn all_errors_are_reported_together() {
    let text = "name = \"bad name\"\n[load]\nrate = 0\nduration = \"soon\"\n[[requests]]\nname = \"a\"\npath = \"nope\"\n[slo]\n\"p42\" = \"fast\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 5, "{errs:#?}");
    let lines: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    assert_eq!(
        lines,
        ["1", "3", "4", "7", "9"],
        "sorted by position: {errs:#?}"
    );
}

#[test]
fn the_error_message_names_the_file() {
    let e = parse(
        Path::new("scenarios/x.toml"),
        "name = 1\n",
        &Overrides::default(),
        &env,
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("scenarios/x.toml has 1 error:"), "{text}");
    assert!(text.contains("scenarios/x.toml:1:8:"), "{text}");
}

#[test]
fn overrides_are_checked_like_the_file() {
    let text = format!("name = \"x\"\n{GOOD_LOAD}{GOOD_REQ}");
    let o = Overrides {
        target: None,
        set: vec![("load.rate".into(), "-1".into())],
        ..Overrides::default()
    };
    let e = parse(Path::new("t.toml"), &text, &o, &env).unwrap_err();
    // The value came from the command line: the argument is blamed, not a line of the file.
    assert!(
        e.to_string()
            .contains("  --set load.rate=-1: load.rate: must be a positive number"),
        "{e}"
    );
    let o = Overrides {
        target: Some("ftp://x".into()),
        ..Overrides::default()
    };
    let e = parse(Path::new("t.toml"), &text, &o, &env).unwrap_err();
    assert!(
        e.to_string()
            .contains("--target: `ftp://x` is not an http://, https://, ws:// or wss:// URL"),
        "{e}"
    );
}

#[test]
fn a_good_file_expands_to_a_plan() {
    let text = "name = \"x\"\ntarget = \"http://127.0.0.1:9\"\n[load]\nstages = [{ duration = \"10s\", target = 100 }, { duration = \"10s\", target = 100 }]\nstart_rate = 10\nwarmup = \"2s\"\n[[requests]]\nname = \"a\"\npath = \"/x?id={{seq}}\"\nheaders = { Authorization = \"Bearer {{env.TOKEN}}\" }\nbody = { user = \"u{{seq}}\" }\nmethod = \"post\"\nweight = 3\nexpect_status = [\"2xx\", 409]\n[[requests]]\nname = \"b\"\npath = \"http://127.0.0.1:9/health\"\n[slo]\n\"p99.9\" = \"< 1s\"\n\"a.error_rate\" = \"< 1%\"\n";
    let plan = parse(Path::new("t.toml"), text, &Overrides::default(), &env).unwrap();
    let super::LoadPlan::Open { schedule, .. } = &plan.load else {
        panic!()
    };
    assert_eq!(schedule.total_requests(), 20 + 550 + 1000);
    assert_eq!(plan.load.duration(), std::time::Duration::from_secs(20));
    assert_eq!(plan.workload.requests()[0].method, http::Method::POST);
    assert!(plan.workload.requests()[0].expect.contains(409));
    assert_eq!(
        plan.workload.requests()[0]
            .body
            .as_ref()
            .unwrap()
            .content_type,
        Some("application/json")
    );
    assert!(plan.workload.requests()[0].headers[0].1.has_secret());
    assert!(plan.workload.requests()[1].origin.is_some());
    assert_eq!(plan.slos.len(), 2);
}
