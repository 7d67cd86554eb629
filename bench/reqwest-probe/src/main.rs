//! `reqwest-probe URL CONNECTIONS SECONDS`: CONNECTIONS tasks loop GET → full body until the
//! time is up, on a multi-thread runtime with one worker per core, then print
//! `{"requests": N, "errors": M}`. Loopback targets only (checked).

use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, conns, secs] = &args[..] else {
        eprintln!("usage: reqwest-probe URL CONNECTIONS SECONDS");
        std::process::exit(2);
    };
    assert!(
        url.starts_with("http://127.") || url.starts_with("http://[::1]"),
        "loopback targets only"
    );
    let conns: usize = conns.parse().expect("connections");
    let end = Instant::now() + Duration::from_secs(secs.parse().expect("seconds"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .expect("client");
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let (mut ok, mut errors) = (0u64, 0u64);
                while Instant::now() < end {
                    let done = match client.get(&url).send().await {
                        Ok(r) => r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if done {
                        ok += 1;
                    } else {
                        errors += 1;
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        let (o, e) = t.await.expect("task");
        ok += o;
        errors += e;
    }
    println!("{{\"requests\": {ok}, \"errors\": {errors}}}");
}
