#!/usr/bin/env python3
"""loadctl against wrk, oha and a reqwest client, in one run, on this machine.

Installs what it needs (wrk and nginx from Debian, oha via cargo, the reqwest probe in
bench/reqwest-probe), serves a small JSON file from nginx on 127.0.0.1, and measures:

1. closed model, 50 connections, same duration, three rounds of all tools back to back:
   requests/s and generator CPU seconds per request (user + system of the generator
   process only, from wait4), with loadctl's ratios paired within each round;
2. loadctl's open model at 10,000 req/s: achieved rate vs plan, dropped, send-lag p99;
3. memory: loadctl at 10,000 req/s, RSS after 1 minute and at the end (flatness) and peak;
   oha at the same rate for comparison.

It prints ratios against wrk and oha. Not run by CI: the numbers belong in bench/README.md.
Traffic goes to 127.0.0.1 only, and every run is bounded in time.

usage: bench/compare.py [--quick] [--rounds N] [--only closed|open|memory]
       bench/compare.py --ab OLD_LOADCTL [--rounds N] [--quick]
       (--quick: one 5 s round, a 10 s open run and a 60 s memory run)

--ab OLD_LOADCTL (with --only closed|open to run one part; LOADCTL_NEW=PATH to take the new
binary as built instead of building it here) compares two builds of loadctl in the same session (say, the commit before a
change, built into another target folder): closed model and open model at 10,000 req/s, old and
new back to back in each round, nginx pinned to CPU 0 and the generator to CPU 1 with taskset;
it prints new/old ratios of CPU seconds per request and of the achieved rate.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 18080
URL = f"http://127.0.0.1:{PORT}/data.json"
# About the size of one activity in seed 000's list API.
DATA = json.dumps({
    "id": 42, "title": "Clean-up at Riverside Park", "category": "environment",
    "location": "Riverside Park", "organizer_id": 1234, "starts_at": "2026-05-01T09:00:00Z",
    "capacity": 120, "enrolled": 87, "status": "open",
})


def sh(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def ensure_tools():
    missing = [p for p, b in (("wrk", "wrk"), ("nginx-light", "nginx")) if not shutil.which(b)]
    if missing:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", *missing], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which("oha"):
        sh(["cargo", "install", "oha", "--locked"])
    sh(["cargo", "build", "--release", "--locked"], cwd=ROOT)
    probe = os.path.join(ROOT, "bench", "reqwest-probe")
    sh(["cargo", "build", "--release"], cwd=probe)
    return os.path.join(ROOT, "target", "release", "loadctl"), os.path.join(probe, "target", "release", "reqwest-probe")


def start_nginx(workdir, pin=False, listen=f"127.0.0.1:{PORT}", prefix=(), probe=URL, server_extra=""):
    """nginx with one worker serving DATA on `listen`, started under `prefix` (such as
    `ip netns exec NS`); waits until `probe` answers (None: a fixed half second, for a
    namespace this process cannot reach). `server_extra` goes into the server block."""
    # nginx workers run as `nobody`: they must be able to read the served file.
    os.chmod(workdir, 0o755)
    os.makedirs(os.path.join(workdir, "www"), mode=0o755, exist_ok=True)
    with open(os.path.join(workdir, "www", "data.json"), "w") as f:
        f.write(DATA)
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
  server {{
    listen {listen};
    root {workdir}/www;
    default_type application/json;
    {server_extra}
  }}
}}
""")
    p = subprocess.Popen(list(prefix) + (["taskset", "-c", "0"] if pin else []) + ["nginx", "-c", conf, "-p", workdir],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe is None:
        time.sleep(0.5)
        return p
    for _ in range(100):
        try:
            import urllib.request
            urllib.request.urlopen(probe, timeout=1).read()
            return p
        except Exception:
            time.sleep(0.1)
    p.terminate()
    p.wait()
    sys.exit(f"nginx did not start; see {workdir}/error.log")


def measure(cmd, sample_every=0.2):
    """Runs cmd; returns (stdout, cpu_seconds, peak_rss_kib, rss_samples[(t, kib)]).

    CPU is the child's own user + system time (wait4). Memory is sampled from /proc:
    wait4's ru_maxrss would count the forked Python image before exec.
    """
    print("+", " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    samples, peak = [], [0]

    def sample():
        t0 = time.time()
        while p.returncode is None:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    status = f.read()
                rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
                samples.append((time.time() - t0, rss))
                peak[0] = max(peak[0], hwm)
            except (OSError, AttributeError):
                pass
            time.sleep(sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    return out, ru.ru_utime + ru.ru_stime, peak[0], samples


def loadctl_scenario(tmp, name, load):
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\ntarget = "http://127.0.0.1:{PORT}"\n[load]\n{load}\n'
                f'[[requests]]\nname = "data"\npath = "/data.json"\n')
    return path


def loadctl_run(loadctl, tmp, name, load, sample_every=0.2):
    out_dir = os.path.join(tmp, f"out-{name}")
    cmd = [loadctl, "run", loadctl_scenario(tmp, name, load), "--no-progress", "--out", out_dir]
    _, cpu, rss, samples = measure(cmd, sample_every)
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f), cpu, rss, samples


def closed_once(tool, loadctl, probe, tmp, secs):
    """One closed-model run of `tool`: (requests, req/s, cpu seconds, peak RSS KiB)."""
    if tool == "wrk":
        out, cpu, rss, _ = measure(["wrk", "-t2", "-c50", f"-d{secs}s", URL])
        n = int(re.search(r"(\d+) requests in", out).group(1))
        return n, n / secs, cpu, rss
    if tool == "oha":
        out, cpu, rss, _ = measure(["oha", "-z", f"{secs}s", "-c", "50", "--no-tui", "--output-format", "json", URL])
        n = sum(json.loads(out).get("statusCodeDistribution", {}).values())
        return n, n / secs, cpu, rss
    if tool == "reqwest":
        out, cpu, rss, _ = measure([probe, URL, "50", str(secs)])
        n = json.loads(out)["requests"]
        return n, n / secs, cpu, rss
    s, cpu, rss, _ = loadctl_run(loadctl, tmp, "closed", f'model = "closed"\nvus = 50\nduration = "{secs}s"')
    return s["totals"]["requests"], s["totals"]["rps"], cpu, rss


def closed(loadctl, probe, tmp, secs, rounds):
    """Rounds of all four tools back to back; ratios are paired within a round."""
    tools = ("wrk", "oha", "reqwest", "loadctl")
    runs = {t: [] for t in tools}
    for _ in range(rounds):
        for t in tools:
            runs[t].append(closed_once(t, loadctl, probe, tmp, secs))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"\n## Closed model, 50 connections, {secs} s, {rounds} round(s), nginx on 127.0.0.1 (1 worker)\n")
    print("| tool | req/s (median) | CPU µs/request (median) | peak RSS MiB (max) |")
    print("|---|---:|---:|---:|")
    for t in tools:
        print(f"| {t} | {med([r[1] for r in runs[t]]):.0f} | {med([r[2] / r[0] * 1e6 for r in runs[t]]):.2f} "
              f"| {max(r[3] for r in runs[t]) / 1024:.1f} |")
    for ref in ("wrk", "oha", "reqwest"):
        rps = [l[1] / r[1] for l, r in zip(runs["loadctl"], runs[ref])]
        cpu = [(l[2] / l[0]) / (r[2] / r[0]) for l, r in zip(runs["loadctl"], runs[ref])]
        print(f"loadctl/{ref}: req/s ratio median {med(rps):.3f} (rounds: {', '.join(f'{x:.3f}' for x in rps)}), "
              f"CPU-per-request ratio median {med(cpu):.3f} (rounds: {', '.join(f'{x:.3f}' for x in cpu)})")
    return runs


def open_model(loadctl, tmp, secs):
    s, cpu, rss, _ = loadctl_run(loadctl, tmp, "open10k", f'rate = 10000\nduration = "{secs}s"\nwarmup = "2s"')
    t, g = s["totals"], s["generator"]
    planned = s["load"]["planned_requests"]
    print(f"\n## Open model, 10,000 req/s for {secs} s\n")
    print(f"planned {planned}, completed {t['requests']}, achieved/planned {t['requests'] / planned:.4f}, "
          f"rps {t['rps']:.1f}, dropped {t['dropped']}, send-lag p50 {g['send_lag_p50_ms']:.3f} ms, "
          f"p99 {g['send_lag_p99_ms']:.3f} ms, max {g['send_lag_max_ms']:.3f} ms, "
          f"latency p99 {s['latency_ms']['p99']:.3f} ms, CPU µs/request {cpu / t['requests'] * 1e6:.2f}, status {s['status']}")


def memory(loadctl, tmp, secs, rate=10000):
    """RSS of one long open-model run (issue 33's goal: at most 32 MiB at 10,000/s, flat)."""
    s, cpu, peak, samples = loadctl_run(loadctl, tmp, "mem", f'rate = {rate}\nduration = "{secs}s"', sample_every=1)
    at = lambda t: next((kib for ts, kib in samples if ts >= t), samples[-1][1])
    one_min = at(60) if secs >= 60 else at(secs / 10)
    end = samples[-2][1] if len(samples) > 1 else samples[-1][1]
    print(f"\n## Memory, loadctl open model {rate:,} req/s for {secs} s\n")
    every = max(secs // 10, 1)
    print("RSS MiB every " + f"{every} s: " + ", ".join(f"{at(t) / 1024:.1f}" for t in range(every, secs + 1, every)))
    print(f"RSS at {min(60, secs / 10):.0f} s {one_min / 1024:.1f} MiB, near the end {end / 1024:.1f} MiB "
          f"(ratio {end / one_min:.3f}), peak {peak / 1024:.1f} MiB, {s['totals']['requests']} requests, "
          f"send-lag p99 {s['generator']['send_lag_p99_ms']:.3f} ms, status {s['status']}")
    oha_secs = min(secs, 60)
    _, _, oha_peak, oha_samples = measure(
        ["oha", "-z", f"{oha_secs}s", "-q", str(rate), "-c", "50", "--no-tui", "--output-format", "json", URL],
        sample_every=1)
    print(f"oha -q {rate} for {oha_secs} s: peak RSS {oha_peak / 1024:.1f} MiB "
          f"(after ~6 s: {next((k for t, k in oha_samples if t >= 6), 0) / 1024:.1f} MiB); "
          f"loadctl/oha peak RSS ratio {peak / oha_peak:.3f}")


def ab(old, new, tmp, secs, rounds, only=None):
    """Old and new loadctl back to back per round, generator pinned to CPU 1."""
    med = lambda xs: sorted(xs)[len(xs) // 2]
    pin = lambda b: ["taskset", "-c", "1", b]

    def once(binary, name, load):
        out_dir = os.path.join(tmp, f"out-{name}")
        cmd = pin(binary) + ["run", loadctl_scenario(tmp, name, load), "--no-progress", "--out", out_dir]
        _, cpu, rss, _ = measure(cmd)
        with open(os.path.join(out_dir, "summary.json")) as f:
            s = json.load(f)
        return s, cpu / max(s["totals"]["requests"], 1)

    for label, load in (("closed model, 50 connections", f'model = "closed"\nvus = 50\nduration = "{secs}s"'),
                        ("open model, 10,000 req/s", f'rate = 10000\nduration = "{secs}s"\nwarmup = "2s"')):
        if only and not label.startswith(only):
            continue
        rows = []
        for r in range(rounds):
            so, co = once(old, f"old{r}", load)
            sn, cn = once(new, f"new{r}", load)
            rows.append((so, co, sn, cn))
        print(f"\n## A/B {label}, {secs} s, {rounds} round(s), generator on CPU 1, nginx on CPU 0\n")
        print("| round | old req/s | new req/s | old CPU µs/req | new CPU µs/req | new/old CPU per request | old send-lag p99 ms | new send-lag p99 ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for i, (so, co, sn, cn) in enumerate(rows):
            print(f"| {i + 1} | {so['totals']['rps']:.0f} | {sn['totals']['rps']:.0f} | {co * 1e6:.2f} | {cn * 1e6:.2f} "
                  f"| {cn / co:.3f} | {so['generator']['send_lag_p99_ms']:.3f} | {sn['generator']['send_lag_p99_ms']:.3f} |")
        print(f"new/old: CPU per request median {med([cn / co for _, co, _, cn in rows]):.3f}, "
              f"req/s median {med([sn['totals']['rps'] / so['totals']['rps'] for so, _, sn, _ in rows]):.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs, for trying the script out")
    ap.add_argument("--rounds", type=int, default=3, help="closed-model rounds (ratios are paired per round)")
    ap.add_argument("--only", choices=("closed", "open", "memory"), help="run one part")
    ap.add_argument("--ab", metavar="OLD_LOADCTL", help="compare this loadctl binary with the one built here")
    args = ap.parse_args()
    if args.ab:
        if not shutil.which("nginx"):
            sh(["apt-get", "install", "-y", "-qq", "nginx-light"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        new = os.environ.get("LOADCTL_NEW")
        if not new:
            sh(["cargo", "build", "--release", "--locked"], cwd=ROOT)
            new = os.path.join(ROOT, "target", "release", "loadctl")
        with tempfile.TemporaryDirectory() as tmp:
            nginx = start_nginx(tmp, pin=True)
            try:
                ab(os.path.abspath(args.ab), new, tmp, 5 if args.quick else 20, 1 if args.quick else args.rounds,
                   args.only if args.only in ("closed", "open") else None)
            finally:
                nginx.terminate()
                nginx.wait()
        return
    loadctl, probe = ensure_tools()
    with tempfile.TemporaryDirectory() as tmp:
        nginx = start_nginx(tmp)
        try:
            if args.only in (None, "closed"):
                closed(loadctl, probe, tmp, 5 if args.quick else 20, 1 if args.quick else args.rounds)
            if args.only in (None, "open"):
                open_model(loadctl, tmp, 10 if args.quick else 60)
            if args.only in (None, "memory"):
                memory(loadctl, tmp, 60 if args.quick else 600)
        finally:
            nginx.terminate()
            nginx.wait()


if __name__ == "__main__":
    main()
