#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Redis CPU per REGISTER refresh, old build vs new build, free of network and loop noise.

Starts one redis-server pinned to CPU 0, lets each build's sip-edge register and refresh one
contact while `redis-cli monitor` captures the register script calls, then replays the captured
refresh N times pipelined (now, expiry and CSeq advancing so every call is a real refresh): the
old build's call one REGISTER per EVALSHA, the new build's in batches of 1, 8 and 32 (its
script takes k, then per registration the argument count and arguments). Prints Redis process
CPU (utime + stime) per refresh and the commands per refresh from INFO commandstats.

  bench/register_replay.py --old BUILD_DIR --new BUILD_DIR [--n 20000] [--rounds 3]
"""
import argparse
import ast
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "harness"))
from sipwire import register  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def resp(args):
    return b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in args])


def cmd(s, args):
    s.sendall(resp(args))
    return s.recv(1 << 20)


def parse_monitor(line):
    toks = re.findall(r'"((?:[^"\\]|\\.)*)"', line.split("]", 1)[1])
    return [ast.literal_eval('b"' + t + '"') for t in toks]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", required=True)
    p.add_argument("--new", required=True)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    port = free_port()
    procs = []
    try:
        red = subprocess.Popen(["taskset", "-c", "0", "redis-server", "--port", str(port),
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        procs.append(red)
        wait_port(port)
        monfile = os.path.join("/tmp", f"register-replay-{os.getpid()}.txt")
        mon = subprocess.Popen(["redis-cli", "-p", str(port), "monitor"],
                               stdout=open(monfile, "w"))
        procs.append(mon)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        sent_by = "127.0.0.1:%d" % u.getsockname()[1]
        cseq = [0]

        def edge_register(build):
            sip, http = free_port(), free_port()
            e = subprocess.Popen([os.path.join(build, "services/sip-edge/sip-edge"),
                                  "--sip-listen", f"udp:127.0.0.1:{sip}",
                                  "--http-listen", f"127.0.0.1:{http}",
                                  "--redis-url", f"redis://127.0.0.1:{port}",
                                  "--edge-id", "bench", "--log-level", "warn",
                                  "--auth", "false"],
                                 stderr=subprocess.DEVNULL)
            procs.append(e)
            wait_port(http)
            for _ in range(2):  # a registration, then the refresh that is replayed
                cseq[0] += 1
                msg, _ = register(sent_by, user="7546650001", call="replay-1", cseq=cseq[0],
                                  expires=600, contact="10.1.1.1:5060",
                                  extra=b"Accept: application/x-beckon-contact-me\r\n")
                u.sendto(msg, ("127.0.0.1", sip))
                u.settimeout(5)
                u.recv(65535)
            e.terminate()
            e.wait(timeout=10)

        edge_register(a.old)
        edge_register(a.new)
        time.sleep(0.3)
        mon.terminate()
        lines = [ln for ln in open(monfile) if '"EVALSHA"' in ln and '"beckon:binding:"' in ln]
        os.unlink(monfile)
        old, new = parse_monitor(lines[1]), parse_monitor(lines[3])
        one = new[5:]  # EVALSHA sha 0 | k argc | one registration's arguments
        # The old build may batch too (both after the batching change): then both replay as
        # batches of 1, 8 and 32 with the same per-registration arguments.
        old_batched = old[3] == b"1" and len(old) > 5 and int(old[4]) == len(old) - 5
        # The new build may append arguments (the edge's instance token, for one): the old
        # script never reads past its own, so both replay the new build's arguments.
        if new[3] != b"1" or int(new[4]) != len(one) or \
                (len(old) - 3 if not old_batched else len(old) - 5) > len(one):
            raise RuntimeError("the new build's call is not a batch of one old-style call")
        now0, exp0 = int(one[1]), int(one[20])

        def cpu():
            f = open(f"/proc/{red.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

        def args_i(i):
            b = list(one)
            b[1] = str(now0 + 10 * (i + 1)).encode()
            b[20] = str(exp0 + 10 * (i + 1)).encode()
            b[4] = str(cseq[0] + i + 1).encode()
            return b

        at = [10]

        def replay(label, k, kind):
            s = socket.create_connection(("127.0.0.1", port))
            cmd(s, [b"CONFIG", b"RESETSTAT"])
            buf = []
            for j in range(0, a.n, k):
                regs = [args_i(at[0] + j + x) for x in range(k)]
                if kind == "old" and not old_batched:
                    buf += [resp([b"EVALSHA", old[1], b"0"] + r) for r in regs]
                else:
                    sha = old[1] if kind == "old" else new[1]
                    c = [b"EVALSHA", sha, b"0", str(k).encode()]
                    for r in regs:
                        c += [str(len(r)).encode()] + r
                    buf.append(resp(c))
            at[0] += a.n
            c0 = cpu()
            s.sendall(b"".join(buf) + resp([b"ECHO", b"replay-end-marker"]))
            tail = b""
            while not tail.endswith(b"replay-end-marker\r\n"):
                tail = (tail + s.recv(1 << 20))[-64:]
            c1 = cpu()
            st = cmd(s, [b"INFO", b"commandstats"]).decode()
            calls = {n: int(v) for n, v in re.findall(r"cmdstat_(\w+):calls=(\d+)", st)}
            n_cmds = sum(v for n, v in calls.items() if n not in ("evalsha", "config")) / a.n
            print(f"{label:10} redis CPU {1e6 * (c1 - c0) / a.n:6.1f} us/refresh  "
                  f"commands/refresh {n_cmds:.2f}")
            s.close()

        for _ in range(a.rounds):
            runs = (("old", 1, "old"),) if not old_batched else \
                (("old k=1", 1, "old"), ("old k=8", 8, "old"), ("old k=32", 32, "old"))
            for label, k, kind in runs + (("new k=1", 1, "new"), ("new k=8", 8, "new"),
                                          ("new k=32", 32, "new")):
                replay(label, k, kind)
    finally:
        for pr in procs:
            pr.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
