#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""De-duplication at the agent: a request that reaches it again (a retried NOTIFY, a state
NOTIFY listing it) is answered 200 but called back once. Also the packages setting: several
event packages are accepted, any other Event is answered 489."""
import _path  # noqa: F401
import _agent_sip as raw
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000c1"


def test_duplicate_notify_one_callback(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport])
    rid = gw.callback("7546658000", app, request_id="dup-1", path="/cb")
    app.wait_callbacks(rid)
    # The same request again, as a retried NOTIFY would bring it.
    target = raw.agent_contact(r, "7546658000")
    again = raw.record(rid, app.hostport, protocol="http", path="/cb")
    check(raw.send_notify(target, AOR, again) == 200, "duplicate NOTIFY not answered 200")
    agent.proc.wait_log(f"duplicate request-id={rid} ignored")
    # A body listing the old request and a new one: only the new one is called back.
    both = again + "\r\n" + raw.record("dup-2", app.hostport, protocol="http", path="/cb")
    check(raw.send_notify(target, AOR, both) == 200, "two-record NOTIFY not answered 200")
    app.wait_callbacks("dup-2")
    agent.proc.wait_log(f"duplicate request-id={rid} ignored", count=2)
    # Same id from another server is another request.
    other = env.app_server()
    check(raw.send_notify(target, AOR, raw.record(rid, other.hostport, protocol="http")) == 200,
          "NOTIFY not 200")
    agent.proc.wait_log(f"untrusted server {other.hostport} refused request-id={rid}")
    # Fence: a later request through the whole stack is called back; by then any second
    # callback for dup-1 would have arrived.
    fence = gw.callback("7546658000", app, request_id="dup-fence")
    app.wait_callbacks(fence)
    check(len(app.for_request(rid)) == 1, f"{len(app.for_request(rid))} callbacks for {rid}")
    check(len(app.for_request("dup-2")) == 1, "dup-2 called back more than once")


def test_bad_notifies_refused(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport],
                      extra=["--packages", "app-b, application-server-contact-me"])
    target = raw.agent_contact(r, "7546658000")
    body = raw.record("pkg-b", app.hostport, protocol="http", path="/b")
    check(raw.send_notify(target, AOR, body, event="app-b") == 200, "app-b NOTIFY not 200")
    app.wait_callbacks("pkg-b")
    check(raw.send_notify(target, AOR, body, event="presence") == 489, "unknown event not 489")
    check(raw.send_notify(target, AOR, body, event="app-b",
                          content_type="application/application-server-contact-me") == 415,
          "wrong media type not 415")
    check(raw.send_notify(target, AOR, "request-id=x\r\n\r\n") == 400, "bad body not 400")
    check(raw.send_notify(target, AOR, "") == 400, "empty body not 400")
    # A refused NOTIFY had no effect: its request is not remembered as seen.
    ok = raw.record("after-refusals", app.hostport, protocol="http", path="/b")
    check(raw.send_notify(target, AOR, ok) == 200, "NOTIFY not 200")
    app.wait_callbacks("after-refusals")
    check(len(app.for_request("pkg-b")) == 1, "pkg-b called back more than once")
    agent.proc.wait_log("notify refused status=489")


if __name__ == "__main__":
    beckon.main(globals())
