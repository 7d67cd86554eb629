#!/usr/bin/env python3
"""loadctl's open model against oha (-q) and wrk2 (-R), in one run, on this machine:
CPU per request at fixed rates, each generator pinned alone to one core.

nginx (one worker, the 200-byte JSON of bench/compare.py) runs pinned to CPU 0; each
generator runs pinned to CPU 1 with one thread and 100 connections, for the same total
duration at the same rate (loadctl's first 2 s are its warmup: its send-lag is read over
the steady state, its CPU per request over every request); rounds are interleaved (loadctl, oha, wrk2, loadctl, …) so that a noisy
neighbour hits every tool alike. For each rate it prints the medians of CPU µs per request
(user + system of the generator process, from wait4), the achieved rate, loadctl's send-lag
p99, and loadctl/oha and loadctl/wrk2 ratios paired within each round.

wrk2 is not packaged by Debian: build it yourself beside the project and pass it with
--wrk2 PATH (or WRK2=PATH); without it the wrk2 column is left out, and said so. oha is
installed with `cargo install oha` when missing, as bench/compare.py does.

With --ab OLD_LOADCTL, old and new builds of loadctl alternate instead (no oha, no wrk2):
new/old CPU per request at each rate, for a change that touches the hot path.

Traffic goes to 127.0.0.1 only, and every run is bounded in time. Not run by CI.

usage: bench/openmodel.py [--rates 10000,20000,40000] [--secs 8] [--rounds 3] [--wrk2 PATH]
       bench/openmodel.py --ab OLD_LOADCTL [--new NEW_LOADCTL] [--rates …] [--secs …] [--rounds …]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (same folder: nginx, measure)

URL = compare.URL
CONNS = 100
# loadctl's warmup: its send-lag is read over the steady state after it (the first second
# opens the connections); every tool runs the same total time, and CPU per request counts
# every request sent, warmup included.
WARMUP = 2
med = lambda xs: sorted(xs)[len(xs) // 2]


def pinned(cmd):
    return ["taskset", "-c", "1"] + cmd


def loadctl_once(binary, tmp, rate, secs):
    name = f"open{rate}"
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\ntarget = "http://127.0.0.1:{compare.PORT}"\n'
                f'[load]\nrate = {rate}\nduration = "{secs}s"\nwarmup = "{WARMUP}s"\nconnections = {CONNS}\n'
                f'[generator]\nthreads = 1\n[[requests]]\nname = "data"\npath = "/data.json"\n')
    out_dir = os.path.join(tmp, f"out-{name}")
    shutil.rmtree(out_dir, ignore_errors=True)
    _, cpu, rss, _ = compare.measure(pinned([binary, "run", path, "--no-progress", "--out", out_dir]))
    with open(os.path.join(out_dir, "summary.json")) as f:
        s = json.load(f)
    # Every request sent, warmup seconds included (the CPU time covers them all).
    with open(os.path.join(out_dir, "timeseries.csv")) as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    n = sum(int(r[4]) for r in rows if r[3] == "all")
    return {"n": n, "rate": n / (secs + WARMUP), "cpu": cpu, "rss": rss, "lag99": s["generator"]["send_lag_p99_ms"]}


def oha_once(rate, secs):
    total = secs + WARMUP
    out, cpu, rss, _ = compare.measure(pinned(["oha", "-z", f"{total}s", "-q", str(rate), "-c", str(CONNS),
                                               "--no-tui", "--output-format", "json", URL]))
    n = sum(json.loads(out).get("statusCodeDistribution", {}).values())
    return {"n": n, "rate": n / total, "cpu": cpu, "rss": rss, "lag99": None}


def wrk2_once(wrk2, rate, secs):
    total = secs + WARMUP
    out, cpu, rss, _ = compare.measure(pinned([wrk2, "-t1", f"-c{CONNS}", f"-d{total}s", f"-R{rate}", URL]))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return {"n": n, "rate": n / total, "cpu": cpu, "rss": rss, "lag99": None}


def table(rate, secs, runs, ref_names):
    print(f"\n## Open model, {rate}/s, {CONNS} connections, one thread pinned to CPU 1, {WARMUP} s + {secs} s, "
          f"{len(next(iter(runs.values())))} round(s)\n")
    print("| tool | achieved req/s (median) | CPU µs/request (median) | peak RSS MiB | send-lag p99 ms (after the warmup) |")
    print("|---|---:|---:|---:|---:|")
    for t, rs in runs.items():
        lag = [r["lag99"] for r in rs if r["lag99"] is not None]
        lag = f"{med(lag):.3f}" if lag else "—"
        print(f"| {t} | {med([r['rate'] for r in rs]):.0f} | {med([r['cpu'] / r['n'] * 1e6 for r in rs]):.2f} "
              f"| {max(r['rss'] for r in rs) / 1024:.1f} | {lag} |")
    first = next(iter(runs))
    for ref in ref_names:
        ratios = [(a["cpu"] / a["n"]) / (b["cpu"] / b["n"]) for a, b in zip(runs[first], runs[ref])]
        print(f"{first}/{ref} CPU per request: median **{med(ratios):.3f}** "
              f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="10000,20000,40000")
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--wrk2", default=os.environ.get("WRK2"))
    ap.add_argument("--ab", metavar="OLD_LOADCTL")
    ap.add_argument("--new", metavar="NEW_LOADCTL", default=os.environ.get("LOADCTL_NEW"))
    a = ap.parse_args()
    rates = [int(r) for r in a.rates.split(",")]
    if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
        sys.exit("needs nginx (apt-get install nginx-light)")
    os.environ["PATH"] += ":/usr/sbin"
    if a.new:
        new = a.new
    else:
        compare.sh(["cargo", "build", "--release", "--locked"], cwd=compare.ROOT)
        new = os.path.join(compare.ROOT, "target", "release", "loadctl")
    if not a.ab and not shutil.which("oha"):
        compare.sh(["cargo", "install", "oha", "--locked"])
    if not a.ab and not (a.wrk2 and os.access(a.wrk2, os.X_OK)):
        print("wrk2 not given (--wrk2 PATH): its column is left out", flush=True)
        a.wrk2 = None
    with tempfile.TemporaryDirectory() as tmp:
        nginx = compare.start_nginx(tmp, pin=True)
        try:
            for rate in rates:
                if a.ab:
                    runs = {"new": [], "old": []}
                    for _ in range(a.rounds):
                        runs["new"].append(loadctl_once(new, tmp, rate, a.secs))
                        runs["old"].append(loadctl_once(a.ab, tmp, rate, a.secs))
                    table(rate, a.secs, runs, ["old"])
                    continue
                runs = {"loadctl": [], "oha": []}
                if a.wrk2:
                    runs["wrk2"] = []
                for _ in range(a.rounds):
                    runs["loadctl"].append(loadctl_once(new, tmp, rate, a.secs))
                    runs["oha"].append(oha_once(rate, a.secs))
                    if a.wrk2:
                        runs["wrk2"].append(wrk2_once(a.wrk2, rate, a.secs))
                table(rate, a.secs, runs, [t for t in runs if t != "loadctl"])
        finally:
            nginx.terminate()
            nginx.wait()


if __name__ == "__main__":
    main()
