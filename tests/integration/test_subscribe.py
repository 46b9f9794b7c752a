#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Explicit SUBSCRIBE (RFC 6665) to application-server-contact-me, from a scripted UDP UA
(tests/harness/sipua.py) whose Contact is unreachable: 200 + the state NOTIFY in the dialog
(empty, or listing the pending requests), refresh, in-dialog contact-me NOTIFYs, Expires: 0 →
terminated, 481 afterwards, 489 for an unknown package (with Allow-Events), 403 without a
registration, 423 for a too-short subscription."""
import _path  # noqa: F401
import beckon
from beckon import check
from sipua import SipUA, records

P = beckon.PACKAGE


def test_subscribe_refresh_unsubscribe(env):
    r = env.redis()
    edge = env.sip_edge(r)
    user = "7546658300"
    ua = SipUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000300")
    ua.register(accept=(), expires=300)  # registered, not subscribed
    check(r.binding(user).get("subscribed") == "0", "REGISTER without Accept subscribed")

    resp = ua.subscribe(expires=600, call_id="sub-300")
    check(resp.status == 200, f"SUBSCRIBE → {resp.start}")
    exp = int(resp.get("expires", "-1"))
    check(0 < exp <= 300, f"Expires {exp}: must be capped at the binding's 300 s")
    check(P in resp.get("allow-events", ""), f"200 lacks Allow-Events: {resp.raw}")
    tag = resp.tag("to")
    check(tag, f"200 has no To-tag: {resp.raw}")
    check(resp.get("contact"), "200 to SUBSCRIBE has no Contact")

    n1 = ua.wait_request(lambda m: m.get("call-id") == "sub-300", "the state NOTIFY")[0]
    check(n1.get("event") == P, f"state NOTIFY Event {n1.get('event')}")
    check(n1.get("subscription-state", "").startswith("active;expires="),
          f"Subscription-State {n1.get('subscription-state')}")
    check(n1.get("content-type", "").lower() == f"application/{P}",
          f"Content-Type {n1.get('content-type')}")
    check(n1.body == "", f"no request is pending, yet the body is {n1.body!r}")
    check(n1.tag("from") == tag, f"NOTIFY From-tag {n1.tag('from')} != our To-tag {tag}")
    check(n1.tag("to") == ua.from_tag, "NOTIFY To-tag is not the subscriber's From-tag")
    check(n1.uri == ua.contact_uri, f"NOTIFY Request-URI {n1.uri}, want the remote target")
    b = r.binding(user)
    check(b.get(f"pkg:{P}") == "subscribe", f"binding {b}")
    check(b.get("subscribed") == "1", f"binding not subscribed after SUBSCRIBE: {b}")
    check(b.get(f"sub:{P}:call_id") == "sub-300", f"dialog not stored: {b}")
    edge.proc.wait_log(f"subscribed aor=sip:{user}@example.com")

    # Refresh in the dialog: new expiry, a new state NOTIFY with a higher CSeq.
    resp = ua.subscribe(expires=120, call_id="sub-300", cseq=2, to_tag=tag)
    check(resp.status == 200 and resp.get("expires") == "120", f"refresh → {resp.raw}")
    n2 = ua.wait_request(lambda m: m.get("call-id") == "sub-300", "the refresh NOTIFY",
                         count=2)[1]
    check(n2.cseq[0] > n1.cseq[0], f"NOTIFY CSeq did not increase: {n1.cseq} → {n2.cseq}")
    check(n2.get("subscription-state") == "active;expires=120", n2.get("subscription-state"))

    # Unsubscribe: 200, a final NOTIFY without body, the binding falls back to unsubscribed.
    resp = ua.subscribe(expires=0, call_id="sub-300", cseq=3, to_tag=tag)
    check(resp.status == 200 and resp.get("expires") == "0", f"unsubscribe → {resp.raw}")
    n3 = ua.wait_request(lambda m: m.get("call-id") == "sub-300", "the final NOTIFY",
                         count=3)[2]
    check(n3.get("subscription-state") == "terminated;reason=timeout",
          f"final Subscription-State {n3.get('subscription-state')}")
    check(n3.body == "" and not n3.get("content-type"), f"final NOTIFY has a body: {n3.raw}")
    b = r.binding(user)
    check(f"pkg:{P}" not in b and b.get("subscribed") == "0", f"still subscribed: {b}")
    check(f"sub:{P}:call_id" not in b, f"dialog kept after unsubscribe: {b}")

    resp = ua.subscribe(expires=60, call_id="sub-300", cseq=4, to_tag=tag)
    check(resp.status == 481, f"refresh of an ended subscription → {resp.start}, want 481")


def test_subscribe_keeps_accept(env):
    """A SUBSCRIBE on a binding that opted in by Accept: unsubscribing keeps `accept`."""
    r = env.redis()
    edge = env.sip_edge(r)
    user = "7546658301"
    ua = SipUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000301")
    ua.register(accept=(P,))
    check(r.binding(user).get(f"pkg:{P}") == "accept", "Accept did not set pkg:<package>")
    resp = ua.subscribe(call_id="sub-301")
    check(resp.status == 200, resp.start)
    ua.wait_request(lambda m: m.get("call-id") == "sub-301")
    resp = ua.subscribe(expires=0, call_id="sub-301", cseq=2, to_tag=resp.tag("to"))
    check(resp.status == 200, resp.start)
    ua.wait_request(lambda m: m.get("call-id") == "sub-301", count=2)
    b = r.binding(user)
    check(b.get(f"pkg:{P}") == "accept" and b.get("subscribed") == "1",
          f"unsubscribe lost the implicit subscription: {b}")
    # A REGISTER refresh keeps working and keeps the binding subscribed.
    ua.register(accept=(P,))
    check(r.binding(user).get("subscribed") == "1", "refresh unsubscribed the binding")


def test_subscribe_errors(env):
    r = env.redis()
    edge = env.sip_edge(r)
    ua = SipUA(env, edge, "7546658302", instance="urn:uuid:00000000-0000-4000-8000-000000000302")

    resp = ua.subscribe()
    check(resp.status == 403, f"SUBSCRIBE without registration → {resp.start}, want 403")
    check("register" in resp.start.lower(), f"403 reason does not say why: {resp.start}")
    check(P in resp.get("allow-events", ""), "403 lacks Allow-Events")

    ua.register(accept=())
    resp = ua.subscribe(event="presence")
    check(resp.status == 489, f"unknown package → {resp.start}, want 489")
    check(resp.get("allow-events") == P, f"489 Allow-Events {resp.get('allow-events')}")
    resp = ua.subscribe(event=None)
    check(resp.status == 489, f"no Event → {resp.start}, want 489")
    resp = ua.subscribe(expires=5)
    check(resp.status == 423 and resp.get("min-expires") == "60", f"short → {resp.raw}")
    resp = ua.subscribe(to_tag="0123456789abcdef")
    check(resp.status == 481, f"unknown dialog → {resp.start}, want 481")

    # Another device of the same AOR (other instance, other Contact) is not registered.
    other = SipUA(env, edge, "7546658302", instance="urn:uuid:00000000-0000-4000-8000-0000000003ff",
                  contact_port=5998)
    resp = other.subscribe()
    check(resp.status == 403, f"unregistered instance → {resp.start}, want 403")
    check(not ua.received() and not other.received(), "a NOTIFY followed a refused SUBSCRIBE")


def test_subscribe_lists_pending_then_in_dialog(env):
    """Requests queued for a device that has not opted in are listed in the state NOTIFY and
    delivered by its 200; later requests go in the SUBSCRIBE dialog. Needs api-gateway's
    ttl_s (issue 3)."""
    r, edge, gw, app = env.stack()
    user = "7546658303"
    ua = SipUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000303")
    ua.register(accept=())
    rids = []
    for i in range(2):
        rid = f"pend-{i}"
        resp = gw.post({"device": user, "request_id": rid, "ttl_s": 120,
                        "server": {"host": "127.0.0.1", "port": app.port}, "path": f"/p{i}"})
        check(resp.status == 202 and resp.json.get("status") == "queued", f"POST → {resp}")
        rids.append(rid)
    check(not ua.received(), "a NOTIFY reached a device that has not opted in")

    resp = ua.subscribe(call_id="sub-303")
    check(resp.status == 200, resp.start)
    n1 = ua.wait_request(lambda m: m.get("call-id") == "sub-303", "the state NOTIFY")[0]
    recs = records(n1.body)
    check(sorted(x.get("request-id") for x in recs) == rids,
          f"state NOTIFY lists {recs}, want {rids}")
    check(all(x.get("server") == f"127.0.0.1:{app.port}" for x in recs), f"records {recs}")
    for rid in rids:
        st = gw.wait_status(rid, "delivered")
        check(st.get("sip_status") == 200, f"GET {st}")

    # Delivered requests are no longer pending: a refresh lists nothing.
    resp = ua.subscribe(call_id="sub-303", cseq=2, to_tag=resp.tag("to"))
    n2 = ua.wait_request(lambda m: m.get("call-id") == "sub-303", count=2)[1]
    check(n2.body == "", f"refresh NOTIFY lists delivered requests: {n2.body!r}")

    # A new request now goes in the dialog.
    resp = gw.post({"device": user, "request_id": "in-dialog",
                    "server": {"host": "127.0.0.1", "port": app.port}})
    check(resp.status == 202, f"POST → {resp}")
    gw.wait_status("in-dialog", "delivered")
    n3 = ua.wait_request(lambda m: "request-id=in-dialog" in m.body, "the in-dialog NOTIFY")[0]
    check(n3.get("call-id") == "sub-303", f"contact-me NOTIFY not in the dialog: {n3.raw}")
    check(n3.cseq[0] > n2.cseq[0], f"dialog CSeq {n2.cseq} → {n3.cseq}")
    check(n3.tag("to") == ua.from_tag, "in-dialog NOTIFY lacks the subscriber's tag")


if __name__ == "__main__":
    beckon.main(globals())
