#!/usr/bin/env python3
"""The chat fan-out benchmark (issue 5): seed 004's 10,000 WebSocket connections.

1. `scenarios/chat-fanout.toml` with loadctl and its embedded chat gateway in one process,
   1 message/s per group, held 60 s. One process holds both ends of every connection, so it
   needs twice the open files: on a machine whose hard limit is 20,000 that caps the
   embedded run at 475 groups × 20 = 9,500 connections (`--embedded-groups` to change).
   Reports connect and delivery percentiles, loss, and the process's CPU per delivered
   message.
2. The same scenario against `loadctl testbed serve chat` in a separate process, so the
   generator's own memory and CPU can be read: peak RSS sampled from /proc, CPU from wait4.
3. The same against the same gateway with 100 connections (5 groups × 20): the generator's
   fixed memory, so that (RSS at 10,000 − RSS at 100) / 9,900 is the memory per connection.

Traffic goes to 127.0.0.1 only; every run is bounded in time. Not run by CI.

4. `scenarios/chat-relay.toml` (the same numbers, another protocol: subscribe/say/message,
   pings, an echo to the sender) against `loadctl testbed serve relay` in its own process.
5. With `--old OLD_LOADCTL`: run 2 again with that build, back to back, for new/old ratios.

usage: bench/chat_fanout.py [--hold 60] [--quick] [--old OLD_LOADCTL]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, measure  # noqa: E402

PORT = 18082
SCENARIO = os.path.join(ROOT, "scenarios", "chat-fanout.toml")


RELAY = os.path.join(ROOT, "scenarios", "chat-relay.toml")


def run(loadctl, tmp, tag, hold, target=None, groups=None, scenario=SCENARIO):
    """Runs the scenario; `groups` (of 20) overrides the size."""
    out_dir = os.path.join(tmp, f"out-{tag}")
    cmd = [loadctl, "run", scenario, "--no-progress", "--out", out_dir, "--set", f'load.hold="{hold}s"']
    if target:
        cmd += ["--target", target]
    if groups:
        cmd += ["--set", f"chat.groups={groups}", "--set", f"load.connections={groups * 20}"]
    _, cpu, rss, _ = measure(cmd, sample_every=0.5)
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f), cpu, rss


def report(title, s, cpu, rss):
    ws = s["ws"]
    ep = {e["name"]: e for e in s["endpoints"]}
    print(f"\n## {title}\n")
    print(f"status {s['status']} ({'; '.join(s['reasons']) or 'all SLOs met'})")
    print(f"connected {ws['connected']}/{ws['connections']}; connect p50 {ep['connect']['latency_ms']['p50']:.2f} ms, "
          f"p95 {ep['connect']['latency_ms']['p95']:.2f} ms, p99 {ep['connect']['latency_ms']['p99']:.2f} ms; "
          f"connect errors {ep['connect']['errors']}")
    d, fo = ep["delivery"]["latency_ms"], ep["fanout"]["latency_ms"]
    print(f"published {ws['published']}, delivered {ws['delivered']}/{ws['expected']}, lost {ws['lost']} "
          f"(loss rate {ws['loss_rate'] * 100:.4f}%), duplicates {ws['duplicates']}, out of order {ws['out_of_order']}, "
          f"disconnects {ws['disconnects']}")
    print(f"delivery p50 {d['p50']:.2f} ms, p99 {d['p99']:.2f} ms, p99.9 {d['p999']:.2f} ms, max {d['max']:.2f} ms; "
          f"fan-out p99 {fo['p99']:.2f} ms; publish send lag p99 {s['generator']['send_lag_p99_ms']:.3f} ms")
    per_msg = cpu / max(ws["delivered"], 1)
    print(f"process CPU {cpu:.1f} s = {per_msg * 1e6:.2f} µs per delivered message; peak RSS {rss / 1024:.1f} MiB")
    return per_msg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold", type=int, default=60)
    ap.add_argument("--quick", action="store_true", help="20 s holds")
    ap.add_argument("--old", metavar="OLD_LOADCTL", help="also run the separate-process run with this build")
    ap.add_argument("--skip-embedded", action="store_true", help="leave out the one-process run")
    ap.add_argument("--embedded-groups", type=int, default=475,
                    help="groups of 20 in the one-process run (default 475: 9,500 connections)")
    args = ap.parse_args()
    hold = 20 if args.quick else args.hold
    subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    loadctl = os.path.join(ROOT, "target", "release", "loadctl")
    with tempfile.TemporaryDirectory() as tmp:
        g = args.embedded_groups
        if not args.skip_embedded:
            s, cpu, rss = run(loadctl, tmp, "embedded", hold, groups=None if g == 500 else g)
            report(f"chat-fanout, embedded gateway in the same process, {g * 20} connections, hold {hold} s",
                   s, cpu, rss)

        gw = subprocess.Popen([loadctl, "testbed", "serve", "chat", "--listen", f"127.0.0.1:{PORT}",
                               "--max-connections", "10000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: __import__("resource").setrlimit(
                                  __import__("resource").RLIMIT_NOFILE, (20000, 20000)))
        try:
            time.sleep(0.5)
            target = f"ws://127.0.0.1:{PORT}"
            s, cpu, rss_big = run(loadctl, tmp, "separate", hold, target=target)
            per_msg = report(f"chat-fanout, gateway in its own process: generator only, hold {hold} s", s, cpu, rss_big)
            s_small, _, rss_small = run(loadctl, tmp, "small", hold, target=target, groups=5)
            print(f"\n100 connections (5 groups × 20) against the same gateway: peak RSS {rss_small / 1024:.1f} MiB, "
                  f"status {s_small['status']}")
            if args.old:
                s_old, cpu_old, rss_old = run(os.path.abspath(args.old), tmp, "old", hold, target=target)
                old_per_msg = report(f"the same with the old build ({args.old})", s_old, cpu_old, rss_old)
                print(f"\nnew/old: CPU per delivered message {per_msg / old_per_msg:.3f}, peak RSS {rss_big / rss_old:.3f}")
        finally:
            gw.terminate()
            gw.wait()
        relay = subprocess.Popen([loadctl, "testbed", "serve", "relay", "--listen", f"127.0.0.1:{PORT + 1}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 preexec_fn=lambda: __import__("resource").setrlimit(
                                     __import__("resource").RLIMIT_NOFILE, (20000, 20000)))
        try:
            time.sleep(0.5)
            s, cpu, rss_relay = run(loadctl, tmp, "relay", hold, target=f"ws://127.0.0.1:{PORT + 1}", scenario=RELAY)
            relay_per_msg = report(f"chat-relay (another protocol), server in its own process: generator only, hold {hold} s",
                                   s, cpu, rss_relay)
            print(f"echoes {s['ws'].get('echoes', 0)}, other frames {s['ws'].get('other', 0)}, corrupt {s['ws'].get('corrupt', 0)}")
        finally:
            relay.terminate()
            relay.wait()
        print(f"relay: memory per connection ({rss_relay / 1024:.1f} − {rss_small / 1024:.1f} MiB) / 9,900 = "
              f"{(rss_relay - rss_small) * 1024 / 9_900 / 1024:.2f} KiB; CPU per delivered message {relay_per_msg * 1e6:.2f} µs "
              f"(it also reads an echo and a ping per member)")
        per_conn = (rss_big - rss_small) * 1024 / (10_000 - 100)
        print("\n## Per connection and per message (generator only)\n")
        print(f"memory per connection: ({rss_big / 1024:.1f} − {rss_small / 1024:.1f} MiB) / 9,900 = "
              f"{per_conn / 1024:.2f} KiB (goal ≤ 16 KiB)")
        print(f"CPU per delivered message: {per_msg * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
