# SPDX-License-Identifier: Apache-2.0
"""Shared runner of the torture suites (RFC 4475, RFC 5118): each case is sent to sip-edge as it
is (one datagram, or written whole on a TCP connection), every answer is collected until the
liveness probe (a valid REGISTER) is answered, and the outcome is checked against the case's
expectation from ../shared/conformance/README.md. A summary table is printed per transport.

Expectations are tuples of acceptable outcomes: a status code, or DROP (no answer at all).
The first answer counts (dblreq carries a second request after its REGISTER: over TCP it is
a valid second message on the stream and gets its own answer).
"""

import os
import re
import subprocess
import sys

import _path  # noqa: F401
import beckon
import fakedns
import sipwire
from beckon import check

CONFORMANCE = os.environ.get("BECKON_CONFORMANCE_DIR") or os.path.join(
    beckon.SOURCE_ROOT, "..", "shared", "conformance")
DROP = "drop"
# Addresses the files name in Via/Contact (README): local in the namespace so nothing an
# answer is sent to can be "elsewhere".
NETNS_ADDRS = ["192.0.2.1/24", "135.180.130.133/32", "2001:db8::9:1/128",
               "2001:db8::10/128", "2001:db8::20/128"]
# Ports the suites' top Vias name (5060 is the default when none is given).
CATCH_PORTS = (5060, 5050, 5070, 6050, 19823)
CASE_WAIT = float(os.environ.get("BECKON_TORTURE_WAIT", "3"))
# A probe written after a case on the same TCP connection is lost when the case broke the
# stream's framing (sofia then waits for body bytes that never come): give up on it after
# this long and probe on a new connection.
SAME_CONN_WAIT = beckon.DEADLINE / 20

if not os.path.isdir(CONFORMANCE):
    # The suites are third-party data kept beside the project (../shared), never copied in.
    # Where they are absent these tests cannot run: skip loudly (exit 77), unless told the
    # material must be there (BECKON_REQUIRE_CONFORMANCE=1).
    if os.environ.get("BECKON_REQUIRE_CONFORMANCE") == "1":
        raise SystemExit(f"conformance material missing: {CONFORMANCE}")
    print(f"SKIP: conformance material missing: {CONFORMANCE} (see docs/robustness.md)",
          flush=True)
    sys.exit(77)


def suite_dir(name):
    d = os.path.join(CONFORMANCE, name)
    if not os.path.isdir(d):
        beckon.fail(f"conformance material missing: {d} (see docs/robustness.md)")
    return d


def add_netns_addrs():
    """Gives loopback the torture files' addresses (only inside our own namespace)."""
    if not os.environ.get("BECKON_NETNS"):
        return
    for a in NETNS_ADDRS:
        fam = "-6" if ":" in a else "-4"
        # "File exists" when a second test of the same script already added it.
        extra = ["nodad"] if ":" in a else []
        subprocess.run(["ip", fam, "addr", "replace", a, "dev", "lo"] + extra, check=True)


VIA_PROTO_RE = re.compile(rb"(?im)^(?:Via|v)[ \t]*:(?:[ \t]|\r?\n[ \t])*SIP(?:[ \t]|\r?\n[ \t])*/"
                          rb"(?:[ \t]|\r?\n[ \t])*\d\.\d(?:[ \t]|\r?\n[ \t])*/"
                          rb"(?:[ \t]|\r?\n[ \t])*([A-Za-z0-9-]+)")


def top_via_transport(data):
    """Transport token of the first Via of a request ("UDP", "TCP", "TLS"...), or None for a
    response or a message without a readable Via."""
    if data.startswith(b"SIP/"):
        return None
    m = VIA_PROTO_RE.search(data.split(b"\r\n\r\n", 1)[0])
    return m.group(1).decode().upper() if m else None


def via_variant(data, transport):
    """The same bytes with only the top Via's transport token replaced (Content-Length does
    not change: the body is untouched)."""
    m = VIA_PROTO_RE.search(data)
    return data[:m.start(1)] + transport.upper().encode() + data[m.end(1):]


def binding_keys(redis):
    c = redis.client()
    try:
        return set(c.scan("beckon:binding:*"))
    finally:
        c.close()


def binding_contacts(redis):
    c = redis.client()
    try:
        return [c.hgetall(k).get("contact", "") for k in c.scan("beckon:binding:*")]
    finally:
        c.close()


def outcome_ok(statuses, expect):
    if not statuses:
        return DROP in expect
    return statuses[0] in expect


def fmt(statuses):
    return ",".join(str(s) for s in statuses) if statuses else DROP


def run_udp(edge, case_bytes):
    """Sends one case from the catcher, then the probe. Returns (answers, probe status)."""
    dest = ("127.0.0.1", edge.sip_port)
    cat = edge.catcher
    cat.drain()
    cat.send(case_bytes, dest)
    probe, others = sipwire.probe_udp(cat, dest, timeout=CASE_WAIT)
    return [d for _, d in others if sipwire.status_of(d)], probe


def run_tcp(edge, case_bytes):
    """Writes the case on a new connection followed by a probe on the same connection. If
    the case broke the framing (the probe is taken as its body) or the server closed the
    connection, the probe is repeated on a new connection: that one must be answered."""
    edge.catcher.drain()
    st = sipwire.Stream("127.0.0.1", edge.sip_port)
    try:
        st.send(case_bytes)
        msg, call = sipwire.register(st.sent_by, transport="TCP")
        st.send(msg)
        ans, others = st.messages_until(call, SAME_CONN_WAIT)
    finally:
        st.close()
    answers = [m for m in others if sipwire.status_of(m)]
    probe = sipwire.status_of(ans) if ans else None
    if probe is None:
        probe = sipwire.probe_tcp("127.0.0.1", edge.sip_port, timeout=CASE_WAIT)
    # Answers sent to the Via instead (another transport, a host name): on the catcher.
    answers += [d for _, d in edge.catcher.drain() if sipwire.status_of(d)]
    return answers, probe


def judge(env, edge, r, c, label, data, expect, transport):
    """Runs one message; returns (row, problem or None)."""
    before = binding_keys(r)
    run = run_udp if transport == "udp" else run_tcp
    answers, probe = run(edge, data)
    statuses = [sipwire.status_of(a) for a in answers]
    stored = sorted(binding_keys(r) - before)
    problems = []
    known = c.get("known") and outcome_ok(statuses, c["known"]) and \
        not outcome_ok(statuses, expect)
    if not outcome_ok(statuses, expect) and not known:
        problems.append(f"answered {fmt(statuses)}, want {'/'.join(str(x) for x in expect)}")
    if probe != 200:
        problems.append(f"probe REGISTER answered {probe}, want 200 (server dead?)")
    if not edge.proc.alive():
        problems.append("sip-edge exited")
    if stored and not c.get("stores"):
        problems.append(f"stored bindings {stored} for a case that must store nothing")
    if c.get("check") and statuses and statuses[0] in c["expect"] and not problems:
        why = c["check"](r, answers, stored)
        if why:
            problems.append(why)
    row = (label, c["section"], fmt(statuses), "/".join(str(x) for x in expect),
           "FAIL" if problems else "known: " + c["why"] if known else "ok")
    return row, (f"{label} over {transport}: " + "; ".join(problems)) if problems else None


def run_suite(env, title, cases, load, transport):
    """cases: list of dicts {name, section, expect, [expect_udp/expect_tcp], [stores],
    [check], [known, why]}; load(name) → bytes. `known` is an outcome that is not the RFC's
    but is understood and documented (docs/robustness.md): reported as "known", not failed.

    nta silently drops a request whose top Via names another transport than the one it came
    over (agent_check_request_via). Such a case is sent as it is (dropped, or answered as
    the table says when nta answers before that check) and then once more with only the Via's
    transport token changed to ours ("name (Via→UDP)"), which must get the table's answer."""
    add_netns_addrs()
    dns = fakedns.FakeDns() if os.environ.get("BECKON_NETNS") else None
    r = env.redis()
    # BECKON_TORTURE_DEBUG=1 logs sofia's view too (TPORT_LOG=1 adds every message).
    edge = env.sip_edge(r, extra=["--log-level", "debug"] if os.environ.get(
        "BECKON_TORTURE_DEBUG") else [])
    edge.catcher = sipwire.Catcher(ports=CATCH_PORTS)
    rows, bad = [], []
    try:
        # The probe itself must work before any case is judged.
        st, _ = (sipwire.probe_udp(edge.catcher, ("127.0.0.1", edge.sip_port))
                 if transport == "udp" else (sipwire.probe_tcp("127.0.0.1", edge.sip_port),
                                             None))
        check(st == 200, f"probe REGISTER over {transport} answered {st}, want 200")
        for c in cases:
            data = load(c["name"])
            via = top_via_transport(data)
            c = dict(c, expect=c.get("expect_" + transport, c["expect"]))
            runs = [(c["name"], data, c["expect"])]
            if via and via != transport.upper():
                runs = [(c["name"] + f" (Via {via})", data, tuple(c["expect"]) + (DROP,)),
                        (c["name"] + f" (Via→{transport.upper()})",
                         via_variant(data, transport), c["expect"])]
            for label, d, expect in runs:
                row, problem = judge(env, edge, r, c, label, d, expect, transport)
                rows.append(row)
                if problem:
                    bad.append(problem)
                if not edge.proc.alive():
                    break
            if not edge.proc.alive():
                break
    finally:
        edge.catcher.close()
        if dns:
            dns.close()
    print_table(f"{title} over {transport.upper()}", rows)
    check(not bad, f"{len(bad)} of {len(rows)} runs failed:\n  " + "\n  ".join(bad))


def print_table(title, rows):
    passed = sum(1 for r in rows if r[4] == "ok")
    known = sum(1 for r in rows if r[4].startswith("known"))
    out = [f"\n{title}: {passed}/{len(rows)} as expected, {known} known deviations",
           f"  {'case':<34} {'section':<8} {'answer':<10} {'expected':<16} result"]
    for name, sec, got, want, res in rows:
        out.append(f"  {name:<34} {sec:<8} {got:<10} {want:<16} {res}")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
