#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""GET /metrics after a known workload: N agents register, M callbacks are delivered and one
request expires. The counters of sip-edge and api-gateway must equal the workload, every
histogram's buckets must add up, and the text must parse as Prometheus 0.0.4. Also: the
structured log fields, and the log level switched at run time with SIGUSR1/SIGUSR2."""
import json
import signal
import time

import _path  # noqa: F401
import _prom
import beckon
from beckon import check

N_AGENTS = 3
M_CALLBACKS = 4


def records(proc, substr):
    """The JSON log records whose msg contains substr."""
    with proc.lock:
        return [json.loads(raw) for (_, raw, msg) in proc.lines
                if substr in msg and raw.startswith("{")]


def debug_lines(proc):
    with proc.lock:
        return sum('"level":"debug"' in raw for (_, raw, _) in proc.lines)


def test_workload(env):
    r, edge, gw, app = env.stack()
    agents = []
    for i in range(N_AGENTS):
        aor = f"sip:75466580{i:02d}@example.com"
        inst = f"urn:uuid:3f5c0a5e-0000-4000-8000-0000000001{i:02d}"
        agents.append(env.agent(edge, aor, inst, transport="tcp" if i == 0 else "udp",
                                trusted=[app.hostport], name=f"agent-{i}"))
    rids = []
    for k in range(M_CALLBACKS):
        rid = gw.callback(f"75466580{k % N_AGENTS:02d}", app, request_id=f"m-{k}")
        app.wait_callbacks(rid)
        gw.wait_status(rid, "delivered")
        rids.append(rid)
    # No binding for this device: it waits in the pending set and expires after 1 s.
    lost = gw.callback("7546659999", app, request_id="m-lost", ttl_s=1)
    gw.wait_status(lost, "expired")
    for rid in rids:
        edge.proc.wait_log(f"notify answered request-id={rid}")

    e = _prom.scrape(edge.http_port)
    regs = len(edge.proc.find("registered aor="))
    check(regs == N_AGENTS, f"edge logged {regs} registrations, want {N_AGENTS}")
    got = e.value("beckon_sip_registrations_total", code="200")
    check(got == N_AGENTS, f"registrations{{code=200}} = {got}, want {N_AGENTS}")
    check(e.value("beckon_sip_registrations_total", code="200", transport="tcp") == 1,
          f"registrations by transport: {e.samples['beckon_sip_registrations_total']}")
    check(e.value("beckon_sip_bindings") == N_AGENTS,
          f"bindings gauge {e.value('beckon_sip_bindings')}, want {N_AGENTS}")
    check(e.value("beckon_sip_flows") == 1, f"flows gauge {e.value('beckon_sip_flows')}")
    for name in ("beckon_sip_notifies_sent_total", "beckon_sip_notifies_delivered_total"):
        check(e.value(name) == M_CALLBACKS, f"{name} = {e.value(name)}, want {M_CALLBACKS}")
    check(e.value("beckon_sip_notify_responses_total", code="200") == M_CALLBACKS,
          f"notify responses {e.samples.get('beckon_sip_notify_responses_total')}")
    check(e.value("beckon_sip_notify_response_classes_total", **{"class": "2xx"})
          == M_CALLBACKS, "notify response classes")
    for h in ("beckon_sip_notify_duration_seconds", "beckon_request_accept_to_notify_seconds",
              "beckon_request_accept_to_delivered_seconds"):
        check(e.value(h + "_count") == M_CALLBACKS,
              f"{h}_count = {e.value(h + '_count')}, want {M_CALLBACKS}")
        check(0 < e.value(h + "_sum") < 10 * M_CALLBACKS, f"{h}_sum = {e.value(h + '_sum')}")
    check(e.value("beckon_redis_commands_total") > N_AGENTS + M_CALLBACKS,
          "edge redis commands not counted")
    check(e.value("beckon_redis_errors_total") == 0,
          f"edge redis errors {e.value('beckon_redis_errors_total')}")
    check(e.value("beckon_redis_round_trip_seconds_count")
          == e.value("beckon_redis_commands_total"), "edge redis round trips")
    check(e.types.get("beckon_sip_subscriptions_total") == "counter", "subscriptions family")

    g = _prom.scrape(gw.port)
    route = "POST /v1/callbacks"
    check(g.value("beckon_http_requests_total", route=route, code="202") == M_CALLBACKS + 1,
          f"gateway callbacks: {g.samples.get('beckon_http_requests_total')}")
    check(g.value("beckon_http_request_duration_seconds_count", route=route)
          == M_CALLBACKS + 1, "accept latency histogram count")
    polls = g.value("beckon_http_requests_total", route="GET /v1/callbacks/{id}", code="200")
    check(polls >= M_CALLBACKS + 1, f"status polls counted {polls}")
    check(g.value("beckon_http_requests_total", route="GET /metrics") >= 0, "metrics route")
    check(g.value("beckon_redis_errors_total") == 0,
          f"gateway redis errors {g.value('beckon_redis_errors_total')}")

    # The recent failures list (lifecycle prelude) has the expired request.
    c = r.client()
    fails = [json.loads(x) for x in c("LRANGE", "beckon:recent-failures", "0", "-1")]
    c.close()
    check(len(fails) == 1 and fails[0]["request_id"] == "m-lost"
          and fails[0]["status"] == "expired", f"recent failures {fails}")

    # Structured fields next to the unchanged msg.
    lines = records(edge.proc, f"notify answered request-id={rids[0]}")
    check(lines and lines[0].get("request_id") == rids[0] and lines[0].get("edge") == "edge-a"
          and lines[0].get("call_id") and lines[0].get("binding"), f"edge log fields {lines}")
    acc = records(gw.proc, f"callback accepted request-id={rids[0]}")
    check(acc and acc[0].get("request_id") == rids[0] and acc[0].get("device") == "7546658000",
          f"gateway log fields {acc}")


def test_log_level_signals(env):
    r = env.redis()
    gw = env.gateway(r)

    def miss(rid):
        # A refusal below 500 is logged at debug level only.
        check(gw.get(rid).status == 404, f"GET of unknown {rid} is not 404")

    miss("nope-1")
    time.sleep(0.2)
    check(debug_lines(gw.proc) == 0, "debug lines at level info")
    gw.proc.p.send_signal(signal.SIGUSR1)
    time.sleep(0.2)
    miss("nope-2")
    beckon.wait_for(lambda: records(gw.proc, "request-id=nope-2"), "debug line after SIGUSR1")
    gw.proc.p.send_signal(signal.SIGUSR2)
    time.sleep(0.2)
    miss("nope-3")
    time.sleep(0.3)
    check(not records(gw.proc, "request-id=nope-3"), "debug line after SIGUSR2")


if __name__ == "__main__":
    beckon.main(globals())
