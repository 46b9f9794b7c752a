#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Server-side cost of the register script, free of network and loop noise.

Replays one EVALSHA REGISTER line captured with `redis-cli -p PORT monitor` (a refresh of one
contact) N times, pipelined, advancing now, expiry and CSeq each time so every call is a real
refresh, and prints INFO commandstats: usec per EVALSHA and the commands it ran per call.

  bench/lua_replay.py PORT MONITOR_FILE N
"""
import re, socket, sys, time, ast
def parse_monitor(line):
    toks = re.findall(r'"((?:[^"\\]|\\.)*)"', line.split("]", 1)[1])
    return [ast.literal_eval('b"' + t + '"') for t in toks]
def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
def cmd(s, args):
    s.sendall(resp(args)); return s.recv(1 << 20)
def run(port, line, n):
    a = parse_monitor(line)
    s = socket.create_connection(("127.0.0.1", port))
    cmd(s, [b"CONFIG", b"RESETSTAT"])
    now, exp, cseq = int(a[4]), int(a[2 + 21]), int(a[2 + 5])
    buf = []
    for i in range(n):
        b = list(a)
        b[2 + 2] = str(now + 1000 * (i + 1)).encode(); b[2 + 21] = str(exp + 1000 * (i + 1)).encode()
        b[2 + 5] = str(cseq + i + 1).encode()
        buf.append(resp(b))
    data = b"".join(buf) + resp([b"ECHO", b"replay-end-marker"])
    s.sendall(data)
    tail, t0 = b"", time.time()
    while not tail.endswith(b"replay-end-marker\r\n") and time.time() - t0 < 120:
        tail = (tail + s.recv(1 << 20))[-64:]
    st = cmd(s, [b"INFO", b"commandstats"]).decode()
    m = re.search(r"cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)", st)
    calls = {k: int(v) for k, v in re.findall(r"cmdstat_(\w+):calls=(\d+)", st)}
    return float(m.group(3)), calls
if __name__ == "__main__":
    port, f, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    line = [l for l in open(f) if '"EVALSHA"' in l and len(l) > 600][-1]
    u, calls = run(port, line, n)
    print(port, "evalsha usec_per_call", u, {k: round(v / n, 2) for k, v in calls.items() if k != "evalsha"})
