#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The request lifecycle of issue 3 through the real binaries (proto/rest.md, proto/redis.md):
a request for a device with no binding yet is queued and delivered when the agent registers;
ttl_s and time_slot deadlines expire it (the sweeper); DELETE cancels; /complete completes;
request_id is idempotent per client (same body 200, other body 409); collapse_key replaces an
undelivered request; receipts reach status_url (and are retried); registration notices and
entries of a dead gateway are posted from the outbox; 429 at the per-device and per-client
limits; a contact-triggering server's request names the app server it acts for."""
import http.server
import json
import threading
import time

import _path  # noqa: F401
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
NUM = "7546658000"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000031"


def req(gw, method, path, body=None, client=None):
    h = {"X-Beckon-Client": client} if client else {}
    return beckon.http_request(gw.port, method, path, body, headers=h)


def post(gw, body, client=None):
    return req(gw, "POST", "/v1/callbacks", body, client)


def get(gw, rid, client=None):
    return req(gw, "GET", f"/v1/callbacks/{rid}", client=client)


def problem(resp, status, detail=None, what=""):
    check(resp.status == status, f"{what}: got {resp}, want {status}")
    check(resp.headers.get("content-type", "").startswith("application/problem+json"),
          f"{what}: not a problem: {resp.headers}")
    if detail:
        check(detail in (resp.json or {}).get("detail", ""),
              f"{what}: detail {resp.json} does not contain {detail!r}")


def wait_get(gw, rid, status, client=None, timeout=None):
    last = [None]

    def pred():
        r = get(gw, rid, client)
        last[0] = r
        return r.json if r.status == 200 and r.json.get("status") == status else None
    try:
        return beckon.wait_for(pred, f"{rid} to be {status}", timeout)
    except beckon.TestFailure as e:
        raise beckon.TestFailure(f"{e}; last GET: {last[0]}") from None


def cb_body(app, rid, **kw):
    b = {"device": NUM, "request_id": rid, "server": {"host": "127.0.0.1", "port": app.port},
         "protocol": "http", "path": "/cb"}
    b.update(kw)
    return b


def receipts(app, rid, path="/receipts"):
    with app.lock:
        return [r["json"] for r in app.received
                if r["path"] == path and r["json"] and r["json"].get("request_id") == rid]


def test_queued_then_delivered_on_register(env):
    r, edge, gw, app = env.stack()
    resp = post(gw, cb_body(app, "q-1", ttl_s=60))
    check(resp.status == 202 and resp.json == {"request_id": "q-1", "status": "queued"},
          f"request for an unknown device: {resp}")
    st = get(gw, "q-1").json
    check(st["status"] == "queued" and st["targets"] == [] and st["deadline"],
          f"queued request: {st}")
    c = r.client()
    check(c("ZSCORE", "beckon:pending:num:" + NUM, "default:q-1") is not None,
          "not in the device's pending set")
    check(c("ZSCORE", "beckon:deadlines", "default:q-1") is not None, "not in beckon:deadlines")
    c.close()
    # The agent registers later: sip-edge's queued delivery sends it (edge3's half).
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    app.wait_callbacks("q-1")
    st = gw.wait_status("q-1", "delivered")
    check(st["sent_at"] and st["delivered_at"], f"transition times: {st}")
    c = r.client()
    check(c("ZSCORE", "beckon:pending:num:" + NUM, "default:q-1") is None,
          "a delivered request is still pending")
    c.close()


def test_expiry(env):
    r, edge, gw, app = env.stack()
    t0 = time.monotonic()
    check(post(gw, cb_body(app, "exp-1", ttl_s=1)).status == 202, "ttl 1 not accepted")
    st = wait_get(gw, "exp-1", "expired", timeout=10)
    check(time.monotonic() - t0 < 5, "expiry took more than 5 s for ttl_s 1")
    check(st["expired_at"] and st["reason"] == "deadline", f"expired record: {st}")
    # Both api-gateway and sip-edge sweep; either may have done it.
    beckon.wait_for(lambda: gw.proc.find("sweeper expired") or edge.proc.find("sweeper expired"),
                    "a sweeper to log the expiry")
    # A time_slot that ends in 2 s expires the request then, whatever ttl_s says.
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    check(post(gw, cb_body(app, "exp-2", time_slot=f"{start}/{end}")).status == 202,
          "slot request refused")
    wait_get(gw, "exp-2", "expired", timeout=10)
    # A window already over is refused outright.
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 10))
    problem(post(gw, cb_body(app, "exp-3", time_slot=f"{start}/{past}")), 400,
            "time_slot has already ended")
    # An expired request cannot be cancelled or completed.
    problem(req(gw, "DELETE", "/v1/callbacks/exp-1"), 409, "is expired")
    problem(req(gw, "POST", "/v1/callbacks/exp-1/complete"), 409, "is expired")
    # ttl_s 0 and no binding: 404 at once, nothing stored.
    problem(post(gw, cb_body(app, "exp-4", ttl_s=0)), 404, "no subscribed binding")
    check(get(gw, "exp-4").status == 404, "refused request stored")


def test_cancel_and_complete(env):
    r, edge, gw, app = env.stack()
    check(post(gw, cb_body(app, "c-1")).status == 202, "queued")
    resp = req(gw, "DELETE", "/v1/callbacks/c-1")
    check(resp.status == 200 and resp.json["status"] == "cancelled" and
          resp.json["cancelled_at"], f"DELETE: {resp}")
    check(req(gw, "DELETE", "/v1/callbacks/c-1").status == 200, "DELETE is not idempotent")
    problem(req(gw, "POST", "/v1/callbacks/c-1/complete"), 409, "is cancelled")
    problem(req(gw, "DELETE", "/v1/callbacks/nope"), 404)
    problem(req(gw, "POST", "/v1/callbacks/nope/complete"), 404)
    problem(req(gw, "PUT", "/v1/callbacks/c-1"), 405)
    c = r.client()
    check(c("ZCARD", "beckon:pending:num:" + NUM) == 0, "cancelled request still pending")
    c.close()

    env.agent(edge, AOR, INST, trusted=[app.hostport])
    check(post(gw, cb_body(app, "c-2")).status == 202, "request for a registered device")
    problem(req(gw, "POST", "/v1/callbacks/c-3/complete"), 404)
    gw.wait_status("c-2", "delivered")
    problem(req(gw, "DELETE", "/v1/callbacks/c-2"), 409, "is delivered")
    resp = req(gw, "POST", "/v1/callbacks/c-2/complete")
    check(resp.status == 200 and resp.json["status"] == "completed" and
          resp.json["completed_at"] and resp.json["delivered_at"], f"complete: {resp}")
    check(req(gw, "POST", "/v1/callbacks/c-2/complete").status == 200,
          "complete is not idempotent")
    problem(req(gw, "DELETE", "/v1/callbacks/c-2"), 409, "is completed")
    # queued → complete is refused (nothing was sent yet)
    check(post(gw, cb_body(app, "c-4", device="9999", ttl_s=30)).status == 202, "queued")
    problem(req(gw, "POST", "/v1/callbacks/c-4/complete"), 409, "is queued")


def test_idempotency_and_clients(env):
    r, edge, gw, app = env.stack()
    body = cb_body(app, "idem-1")
    first = post(gw, body)
    check(first.status == 202, f"first: {first}")
    again = post(gw, dict(reversed(list(body.items()))))  # same fields, other order
    check(again.status == 200 and again.json == {"request_id": "idem-1", "status": "queued"},
          f"retry: {again}")
    problem(post(gw, cb_body(app, "idem-1", path="/other")), 409, "different body")
    # Another client has its own request ids.
    other = post(gw, cb_body(app, "idem-1", path="/other"), client="ct-server.1")
    check(other.status == 202, f"same id, other client: {other}")
    check(get(gw, "idem-1", client="ct-server.1").json["request"]["path"] == "/other",
          "client namespaces mixed")
    check(get(gw, "idem-1").json["request"]["path"] == "/cb", "default client's request")
    # Clients are API keys now (the harness makes one per X-Beckon-Client value): a key whose
    # stored client id is malformed is no key at all.
    problem(post(gw, cb_body(app, "idem-2"), client="bad client"), 401, "unknown API key")
    c = r.client()
    keys = c.scan("beckon:req:*")
    c.close()
    check(keys == ["beckon:req:ct-server.1:idem-1", "beckon:req:default:idem-1"], f"{keys}")


def test_contact_triggering_server(env):
    r, edge, gw, app = env.stack()
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    resp = post(gw, cb_body(app, "ct-1", on_behalf_of="app-server-7:eu"), client="ctserver-1")
    check(resp.status == 202, f"{resp}")
    app.wait_callbacks("ct-1")
    st = wait_get(gw, "ct-1", "delivered", client="ctserver-1")
    check(st["requested_by"] == "ctserver-1" and st["on_behalf_of"] == "app-server-7:eu",
          f"who asked: {st}")
    check(get(gw, "ct-1").status == 404, "another client sees the request")
    st = wait_get(gw, "ct-1", "delivered", client="ctserver-1")
    check(st["request"]["on_behalf_of"] == "app-server-7:eu", f"{st}")


def test_collapse(env):
    r, edge, gw, app = env.stack()
    check(post(gw, cb_body(app, "col-1", collapse_key="vm")).status == 202, "first")
    check(post(gw, cb_body(app, "col-2", collapse_key="vm")).status == 202, "second")
    st = get(gw, "col-1").json
    check(st["status"] == "cancelled" and st["reason"] == "collapsed", f"older: {st}")
    check(get(gw, "col-2").json["status"] == "queued", "newer not queued")
    # Another key, or another device, is not collapsed.
    check(post(gw, cb_body(app, "col-3", collapse_key="other")).status == 202, "other key")
    check(post(gw, cb_body(app, "col-4", collapse_key="vm", device="1234")).status == 202,
          "other device")
    check(get(gw, "col-2").json["status"] == "queued", "collapsed across keys or devices")
    c = r.client()
    check(sorted(c("ZRANGE", "beckon:pending:num:" + NUM, 0, -1)) ==
          ["default:col-2", "default:col-3"], "pending set after collapse")
    c.close()
    # A delivered request is not replaced.
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    gw.wait_status("col-2", "delivered")
    check(post(gw, cb_body(app, "col-5", collapse_key="vm")).status == 202, "after delivery")
    gw.wait_status("col-5", "delivered")
    check(get(gw, "col-2").json["status"] == "delivered", "delivered request collapsed")


def test_receipts(env):
    r, edge, gw, app = env.stack()
    url = f"http://127.0.0.1:{app.port}/receipts"
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    check(post(gw, cb_body(app, "rc-1", status_url=url)).status == 202, "request")
    gw.wait_status("rc-1", "delivered")
    check(req(gw, "POST", "/v1/callbacks/rc-1/complete").status == 200, "complete")
    beckon.wait_for(lambda: {"delivered", "completed"} <= {x["status"] for x in
                                                          receipts(app, "rc-1")},
                    "receipts delivered and completed")
    got = receipts(app, "rc-1")
    # Creation sends none: the 202 says `queued`.
    check("queued" not in [x["status"] for x in got], f"queued receipt: {got}")
    d = [x for x in got if x["status"] == "delivered"][0]
    check(d["sip_status"] == 200 and isinstance(d["at"], int), f"delivered receipt: {d}")
    with app.lock:
        h = [x for x in app.received if x["path"] == "/receipts"][0]["headers"]
    check(h.get("Content-Type") == "application/json", f"receipt headers {h}")
    # Cancelled and expired send receipts too.
    check(post(gw, cb_body(app, "rc-2", device="555", status_url=url)).status == 202, "rc-2")
    check(req(gw, "DELETE", "/v1/callbacks/rc-2").status == 200, "cancel rc-2")
    check(post(gw, cb_body(app, "rc-3", device="555", status_url=url, ttl_s=1)).status == 202,
          "rc-3")
    beckon.wait_for(lambda: receipts(app, "rc-2") and receipts(app, "rc-3"),
                    "cancelled and expired receipts")
    check(receipts(app, "rc-2")[0]["status"] == "cancelled", f"{receipts(app, 'rc-2')}")
    check(receipts(app, "rc-3")[0]["status"] == "expired", f"{receipts(app, 'rc-3')}")


class FlakyServer:
    """Answers 503 to the first `fails` POSTs, then 200; records every body."""

    def __init__(self, fails):
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append((time.monotonic(), json.loads(self.rfile.read(n))))
                code = 503 if len(outer.bodies) <= fails else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                beckon._notify()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_receipt_retry_and_notice(env):
    r, edge, gw, app = env.stack()
    flaky = FlakyServer(fails=2)
    try:
        url = f"http://127.0.0.1:{flaky.port}/r"
        check(post(gw, cb_body(app, "rr-1", status_url=url)).status == 202, "request")
        check(req(gw, "DELETE", "/v1/callbacks/rr-1").status == 200, "cancel")
        beckon.wait_for(lambda: len(flaky.bodies) >= 3, "3 POSTs of the receipt (2 refused)")
        (t1, b1), (t2, _), (t3, b3) = flaky.bodies[:3]
        check(b1 == b3 and b1["status"] == "cancelled", f"retried body {b1} {b3}")
        check(t2 - t1 >= 0.9 and t3 - t2 >= 1.9, f"backoff {t2 - t1:.2f}s {t3 - t2:.2f}s")
    finally:
        flaky.close()
    # A registration notice, as sip-edge queues it, is posted the same way.
    c = r.client()
    body = json.dumps({"devices": {"num": NUM}, "package": beckon.PACKAGE,
                       "gateway_url": f"http://127.0.0.1:{gw.port}"})
    c("XADD", "beckon:outbox", "*", "kind", "notice",
      "url", f"http://127.0.0.1:{app.port}/notice", "body", body)
    beckon.wait_for(lambda: [x for x in app.received if x["path"] == "/notice"], "notice")
    with app.lock:
        n = [x for x in app.received if x["path"] == "/notice"][0]["json"]
    check(n["devices"] == {"num": NUM}, f"notice {n}")
    beckon.wait_for(lambda: c("XPENDING", "beckon:outbox", "gateways")[0] == 0,
                    "every outbox entry acknowledged")
    c.close()


def test_outbox_claims_dead_gateways_entries(env):
    r = env.redis()
    app = env.app_server()
    c = r.client()
    c("XGROUP", "CREATE", "beckon:outbox", "gateways", "0", "MKSTREAM")
    eid = c("XADD", "beckon:outbox", "*", "kind", "receipt", "url",
            f"http://127.0.0.1:{app.port}/orphan", "body", '{"request_id":"orphan-1"}')
    # A gateway that read it and died two minutes ago.
    c("XREADGROUP", "GROUP", "gateways", "dead-gw", "COUNT", "10", "STREAMS", "beckon:outbox",
      ">")
    c("XCLAIM", "beckon:outbox", "gateways", "dead-gw", "0", eid, "IDLE", "120000")
    env.gateway(r)
    app.wait_callbacks("orphan-1")
    beckon.wait_for(lambda: c("XPENDING", "beckon:outbox", "gateways")[0] == 0, "XACK")
    c.close()


def test_limits_429(env):
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--max-pending-per-device", "2",
                               "--max-pending-per-client", "3"])
    app = env.app_server()
    for i in (1, 2):
        check(post(gw, cb_body(app, f"lim-{i}", ttl_s=30)).status == 202, f"lim-{i}")
    resp = post(gw, cb_body(app, "lim-3", ttl_s=30))
    problem(resp, 429, f"device '{NUM}' has 2 pending requests")
    check(resp.json["type"] == "urn:beckon:problem:too-many-requests", f"{resp.json}")
    ra = int(resp.headers.get("retry-after", "0"))
    check(1 <= ra <= 30, f"Retry-After {resp.headers}")
    check(post(gw, cb_body(app, "lim-4", device="1111", ttl_s=30)).status == 202, "other device")
    problem(post(gw, cb_body(app, "lim-5", device="2222", ttl_s=30)), 429,
            "client 'default' has 3 pending requests")
    # Another client has its own budget; a refused request left nothing behind.
    check(post(gw, cb_body(app, "lim-5", device="2222"), client="other").status == 202, "other")
    check(get(gw, "lim-3").status == 404, "refused request stored")
    # Cancelling frees a slot at once.
    check(req(gw, "DELETE", "/v1/callbacks/lim-1").status == 200, "cancel")
    check(post(gw, cb_body(app, "lim-3", ttl_s=30)).status == 202, "after cancel")
    # SOAP says the same, as a Fault.
    xml = ('<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
           '<RequestCallback xmlns="urn:beckon:soap:v1"><device>7546658000</device>'
           '<request_id>lim-6</request_id></RequestCallback></e:Body></e:Envelope>')
    resp = beckon.http_request(gw.port, "POST", "/soap", xml.encode(),
                               headers={"Content-Type": "application/soap+xml"})
    check(resp.status == 400 and b"<b:status>429</b:status>" in resp.body and
          b"too-many-requests" in resp.body and "retry-after" in resp.headers,
          f"SOAP 429: {resp} {resp.headers}")


def test_pending_sets_outlive_their_latest_deadline(env):
    """The create script sets a pending set's expiry with one PEXPIREAT (plain for a new set,
    GT for one it had written before): a minute past the latest deadline ever added, never
    lowered by a request with an earlier deadline, raised by a later one; a set emptied by
    a collapse and created again still gets one."""
    r, edge, gw, app = env.stack()
    c = r.client()
    dev, cl = "beckon:pending:num:" + NUM, "beckon:pending-client:default"

    def deadline(rid):
        return int(c("HGET", "beckon:req:default:" + rid, "deadline"))

    def expiry(k):
        return int(c("PEXPIRETIME", k))

    check(post(gw, cb_body(app, "px-1", ttl_s=120)).status == 202, "px-1")
    d1 = deadline("px-1")
    check(expiry(dev) == d1 + 60000 and expiry(cl) == d1 + 60000,
          f"new sets: {expiry(dev)} {expiry(cl)}, want {d1 + 60000}")
    check(post(gw, cb_body(app, "px-2", ttl_s=30)).status == 202, "px-2")
    check(expiry(dev) == d1 + 60000 and expiry(cl) == d1 + 60000,
          f"an earlier deadline lowered the expiry: {expiry(dev)} {expiry(cl)}")
    check(post(gw, cb_body(app, "px-3", ttl_s=240)).status == 202, "px-3")
    d3 = deadline("px-3")
    check(expiry(dev) == d3 + 60000 and expiry(cl) == d3 + 60000,
          f"a later deadline did not raise it: {expiry(dev)} {expiry(cl)}, want {d3 + 60000}")
    # Another device, one collapsing request replacing the other: its pending set is emptied
    # by the collapse inside the create script and written again, so it needs its expiry.
    k2 = "beckon:pending:num:3333"
    check(post(gw, cb_body(app, "px-4", device="3333", ttl_s=60, collapse_key="k")).status
          == 202, "px-4")
    check(post(gw, cb_body(app, "px-5", device="3333", ttl_s=30, collapse_key="k")).status
          == 202, "px-5")
    check(c("ZRANGE", k2, 0, -1) == ["default:px-5"], f"collapse: {c('ZRANGE', k2, 0, -1)}")
    check(expiry(k2) == deadline("px-5") + 60000,
          f"re-created set: {expiry(k2)}, want {deadline('px-5') + 60000}")
    c.close()


if __name__ == "__main__":
    beckon.main(globals())
