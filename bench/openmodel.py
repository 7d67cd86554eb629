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

With --ceiling, the generators' own ceilings: nginx answers a fixed body from its config
(`return 200`, no file read), so that its one worker outlasts the generators, and each
tool climbs --ceiling-rates until it no longer holds the rate (achieved under 95% of it;
for loadctl also a send-lag p99 over 1 ms). The generator's CPU use (CPU seconds over wall
seconds) is printed beside each step: a tool that fails below 95% of its core was stopped
by the target, not by itself.

Traffic goes to 127.0.0.1 only, and every run is bounded in time. Not run by CI.

usage: bench/openmodel.py [--rates 10000,20000,40000] [--secs 8] [--rounds 3] [--wrk2 PATH]
       bench/openmodel.py --ceiling [--ceiling-rates 40000,60000,…] [--secs 5] [--wrk2 PATH]
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
import time

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


def timed(cmd):
    """compare.measure, with the wall time instead of the RSS samples."""
    start = time.monotonic()
    out, cpu, rss, _ = compare.measure(cmd)
    return out, cpu, rss, time.monotonic() - start


FIXED = "/fixed"
# A tool holds a rate when it achieves this share of it over the whole run: wrk2 counts
# its first second's calibration in its total, so it stays 2-3% under its rate in short runs.
HOLD = 0.95


def loadctl_once(binary, tmp, rate, secs, path="/data.json"):
    name = f"open{rate}"
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\ntarget = "http://127.0.0.1:{compare.PORT}"\n'
                f'[load]\nrate = {rate}\nduration = "{secs}s"\nwarmup = "{WARMUP}s"\nconnections = {CONNS}\n'
                f'[generator]\nthreads = 1\n[[requests]]\nname = "data"\npath = "{path}"\n')
    out_dir = os.path.join(tmp, f"out-{name}")
    shutil.rmtree(out_dir, ignore_errors=True)
    _, cpu, rss, wall = timed(pinned([binary, "run", path, "--no-progress", "--out", out_dir]))
    with open(os.path.join(out_dir, "summary.json")) as f:
        s = json.load(f)
    # Every request sent, warmup seconds included (the CPU time covers them all).
    with open(os.path.join(out_dir, "timeseries.csv")) as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    n = sum(int(r[4]) for r in rows if r[3] == "all")
    return {"n": n, "rate": n / (secs + WARMUP), "cpu": cpu, "rss": rss, "wall": wall,
            "lag99": s["generator"]["send_lag_p99_ms"]}


def oha_once(rate, secs, url=URL):
    total = secs + WARMUP
    out, cpu, rss, wall = timed(pinned(["oha", "-z", f"{total}s", "-q", str(rate), "-c", str(CONNS),
                                                  "--no-tui", "--output-format", "json", url]))
    n = sum(json.loads(out).get("statusCodeDistribution", {}).values())
    return {"n": n, "rate": n / total, "cpu": cpu, "rss": rss, "wall": wall, "lag99": None}


def wrk2_once(wrk2, rate, secs, url=URL):
    total = secs + WARMUP
    out, cpu, rss, wall = timed(pinned([wrk2, "-t1", f"-c{CONNS}", f"-d{total}s", f"-R{rate}", url]))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return {"n": n, "rate": n / total, "cpu": cpu, "rss": rss, "wall": wall, "lag99": None}


def ceiling(new, wrk2, tmp, secs, rates):
    """Each tool climbs `rates` against the fixed-body target until it stops holding one."""
    url = f"http://127.0.0.1:{compare.PORT}{FIXED}"
    tools = {"loadctl": lambda r: loadctl_once(new, tmp, r, secs, FIXED), "oha": lambda r: oha_once(r, secs, url)}
    if wrk2:
        tools["wrk2"] = lambda r: wrk2_once(wrk2, r, secs, url)
    print(f"\n## Ceilings: one thread pinned to CPU 1, {CONNS} connections, {WARMUP} s + {secs} s per step, "
          f"nginx `return 200` on CPU 0\n")
    print("| tool | rate | achieved req/s | CPU µs/request | generator CPU use | send-lag p99 ms | holds |")
    print("|---|---:|---:|---:|---:|---:|---|")
    best = {}
    for name, run in tools.items():
        for rate in rates:
            r = run(rate)
            lag_ok = r["lag99"] is None or r["lag99"] <= 1.0
            holds = r["rate"] >= HOLD * rate and lag_ok
            lag = "—" if r["lag99"] is None else f"{r['lag99']:.3f}"
            print(f"| {name} | {rate} | {r['rate']:.0f} | {r['cpu'] / max(r['n'], 1) * 1e6:.2f} "
                  f"| {r['cpu'] / r['wall'] * 100:.0f}% | {lag} | {'yes' if holds else 'no'} |", flush=True)
            if not holds:
                break
            best[name] = rate
    print()
    for name in tools:
        print(f"{name}: holds **{best.get(name, 0)}**/s")


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
    ap.add_argument("--ceiling", action="store_true", help="each generator's own ceiling against a fixed-body target")
    ap.add_argument("--ceiling-rates", default="40000,60000,80000,100000,120000,140000,160000")
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
        body = compare.DATA.replace("\\", "\\\\").replace("'", "\\'")
        fixed = f"location = {FIXED} {{ return 200 '{body}'; }}" if a.ceiling else ""
        nginx = compare.start_nginx(tmp, pin=True, server_extra=fixed)
        try:
            if a.ceiling:
                ceiling(new, a.wrk2, tmp, a.secs, [int(r) for r in a.ceiling_rates.split(",")])
                return
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
