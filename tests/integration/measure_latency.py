#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Measures, on loopback, the time from `POST /v1/callbacks` to the request's status
`delivered` (the endpoint's 200 to the NOTIFY was recorded), one request at a time.

Not a test: it asserts nothing about timing, it prints figures. It starts the same real
stack as the integration tests (redis-server, sip-edge, api-gateway, one contact-agent, an
app server) in a network namespace of its own. `delivered` is observed without polling the
API: Redis keyspace notifications on beckon:req:default:<id> wake the script, which then reads the
status field; the final GET of each request is checked but not timed.

  sudo python3 tests/integration/measure_latency.py [-n 500] [--transport udp|tcp] [--warmup 20]
  (BECKON_BUILD_DIR selects the build, default <source>/build)
"""
import argparse
import statistics
import sys
import time

import _path  # noqa: F401
import beckon


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def ms(x):
    return f"{x * 1000:.3f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=500, help="measured requests (default 500)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    ap.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    a = ap.parse_args()
    beckon.enter_netns()

    env = beckon.Env("measure")
    try:
        r, edge, gw, app = env.stack()
        env.agent(edge, "sip:7546658000@example.com",
                  "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001", transport=a.transport,
                  trusted=[app.hostport])
        ctl = r.client()
        ctl("CONFIG", "SET", "notify-keyspace-events", "Kh")
        sub = r.client(timeout=30)
        sub("PSUBSCRIBE", "__keyspace@0__:beckon:req:*")

        def wait_delivered(rid):
            channel = f"__keyspace@0__:beckon:req:default:{rid}"
            while True:
                status = ctl("HGET", f"beckon:req:default:{rid}", "status")
                if status == "delivered":
                    return
                if status == "failed":
                    beckon.fail(f"{rid} failed: {gw.get(rid)}")
                # Block until the next write to this request's hash.
                while True:
                    msg = sub._read()
                    if msg[0] == "pmessage" and msg[2] == channel:
                        break

        post_t, deliv_t, cb_t = [], [], []
        for i in range(a.warmup + a.n):
            rid = f"m-{i}"
            body = {"device": "7546658000", "request_id": rid, "protocol": "http",
                    "server": {"host": "127.0.0.1", "port": app.port}, "path": "/m"}
            t0 = time.perf_counter()
            mono0 = time.monotonic()
            resp = gw.post(body)
            t1 = time.perf_counter()
            if resp.status != 202:
                beckon.fail(f"POST {rid}: {resp}")
            wait_delivered(rid)
            t2 = time.perf_counter()
            hit = app.wait_callbacks(rid)[0]
            if i >= a.warmup:
                post_t.append(t1 - t0)
                deliv_t.append(t2 - t0)
                cb_t.append(hit["t"] - mono0)
        for rid in ("m-0", f"m-{a.warmup + a.n - 1}"):
            st = gw.get(rid).json
            if not st or st.get("status") != "delivered" or st.get("sip_status") != 200:
                beckon.fail(f"GET {rid}: {st}")
        print(f"{a.n} requests, one at a time, agent over {a.transport}, loopback, "
              f"build {beckon.BUILD_DIR}")
        for name, xs in (("POST → 202", post_t), ("POST → delivered", deliv_t),
                         ("POST → app server callback", cb_t)):
            print(f"  {name:28s} median {ms(statistics.median(xs))}  p90 {ms(pct(xs, 90))}"
                  f"  p99 {ms(pct(xs, 99))}  min {ms(min(xs))}  max {ms(max(xs))}")
        sub.close()
        ctl.close()
    finally:
        problems = env.close()
        if problems:
            print("after the run: " + "; ".join(problems), file=sys.stderr)


if __name__ == "__main__":
    main()
