#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Round trips through the real binaries: app server POSTs a callback request to api-gateway,
sip-edge NOTIFYs the contact-agent over its registration flow, the agent answers 200 and
calls the app server back. By number over UDP, by instance id over TCP, two agents on one
AOR, and a MAC-address device."""
import _path  # noqa: F401
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST1 = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001"
INST2 = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000002"


def assert_delivered(gw, rid, targets=1):
    st = gw.wait_status(rid, "delivered")
    check(st.get("request_id") == rid, f"GET answered another request: {st}")
    check(st.get("sip_status") == 200, f"sip_status is not 200: {st}")
    tg = st.get("targets")
    check(isinstance(tg, list) and len(tg) == targets,
          f"want {targets} target(s) in GET, got {tg}")
    return st


def test_by_number_udp(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST1, transport="udp", trusted=[app.hostport])
    rid = gw.callback("7546658000", app, request_id="rt-udp-1", path="/contact/42?x=1",
                      component="voicemail")
    hits = app.wait_callbacks(rid)
    cb = hits[0]
    check(cb["method"] == "POST" and cb["path"] == "/contact/42?x=1",
          f"callback went to {cb['method']} {cb['path']}, want POST /contact/42?x=1")
    check(cb["json"].get("request_id") == rid, f"callback body {cb['json']}")
    check(cb["json"].get("device"), f"callback body names no device: {cb['json']}")
    check(cb["json"].get("component") == "voicemail", f"component lost: {cb['json']}")
    check(len(hits) == 1, f"{len(hits)} callbacks for one request")
    st = assert_delivered(gw, rid)
    check(st.get("device") == "7546658000", f"device in GET: {st}")
    agent.proc.wait_log(f"notify received request-id={rid}")
    agent.proc.wait_log(f"callback request-id={rid}")
    edge.proc.wait_log(f"notify answered request-id={rid}")
    # The request record in Redis says the same.
    c = r.client()
    rec = c.hgetall(f"beckon:req:default:{rid}")
    c.close()
    check(rec.get("status") == "delivered", f"beckon:req:default:{rid} = {rec}")


def test_generated_request_id(env):
    r, edge, gw, app = env.stack()
    env.agent(edge, AOR, INST1, trusted=[app.hostport])
    rid = gw.callback("7546658000", app)  # no request_id: beckon makes one
    check(len(rid) >= 8, f"generated request_id looks wrong: {rid!r}")
    app.wait_callbacks(rid)
    assert_delivered(gw, rid)


def test_by_instance_tcp(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST1, transport="tcp", trusted=[app.hostport])
    c = r.client()
    bindings = [c.hgetall(k) for k in c.scan("beckon:binding:*")]
    c.close()
    check(len(bindings) == 1 and bindings[0].get("transport") == "tcp",
          f"want one tcp binding, got {bindings}")
    rid = gw.callback(INST1, app, request_id="rt-tcp-1")
    app.wait_callbacks(rid)
    assert_delivered(gw, rid)
    agent.proc.wait_log(f"notify received request-id={rid}")
    # And by AOR over the same connection.
    rid2 = gw.callback(AOR, app, request_id="rt-tcp-aor")
    app.wait_callbacks(rid2)
    assert_delivered(gw, rid2)


def test_two_agents_one_aor(env):
    r, edge, gw, app = env.stack()
    a1 = env.agent(edge, AOR, INST1, trusted=[app.hostport], name="agent-1")
    a2 = env.agent(edge, AOR, INST2, trusted=[app.hostport], name="agent-2")

    # By number: every subscribed contact of the AOR calls back.
    rid = gw.callback("7546658000", app, request_id="both-1")
    hits = app.wait_callbacks(rid, count=2)
    assert_delivered(gw, rid, targets=2)
    a1.proc.wait_log(f"callback request-id={rid}")
    a2.proc.wait_log(f"callback request-id={rid}")
    check(len(hits) == 2, f"want 2 callbacks for {rid}, got {len(hits)}")

    # By instance id: only that one.
    rid1 = gw.callback(INST2, app, request_id="only-2")
    app.wait_callbacks(rid1)
    assert_delivered(gw, rid1, targets=1)
    a2.proc.wait_log(f"notify received request-id={rid1}")
    # Fence: a later by-number request reaches both agents; had agent-1 been NOTIFYed for
    # only-2, it would have logged it before this one (one NOTIFY at a time per flow).
    rid3 = gw.callback("7546658000", app, request_id="both-2")
    app.wait_callbacks(rid3, count=2)
    a1.proc.wait_log(f"notify received request-id={rid3}")
    check(not a1.proc.find(f"request-id={rid1}"),
          f"agent-1 got the NOTIFY meant for agent-2 only: {a1.proc.find(rid1)}")
    check(len(app.for_request(rid1)) == 1,
          f"by-instance request called back {len(app.for_request(rid1))} times, want 1")
    check(len(edge.proc.find(f"notify sent request-id={rid1}")) == 1,
          f"sip-edge sent {len(edge.proc.find(f'notify sent request-id={rid1}'))} NOTIFYs "
          f"for {rid1}, want 1")


def test_mac_device(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, "sip:7546658077@example.com", "urn:dev:mac:001122aabbcc",
                      trusted=[app.hostport])
    rid = gw.callback("00:11:22:AA:BB:CC", app, request_id="mac-1")
    app.wait_callbacks(rid)
    assert_delivered(gw, rid)
    # The other spellings name the same device.
    for i, form in enumerate(["0011.22aa.bbcc", "urn:dev:mac:001122AABBCC"]):
        rid = gw.callback(form, app, request_id=f"mac-form-{i}")
        app.wait_callbacks(rid)
        assert_delivered(gw, rid)
    agent.proc.wait_log("notify received request-id=mac-form-1")


if __name__ == "__main__":
    beckon.main(globals())
