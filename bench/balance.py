#!/usr/bin/env python3
"""What `[balance]` costs per request: loadctl's closed model (50 virtual users) against
nginx (one worker, pinned to CPU 0, naming itself in X-Served-By), the generator pinned to
CPU 1, three variants back to back in each round:

  plain     no [balance]
  balance   [balance] backend = { header = "x-served-by" }
  affinity  the same with affinity = "client-ip" and 50 source addresses (127.0.0.2-51)

It prints generator CPU microseconds per request (user + system of the loadctl process,
from wait4) per variant, and each variant's ratio to plain, paired within the round, with
the median over rounds. Not run by CI: the numbers belong in bench/README.md. Traffic goes
to 127.0.0.1 only; every run is bounded in time.

usage: bench/balance.py [--rounds N] [--secs S]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the bench's shared helpers: measure, the data file)

PORT = 18090


def nginx(workdir):
    """The bench's nginx (compare.py's), pinned to CPU 0, naming itself in X-Served-By."""
    return compare.start_nginx(workdir, pin=True, listen=f"127.0.0.1:{PORT}",
                               probe=f"http://127.0.0.1:{PORT}/data.json",
                               server_extra="add_header X-Served-By nginx-0 always;")


VARIANTS = {
    "plain": ("", ""),
    "balance": ("", '[balance]\nbackend = { header = "x-served-by" }\n'),
    "affinity": ('source_ips = "127.0.0.2-127.0.0.51"\n',
                 '[balance]\nbackend = { header = "x-served-by" }\naffinity = "client-ip"\n'),
}


def run(loadctl, tmp, name, secs):
    load_extra, extra = VARIANTS[name]
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'name = "{name}"\ntarget = "http://127.0.0.1:{PORT}"\n[load]\nmodel = "closed"\n'
                f'vus = 50\nduration = "{secs}s"\n{load_extra}[generator]\nthreads = 1\n'
                f'[[requests]]\nname = "data"\npath = "/data.json"\n{extra}')
    out = os.path.join(tmp, f"out-{name}")
    _, cpu, _, _ = compare.measure(["taskset", "-c", "1", loadctl, "run", path, "--no-progress", "--out", out])
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    return cpu * 1e6 / max(1, s["totals"]["requests"]), s["totals"]["rps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=8)
    a = ap.parse_args()
    loadctl = os.environ.get("LOADCTL", os.path.join(compare.ROOT, "target", "release", "loadctl"))
    with tempfile.TemporaryDirectory() as tmp:
        server = nginx(tmp)
        try:
            rows = []
            for r in range(a.rounds):
                row = {v: run(loadctl, tmp, v, a.secs) for v in VARIANTS}
                rows.append(row)
                print(f"round {r + 1}: " + ", ".join(
                    f"{v} {us:.2f} µs/req at {rps:.0f}/s" for v, (us, rps) in row.items()), flush=True)
        finally:
            server.terminate()
            server.wait()
    print("\nCPU per request, median of rounds (ratio to plain, paired in each round):")
    for v in VARIANTS:
        us = statistics.median(r[v][0] for r in rows)
        ratio = statistics.median(r[v][0] / r["plain"][0] for r in rows)
        print(f"  {v:<9} {us:7.2f} µs/request   {ratio:.3f}")


if __name__ == "__main__":
    main()
