#!/usr/bin/env python3
"""loadctl over HTTPS and HTTP/2 against wrk, oha and h2load, in one run, on this machine.

The same 200-byte JSON file as bench/compare.py, from nginx (one worker) with TLS and HTTP/2
on 127.0.0.1:18443, with a self-signed certificate made here by openssl for this run (in a
temporary folder; nothing is kept). nginx is pinned to CPU 0 and every generator to CPU 1
(loadctl with one worker thread, wrk with one thread), so CPU seconds per request compare.

1. HTTPS, closed model, 50 connections: loadctl vs wrk (OpenSSL) vs oha (rustls):
   requests/s and the generator's CPU seconds per request (user + system, from wait4);
2. HTTP/2 over TLS, 10 connections x 10 streams: loadctl vs oha --http2 vs h2load;
3. loadctl's open model at 20,000 req/s over HTTPS: achieved vs plan, send-lag p99.

Rounds alternate the tools; ratios are paired within a round and their median printed.
Traffic goes to 127.0.0.1 only, and every run is bounded in time. Not run by CI.

usage: bench/tls_h2.py [--quick] [--rounds N] [--secs S] [--only https|h2|open]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import DATA, ROOT, measure, sh  # noqa: E402

PORT = 18443
URL = f"https://127.0.0.1:{PORT}/data.json"
PIN = ["taskset", "-c", "1"]


def ensure_tools():
    missing = [p for p, b in (("wrk", "wrk"), ("nginx-light", "nginx"), ("nghttp2-client", "h2load"),
                              ("openssl", "openssl")) if not shutil.which(b)]
    if missing:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", *missing], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which("oha"):
        sh(["cargo", "install", "oha", "--locked"])
    sh(["cargo", "build", "--release", "--locked"], cwd=ROOT)
    return os.path.join(ROOT, "target", "release", "loadctl")


def start_nginx(workdir):
    os.chmod(workdir, 0o755)
    www = os.path.join(workdir, "www")
    os.makedirs(www, mode=0o755, exist_ok=True)
    with open(os.path.join(www, "data.json"), "w") as f:
        f.write(DATA)
    # A throwaway self-signed certificate for 127.0.0.1, made for this run only.
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
        "-keyout", os.path.join(workdir, "key.pem"), "-out", os.path.join(workdir, "cert.pem")],
       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 65;
  http2_max_concurrent_streams 128;
  server {{
    listen 127.0.0.1:{PORT} ssl http2;
    ssl_certificate {workdir}/cert.pem;
    ssl_certificate_key {workdir}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    root {www};
    default_type application/json;
  }}
}}
""")
    p = subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", conf, "-p", workdir],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", URL], capture_output=True, text=True) \
            if shutil.which("curl") else None
        if r is None:
            time.sleep(1)
            return p
        if r.stdout == "200":
            return p
        time.sleep(0.1)
    p.terminate()
    sys.exit(f"nginx did not start; see {workdir}/error.log")


def loadctl_run(loadctl, tmp, name, load, extra=""):
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\ntarget = "https://127.0.0.1:{PORT}"\n[load]\n{load}\n'
                f'[generator]\nthreads = 1\nmax_send_lag_p99 = "1s"\n[tls]\ninsecure = true\n{extra}\n'
                f'[[requests]]\nname = "data"\npath = "/data.json"\n')
    out_dir = os.path.join(tmp, f"out-{name}")
    _, cpu, rss, _ = measure(PIN + [loadctl, "run", path, "--no-progress", "--out", out_dir])
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f), cpu


def once(tool, loadctl, tmp, secs, h2):
    """One run: (requests, req/s, cpu seconds)."""
    if tool == "wrk":
        out, cpu, _, _ = measure(PIN + ["wrk", "-t1", "-c50", f"-d{secs}s", URL])
        n = int(re.search(r"(\d+) requests in", out).group(1))
        return n, n / secs, cpu
    if tool == "oha":
        conc = ["-c", "10", "-p", "10", "--http2"] if h2 else ["-c", "50"]
        out, cpu, _, _ = measure(PIN + ["oha", "-z", f"{secs}s", *conc, "--insecure", "--no-tui",
                                        "--output-format", "json", URL])
        n = sum(json.loads(out).get("statusCodeDistribution", {}).values())
        return n, n / secs, cpu
    if tool == "h2load":
        out, cpu, _, _ = measure(PIN + ["h2load", "-t1", "-c10", "-m10", "-D", str(secs), URL])
        n = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
        return n, n / secs, cpu
    if h2:
        s, cpu = loadctl_run(loadctl, tmp, "h2", f'model = "closed"\nvus = 100\nduration = "{secs}s"',
                             '[http]\nversion = "2"\nmax_streams = 10')
    else:
        s, cpu = loadctl_run(loadctl, tmp, "https", f'model = "closed"\nvus = 50\nduration = "{secs}s"')
    errors = s["totals"]["errors"]
    if errors:
        print(f"  loadctl: {errors} errors: {s['endpoints'][0]['errors_by_kind']}")
    return s["totals"]["requests"], s["totals"]["rps"], cpu


def compare(title, tools, loadctl, tmp, secs, rounds, h2):
    runs = {t: [] for t in tools}
    for _ in range(rounds):
        for t in tools:
            runs[t].append(once(t, loadctl, tmp, secs, h2))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"\n## {title}, {secs} s, {rounds} round(s), nginx on CPU 0, generator on CPU 1\n")
    print("| tool | req/s (median) | CPU µs/request (median) |")
    print("|---|---:|---:|")
    for t in tools:
        print(f"| {t} | {med([r[1] for r in runs[t]]):.0f} | {med([r[2] / r[0] * 1e6 for r in runs[t]]):.2f} |")
    for ref in tools:
        if ref == "loadctl":
            continue
        rps = [l[1] / r[1] for l, r in zip(runs["loadctl"], runs[ref])]
        cpu = [(l[2] / l[0]) / (r[2] / r[0]) for l, r in zip(runs["loadctl"], runs[ref])]
        print(f"loadctl/{ref}: req/s ratio median {med(rps):.3f} ({', '.join(f'{x:.3f}' for x in rps)}), "
              f"CPU-per-request ratio median {med(cpu):.3f} ({', '.join(f'{x:.3f}' for x in cpu)})")


def open_model(loadctl, tmp, secs):
    s, cpu = loadctl_run(loadctl, tmp, "open20k", f'rate = 20000\nduration = "{secs}s"\nwarmup = "2s"\nconnections = 200')
    t, g = s["totals"], s["generator"]
    planned = s["load"]["planned_requests"]
    c = s["transport"]["connections"]
    print(f"\n## Open model, 20,000 req/s over HTTPS for {secs} s (generator on CPU 1, one thread)\n")
    print(f"planned {planned}, completed {t['requests']}, achieved/planned {t['requests'] / planned:.4f}, "
          f"dropped {t['dropped']}, errors {t['errors']}, send-lag p50 {g['send_lag_p50_ms']:.3f} ms, "
          f"p99 {g['send_lag_p99_ms']:.3f} ms, max {g['send_lag_max_ms']:.3f} ms, latency p99 "
          f"{s['latency_ms']['p99']:.3f} ms, connections {c['opened']} ({c.get('resumed', 0)} resumed), "
          f"tls p50 {s['phases_ms'].get('tls', {}).get('p50', 0):.3f} ms, "
          f"CPU µs/request {cpu / max(t['requests'], 1) * 1e6:.2f}, status {s['status']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one 5 s round of each part")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=15)
    ap.add_argument("--only", choices=("https", "h2", "open"))
    args = ap.parse_args()
    secs, rounds = (5, 1) if args.quick else (args.secs, args.rounds)
    loadctl = ensure_tools()
    with tempfile.TemporaryDirectory() as tmp:
        nginx = start_nginx(tmp)
        try:
            if args.only in (None, "https"):
                compare("HTTPS (HTTP/1.1), closed model, 50 connections", ("wrk", "oha", "loadctl"),
                        loadctl, tmp, secs, rounds, False)
            if args.only in (None, "h2"):
                compare("HTTP/2 over TLS, 10 connections x 10 streams", ("h2load", "oha", "loadctl"),
                        loadctl, tmp, secs, rounds, True)
            if args.only in (None, "open"):
                open_model(loadctl, tmp, 10 if args.quick else 30)
        finally:
            nginx.terminate()
            nginx.wait()


if __name__ == "__main__":
    main()
