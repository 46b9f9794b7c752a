#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Explicit subscription mode of the agent (subscribe = true, register-accept = false).

test_subscriber_against_fake_notifier: the agent's side alone, against a Python registrar +
notifier (_agent_sip.FakeNotifier): REGISTER without the Accept opt-in, SUBSCRIBE with
Event/Accept/Expires, an empty state NOTIFY, a state NOTIFY listing two requests (two
callbacks), one listing an already-handled request (no second callback), termination by
the notifier (logged, then a new SUBSCRIBE), and the un-SUBSCRIBE on SIGTERM.

test_subscribe_end_to_end: the same through sip-edge and api-gateway: a request queued for
a device that is not there yet is delivered through the state NOTIFY after the agent's
SUBSCRIBE; a later request reaches it too; SIGTERM unsubscribes."""
import _path  # noqa: F401
import _agent_sip as raw
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000d1"
PKG = beckon.PACKAGE


def spawn_agent(env, registrar, app, extra=()):
    argv = [env.binary("contact-agent"), "--registrar", registrar, "--aor", AOR,
            "--instance-id", INST, "--sip-listen", "udp:127.0.0.1:0",
            "--trusted-servers", app.hostport, "--subscribe", "true",
            "--register-accept", "false", "--subscribe-expires", "120",
            "--register-retry", "1"] + list(extra)
    return env.spawn("contact-agent", argv)


def test_subscriber_against_fake_notifier(env):
    app = env.app_server()
    fake = raw.FakeNotifier()
    try:
        agent = spawn_agent(env, fake.registrar(), app)
        agent.wait_log(f"registered aor={AOR}")
        agent.wait_log(f"subscribed expires=120 package={PKG}")
        reg = fake.methods("REGISTER")[0]
        check(PKG.encode() not in reg, f"REGISTER carries the opt-in:\n{reg.decode()}")
        sub = fake.methods("SUBSCRIBE")[0]
        check(raw._hdr(sub, "Event", "o") == PKG, f"SUBSCRIBE Event:\n{sub.decode()}")
        check(f"application/{PKG}" in (raw._hdr(sub, "Accept") or ""),
              f"SUBSCRIBE Accept:\n{sub.decode()}")
        check(raw._hdr(sub, "Expires") == "120", f"SUBSCRIBE Expires:\n{sub.decode()}")
        check(f'+sip.instance="<{INST}>"' in (raw._hdr(sub, "Contact", "m") or ""),
              f"SUBSCRIBE Contact without the instance:\n{sub.decode()}")
        dialog = beckon.wait_for(lambda: fake.dialogs, "the SUBSCRIBE dialog")[0]

        check(fake.notify(dialog, "") == 200, "empty state NOTIFY not answered 200")
        agent.wait_log(f"state notify package={PKG}")
        two = (raw.record("sub-1", app.hostport, protocol="http", path="/s") + "\r\n"
               + raw.record("sub-2", app.hostport, protocol="http", path="/s"))
        check(fake.notify(dialog, two) == 200, "two-record NOTIFY not 200")
        app.wait_callbacks("sub-1")
        app.wait_callbacks("sub-2")
        check(fake.notify(dialog, raw.record("sub-1", app.hostport, protocol="http",
                                             path="/s")) == 200, "NOTIFY not 200")
        agent.wait_log("duplicate request-id=sub-1 ignored")

        # The notifier ends it; the agent logs it and subscribes again (register-retry 1 s).
        n_sub = len(fake.methods("SUBSCRIBE"))
        check(fake.notify(dialog, "", state="terminated;reason=timeout") == 200,
              "terminating NOTIFY not 200")
        agent.wait_log("subscription terminated reason=timeout")
        beckon.wait_for(lambda: len(fake.methods("SUBSCRIBE")) > n_sub, "a new SUBSCRIBE")
        agent.wait_log(f"subscribed expires=120 package={PKG}", count=2)
        check(len(app.for_request("sub-1")) == 1, "sub-1 called back twice")

        # SIGTERM: un-SUBSCRIBE (Expires: 0) before exiting.
        n_sub = len(fake.methods("SUBSCRIBE"))
        problems = agent.stop()
        env.procs.remove(agent)
        check(not problems, "; ".join(problems))
        unsub = [m for m in fake.methods("SUBSCRIBE")[n_sub:] if raw._hdr(m, "Expires") == "0"]
        check(unsub, "no un-SUBSCRIBE (Expires: 0) on shutdown")
        # ... and before the un-REGISTER.
        with fake.lock:
            order = [m for (m, raw_) in fake.requests
                     if m == "REGISTER" and raw._hdr(raw_, "Expires") == "0"
                     or m == "SUBSCRIBE" and raw._hdr(raw_, "Expires") == "0"]
        check(order and order[0] == "SUBSCRIBE", f"shutdown order: {order}")
    finally:
        fake.close()


def test_subscribe_end_to_end(env):
    r, edge, gw, app = env.stack()
    # Queued: the device has never registered (ttl_s > 0, so 202 queued, not 404).
    queued = gw.callback("7546658000", app, request_id="e2e-queued", path="/q")
    mark = edge.proc.mark()
    agent = spawn_agent(env, edge.registrar("udp"), app)
    agent.wait_log(f"registered aor={AOR}")
    hits = edge.proc.wait_log(f"registered aor={AOR}", since=mark)
    check("subscribed=0" in hits[0], f"REGISTER opted in by Accept: {hits[0]}")
    agent.wait_log(f"subscribed expires=")
    app.wait_callbacks(queued)
    gw.wait_status(queued, "delivered")
    later = gw.callback("7546658000", app, request_id="e2e-later", path="/l")
    app.wait_callbacks(later)
    gw.wait_status(later, "delivered")
    check(len(app.for_request(queued)) == 1, "queued request called back twice")
    problems = agent.stop()
    env.procs.remove(agent)
    check(not problems, "; ".join(problems))
    # Un-SUBSCRIBEd while still registered, so the edge answered it 2xx.
    check(agent.find("unsubscribed status=200"), "un-SUBSCRIBE not answered 200")


if __name__ == "__main__":
    beckon.main(globals())
