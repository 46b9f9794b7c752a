#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A NOTIFY naming a server the agent does not trust: the agent answers 200 (so the request
is `delivered` at SIP level), logs the refusal and never contacts that server."""
import _path  # noqa: F401
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001"


def test_untrusted_server_refused(env):
    r, edge, gw, trusted = env.stack()
    rogue = env.app_server()  # reachable, listening, but not in --trusted-servers
    agent = env.agent(edge, AOR, INST, trusted=[trusted.hostport])

    rid = gw.callback("7546658000", rogue, request_id="untrusted-1")
    st = gw.wait_status(rid, "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    agent.proc.wait_log(f"untrusted server {rogue.hostport} refused request-id={rid}")

    # Fence: a trusted request made after it is called back; the agent handles NOTIFYs in
    # order, so by now a callback to the rogue server would have happened too.
    ok = gw.callback("7546658000", trusted, request_id="trusted-after")
    trusted.wait_callbacks(ok)
    check(not rogue.received, f"untrusted server was contacted: {rogue.received}")
    check(not trusted.for_request(rid), "the untrusted request reached the trusted server")
    check(not agent.proc.find(f"callback request-id={rid}"),
          f"agent logged a callback for {rid}")

    # Same port, different host spelling, is not trusted either.
    rid2 = gw.callback("7546658000", trusted, request_id="untrusted-2",
                       server={"host": "127.0.0.2", "port": trusted.port})
    gw.wait_status(rid2, "delivered")
    agent.proc.wait_log(f"refused request-id={rid2}")
    check(not trusted.for_request(rid2), "127.0.0.2 was treated as trusted")


if __name__ == "__main__":
    beckon.main(globals())
