#!/usr/bin/env python3
"""One run spread over agents against one process, at the same total rate, on this machine.

The target is nginx (one worker, the same 200-byte JSON as bench/compare.py) in a network
namespace of its own, listening on a veth address; every generator reaches it over the same
veth and bridge path. Three ways to send the same open-model load (--rate req/s for --secs):

1. one `loadctl run` process (in the coordinator's namespace);
2. a coordinator and two `loadctl agent` processes in the coordinator's namespace (local agents);
3. a coordinator and two agents, each in a network namespace of its own (separate "hosts").

Printed per configuration (median over rounds, rounds alternate the configurations): achieved
rate over plan, send-lag p99, merged p50 and p99 (and their ratio to the single process's),
start spread, and the coordinator's CPU seconds per agent-second (user + system, from wait4).
nginx runs on CPU 0 and every loadctl process on CPU 1 (both agents share it), so the
configurations compete for the same core. Needs root (ip netns). Traffic stays inside the
namespaces this script creates and removes; every run is bounded in time. Not run by CI.

usage: sudo bench/distributed.py [--rate R] [--secs S] [--rounds N]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, measure, sh, start_nginx  # noqa: E402

TAG = f"{os.getpid() % 0xffff:x}"
SUBNET = 10 + os.getpid() % 200
TOKEN = "bench-token-0123456789abcdef"
PIN = ["taskset", "-c", "1"]


def ip(*args):
    sh(["ip", *args])


def addr(octet):
    return f"10.78.{SUBNET}.{octet}"


def ns(host):
    return f"lb{host}{TAG}"


def make_net(hosts):
    sw = f"lbsw{TAG}"
    ip("netns", "add", sw)
    ip("-n", sw, "link", "add", "br0", "type", "bridge")
    ip("-n", sw, "link", "set", "br0", "up")
    for host, octet in hosts:
        n = ns(host)
        ip("netns", "add", n)
        ip("-n", n, "link", "set", "lo", "up")
        inner, outer = f"e{host}{TAG}", f"s{host}{TAG}"
        ip("-n", n, "link", "add", inner, "type", "veth", "peer", "name", outer, "netns", sw)
        ip("-n", n, "addr", "add", f"{addr(octet)}/24", "dev", inner)
        ip("-n", n, "link", "set", inner, "up")
        ip("-n", sw, "link", "set", outer, "master", "br0")
        ip("-n", sw, "link", "set", outer, "up")
    return [sw] + [ns(h) for h, _ in hosts]


def agent(loadctl, netns, listen, scratch):
    p = subprocess.Popen(["ip", "netns", "exec", netns, *PIN, loadctl, "agent", "--listen", f"{listen}:0",
                          "--runs", "1", "--scratch", scratch],
                         env={**os.environ, "LOADCTL_AGENT_TOKEN": TOKEN}, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    return p, line.rsplit("listening on ", 1)[1].strip()


def run(loadctl, scenario, out, agents=None):
    cmd = ["ip", "netns", "exec", ns("co"), *PIN, loadctl, "run", scenario, "--no-progress", "--out", out]
    if agents:
        cmd += ["--agents", ",".join(agents)]
    os.environ["LOADCTL_AGENT_TOKEN"] = TOKEN
    _, cpu, _, _ = measure(cmd)
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f), cpu


def one_round(loadctl, tmp, scenario, rate, secs, k):
    rows = {}
    s, cpu = run(loadctl, scenario, os.path.join(tmp, f"single-{k}"))
    rows["one process"] = (s, None)
    for name, where in (("2 local agents", [ns("co"), ns("co")]), ("2 agents in netns", [ns("a0"), ns("a1")])):
        listen = [addr(1), addr(1)] if where[0] == ns("co") else [addr(10), addr(11)]
        procs = [agent(loadctl, n, l, os.path.join(tmp, f"scratch-{k}-{i}")) for i, (n, l) in enumerate(zip(where, listen))]
        s, cpu = run(loadctl, scenario, os.path.join(tmp, f"{name.replace(' ', '-')}-{k}"), [a for _, a in procs])
        for p, _ in procs:
            p.wait(timeout=30)
        rows[name] = (s, cpu / (2 * (secs + 1)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    if not shutil.which("nginx"):
        sh(["apt-get", "install", "-y", "-qq", "nginx-light"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    sh(["cargo", "build", "--release", "--locked"], cwd=ROOT)
    loadctl = os.path.join(ROOT, "target", "release", "loadctl")
    names = make_net([("co", 1), ("a0", 10), ("a1", 11), ("tg", 20)])
    tmp = tempfile.mkdtemp(prefix="loadctl-dist-")
    nginx = start_nginx(tmp, pin=True, listen=f"{addr(20)}:8080", prefix=["ip", "netns", "exec", ns("tg")], probe=None)
    try:
        scenario = os.path.join(tmp, "dist.toml")
        with open(scenario, "w") as f:
            f.write(f'name = "dist-bench"\ntarget = "http://{addr(20)}:8080"\n[load]\nrate = {a.rate}\n'
                    f'duration = "{a.secs}s"\nwarmup = "1s"\nconnections = 256\n[generator]\nthreads = 1\n'
                    f'[[requests]]\nname = "data"\npath = "/data.json"\n')
        rounds = [one_round(loadctl, tmp, scenario, a.rate, a.secs, k) for k in range(a.rounds)]
        base_p50 = statistics.median(r["one process"][0]["latency_ms"]["p50"] for r in rounds)
        base_p99 = statistics.median(r["one process"][0]["latency_ms"]["p99"] for r in rounds)
        print(f"\n{a.rate} req/s for {a.secs} s, {a.rounds} rounds, medians; nginx on CPU 0, every loadctl on CPU 1\n")
        print("| configuration | achieved / plan | send lag p99 ms | p50 ms | p99 ms | p50, p99 vs one process | start spread ms | coordinator CPU s per agent-second |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in ("one process", "2 local agents", "2 agents in netns"):
            med = lambda f: statistics.median(f(r[name][0]) for r in rounds)  # noqa: E731
            ach = med(lambda s: s["totals"]["rps"] / a.rate)
            lag = med(lambda s: s["generator"]["send_lag_p99_ms"])
            p50 = med(lambda s: s["latency_ms"]["p50"])
            p99 = med(lambda s: s["latency_ms"]["p99"])
            spread = "—" if name == "one process" else f'{med(lambda s: s["distributed"]["start_spread_ms"]):.3f}'
            cpu = "—" if name == "one process" else f"{statistics.median(r[name][1] for r in rounds):.4f}"
            print(f"| {name} | {ach:.4f} | {lag:.2f} | {p50:.3f} | {p99:.3f} | {p50 / base_p50:.2f}, {p99 / base_p99:.2f} | {spread} | {cpu} |")
    finally:
        nginx.kill()
        for n in reversed(names):
            subprocess.run(["ip", "netns", "del", n])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
