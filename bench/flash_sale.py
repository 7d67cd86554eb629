#!/usr/bin/env python3
"""The flash-sale benchmark (issue 4): seed 003's 10,000 order attempts per second.

1. `scenarios/flash-sale-10k.toml` as shipped: loadctl and its embedded flash-sale service in
   one process on this 2-core machine, 10,000 iterations/s (login once per session, view the
   item, order it) for 60 s. Reports achieved vs planned, dropped, send-lag p99, latency
   p99, the verification result, and the whole process's CPU per request.
2. The same scenario against the service in a separate process (`loadctl testbed serve
   flash-sale`), so the generator's own CPU seconds per request can be read (wait4 of the
   generator process only).
3. In the same run, against the same separate service, the plain-GET figure:
   loadctl's open model at 10,000 req/s on `GET /api/v1/flash/items/1`, and beside it
   oha (`-q 10000`, its rate-limited mode) and wrk (closed, `-c 50`) on the same URL.

Prints ratios: flow CPU/request over plain-GET CPU/request, and loadctl's plain GET over
oha's and wrk's. Traffic goes to 127.0.0.1 only; every run is bounded in time. Not run by CI.

usage: bench/flash_sale.py [--secs 60] [--quick]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, ensure_tools, measure  # noqa: E402

PORT = 18081
BASE = f"http://127.0.0.1:{PORT}"
SCENARIO = os.path.join(ROOT, "scenarios", "flash-sale-10k.toml")


def all_requests(out_dir):
    """Requests in every second of the run, warmup included (they all cost CPU)."""
    import csv
    with open(os.path.join(out_dir, "timeseries.csv")) as f:
        return sum(int(r["requests"]) for r in csv.DictReader(f) if r["endpoint"] == "all")


def run_scenario(loadctl, tmp, tag, secs, target=None):
    out_dir = os.path.join(tmp, f"out-{tag}")
    cmd = [loadctl, "run", SCENARIO, "--no-progress", "--out", out_dir, "--duration", f"{secs}s"]
    if target:
        cmd += ["--target", target]
    _, cpu, rss, _ = measure(cmd, sample_every=1)
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f), cpu, rss, all_requests(out_dir)


def report_flow(title, s, cpu, rss, n_all):
    t, g = s["totals"], s["generator"]
    iterations = s["load"]["planned_requests"]
    order = next(e for e in s["endpoints"] if e["name"] == "place_order")
    sent = order["requests"] + order.get("skipped", 0) + order["dropped"]
    print(f"\n## {title}\n")
    print(f"status {s['status']}; iterations planned {iterations}, order attempts {order['requests']} "
          f"(achieved/planned {order['requests'] / iterations:.4f}), order rps {order['rps']:.1f}, "
          f"all requests {t['requests']} ({t['rps']:.0f} req/s), dropped {t['dropped']}, skipped orders "
          f"{order.get('skipped', 0)}, sent+skipped+dropped {sent}")
    print(f"send lag p50 {g['send_lag_p50_ms']:.3f} ms, p99 {g['send_lag_p99_ms']:.3f} ms, "
          f"max {g['send_lag_max_ms']:.3f} ms; latency p99 {s['latency_ms']['p99']:.3f} ms, "
          f"max {s['latency_ms']['max']:.3f} ms; availability {t['availability'] * 100:.4f}%")
    print(f"outcomes {s.get('outcomes', {})}; verification: "
          + ", ".join(f"{c['check']} {'PASS' if c['pass'] else 'FAIL'} ({c['observed']})" for c in s.get("verify", [])))
    print(f"process CPU {cpu:.1f} s over {n_all} requests (warmup included) = {cpu / n_all * 1e6:.2f} µs/request, "
          f"peak RSS {rss / 1024:.1f} MiB")
    return cpu / n_all


def plain_get(loadctl, tmp, secs):
    path = os.path.join(tmp, "plain.toml")
    with open(path, "w") as f:
        f.write(f'name = "plain-get"\ntarget = "{BASE}"\n[load]\nrate = 10000\nduration = "{secs}s"\n'
                f'warmup = "2s"\nconnections = 1000\n[[requests]]\nname = "item"\n'
                f'path = "/api/v1/flash/items/1"\n')
    out_dir = os.path.join(tmp, "out-plain")
    _, cpu, _, _ = measure([loadctl, "run", path, "--no-progress", "--out", out_dir], sample_every=1)
    with open(os.path.join(out_dir, "summary.json")) as f:
        s = json.load(f)
    n = s["totals"]["requests"]
    n_all = all_requests(out_dir)
    per = cpu / n_all
    print(f"\n## Plain GET, loadctl open model 10,000 req/s for {secs} s (+2 s warmup)\n")
    print(f"completed {n} ({n_all} with warmup), status {s['status']}, send lag p99 "
          f"{s['generator']['send_lag_p99_ms']:.3f} ms, CPU {cpu:.1f} s = {per * 1e6:.2f} µs/request")
    return per


def oha_rate(secs):
    out, cpu, _, _ = measure(["oha", "-z", f"{secs}s", "-q", "10000", "-c", "50", "--no-tui",
                              "--output-format", "json", f"{BASE}/api/v1/flash/items/1"], sample_every=1)
    n = sum(json.loads(out).get("statusCodeDistribution", {}).values())
    print(f"oha -q 10000 -c 50 for {secs} s: {n} requests, CPU {cpu:.1f} s = {cpu / n * 1e6:.2f} µs/request")
    return cpu / n


def wrk_closed(secs):
    out, cpu, _, _ = measure(["wrk", "-t2", "-c50", f"-d{secs}s", f"{BASE}/api/v1/flash/items/1"])
    n = int(re.search(r"(\d+) requests in", out).group(1))
    print(f"wrk -t2 -c50 for {secs} s (closed, as fast as it can): {n} requests, CPU {cpu:.1f} s = "
          f"{cpu / n * 1e6:.2f} µs/request")
    return cpu / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secs", type=int, default=60)
    ap.add_argument("--quick", action="store_true", help="10 s runs")
    args = ap.parse_args()
    secs = 10 if args.quick else args.secs
    loadctl, _ = ensure_tools()
    with tempfile.TemporaryDirectory() as tmp:
        s, cpu, rss, n_all = run_scenario(loadctl, tmp, "embedded", secs)
        report_flow(f"flash-sale-10k as shipped (embedded service, one process), {secs} s", s, cpu, rss, n_all)

        svc = subprocess.Popen([loadctl, "testbed", "serve", "flash-sale", "--listen", f"127.0.0.1:{PORT}",
                                "--items", "10", "--stock", "30000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            s, cpu, rss, n_all = run_scenario(loadctl, tmp, "separate", secs, target=BASE)
            flow = report_flow(f"flash-sale-10k, service in its own process: generator only, {secs} s",
                               s, cpu, rss, n_all)
            plain = plain_get(loadctl, tmp, secs)
            oha = oha_rate(secs)
            wrk = wrk_closed(min(secs, 20))
        finally:
            svc.terminate()
            svc.wait()
        print("\n## Ratios (same run)\n")
        print(f"flow / plain GET CPU per request (loadctl): {flow / plain:.3f}")
        print(f"loadctl plain GET / oha -q 10000 CPU per request: {plain / oha:.3f}")
        print(f"loadctl plain GET (open, 10k/s) / wrk (closed) CPU per request: {plain / wrk:.3f}")
        print(f"loadctl flow / oha plain GET CPU per request: {flow / oha:.3f}")


if __name__ == "__main__":
    main()
