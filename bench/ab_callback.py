#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A/B: the callback scenario (POST → Redis → NOTIFY → 200 → status stored) against two builds.

Like bench/ab.py for REGISTER: fresh Redis + sip-edge + api-gateway + beckon-uas per step, the
servers pinned to CPU 0 and the load to CPU 1 (bench/run.py), old and new alternated round by
round so the shared machine's noise hits both alike. Each step measures the closed-loop maximum
(8 connections), then open loop at one fixed rate for both builds (--rate, default half the
first old maximum), and reads Redis `INFO commandstats` to count the Redis commands and scripts
per callback. Prints new/old ratios of medians.

  bench/ab_callback.py --old /tmp/old/build --new build-perf --rounds 3
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402


def commandstats(port):
    c = bench.RedisCli(port)
    info = c("INFO", "commandstats")
    c.close()
    out = {}
    for ln in info.splitlines():
        if not ln.startswith("cmdstat_"):
            continue
        name, rest = ln[len("cmdstat_"):].split(":", 1)
        kv = dict(x.split("=", 1) for x in rest.split(","))
        out[name] = (int(kv["calls"]), float(kv["usec"]))
    return out


def step(run, a, rate, seconds):
    """One fresh server set; the closed-loop maximum when rate == 0, else open loop at rate."""
    srv = bench.Beckon(run, gateway=True, tag="ab-cb")
    uas = None
    try:
        uas = bench.UAS(run, register_to=srv.sip_port, aors=a.devices, instances=a.fanout,
                        name="uas-ab")
        uas.interval()
        c = bench.RedisCli(srv.redis.port)
        c("CONFIG", "RESETSTAT")
        c.close()
        res, cpu, _ = bench.measure(srv.pids(), lambda: bench.callback_load(
            run, "httpload-ab", srv.gw_port, "/v1/callbacks", bench.CB_JSON,
            ["Content-Type: application/json", srv.auth], 202, None, a.devices, rate, seconds,
            8))
        # Let the last NOTIFYs and status writes land before counting.
        deadline = time.monotonic() + 10
        ep = uas.interval()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            more = uas.interval()
            ep["notifies"] += more["notifies"]
            if more["notifies"] == 0:
                break
        stats = commandstats(srv.redis.port)
        good = max(res["good"], 1)
        st = bench.store_check(srv.redis.port)
    finally:
        if uas:
            uas.stop()
        srv.stop()
    return {
        "rate": res["rate"],
        "failures": (res["sent"] - res["good"]) + max(0, res["good"] * a.fanout -
                                                      ep["notifies"]),
        "p50_ms": ep["http_send_to_notify"]["p50_us"] / 1e3,
        "p99_ms": ep["http_send_to_notify"]["p99_us"] / 1e3,
        "cpu_us": {k: v * 1e6 / good for k, v in cpu.items()},
        "cmds": {k: (n / good, us / good) for k, (n, us) in stats.items()},
        "delivered": int(st.get("delivered", 0)),
        "good": res["good"],
        "foreign_cpu_s": res["foreign_cpu_s"],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", required=True, help="build dir of the baseline")
    p.add_argument("--new", required=True, help="build dir of the candidate")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-s", type=int, default=4)
    p.add_argument("--step-s", type=int, default=4)
    p.add_argument("--rate", type=int, default=0, help="open-loop rate (0: half the old max)")
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--fanout", type=int, default=1, help="registered devices per number")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    args = bench.parse(["--build-dir", a.old, "--no-kamailio"] +
                       (["--out", a.out] if a.out else []))
    run = bench.Run(args)
    builds = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    res = {}
    rate = a.rate
    try:
        for i in range(a.rounds):
            for name in (("old", "new") if i % 2 == 0 else ("new", "old")):
                run.build = builds[name]
                s = step(run, a, 0, a.max_s)
                bench.log(f"{name} max round {i + 1}: {s['rate']:.0f}/s failures "
                          f"{s['failures']} cpu/op {sum(s['cpu_us'].values()):.1f} us "
                          f"(other processes {s['foreign_cpu_s']} s)")
                res.setdefault(("max", name), []).append(s)
                if not rate and name == "old":
                    rate = int(s["rate"] / 2)
            for name in (("old", "new") if i % 2 == 0 else ("new", "old")):
                run.build = builds[name]
                s = step(run, a, rate, a.step_s)
                bench.log(f"{name} {rate}/s round {i + 1}: p50 {s['p50_ms']:.2f} p99 "
                          f"{s['p99_ms']:.2f} ms failures {s['failures']} cpu/op "
                          f"{sum(s['cpu_us'].values()):.1f} us")
                res.setdefault(("half", name), []).append(s)
    finally:
        bench.kill_all()

    def med(ss, f):
        return statistics.median(f(s) for s in ss)

    procs = ("api-gateway", "redis", "sip-edge")
    lines = ["| figure | old | new | new/old | spread old / new |", "|---|---:|---:|---:|---|"]

    def row(label, ph, f, fmt="{:.1f}"):
        o, n = [f(s) for s in res[(ph, "old")]], [f(s) for s in res[(ph, "new")]]
        mo, mn = statistics.median(o), statistics.median(n)
        lines.append(f"| {label} | {fmt.format(mo)} | {fmt.format(mn)} | "
                     f"**{mn / max(mo, 1e-9):.2f}** | {fmt.format(min(o))}–{fmt.format(max(o))}"
                     f" / {fmt.format(min(n))}–{fmt.format(max(n))} |")

    row("max callbacks/s (closed loop, 8 conns)", "max", lambda s: s["rate"], "{:.0f}")
    row("failures at max", "max", lambda s: s["failures"], "{:.0f}")
    row("CPU µs/callback at max, total", "max", lambda s: sum(s["cpu_us"].values()))
    for pr in procs:
        row(f"… {pr}", "max", lambda s, pr=pr: s["cpu_us"].get(pr, 0))
    row(f"send → NOTIFY p50 ms at {rate}/s", "half", lambda s: s["p50_ms"], "{:.2f}")
    row(f"send → NOTIFY p99 ms at {rate}/s", "half", lambda s: s["p99_ms"], "{:.2f}")
    row(f"failures at {rate}/s", "half", lambda s: s["failures"], "{:.0f}")
    row(f"CPU µs/callback at {rate}/s, total", "half", lambda s: sum(s["cpu_us"].values()))
    for pr in procs:
        row(f"… {pr}", "half", lambda s, pr=pr: s["cpu_us"].get(pr, 0))
    row("Redis commands/callback (at max)", "max",
        lambda s: sum(n for n, _ in s["cmds"].values()), "{:.2f}")
    cmds = sorted({k for ph in ("max",) for nm in ("old", "new") for s in res[(ph, nm)]
                   for k in s["cmds"]})
    for k in cmds:
        row(f"… {k} calls", "max", lambda s, k=k: s["cmds"].get(k, (0, 0))[0], "{:.2f}")
        row(f"… {k} µs", "max", lambda s, k=k: s["cmds"].get(k, (0, 0))[1], "{:.1f}")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(run.out, "ab_callback.json"), "w") as f:
        json.dump({f"{ph}-{nm}": v for (ph, nm), v in res.items()}, f, indent=1)
    with open(os.path.join(run.out, "ab_callback.md"), "w") as f:
        f.write(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
