#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""valid-until (proto/contact-me.md): beckon writes the request's deadline into the payload,
and the agent does not call back on a NOTIFY that arrives after it (plus clock-skew): it
answers 200, logs "callback expired", and the app server hears nothing. A NOTIFY within the
skew, one not yet due, and one without valid-until (an older beckon) are called back."""
import calendar
import time

import _path  # noqa: F401
import _agent_sip as raw
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000c1"


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def test_beckon_writes_the_deadline(env):
    r, edge, gw, app = env.stack()
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    rid = gw.callback("7546658000", app, request_id="vu-written", ttl_s=120)
    hits = app.wait_callbacks(rid)
    gw.wait_status(rid, "delivered")
    c = r.client()
    try:
        rec = c.hgetall(f"beckon:req:default:{rid}")
    finally:
        c.close()
    lines = rec.get("payload", "").split("\r\n")
    vu = [ln[len("valid-until="):] for ln in lines if ln.startswith("valid-until=")]
    check(len(vu) == 1, f"want one valid-until line in the stored payload: {rec.get('payload')!r}")
    # To the millisecond: the agent's cut-off is exactly the deadline the API expires at.
    secs, ms = vu[0].rstrip("Z").split(".")
    got = calendar.timegm(time.strptime(secs, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(ms)
    check(len(ms) == 3 and got == int(rec["deadline"]),
          f"valid-until {vu[0]} is not the stored deadline {rec['deadline']}")
    check(len(hits) == 1, f"{len(hits)} callbacks")


def test_late_notify_is_not_called_back(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport])
    target = raw.agent_contact(r, "7546658000")
    now = time.time()
    # Past the default 30 s skew: 200, logged, no callback.
    past = raw.record("vu-past", app.hostport, protocol="http", path="/cb",
                      valid_until=rfc3339(now - 120))
    check(raw.send_notify(target, AOR, past) == 200, "late NOTIFY not answered 200")
    hits = agent.proc.wait_log("callback expired request_id=vu-past")
    check(f"valid_until={rfc3339(now - 120)}" in hits[0], f"log lacks valid_until: {hits[0]}")
    # Within the skew, not yet due, and absent (an older beckon): called back.
    for rid, extra in (("vu-skew", {"valid_until": rfc3339(now - 5)}),
                       ("vu-future", {"valid_until": rfc3339(now + 600)}),
                       ("vu-absent", {})):
        body = raw.record(rid, app.hostport, protocol="http", path="/cb", **extra)
        check(raw.send_notify(target, AOR, body) == 200, f"{rid}: NOTIFY not 200")
        app.wait_callbacks(rid)
    # The same expired request retransmitted (another late copy): still nothing.
    check(raw.send_notify(target, AOR, past) == 200, "second late NOTIFY not 200")
    fence = gw.callback("7546658000", app, request_id="vu-fence")
    app.wait_callbacks(fence)
    check(not app.for_request("vu-past"), "an expired request was called back")
    # A malformed valid-until is a body that does not parse: 400, nothing called.
    bad = raw.record("vu-bad", app.hostport, protocol="http", valid_until="tomorrow")
    check(raw.send_notify(target, AOR, bad) == 400, "malformed valid-until not 400")
    check(not app.for_request("vu-bad"), "malformed valid-until called back")


def test_clock_skew_zero(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport], extra=["--clock-skew", "0"])
    target = raw.agent_contact(r, "7546658000")
    body = raw.record("vu-noskew", app.hostport, protocol="http",
                      valid_until=rfc3339(time.time() - 2))
    check(raw.send_notify(target, AOR, body) == 200, "NOTIFY not 200")
    agent.proc.wait_log("callback expired request_id=vu-noskew")
    fence = gw.callback("7546658000", app, request_id="vu-fence0")
    app.wait_callbacks(fence)
    check(not app.for_request("vu-noskew"), "expired request called back with clock-skew 0")


def test_app_server_cannot_send_it(env):
    r, edge, gw, app = env.stack()
    for key in ("valid_until", "valid-until"):
        resp = gw.post({"device": "7546658000", "ttl_s": 60, key: "2099-01-01T00:00:00Z"})
        check(resp.status == 400, f"{key}: {resp}, want 400")
        check(resp.json and key in resp.json.get("detail", ""),
              f"{key}: problem detail does not name the field: {resp}")


if __name__ == "__main__":
    beckon.main(globals())
