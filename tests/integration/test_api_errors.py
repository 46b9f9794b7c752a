#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bad input to api-gateway: every invalid example in proto/examples/rest/invalid/ (whatever
is there; format in proto/README.md), a few fixed cases of each 4xx of proto/rest.md, and 503 while Redis is down, with
nothing half-written once it is back."""
import glob
import json
import os

import _path  # noqa: F401
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001"


def problem(resp, status, detail=None, what=""):
    check(resp.status == status, f"{what}: got {resp}, want {status}")
    ct = resp.headers.get("content-type", "")
    check(ct.startswith("application/problem+json"), f"{what}: Content-Type {ct!r}")
    j = resp.json
    check(isinstance(j, dict) and j.get("status") == status,
          f"{what}: problem body {resp.body[:300]!r}")
    if detail:
        check(detail.lower() in str(j.get("detail", "")).lower(),
              f"{what}: detail {j.get('detail')!r} does not contain {detail!r}")


def registered_stack(env):
    r, edge, gw, app = env.stack()
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    return r, edge, gw, app


def test_invalid_examples(env):
    r, edge, gw, app = registered_stack(env)
    files = sorted(glob.glob(os.path.join(beckon.REST_EXAMPLES, "invalid", "*.json")))
    print(f"  {len(files)} example(s) in proto/examples/rest/invalid/")
    for path in files:
        with open(path, encoding="utf-8") as f:
            ex = json.load(f)
        name = os.path.basename(path)
        exp = ex["expect"]
        # proto/README.md: "body" is a JSON value sent as JSON (a string too: it tests a
        # body that is not an object); "body_raw" is the exact bytes (not valid JSON).
        if "body_raw" in ex:
            data = ex["body_raw"].encode("utf-8")
        else:
            data = json.dumps(ex["body"]).encode("utf-8")
        resp = gw.post(data)
        problem(resp, exp["status"], exp.get("detail"), name)
    check(not edge.proc.find("notify sent"), "an invalid request caused a NOTIFY")


def test_valid_examples_not_refused(env):
    r, edge, gw, app = registered_stack(env)
    for path in sorted(glob.glob(os.path.join(beckon.REST_EXAMPLES, "valid", "*.json"))):
        with open(path, encoding="utf-8") as f:
            data = f.read().encode()
        resp = gw.post(data)
        # Known device → 202 (or queued for an unknown one, 202; 404 with ttl_s 0); two
        # examples may share a request_id → 200 (same body) or 409. Never a validation error.
        check(resp.status in (200, 202, 404, 409), f"{os.path.basename(path)}: {resp}")


def test_fixed_4xx(env):
    r, edge, gw, app = registered_stack(env)
    srv = {"host": "127.0.0.1", "port": app.port}
    cases = [
        ("malformed JSON", b'{"device": "7546658000",', 400, None),
        ("not an object", b'["7546658000"]', 400, None),
        ("device missing", {"server": srv}, 400, "device"),
        ("device wrong type", {"device": 7546658000}, 400, "device"),
        ("port out of range", {"device": "7546658000", "server": {"host": "127.0.0.1",
                                                               "port": 70000}}, 400, "port"),
        ("port zero", {"device": "7546658000", "server": {"host": "127.0.0.1", "port": 0}},
         400, "port"),
        ("port wrong type", {"device": "7546658000", "server": {"host": "127.0.0.1",
                                                              "port": "80"}}, 400, "port"),
        ("unknown field", {"device": "7546658000", "colour": "blue"}, 400, "colour"),
        ("bad protocol", {"device": "7546658000", "protocol": "ftp"}, 400, "protocol"),
        ("bad package", {"device": "7546658000", "package": "presence"}, 400, "package"),
        ("bad request_id", {"device": "7546658000", "request_id": "has space"}, 400,
         "request_id"),
        ("too many alt_servers", {"device": "7546658000", "alt_servers": [srv] * 9}, 400,
         "alt_servers"),
        # ttl_s 0: an unknown device is 404 at once (with a ttl the request waits: 202).
        ("unknown device", {"device": "9999999999", "server": srv, "ttl_s": 0}, 404, None),
        ("unknown instance", {"device": "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000ff",
                              "ttl_s": 0}, 404, None),
    ]
    for what, body, status, detail in cases:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        problem(gw.post(body), status, detail, what)

    # 413: larger than --max-body (default 16 KiB), even if otherwise well-formed.
    big = json.dumps({"device": "7546658000", "path": "/" + "a" * 20000}).encode()
    problem(gw.post(big), 413, None, "body over max-body")

    # 415: the right bytes with the wrong Content-Type.
    ok_body = json.dumps({"device": "7546658000", "server": srv}).encode()
    problem(gw.post(ok_body, headers={"Content-Type": "text/plain"}), 415, None,
            "text/plain body")

    # 409: the same request_id twice.
    rid = gw.callback("7546658000", app, request_id="dup-1")
    again = gw.post({"device": "7546658000", "request_id": rid, "server": srv})
    problem(again, 409, None, "duplicate request_id")

    # 404 for an unknown request, unknown path; 405 on a known path with the wrong method.
    check(gw.get("no-such-request").status == 404, "GET unknown request is not 404")
    r404 = beckon.http_request(gw.port, "GET", "/v2/nothing")
    check(r404.status == 404, f"unknown path: {r404}")
    r405 = beckon.http_request(gw.port, "DELETE", "/v1/callbacks")
    check(r405.status == 405 and "allow" in r405.headers, f"wrong method: {r405}")

    # Nothing refused was stored; the one accepted request was.
    c = r.client()
    keys = c.scan("beckon:req:*")
    c.close()
    check(keys == ["beckon:req:default:dup-1"], f"request keys after the bad input: {keys}")
    gw.wait_status(rid, "delivered")


def test_redis_down_503(env):
    r, edge, gw, app = registered_stack(env)
    srv = {"host": "127.0.0.1", "port": app.port}
    # Save the data set and stop: the binding comes back with Redis, so a half-written
    # request would come back too.
    r.shutdown(save=True)
    body = {"device": "7546658000", "request_id": "while-down", "server": srv}
    resp = gw.post(body)
    problem(resp, 503, None, "POST with Redis down")
    check(beckon.http_status(gw.port, "/readyz") == 503, "gateway /readyz is not 503")
    check(beckon.http_status(gw.port, "/healthz") == 200, "gateway /healthz is not 200")
    check(beckon.http_status(edge.http_port, "/readyz") == 503, "sip-edge /readyz is not 503")

    r.start()
    c = r.client()
    check(c.scan("beckon:binding:*") != [], "saved bindings did not come back")
    check(c.scan("beckon:req:*") == [], f"half-written request: {c.scan('beckon:req:*')}")
    c.close()
    # The services reconnect by themselves; the refused id is free to use.
    gw.wait_ready()
    beckon.wait_for(lambda: beckon.http_status(edge.http_port, "/readyz") == 200,
                    "sip-edge /readyz == 200 after Redis restart")
    rid = gw.callback("7546658000", app, request_id="while-down")
    check(rid == "while-down", rid)


if __name__ == "__main__":
    beckon.main(globals())
