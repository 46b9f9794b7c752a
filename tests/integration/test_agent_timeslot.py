#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""time-slot at the agent: a window that opens in 2 s holds the callback until it opens
(the app server's receive time is after the slot start); an open window calls back at once;
a window already over is skipped ("time-slot over"). A missing server falls back to
default-server, or is skipped without one."""
import time

import _path  # noqa: F401
import _agent_sip as raw
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000b1"


def rfc3339(t):
    ms = int(round((t - int(t)) * 1000))
    if ms == 1000:
        t, ms = int(t) + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + f".{ms:03d}Z"


def test_future_slot_waits_for_start(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport])
    wall, mono = time.time(), time.monotonic()
    start = wall + 2.0
    slot = f"{rfc3339(start)}/{rfc3339(start + 60)}"
    rid = gw.callback("7546658000", app, request_id="slot-later", time_slot=slot)
    agent.proc.wait_log(f"callback scheduled request-id={rid}")
    hits = app.wait_callbacks(rid)
    start_mono = mono + (start - wall)
    check(hits[0]["t"] >= start_mono,
          f"callback {start_mono - hits[0]['t']:.3f}s before the slot opened")
    check(len(hits) == 1, f"{len(hits)} callbacks")
    gw.wait_status(rid, "delivered")


def test_open_and_over_slots(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport])
    now = time.time()
    rid = gw.callback("7546658000", app, request_id="slot-open",
                      time_slot=f"{rfc3339(now - 60)}/{rfc3339(now + 600)}")
    app.wait_callbacks(rid)
    check(not agent.proc.find(f"callback scheduled request-id={rid}"), "open slot was delayed")
    # A window already over: sent straight to the agent (beckon itself would expire it).
    target = raw.agent_contact(r, "7546658000")
    over = raw.record("slot-over", app.hostport, protocol="http", path="/cb",
                      time_slot=f"{rfc3339(now - 120)}/{rfc3339(now - 60)}")
    check(raw.send_notify(target, AOR, over) == 200, "NOTIFY with a past slot not answered 200")
    agent.proc.wait_log("time-slot over request-id=slot-over")
    fence = gw.callback("7546658000", app, request_id="slot-fence")
    app.wait_callbacks(fence)
    check(not app.for_request("slot-over"), "a request whose slot was over was called back")
    # One waiting an hour when the agent stops: dropped, and the agent still exits 0 with
    # nothing leaked (checked by the harness at the end).
    late = raw.record("slot-hour", app.hostport, protocol="http",
                      time_slot=f"{rfc3339(now + 3600)}/{rfc3339(now + 7200)}")
    check(raw.send_notify(target, AOR, late) == 200, "NOTIFY not 200")
    agent.proc.wait_log("callback scheduled request-id=slot-hour")


def test_missing_server(env):
    r, edge, gw, app = env.stack()
    a1 = env.agent(edge, AOR, INST, trusted=[app.hostport], name="agent-default",
                   extra=["--default-server", app.hostport])
    target = raw.agent_contact(r, "7546658000")
    check(raw.send_notify(target, AOR, raw.record("no-server-1", protocol="http",
                                                  path="/cb")) == 200, "NOTIFY not 200")
    hits = app.wait_callbacks("no-server-1")
    check(hits[0]["path"] == "/cb", f"default-server callback went to {hits[0]['path']}")
    problems = a1.proc.stop()
    env.procs.remove(a1.proc)
    check(not problems, "; ".join(problems))

    a2 = env.agent(edge, AOR, INST, trusted=[app.hostport], name="agent-nodefault")
    target = raw.agent_contact(r, "7546658000")
    check(raw.send_notify(target, AOR, raw.record("no-server-2", protocol="http")) == 200,
          "NOTIFY not 200")
    a2.proc.wait_log("no server in request-id=no-server-2")


if __name__ == "__main__":
    beckon.main(globals())
