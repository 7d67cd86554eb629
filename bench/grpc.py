#!/usr/bin/env python3
"""gRPC's own cost in loadctl: unary calls against the reference gRPC service
(`loadctl testbed serve grpc`, one runtime thread pinned to CPU 0), loadctl pinned to
CPU 1 with one thread, in the closed model (50 virtual users) and the open model
(10,000 calls/s), each as

- `grpc-static`: `grpc = "shop.Inventory/Reserve"` with a fixed message (encoded once);
- `grpc-template`: the same with a templated message (rendered, parsed from JSON and
  encoded per call);
- `h2-post`: the same bytes as a plain HTTP/2 POST (the framed message as a body, the
  same headers), loadctl's HTTP/2 path with no gRPC work: the reference.

Rounds are interleaved so a noisy neighbour hits every variant alike. It prints, per
model, the medians of CPU µs per call (user + system of loadctl, from wait4), the
achieved rate, and grpc/h2 ratios paired within each round (the goal: within 1.3×).

ghz (the gRPC load tool) is written in Go; this machine has no Go toolchain and none can
be fetched, so it is not compared here.

Traffic goes to 127.0.0.1 only, and every run is bounded in time. Not run by CI.

usage: bench/grpc.py [--secs 8] [--rounds 3] [--rate 10000] [--vus 50]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (same folder: measure, sh, ROOT)

PORT = 18651
PROTO = os.path.join(compare.ROOT, "examples", "grpc", "shop.proto")
med = lambda xs: sorted(xs)[len(xs) // 2]

# ReserveRequest{sku: "A-1", qty: 1}, framed: what grpc-static sends, byte for byte.
FRAMED = "\\u0000\\u0000\\u0000\\u0000\\u0007\\n\\u0003A-1\\u0010\\u0001"

VARIANTS = {
    "grpc-static": """
[grpc]
protos = ["{proto}"]
[[requests]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = '{{"sku": "A-1", "qty": 1}}'
""",
    "grpc-template": """
[grpc]
protos = ["{proto}"]
[[requests]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = '{{"sku": "A-{{{{rand_int(1, 9)}}}}", "qty": 1}}'
""",
    "h2-post": """
[[requests]]
name = "reserve"
method = "POST"
path = "/shop.Inventory/Reserve"
headers = {{ "content-type" = "application/grpc", te = "trailers" }}
body = "{framed}"
""",
}


def load(model, args):
    if model == "closed":
        return f'[load]\nmodel = "closed"\nvus = {args.vus}\nduration = "{args.secs}s"\n'
    return (f'[load]\nrate = {args.rate}\nduration = "{args.secs}s"\nconnections = 10\n'
            f'max_in_flight = 1000\n')


def once(binary, tmp, variant, model, args):
    name = f"{variant}-{model}"
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\ntarget = "http://127.0.0.1:{PORT}"\n[http]\nversion = "h2c"\n'
                f'[generator]\nthreads = 1\n' + load(model, args)
                + VARIANTS[variant].format(proto=PROTO, framed=FRAMED))
    out = os.path.join(tmp, f"out-{name}")
    subprocess.run(["rm", "-rf", out], check=True)
    _, cpu, rss, _ = compare.measure(["taskset", "-c", "1", binary, "run", path, "--no-progress", "--out", out])
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    t = s["totals"]
    if t["ok"] != t["requests"]:
        sys.exit(f"{name}: {t['requests'] - t['ok']} of {t['requests']} calls failed: {s['endpoints'][0]['errors_by_kind']}")
    return {"n": t["requests"], "rate": t["rps"], "cpu": cpu, "rss": rss,
            "p99": s["latency_ms"]["p99"]}


def table(model, args, runs):
    what = f"{args.vus} virtual users" if model == "closed" else f"{args.rate}/s, 10 connections × 10 streams"
    print(f"\n## Unary calls, {model} model ({what}), one loadctl thread pinned to CPU 1, {args.secs} s, "
          f"{args.rounds} round(s)\n")
    print("| variant | achieved calls/s (median) | CPU µs/call (median) | peak RSS MiB | p99 ms (median) |")
    print("|---|---:|---:|---:|---:|")
    for v, rs in runs.items():
        print(f"| {v} | {med([r['rate'] for r in rs]):.0f} | {med([r['cpu'] / r['n'] * 1e6 for r in rs]):.2f} "
              f"| {max(r['rss'] for r in rs) / 1024:.1f} | {med([r['p99'] for r in rs]):.2f} |")
    for v in ("grpc-static", "grpc-template"):
        ratios = [(a["cpu"] / a["n"]) / (b["cpu"] / b["n"]) for a, b in zip(runs[v], runs["h2-post"])]
        print(f"{v}/h2-post CPU per call: median **{med(ratios):.3f}** "
              f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--vus", type=int, default=50)
    ap.add_argument("--loadctl", default=os.environ.get("LOADCTL"))
    args = ap.parse_args()
    binary = args.loadctl
    if not binary:
        compare.sh(["cargo", "build", "--release", "--locked"], cwd=compare.ROOT)
        binary = os.path.join(compare.ROOT, "target", "release", "loadctl")
    server = subprocess.Popen(["taskset", "-c", "0", binary, "testbed", "serve", "grpc",
                               "--listen", f"127.0.0.1:{PORT}", "--threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for model in ("closed", "open"):
                runs = {v: [] for v in VARIANTS}
                for _ in range(args.rounds):
                    for v in VARIANTS:
                        runs[v].append(once(binary, tmp, v, model, args))
                table(model, args, runs)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
