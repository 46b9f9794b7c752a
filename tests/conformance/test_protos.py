#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PROTOS c07-sip (University of Oulu, OUSPG; ../shared/conformance/protos-c07-sip.tar.gz):
4527 INVITE cases (0 is valid, the rest are mutations: overflows, format strings, bad
integers, broken SDP, ...) sent to sip-edge over UDP in a network namespace of its own.

Each case is a template (README): the placeholders are filled (Via sent-by = the catcher, so
answers come back; a fresh Call-ID and branch), then the case and its teardown (CANCEL) are
sent (from 16 loopback addresses in turn, since sip-edge limits each address to 500
requests/s), then the valid case 0 as a liveness probe, which must be answered (405: a registrar
takes no calls) within PROBE_WAIT; an unanswered probe is sent once more (UDP may drop) and a
case whose second probe goes unanswered fails. Messages larger than one IPv4 datagram
(65,507 bytes; 81 cases) are cut there, as a network would have to.

Asserted: every probe answered, sip-edge alive after the run and exiting cleanly (no
sanitizer report), and its VmRSS growth over the run below RSS_GROWTH_MAX_KB (measured from
/proc/<pid>/status after a warm-up of 200 probes; not asserted in sanitizer builds, whose
allocator quarantine grows by design). Both builds run every case (about 1.5 s, also under
ASan+UBSan); BECKON_PROTOS_STEP=N runs every Nth case instead.
"""
import os
import re
import sys
import tarfile
import time

import _path  # noqa: F401
import _torture
import beckon
import sipwire
from buildinfo import sanitized
from beckon import check

TARBALL = os.path.join(_torture.CONFORMANCE, "protos-c07-sip.tar.gz")
PROBE_WAIT = beckon.DEADLINE / 10  # 2 s normally, 4 s in the sanitizer pass
RSS_GROWTH_MAX_KB = 4096
TO = "protos@example.com"
SOURCES = 16


def load_cases():
    """{number: raw template bytes}, read straight from the tarball (never copied)."""
    if not os.path.exists(TARBALL):
        beckon.fail(f"conformance material missing: {TARBALL}")
    cases = {}
    with tarfile.open(TARBALL, "r:gz") as t:
        for m in t:
            name = os.path.basename(m.name)
            if m.isfile() and re.fullmatch(r"\d{7}", name):
                cases[int(name)] = t.extractfile(m).read()
    return cases


def split_template(raw):
    """A case file is '<len> <message><len> <teardown>'; returns (message, teardown)."""
    m = re.match(rb"(\d+) ", raw)
    n = int(m.group(1))
    first = raw[m.end():m.end() + n]
    rest = raw[m.end() + n:]
    m2 = re.match(rb"(\d+) ", rest)
    second = rest[m2.end():m2.end() + int(m2.group(1))] if m2 else b""
    return first, second


def fill(tpl, host, port, call_id, branch, cseq):
    subst = {b"<To>": TO.encode(), b"<From>": f"caller@{host}".encode(),
             b"<From-Address>": host.encode(), b"<From-IP>": host.encode(),
             b"<Local-Port>": str(port).encode(),
             b"<Branch-ID>": branch.encode(), b"<Call-ID>": call_id.encode(),
             b"<CSeq>": str(cseq).encode(), b"<Teardown-Method>": b"CANCEL"}
    for k, v in subst.items():
        tpl = tpl.replace(k, v)
    sep = tpl.find(b"\r\n\r\n")
    body = len(tpl) - sep - 4 if sep >= 0 else 0
    return tpl.replace(b"<Content-Length>", str(body).encode())


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_protos_c07_sip(env):
    cases = load_cases()
    check(len(cases) == 4527, f"want 4527 PROTOS cases, found {len(cases)}")
    asan = sanitized()
    # Every case in both builds: the whole run takes about 1.3 s even under ASan+UBSan.
    # BECKON_PROTOS_STEP=10 runs every 10th case (a deterministic subset) where time matters.
    step = int(os.environ.get("BECKON_PROTOS_STEP") or 1)
    _torture.add_netns_addrs()
    r = env.redis()
    edge = env.sip_edge(r)
    # sip-edge limits each source address to SE_SANITY_RATE (500) requests/s: the cases come
    # from SOURCES loopback addresses in turn, each answering to its own Via.
    cats = [sipwire.Catcher(ports=(5060,), tcp=False, host=f"127.0.1.{i + 1}")
            for i in range(SOURCES)]
    dest = ("127.0.0.1", edge.sip_port)
    probe_tpl, _ = split_template(cases[0])
    seq = [0]

    def probe(cat, before=None):
        """Sends case 0; returns its status or None. Datagrams that arrived before its
        answer (the case's own answers) are added to the list `before`."""
        seq[0] += 1
        call = f"probe-{seq[0]}"
        cat.send(fill(probe_tpl, cat.host, cat.port, call, f"p{seq[0]}", seq[0]), dest)
        ans, others = cat.until(f"{call}@{cat.host}", PROBE_WAIT)  # <Call-ID>@<From-Address>
        if before is not None:
            before += [d for _, d in others]
        return sipwire.status_of(ans) if ans else None

    try:
        # Warm-up: the probe works, and the allocator has its steady-state arenas before
        # the RSS baseline is taken.
        for i in range(200):
            check(probe(cats[i % SOURCES]) == 405,
                  "probe (PROTOS case 0) not answered 405 before the run")
        rss0 = rss_kb(edge.proc.p.pid)
        numbers = sorted(n for n in cases if n % step == 0)
        retried, dead, truncated = [], [], 0
        outcomes = {}  # first answer to the case itself → count
        t0 = time.monotonic()
        for n in numbers:
            cat = cats[n % SOURCES]
            msg, teardown = split_template(cases[n])
            call = f"protos-{n}"
            data = fill(msg, cat.host, cat.port, call, f"{n}", n + 1)
            truncated += len(data) > 65507
            cat.send(data, dest)
            if teardown:
                cat.send(fill(teardown, cat.host, cat.port, call, f"{n}", n + 1), dest)
            got = []
            if probe(cat, got) is None:
                retried.append(n)
                if probe(cat, got) is None:
                    dead.append(n)
                    if not edge.proc.alive():
                        break
            mine = [sipwire.status_of(d) for d in got
                    if sipwire.call_id(d) == f"{call}@{cat.host}".encode()]
            key = next((st for st in mine if st), "drop")
            outcomes[key] = outcomes.get(key, 0) + 1
            cat.drain()
        elapsed = time.monotonic() - t0
        limited = edge.proc.find("rate limit source=")
        alive = edge.proc.alive()
        rss1 = rss_kb(edge.proc.p.pid) if alive else 0
    finally:
        for cat in cats:
            cat.close()
    growth = rss1 - rss0
    sys.stdout.write(
        f"\nPROTOS c07-sip over UDP: {len(numbers)} of {len(cases)} cases (every {step}"
        f"{'th' if step > 1 else ''}) in {elapsed:.1f}s; probes unanswered: "
        f"{len(dead)} (first try: {len(retried)}{' ' + str(retried[:10]) if retried else ''}); "
        f"truncated to one datagram: {truncated}; sip-edge VmRSS {rss0} kB -> {rss1} kB "
        f"({growth:+d} kB, bound {RSS_GROWTH_MAX_KB} kB"
        f"{', not asserted: sanitizer build' if asan else ''})\n"
        f"first answer to the case (its Call-ID intact): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items(), key=str)) + "\n")
    sys.stdout.flush()
    check(alive, f"sip-edge died during the PROTOS run\n{edge.proc.tail()}")
    check(not limited, f"the run hit sip-edge's per-address rate limit: {limited[:2]}")
    check(not dead, f"{len(dead)} cases left sip-edge unresponsive: {dead[:20]}")
    if not asan:
        check(growth < RSS_GROWTH_MAX_KB,
              f"sip-edge VmRSS grew {growth} kB over the run (bound {RSS_GROWTH_MAX_KB} kB)")


if __name__ == "__main__":
    beckon.main(globals())
