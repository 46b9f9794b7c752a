#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SIPp as an independent endpoint (proto/sipp/). Its Contact names 10.255.255.1:5999, which
cannot be reached from this network namespace (only loopback exists), so a request that
becomes `delivered` proves the NOTIFY went over the REGISTER's flow, not to the Contact.
A REGISTER without the Accept entry is registered but not subscribed: 404, no NOTIFY."""
import re

import _path  # noqa: F401
import beckon
from beckon import check

UNREACHABLE = {"contact_host": "10.255.255.1", "contact_port": "5999"}


def run_notify_via_flow(env, transport):
    r, edge, gw, app = env.stack()
    user = "7546658100" if transport == "u1" else "7546658101"
    inst = f"urn:uuid:00000000-0000-4000-8000-00000000{user[-4:]}"
    mark = edge.proc.mark()
    sipp = env.sipp(edge, "register-contact-me.xml", user, transport=transport,
                    keys=dict(UNREACHABLE, instance=inst))
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)[0]
    check("subscribed=1" in hit, f"SIPp's REGISTER (Accept has the type with odd case and "
          f"q=) did not subscribe: {hit}")
    b = r.binding(user)
    check("10.255.255.1" in b.get("uri", ""), f"binding uri is not the Contact: {b}")
    check(b.get("source") == f"127.0.0.1:{sipp.port}",
          f"binding source {b.get('source')!r}, want SIPp's 127.0.0.1:{sipp.port}")
    check(b.get("instance") == inst, f"binding instance {b.get('instance')!r}, want {inst}")

    rid = f"sipp-{transport}-1"
    body = {"device": user, "request_id": rid, "server": {"host": "127.0.0.1", "port": app.port},
            "protocol": "http", "path": "/sipp", "component": "voicemail"}
    resp = gw.post(body)
    check(resp.status == 202, f"POST → {resp}")
    st = gw.wait_status(rid, "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    edge.proc.wait_log(f"notify answered request-id={rid}")

    msgs = sipp.messages()
    # Request-URI is the Contact (unreachable); it arrived anyway, over the flow.
    check(re.search(r"^NOTIFY sip:[^ ]*@10\.255\.255\.1:5999[^ ]* SIP/2\.0", msgs, re.M),
          "SIPp trace has no NOTIFY whose Request-URI is the Contact URI")
    # The payload reaches the endpoint unmodified, CRLF lines.
    for line in (f"request-id={rid}", f"server=127.0.0.1:{app.port}", "protocol=http",
                 "path=/sipp", "component=voicemail"):
        check(line in msgs, f"NOTIFY payload lacks '{line}'")
    for h in ("Event: application-server-contact-me",
              "Content-Type: application/application-server-contact-me",
              "Subscription-State: active;expires="):
        check(h.lower() in msgs.lower(), f"NOTIFY lacks '{h}'")
    # SIPp is not an agent: nobody calls the app server back.
    check(not app.received, f"app server got {app.received}")


def test_notify_over_udp_flow_not_contact(env):
    run_notify_via_flow(env, "u1")


def test_notify_over_tcp_connection_not_contact(env):
    run_notify_via_flow(env, "t1")


def test_register_without_accept(env):
    r, edge, gw, app = env.stack()
    user = "7546658200"
    mark = edge.proc.mark()
    sipp = env.sipp(edge, "register-no-accept.xml", user,
                    keys=dict(UNREACHABLE, instance="urn:uuid:00000000-0000-4000-8000-000000000200"))
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)[0]
    check("subscribed=0" in hit, f"REGISTER without Accept entry subscribed: {hit}")
    b = r.binding(user)
    check(b.get("subscribed") == "0", f"binding says subscribed: {b}")

    for device in (user, f"sip:{user}@example.com",
                   "urn:uuid:00000000-0000-4000-8000-000000000200"):
        # ttl_s 0: no waiting for a later registration (issue 3), so 404 at once.
        resp = gw.post({"device": device, "request_id": f"noacc-{len(device)}",
                        "server": {"host": "127.0.0.1", "port": app.port}, "ttl_s": 0})
        check(resp.status == 404, f"POST for unsubscribed {device} → {resp}, want 404")
        check(resp.headers.get("content-type", "").startswith("application/problem+json"),
              f"404 is not problem+json: {resp.headers}")
        g = gw.get(f"noacc-{len(device)}")
        check(g.status == 404, f"refused request is stored: GET → {g}")
    check(not edge.proc.find("notify sent"), f"sip-edge sent a NOTIFY: {edge.proc.find('notify')}")
    c = r.client()
    check(c.scan("beckon:req:*") == [], f"request keys exist: {c.scan('beckon:req:*')}")
    c.close()
    check("NOTIFY" not in sipp.messages(), "SIPp received a NOTIFY")


if __name__ == "__main__":
    beckon.main(globals())
