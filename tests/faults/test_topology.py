#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The fault-test network itself (topology.py): two NATed branches with a contact-agent and
a SIPp UAS each, two sip-edges, two api-gateways behind HAProxy, the app server on the
provider side. Callbacks posted through HAProxy reach the endpoints of both branches
through their NAT, and the app server sees them coming from the routers' WAN addresses;
a connection opened from the provider side into a branch fails although the route exists."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beckon  # noqa: E402
from beckon import check  # noqa: E402
import topology  # noqa: E402


def test_nat_topology(env):
    t = topology.Topology(env)
    try:
        agents = [t.agent(0, 7546650001), t.agent(1, 7546650002)]
        uas = [t.sipp(0, 7546650101), t.sipp(1, 7546650102)]
        # The agents' callbacks land at the app server, from each router's WAN address.
        ledger = topology.Ledger(t, "none (topology)")
        for a in agents:
            check(ledger.post(a.num, f"topo-{a.num}"), f"POST for {a.num} not accepted")
        for u in (7546650101, 7546650102):
            check(ledger.post(u, f"topo-{u}"), f"POST for {u} not accepted")
        for a in agents:
            hit = beckon.wait_for(lambda: t.app.first(f"topo-{a.num}"),
                                  f"callback of {a.num}")
            check(hit["peer"] == a.branch.wan_addr,
                  f"callback of {a.num} came from {hit['peer']}, not the NAT "
                  f"{a.branch.wan_addr}")
        # SIPp answers the NOTIFY: the request is delivered, through its NAT too.
        for u in (7546650101, 7546650102):
            beckon.wait_for(lambda: (lambda r: r.json and r.json.get("status") in
                                     ("delivered", "completed"))(t.get(f"topo-{u}")),
                            f"request for SIPp {u} delivered")
        for i, u in enumerate(uas):
            with open(u.msgfile, errors="replace") as f:
                check("NOTIFY sip:" in f.read(), f"SIPp {i + 1} got no NOTIFY")
        # The edges saw the endpoints at the NAT's address, never a LAN address.
        r = t.client()
        for a in agents:
            ids = r("ZRANGE", f"beckon:dev:num:{a.num}", 0, -1)
            check(ids, f"no binding for {a.num}")
            b = r.hgetall(f"beckon:binding:{ids[0]}")
            check(b.get("source", "").startswith(a.branch.wan_addr + ":"),
                  f"binding source of {a.num} is not the NAT: {b}")
        r.close()
        # The provider side cannot open a connection into a branch: the route is there,
        # the router drops what was not asked for from inside.
        for a in agents:
            a.branch.listener(env, a.addr)
            check(topology.connect_fails(a.addr, 7000, timeout=1.0),
                  f"connected from the provider into branch {a.branch.n} ({a.addr}:7000)")
        ledger.report(want_ended=())
    finally:
        problems = t.close()
    check(not problems, "\n".join(problems))


if __name__ == "__main__":
    beckon.main(globals())
