#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A/B: the same REGISTER steps against two builds of beckon, alternating, in one run.

On a shared machine absolute figures drift from minute to minute; alternating old and new
step by step and reporting new/old ratios of medians is the fair comparison. It reuses
bench/run.py's servers, pinning and step (fresh Redis + sip-edge per step).

  bench/ab.py --old build-perf-old --new build-perf --rates 8000,16000 --transports udp,tcp
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", required=True, help="build dir of the baseline")
    p.add_argument("--new", required=True, help="build dir of the candidate")
    p.add_argument("--rates", default="8000,16000")
    p.add_argument("--transports", default="udp,tcp")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--step-s", type=int, default=4)
    p.add_argument("--aors", type=int, default=20000)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    args = bench.parse(["--build-dir", a.old, "--no-kamailio"] +
                       (["--out", a.out] if a.out else []))
    args.step_s, args.aors = a.step_s, a.aors
    run = bench.Run(args)
    builds = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    res = {}
    try:
        for tr in a.transports.split(","):
            for rate in [int(x) for x in a.rates.split(",")]:
                for i in range(a.rounds):
                    for name in (("old", "new") if i % 2 == 0 else ("new", "old")):
                        run.build = builds[name]
                        bench.log(f"{name} {tr} {rate}/s round {i + 1}")
                        s = bench.register_step(run, "beckon", tr, rate)
                        res.setdefault((tr, rate, name), []).append(s)
    finally:
        bench.kill_all()
    rows, out = [], []
    for (tr, rate, name), steps in sorted(res.items()):
        if name != "old":
            continue
        new = res[(tr, rate, "new")]

        def med(ss, f):
            return statistics.median(f(s) for s in ss)
        m = {}
        for lbl, ss in (("old", steps), ("new", new)):
            m[lbl] = {
                "cpu_us": med(ss, lambda s: s["cpu_us_per_op"]["total"]),
                "edge_us": med(ss, lambda s: s["cpu_us_per_op"].get("sip-edge", 0)),
                "redis_us": med(ss, lambda s: s["cpu_us_per_op"].get("redis", 0)),
                "bad_pct": med(ss, lambda s: s["bad_pct"]),
                "p99_ms": med(ss, lambda s: s["latency"]["p99_us"] / 1e3),
                "rss_mb": med(ss, lambda s: s["memory"]["sip-edge"]["rss_kb"] / 1024),
                "pass": sum(1 for s in ss if s["pass"]),
            }
        o, n = m["old"], m["new"]
        rows.append(f"| {tr} | {rate} | {o['cpu_us']:.1f} ({o['edge_us']:.1f}+{o['redis_us']:.1f})"
                    f" | {n['cpu_us']:.1f} ({n['edge_us']:.1f}+{n['redis_us']:.1f})"
                    f" | **{n['cpu_us'] / max(o['cpu_us'], 0.001):.2f}** | {o['bad_pct']:.3f} / "
                    f"{n['bad_pct']:.3f} | {o['p99_ms']:.1f} / {n['p99_ms']:.1f} | "
                    f"{o['rss_mb']:.1f} / {n['rss_mb']:.1f} | {o['pass']}/{len(steps)} / "
                    f"{n['pass']}/{len(new)} |")
        out.append({"transport": tr, "rate": rate, **{k: v for k, v in m.items()}})
    table = ("| transport | rate/s | old CPU µs/REG (edge+redis) | new | new/old | bad % old / new"
             " | p99 ms old / new | sip-edge RSS MB old / new | steps passed old / new |\n"
             "|---|---:|---|---|---:|---|---|---|---|\n" + "\n".join(rows) + "\n")
    with open(os.path.join(run.out, "ab.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(run.out, "ab.md"), "w") as f:
        f.write(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
