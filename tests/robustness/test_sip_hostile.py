#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile SIP clients against sip-edge, in a network namespace of its own: a REGISTER flood
from one source, and SIPVicious (Debian package sipvicious: svmap, svwar, svcrack). While each
runs, a bystander at another address (127.0.0.2) registers every 50 ms, retransmitting like a
UA (RFC 3261 timer A: 0.5, 1, 2 s) and must get every REGISTER answered 200; sip-edge must
stay up and exit cleanly.

What svwar and svcrack can learn is recorded, not asserted, with sip-edge's `auth` off (the
default): every well-formed REGISTER is accepted. docs/robustness.md keeps the table. With
`auth` on, svcrack finds no password and its address is blocked (test_svcrack_auth).
"""
import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time

import _path  # noqa: F401
import beckon
import sipwire
from beckon import check
from buildinfo import sanitized

FLOOD_S = float(os.environ.get("BECKON_SIP_FLOOD_SECONDS", "5"))
# Offered load of the flood, REGISTERs/s from one address: several times what sip-edge can
# store (about 20-25k/s on this kind of machine) and about what one 100 Mbit/s link carries
# in REGISTERs of this size. Unpaced, one Python sender reaches 400-600k/s on loopback, which
# only measures the kernel's socket buffer (docs/robustness.md).
# A sanitizer build parses 3-4 times slower, so its flood is smaller (still far above what
# the limit lets through).
FLOOD_RATE = int(os.environ.get("BECKON_SIP_FLOOD_RATE") or (15000 if sanitized() else 50000))
BYSTANDER = "127.0.0.2"
RETRANSMITS = (0.5, 1.0, 2.0, 4.0)  # waits before each retransmission, then give up


class Bystander:
    """Registers sip:bystander@example.com every 50 ms from its own address."""

    def __init__(self, edge):
        self.dest = ("127.0.0.1", edge.sip_port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((BYSTANDER, 0))
        self.sent_by = f"{BYSTANDER}:{self.s.getsockname()[1]}"
        self.lat, self.lost, self.bad, self.retrans = [], 0, [], 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def one(self, cseq):
        msg, call = sipwire.register(self.sent_by, user="bystander", cseq=cseq,
                                     contact=self.sent_by)
        t0 = time.monotonic()
        for i, wait in enumerate(RETRANSMITS):
            if i:
                self.retrans += 1
            self.s.sendto(msg, self.dest)
            deadline = time.monotonic() + wait
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([self.s], [], [], left)
                if not r:
                    break
                d = self.s.recv(65536)
                if sipwire.call_id(d) == call.encode():
                    st = sipwire.status_of(d)
                    if st != 200:
                        self.bad.append(st)
                    self.lat.append((time.monotonic() - t0) * 1000)
                    return
        self.lost += 1

    def run(self):
        cseq = 0
        while not self.stop.is_set():
            cseq += 1
            self.one(cseq)
            self.stop.wait(0.05)

    def finish(self, what):
        self.stop.set()
        self.t.join()
        self.s.close()
        lat = sorted(self.lat)
        p99 = lat[int(len(lat) * 0.99)] if lat else 0
        print(f"  bystander during {what}: {len(lat)} answered, {self.lost} lost, "
              f"{self.retrans} retransmissions, p99 {p99:.1f} ms, max {max(lat, default=0):.1f} ms")
        check(self.lost == 0, f"{what}: {self.lost} bystander REGISTERs never answered")
        check(not self.bad, f"{what}: bystander got {self.bad[:5]}, want 200")
        check(lat, f"{what}: no bystander REGISTER completed")


def test_register_flood_one_source(env):
    r = env.redis()
    edge = env.sip_edge(r)
    by = Bystander(edge)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    port = s.getsockname()[1]
    # 1000 AORs, one Contact each, so Redis holds a bounded set while every REGISTER still
    # runs the whole script.
    tpl = [sipwire.register(f"127.0.0.1:{port}", user=f"flood{i}",
                            contact=f"127.0.0.1:{port}")[0] for i in range(1000)]
    sent = answered = 0
    codes = {}
    t0 = time.monotonic()
    t_end = t0 + FLOOD_S
    while time.monotonic() < t_end:
        # Paced in batches of 50 (a burst of 1000 back to back would overflow the socket
        # buffer, about 270 such datagrams, by itself): the batch goes out, then we wait for
        # its time slot.
        for m in tpl[(sent // 50) % 20 * 50:][:50]:
            try:
                s.sendto(m, ("127.0.0.1", edge.sip_port))
                sent += 1
            except BlockingIOError:
                pass
        ahead = t0 + sent / FLOOD_RATE - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        while True:
            try:
                d = s.recv(65536)
            except BlockingIOError:
                break
            answered += 1
            st = sipwire.status_of(d)
            codes[st] = codes.get(st, 0) + 1
    s.close()
    print(f"  flood: {sent} REGISTERs in {FLOOD_S:.0f}s from one source ({sent / FLOOD_S:.0f}/s), "
          f"answers read: {answered} {dict(sorted(codes.items(), key=str))}")
    by.finish("REGISTER flood")
    check(edge.proc.alive(), "sip-edge died under the flood")
    # The flooding address was limited (SE_SANITY_RATE/s plus one burst got through, give or
    # take what the kernel dropped), and said so once.
    limit = edge.proc.find("rate limit source=127.0.0.1")
    check(len(limit) == 1, f"want one 'rate limit source=127.0.0.1' log line, got {limit[:3]}")
    allowed = 1000 + 500 * FLOOD_S
    check(answered <= allowed * 1.1, f"{answered} flood REGISTERs answered, the limit allows "
          f"about {allowed:.0f}")


def sipvicious(env, tool, args, seconds=60):
    check(shutil.which(tool), f"{tool} is not installed (Debian package sipvicious)")
    home = os.path.join(env.tmp, "home")
    os.makedirs(home, exist_ok=True)
    p = subprocess.run([tool] + args, capture_output=True, timeout=seconds,
                       env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    return p.returncode, out


def summary(out, n=14):
    lines = [l.rstrip() for l in out.splitlines() if l.strip()]
    return "\n".join("    | " + l for l in lines[-n:])


def test_sipvicious(env):
    r = env.redis()
    edge = env.sip_edge(r)
    target = "127.0.0.1"
    port = str(edge.sip_port)

    by = Bystander(edge)
    rc, out = sipvicious(env, "svmap", [target, "-p", port, "-t", "0.01"])
    by.finish("svmap")
    print(f"  svmap rc={rc}:\n{summary(out)}")
    check(re.search(r"127\.0\.0\.1:" + port, out), "svmap did not find sip-edge (it should: "
          "it answers OPTIONS)")

    by = Bystander(edge)
    rc, out = sipvicious(env, "svwar", ["-e", "7546658000-7546658300", "-m", "REGISTER",
                                        "-t", "0.005", target, "-p", port])
    by.finish("svwar")
    found = re.findall(r"\|\s*(\d{6,})\s*\|\s*([^|]*?)\s*\|", out)
    print(f"  svwar rc={rc}: {len(found)} extensions reported\n{summary(out)}")
    # --force skips svwar's first probe (a random extension), which told it that every
    # extension is answered alike.
    rc, out = sipvicious(env, "svwar", ["-e", "7546658000-7546658020", "-m", "REGISTER",
                                        "--force", "-v", "-t", "0.005", target, "-p", port])
    print(summary(out, 8))
    found = re.findall(r"\|\s*(\d{6,})\s*\|\s*([^|]*?)\s*\|", out)
    kinds = sorted(set(k for _, k in found))
    print(f"  svwar --force rc={rc}: {len(found)} of 21 extensions reported, as {kinds}")

    by = Bystander(edge)
    rc, out = sipvicious(env, "svcrack", ["-u", "7546658000", "-r", "1000-1300", "-t",
                                          "0.005", target, "-p", port])
    by.finish("svcrack")
    print(f"  svcrack rc={rc}:\n{summary(out)}")
    check(edge.proc.alive(), "sip-edge died under sipvicious")


def register_status(edge, src_ip, user):
    """Status of one REGISTER (no credentials) sent from src_ip, or None after 2 s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src_ip, 0))
        msg, call = sipwire.register(f"{src_ip}:{s.getsockname()[1]}", user=user)
        s.sendto(msg, ("127.0.0.1", edge.sip_port))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], deadline - time.monotonic())
            if not r:
                break
            d = s.recv(65536)
            if sipwire.call_id(d) == call.encode():
                return sipwire.status_of(d)
        return None
    finally:
        s.close()


def test_svcrack_auth(env):
    """svcrack against sip-edge with `auth` on (issue 4): the password of a known user is in
    svcrack's range, yet after auth-fail-max wrong answers its address only gets 403 and
    svcrack finds nothing (it then waits for a challenge that never comes: the run is bounded
    by a timeout here). Another address is still challenged as usual. Without the limiter the
    same svcrack run finds the password in well under a second (docs/security.md)."""
    if not shutil.which("svcrack"):
        print("  SKIP: svcrack is not installed (Debian package sipvicious)")
        return
    r = env.redis()
    edge = env.sip_edge(r, extra=["--auth", "true", "--auth-fail-max", "10",
                                  "--auth-block-time", "60"])
    user, password = "7546658100", "1250"
    beckon.add_credential(r, user, password)
    home = os.path.join(env.tmp, "home")
    os.makedirs(home, exist_ok=True)
    p = subprocess.Popen(["svcrack", "-u", user, "-r", "1000-1300", "-t", "0.005",
                          "127.0.0.1", "-p", str(edge.sip_port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL,
                         env=dict(os.environ, HOME=home, PYTHONUNBUFFERED="1"))
    try:
        out, _ = p.communicate(timeout=6)
        how = f"rc={p.returncode}"
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        how = "stopped after 6 s"
    out = out.decode("utf-8", "replace")
    fails = edge.proc.find("auth failed user=" + user)
    print(f"  svcrack {how}: {len(fails)} wrong answers counted\n{summary(out)}")
    check(password not in out, f"svcrack found the password:\n{out}")
    edge.proc.wait_log("(source blocked)")
    check(len(fails) <= 11, f"{len(fails)} guesses were checked, the limit is 10")
    check(register_status(edge, "127.0.0.1", user) == 403,
          "svcrack's address is not blocked (want 403)")
    check(register_status(edge, BYSTANDER, user) == 401,
          "another address is not challenged as usual (want 401)")
    check(edge.proc.alive(), "sip-edge died under svcrack")


if __name__ == "__main__":
    beckon.main(globals())
