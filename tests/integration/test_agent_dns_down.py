#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The contact-agent with its DNS server unreachable (the namespace's resolv.conf names an
address with no route, as on a host whose resolver is down): it must still register with a
registrar given as an IP address, answer NOTIFYs, call back, and stop on SIGTERM.

Regression for: sofia-sip's resolver, started by nua after the REGISTER's 200, retrying
ENETUNREACH forever without returning to the loop (agent never logs "registered", ignores
SIGTERM)."""
import _path  # noqa: F401
import beckon

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001"


def test_register_and_callback_with_dns_unreachable(env):
    r, edge, gw, app = env.stack()
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    rid = gw.callback("7546658000", app, request_id="dns-down-1")
    app.wait_callbacks(rid)
    gw.wait_status(rid, "delivered")


if __name__ == "__main__":
    beckon.main(globals(), resolv_conf="nameserver 10.255.255.53\n")
