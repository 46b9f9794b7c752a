#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Graceful shutdown (issue 5): SIGTERM with `drain-timeout`.

sip-edge: its liveness key goes at once; a NOTIFY that the endpoint never answers is given
until shortly before drain-timeout, then handed back (target `waiting:0:edge-shutdown`, the
request still waiting in its pending set, not failed); a scheduled retry is handed back at
once; the process exits 0 within the bound, and the request goes out when the endpoint
registers on another edge. api-gateway: during a stream of POSTs, every POST that got a 2xx
is stored, every other one got 503 (problem+json saying it is shutting down) or a connection
error, and the process exits 0 within the bound."""
import json
import signal
import threading
import time

import _path  # noqa: F401
import beckon
from beckon import check, wait_for
from sipua import SipUA

DRAIN = 3


def post(gw, app, device, rid, ttl=60):
    r = gw.post({"device": device, "request_id": rid, "ttl_s": ttl,
                 "server": {"host": "127.0.0.1", "port": app.port}})
    check(r.status == 202, f"POST {rid} → {r}")


def unanswered(env, edge, gw, app, user, rid):
    """Registers user with a UA that never answers, POSTs rid for it and waits until that
    NOTIFY is in flight. Returns the UA."""
    ua = SipUA(env, edge, user)
    ua.register()
    ua.answer = lambda m: None
    post(gw, app, user, rid)
    ua.wait_request(lambda m: f"request-id={rid}" in m.body, "the unanswered NOTIFY")
    return ua


def test_edge_drain_hands_back(env):
    r = env.redis()
    c = r.client()
    gw = env.gateway(r)
    app = env.app_server()
    edge = env.sip_edge(r, edge_id="edge-a", drain_timeout=DRAIN)
    # One endpoint never answers (NOTIFY in flight), one answers 503 (retry scheduled).
    unanswered(env, edge, gw, app, "7546658801", "dr-silent")
    busy = SipUA(env, edge, "7546658802")
    busy.answer = lambda m: 503
    busy.register()
    post(gw, app, "7546658802", "dr-busy")
    edge.proc.wait_log("notify retry request-id=dr-busy")

    t0 = time.monotonic()
    edge.proc.p.send_signal(signal.SIGTERM)
    # At once, while the unanswered NOTIFY still runs: not ready, liveness key gone.
    wait_for(lambda: beckon.http_status(edge.http_port, "/readyz") == 503
             and c("EXISTS", "beckon:alive:edge:edge-a") == 0,
             "/readyz 503 and no liveness key while draining", timeout=DRAIN - 1.5)
    check(edge.proc.alive(), "sip-edge exited before drain-timeout with a NOTIFY in flight")
    rc = edge.proc.p.wait(timeout=DRAIN + 5)
    took = time.monotonic() - t0
    check(rc == 0, f"sip-edge exit status {rc} after SIGTERM, want 0")
    check(took <= DRAIN + 0.5, f"sip-edge took {took:.2f}s to drain, bound {DRAIN}s")
    check(c("EXISTS", "beckon:alive:edge:edge-a") == 0, "liveness key left behind")
    for user, rid in (("7546658801", "dr-silent"), ("7546658802", "dr-busy")):
        req = c.hgetall(f"beckon:req:default:{rid}")
        bid = c("ZRANGE", f"beckon:dev:num:{user}", 0, -1)[0]
        check(req.get("status") in ("queued", "sent"), f"{rid} status {req.get('status')}")
        check(req.get(f"target:{bid}") == "waiting:0:edge-shutdown",
              f"{rid} target {req.get(f'target:{bid}')}, want waiting:0:edge-shutdown")
        check(c("ZSCORE", f"beckon:pending:num:{user}", f"default:{rid}") is not None,
              f"{rid} left its pending set")
    hb = edge.proc.find("notify handed back")
    check(len(hb) >= 2, f"hand-back log lines: {hb}")

    # The endpoint registers on another edge: delivered from there.
    edge_b = env.sip_edge(r, edge_id="edge-b")
    ua = SipUA(env, edge_b, "7546658801")
    ua.register()
    gw.wait_status("dr-silent", "delivered")
    c.close()


def test_edge_restart_in_place(env):
    """A rolling restart under the same edge id: the handed-back request goes out from the
    new process without any REGISTER (its own stream holds a fresh entry)."""
    r = env.redis()
    c = r.client()
    gw = env.gateway(r)
    app = env.app_server()
    edge = env.sip_edge(r, edge_id="edge-r", drain_timeout=DRAIN)
    ua = unanswered(env, edge, gw, app, "7546658803", "dr-inplace")
    check(edge.proc.stop() == [], "sip-edge did not drain cleanly")
    bid = c("ZRANGE", "beckon:dev:num:7546658803", 0, -1)[0]
    t = c("HGET", "beckon:req:default:dr-inplace", f"target:{bid}")
    check(t == "waiting:0:edge-shutdown", f"target {t}")
    ua.answer = lambda m: 200
    n_before = len(ua.received())
    # Same id, same flows (UDP: the binding's source is unchanged); the UA does not register.
    edge2 = beckon.SipEdge(env, r, edge_id="edge-r")
    ua.edge = ("127.0.0.1", edge2.sip_port)
    gw.wait_status("dr-inplace", "delivered")
    check(len(ua.received()) == n_before + 1, "not exactly one NOTIFY after the restart")
    c.close()


def test_gateway_drain_under_load(env):
    r = env.redis()
    c = r.client()
    gw = env.gateway(r, extra=["--drain-timeout", str(DRAIN)])
    app = env.app_server()
    results = {}  # rid -> status code, or the exception's name
    lock = threading.Lock()
    stop = threading.Event()

    def worker(k):
        i = 0
        while not stop.is_set():
            rid = f"gd-{k}-{i}"
            i += 1
            body = {"device": f"75466589{k:02d}", "request_id": rid, "ttl_s": 60,
                    "server": {"host": "127.0.0.1", "port": app.port}}
            try:
                resp = beckon.http_request(gw.port, "POST", "/v1/callbacks", body, timeout=5)
                out = resp
            except OSError as e:
                out = type(e).__name__
            with lock:
                results[rid] = out
            if isinstance(out, str):
                return  # the listener is gone

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: len(results) >= 60, "60 POSTs answered before SIGTERM")
    t0 = time.monotonic()
    gw.proc.p.send_signal(signal.SIGTERM)
    rc = gw.proc.p.wait(timeout=DRAIN + 5)
    took = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(timeout=10)
    check(rc == 0, f"api-gateway exit status {rc} after SIGTERM, want 0")
    check(took <= DRAIN + 0.5, f"api-gateway took {took:.2f}s, bound {DRAIN}s")
    ok = refused = errors = 0
    for rid, out in results.items():
        if isinstance(out, str):
            errors += 1
            continue
        if 200 <= out.status < 300:
            ok += 1
            check(c("HGET", f"beckon:req:default:{rid}", "status") == "queued",
                  f"{rid} answered {out.status} but not stored")
        elif out.status == 503:
            refused += 1
            check(out.headers.get("content-type", "").startswith("application/problem+json"),
                  f"503 without problem+json: {out}")
            check("shutting down" in json.loads(out.body)["title"], f"503 title: {out.body}")
        else:
            check(False, f"{rid}: unexpected answer {out}")
    check(ok >= 60, f"only {ok} POSTs accepted")
    check(c("EXISTS", *[k for k in c("KEYS", "beckon:alive:gw:*")] or ["x"]) == 0,
          "gateway liveness key left behind")
    print(f"accepted={ok} refused-503={refused} connection-errors={errors} drain={took:.3f}s")
    c.close()


def test_gateway_drain_waits_for_in_flight(env):
    """A POST whose create script is held up (CLIENT PAUSE WRITE) when SIGTERM comes still
    gets its 202 and is stored; meanwhile /readyz and new POSTs get 503."""
    r = env.redis()
    c = r.client()
    gw = env.gateway(r, extra=["--drain-timeout", str(DRAIN)])
    app = env.app_server()
    post(gw, app, "7546658810", "inflight-warm")  # scripts loaded, key cached
    out = {}

    def slow():
        out["r"] = gw.post({"device": "7546658810", "request_id": "inflight-1", "ttl_s": 60,
                            "server": {"host": "127.0.0.1", "port": app.port}})

    c("CLIENT", "PAUSE", "1500", "WRITE")
    th = threading.Thread(target=slow, daemon=True)
    th.start()
    wait_for(lambda: any("cmd=evalsha" in line for line in c("CLIENT", "LIST").splitlines()),
             "the create script held by the pause")
    gw.proc.p.send_signal(signal.SIGTERM)
    wait_for(lambda: beckon.http_status(gw.port, "/readyz") == 503, "/readyz 503 while draining",
             timeout=1)
    refused = gw.post({"device": "7546658810", "request_id": "inflight-2", "ttl_s": 60,
                       "server": {"host": "127.0.0.1", "port": app.port}})
    check(refused.status == 503 and "shutting down" in json.loads(refused.body)["title"],
          f"new POST while draining → {refused}")
    check(gw.proc.alive(), "api-gateway exited with a request in flight")
    th.join(timeout=DRAIN + 2)
    check(out.get("r") is not None and out["r"].status == 202, f"in-flight POST → {out}")
    rc = gw.proc.p.wait(timeout=DRAIN + 2)
    check(rc == 0, f"api-gateway exit status {rc}")
    check(c("HGET", "beckon:req:default:inflight-1", "status") == "queued", "not stored")
    check(c("EXISTS", "beckon:req:default:inflight-2") == 0, "refused request stored")
    c.close()


def test_gateway_liveness_key(env):
    r = env.redis()
    c = r.client()
    env.gateway(r)
    keys = wait_for(lambda: c("KEYS", "beckon:alive:gw:*"), "the gateway's liveness key")
    check(len(keys) == 1, f"liveness keys {keys}")
    ttl = c("PTTL", keys[0])
    check(0 < ttl <= 3000, f"liveness key PTTL {ttl}")
    check("/" in c("GET", keys[0]), f"liveness value {c('GET', keys[0])!r}")
    c.close()


if __name__ == "__main__":
    beckon.main(globals())
