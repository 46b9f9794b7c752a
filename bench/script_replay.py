#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Redis CPU of each script of the callback path, free of the other processes' noise.

For each build: starts Redis + sip-edge + api-gateway + beckon-uas as bench/run.py does,
records `redis-cli monitor` while beckon-httpload sends callbacks at a low rate, then replays
the client commands of that capture (every command in its order, scripts' own calls left to
the scripts) into a fresh Redis pinned to CPU 0 with SLOWLOG threshold 0, and prints each
script's mean and median server time (µs) and the commands run inside scripts per callback.
The first call of each script in a capture is an EVAL (cm_redis's NOSCRIPT fallback), which
gives the source to load. Wake-up entry ids differ in the replay (XADD '*'), so the fetch
script acknowledges ids that do not exist; the work is otherwise the same. Builds are
alternated --rounds times, so a comparison is made in one run.

  bench/script_replay.py /tmp/old/build build-perf --rounds 3
"""
import argparse
import ast
import collections
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

SKIP = {b"MONITOR", b"CONFIG", b"SLOWLOG", b"INFO", b"SUBSCRIBE", b"PSUBSCRIBE", b"CLIENT",
        b"HELLO", b"SELECT", b"AUTH"}


def resp(args):
    return b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in args])


def capture(run, a, path):
    """The monitor log of a callbacks/s for a.seconds on fresh servers of run.build."""
    srv = bench.Beckon(run, gateway=True, tag="replay")
    uas = mon = None
    try:
        uas = bench.UAS(run, register_to=srv.sip_port, aors=a.devices, instances=1,
                        name="uas-replay")
        uas.interval()
        with open(path, "w") as f:
            mon = subprocess.Popen(["redis-cli", "-p", str(srv.redis.port), "monitor"], stdout=f)
            time.sleep(0.3)
            res = bench.callback_load(run, "httpload-replay", srv.gw_port, "/v1/callbacks",
                                      bench.CB_JSON, ["Content-Type: application/json",
                                                      srv.auth], 202, None, a.devices, a.rate,
                                      a.seconds, 8)
            time.sleep(1)  # the last NOTIFYs and their status writes
            mon.terminate()
            mon.wait()
    finally:
        if uas:
            uas.stop()
        srv.stop()
    return res["good"]


def commands(path):
    """Client commands of a monitor log, EVAL turned into EVALSHA; and the script sources."""
    out, srcs, inner = [], {}, collections.Counter()
    for line in open(path, errors="replace"):
        if "]" not in line:
            continue
        head, rest = line.split("]", 1)
        toks = [ast.literal_eval('b"' + t.replace("'", "\\'") + '"')
                for t in re.findall(r'"((?:[^"\\]|\\.)*)"', rest)]
        if not toks:
            continue
        if head.endswith(" lua"):
            inner[toks[0].upper().decode()] += 1
            continue
        c = toks[0].upper()
        if c in SKIP:
            continue
        if c == b"EVAL":
            sha = hashlib.sha1(toks[1]).hexdigest().encode()
            srcs[sha] = toks[1]
            toks = [b"EVALSHA", sha] + toks[2:]
        out.append(toks)
    return out, srcs, inner


def replay(port, cmds, srcs):
    """Per script (by number of keys and sha) the SLOWLOG durations of its calls."""
    s = socket.create_connection(("127.0.0.1", port))

    def call(*args):
        s.sendall(resp([x if isinstance(x, bytes) else str(x).encode() for x in args]))
        return s.recv(1 << 16)
    call("FLUSHALL")
    call("SCRIPT", "FLUSH")
    for src in srcs.values():
        call("SCRIPT", "LOAD", src)
    call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    call("CONFIG", "SET", "slowlog-max-len", "1000000")
    call("SLOWLOG", "RESET")
    for i in range(0, len(cmds), 64):  # pipelined in chunks, like a busy client
        s.sendall(b"".join(resp(c) for c in cmds[i:i + 64]) + resp([b"ECHO", b"chunk-end"]))
        tail = b""
        while not tail.endswith(b"chunk-end\r\n"):
            tail = (tail + s.recv(1 << 20))[-64:]
    s.close()
    log = json.loads(subprocess.run(["redis-cli", "-p", str(port), "--json", "SLOWLOG", "GET",
                                     "1000000"], capture_output=True, text=True).stdout)
    d = collections.defaultdict(list)
    for e in log:
        if e[3] and e[3][0].upper() == "EVALSHA":
            d[(int(e[3][2]), e[3][1][:8])].append(e[2])
    return d


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("builds", nargs="+", help="build dirs to compare")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=int, default=500, help="callbacks/s while capturing")
    p.add_argument("--seconds", type=int, default=2)
    p.add_argument("--devices", type=int, default=200)
    a = p.parse_args()
    run = bench.Run(bench.parse(["--build-dir", a.builds[0], "--no-kamailio"]))
    tmp = tempfile.mkdtemp(prefix="script-replay-", dir=run.tmp)
    caps = {}
    try:
        for b in a.builds:
            run.build = os.path.abspath(b)
            path = os.path.join(tmp, hashlib.sha1(b.encode()).hexdigest()[:8] + ".monitor")
            good = capture(run, a, path)
            caps[b] = (good, *commands(path))
        red = bench.Redis(run, name="redis-replay")
        names = {1: "status (delivered)", 3: "fetch", 5: "create"}
        res = collections.defaultdict(list)
        for _ in range(a.rounds):
            for b in a.builds:
                for (nk, _sha), v in replay(red.port, caps[b][1], caps[b][2]).items():
                    if len(v) >= caps[b][0] // 2:
                        res[(b, names.get(nk, f"{nk} keys"))].append(
                            (statistics.mean(v), statistics.median(v)))
        red.stop()
    finally:
        bench.kill_all()
    print("| build | script | mean µs | median µs |")
    print("|---|---|---:|---:|")
    for (b, nm), v in sorted(res.items()):
        print(f"| {b} | {nm} | {statistics.median(x[0] for x in v):.1f} | "
              f"{statistics.median(x[1] for x in v):.1f} |")
    for b in a.builds:
        good, _, _, inner = caps[b]
        print(f"{b}: {good} callbacks, commands inside scripts per callback "
              f"{sum(inner.values()) / good:.2f}: " +
              ", ".join(f"{k} {n / good:.2f}" for k, n in inner.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
