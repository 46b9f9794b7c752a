#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Queued delivery on a later REGISTER, several event packages, registration notices.

A request for a device that is not registered yet (ttl_s) stays `queued`; the REGISTER that
opts the device in makes sip-edge claim it from the pending set and NOTIFY it (agent: the app
server gets the callback). A REGISTER refresh does not send it again. With `packages` and
`notice-urls`, Accept entries set pkg:<package> per package, and a binding that newly
subscribes queues a notice in beckon:outbox (and, with api-gateway's outbox worker, the app
server receives it). Needs api-gateway's ttl_s (issue 3)."""
import json

import _path  # noqa: F401
import beckon
from beckon import check
from sipua import SipUA

P = beckon.PACKAGE


def post_queued(gw, app, device, rid, ttl=120, **extra):
    body = {"device": device, "request_id": rid, "ttl_s": ttl,
            "server": {"host": "127.0.0.1", "port": app.port}, "protocol": "http",
            "path": f"/q/{rid}"}
    body.update(extra)
    resp = gw.post(body)
    check(resp.status == 202 and resp.json and resp.json.get("status") == "queued",
          f"POST for an unregistered device → {resp}, want 202 queued")
    g = gw.get(rid)
    check(g.status == 200 and g.json.get("status") == "queued", f"GET {g}")
    return rid


def test_queued_then_agent_registers(env):
    r, edge, gw, app = env.stack()
    aor = "sip:7546658400@example.com"
    rid = post_queued(gw, app, "7546658400", "q-agent")
    mark = edge.proc.mark()
    env.agent(edge, aor, "urn:uuid:00000000-0000-4000-8000-000000000400",
              trusted=[app.hostport])
    hit = edge.proc.wait_log(f"registered aor={aor}", since=mark)[0]
    check("queued=1" in hit, f"registration did not claim the pending request: {hit}")
    st = gw.wait_status(rid, "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    app.wait_callbacks(rid)
    c = r.client()
    check(c("ZCARD", "beckon:pending:num:7546658400") == 0, "delivered request still pending")
    c.close()


def test_queued_by_instance_then_refresh(env):
    r, edge, gw, app = env.stack()
    user, inst = "7546658401", "urn:uuid:00000000-0000-4000-8000-000000000401"
    rid = post_queued(gw, app, inst, "q-inst")
    ua = SipUA(env, edge, user, instance=inst)
    ua.register(accept=())  # registered but not opted in: nothing is sent
    check(gw.get(rid).json.get("status") == "queued", "sent to a binding that did not opt in")
    ua.register(accept=(P,))  # newly subscribes: claimed now
    n = ua.wait_request(lambda m: f"request-id={rid}" in m.body, "the queued NOTIFY")[0]
    check(n.get("event") == P, f"Event {n.get('event')}")
    st = gw.wait_status(rid, "delivered")
    c = r.client()
    req = c.hgetall(f"beckon:req:default:{rid}")
    c.close()
    check(req.get("attempts") == "1", f"attempts {req.get('attempts')}, want 1: {req}")
    check(req.get("targets") == "1", f"targets {req}")
    # A refresh from the same flow sends nothing again; a fence request proves it.
    ua.register(accept=(P,))
    fence = gw.post({"device": user, "request_id": "fence",
                     "server": {"host": "127.0.0.1", "port": app.port}})
    check(fence.status == 202, f"fence POST → {fence}")
    gw.wait_status("fence", "delivered")
    sent = [m for m in ua.received() if f"request-id={rid}" in m.body]
    check(len(sent) == 1, f"request NOTIFYed {len(sent)} times")


def test_packages_and_notices(env):
    r = env.redis()
    app = env.app_server()
    gw = env.gateway(r, extra=["--packages", f"{P},x-voicemail"])
    url = f"http://127.0.0.1:{app.port}/notice"
    edge = env.sip_edge(r, extra=["--packages", f"{P},x-voicemail",
                                  "--notice-urls", f"x-voicemail={url},{P}={url}/cm",
                                  "--gateway-url", "http://gw.example.com:8080"])
    user, inst = "7546658402", "urn:dev:mac:0011223344ab"
    ua = SipUA(env, edge, user, instance=inst)
    ua.register(accept=("x-voicemail",))
    c = r.client()
    ids = c("ZRANGE", f"beckon:dev:num:{user}", 0, -1)
    b = c.hgetall(f"beckon:binding:{ids[0]}")
    check(b.get("pkg:x-voicemail") == "accept" and f"pkg:{P}" not in b, f"binding {b}")
    check(b.get("subscribed") == "0", f"`subscribed` is for the default package only: {b}")
    entries = c("XRANGE", "beckon:outbox", "-", "+")
    notices = [dict(zip(e[1][::2], e[1][1::2])) for e in entries]
    notices = [n for n in notices if n.get("kind") == "notice"]
    check(len(notices) == 1, f"want one notice, outbox has {entries}")
    n = notices[0]
    check(n.get("url") == url, f"notice url {n}")
    body = json.loads(n["body"])
    check(body.get("package") == "x-voicemail", f"notice body {body}")
    check(body.get("gateway_url") == "http://gw.example.com:8080", f"notice body {body}")
    check(body.get("devices") == {"num": user, "aor": f"sip:{user}@example.com",
                                  "inst": inst, "mac": "0011223344ab"},
          f"notice devices {body.get('devices')}")

    # Refresh: no new notice. Adding the default package: one more, for it.
    ua.register(accept=("x-voicemail",))
    ua.register(accept=("x-voicemail", P))
    entries = c("XRANGE", "beckon:outbox", "-", "+")
    kinds = [dict(zip(e[1][::2], e[1][1::2])) for e in entries]
    pk = [json.loads(k["body"])["package"] for k in kinds if k.get("kind") == "notice"]
    check(pk == ["x-voicemail", P], f"notices for {pk}, want x-voicemail then {P}")
    b = c.hgetall(f"beckon:binding:{ids[0]}")
    check(b.get("subscribed") == "1" and b.get(f"pkg:{P}") == "accept", f"binding {b}")
    c.close()

    # With api-gateway's outbox worker the app server receives the notices.
    got = beckon.wait_for(lambda: (lambda h: h if len(h) >= 2 else None)(
        [x for x in app.received if x["path"].startswith("/notice")]),
        "the app server to receive 2 registration notices")
    check(any(x["json"] and x["json"].get("package") == "x-voicemail" for x in got),
          f"notices received {got}")

    # A request in the other package carries its own Event and Content-Type.
    resp = gw.post({"device": user, "request_id": "vm-1", "package": "x-voicemail",
                    "server": {"host": "127.0.0.1", "port": app.port}})
    check(resp.status == 202, f"POST package x-voicemail → {resp}")
    m = ua.wait_request(lambda m: "request-id=vm-1" in m.body, "the x-voicemail NOTIFY")[0]
    check(m.get("event") == "x-voicemail", f"Event {m.get('event')}")
    check(m.get("content-type").lower() == "application/x-voicemail", m.get("content-type"))


if __name__ == "__main__":
    beckon.main(globals())
