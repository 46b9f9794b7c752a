#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SOAP through the real api-gateway (proto/soap/): every example of proto/soap/examples/
(valid ones answered, invalid ones the Fault their first line names); each operation in SOAP
1.1 and 1.2 end to end with an agent; Faults with the REST problem's status and type; a request
made over SOAP is the same request over REST; hostile XML (entity bombs, external entities,
oversize, deep, many elements) is a Fault and never a crash or a hang."""
import glob
import json
import os
import time
import xml.etree.ElementTree as ET

import _path  # noqa: F401
import beckon
from beckon import check

SOAP_EXAMPLES = os.path.join(beckon.SOURCE_ROOT, "proto", "soap", "examples")
E11 = "http://schemas.xmlsoap.org/soap/envelope/"
E12 = "http://www.w3.org/2003/05/soap-envelope"
B = "urn:beckon:soap:v1"
AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000041"


def soap(gw, xml, version=11, action=None, content_type=None, headers=None):
    h = dict(headers or {})
    if content_type:
        h["Content-Type"] = content_type
    elif version == 11:
        h["Content-Type"] = "text/xml; charset=utf-8"
        h["SOAPAction"] = f'"urn:beckon:soap:v1:{action}"' if action else '""'
    else:
        h["Content-Type"] = "application/soap+xml; charset=utf-8" + (
            f'; action="urn:beckon:soap:v1:{action}"' if action else "")
    data = xml.encode() if isinstance(xml, str) else xml
    return beckon.http_request(gw.port, "POST", "/soap", data, headers=h)


def envelope(op, fields, version=11):
    ns = E11 if version == 11 else E12

    def el(k, v):
        if isinstance(v, dict):
            return f"<b:{k}>" + "".join(el(a, b) for a, b in v.items()) + f"</b:{k}>"
        if isinstance(v, list):
            return f"<b:{k}>" + "".join(el("server", x) for x in v) + f"</b:{k}>"
        return f"<b:{k}>{v}</b:{k}>"
    body = "".join(el(k, v) for k, v in fields.items())
    return (f'<s:Envelope xmlns:s="{ns}" xmlns:b="{B}"><s:Body><b:{op}>{body}</b:{op}>'
            f"</s:Body></s:Envelope>")


def parse(resp, what):
    """Returns ('ok', {field: text...} of the response element, incl. nested callback) or
    ('fault', {code, reason, status, type})."""
    try:
        root = ET.fromstring(resp.body)
    except ET.ParseError as e:
        beckon.fail(f"{what}: answer is not XML ({e}): {resp}")
    ns = root.tag[1:].split("}")[0]
    check(ns in (E11, E12), f"{what}: not a SOAP envelope: {resp}")
    body = root.find(f"{{{ns}}}Body")
    first = list(body)[0]
    if first.tag == f"{{{ns}}}Fault":
        if ns == E11:
            code = first.findtext("faultcode").split(":")[-1]
            reason = first.findtext("faultstring")
            prob = first.find(f"detail/{{{B}}}problem")
        else:
            code = first.findtext(f"{{{ns}}}Code/{{{ns}}}Value").split(":")[-1]
            reason = first.findtext(f"{{{ns}}}Reason/{{{ns}}}Text")
            prob = first.find(f"{{{ns}}}Detail/{{{B}}}problem")
        out = {"code": code, "reason": reason, "version": 11 if ns == E11 else 12}
        if prob is not None:
            out["status"] = int(prob.findtext(f"{{{B}}}status"))
            out["type"] = prob.findtext(f"{{{B}}}type")
        return "fault", out
    rec = {}
    for child in first.iter():
        if child is first or list(child):
            continue
        rec.setdefault(child.tag.split("}")[1], child.text)
    rec["_op"] = first.tag.split("}")[1]
    return "ok", rec


def expect_fault(resp, http, code, status, detail, what):
    kind, f = parse(resp, what)
    check(kind == "fault", f"{what}: want a Fault, got {resp}")
    check(resp.status == http, f"{what}: HTTP {resp.status}, want {http}: {f}")
    check(f["code"] == code, f"{what}: code {f['code']}, want {code}")
    # SOAP 1.1 forbids a detail on header errors (MustUnderstand).
    if not (f["code"] == "MustUnderstand" and f["version"] == 11):
        check(f.get("status") == status,
              f"{what}: problem status {f.get('status')}, want {status}")
    check(detail in (f["reason"] or ""), f"{what}: reason {f['reason']!r} lacks {detail!r}")
    return f


def test_examples(env):
    r = env.redis()
    gw = env.gateway(r)
    valid = sorted(glob.glob(os.path.join(SOAP_EXAMPLES, "valid", "*.xml")),
                   key=lambda p: ("request" not in p, "get" not in p, p))
    for path in valid:
        name = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        version = 12 if E12.encode() in data else 11
        resp = soap(gw, data, version)
        kind, rec = parse(resp, name)
        if "complete" in name:  # the requests are still queued: 409 as a Fault
            check(kind == "fault" and rec["status"] == 409, f"{name}: {resp}")
            continue
        check(kind == "ok" and resp.status == 200, f"{name}: {resp}")
        want = "cancelled" if "cancel" in name else "queued"
        check(rec.get("status") == want, f"{name}: status {rec.get('status')}, want {want}")
    invalid = sorted(glob.glob(os.path.join(SOAP_EXAMPLES, "invalid", "*.xml")))
    check(len(invalid) >= 30, f"only {len(invalid)} invalid examples")
    for path in invalid:
        name = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        exp = json.loads(data[len(b"<!-- expect: "):data.index(b" -->")])
        h = {"Content-Type": exp["content_type"]}
        if "soapaction" in exp:
            h["SOAPAction"] = exp["soapaction"]
        resp = beckon.http_request(gw.port, "POST", "/soap", data, headers=h)
        expect_fault(resp, exp["http"], exp["code"], exp["status"], exp["detail"], name)
    check(beckon.http_status(gw.port, "/healthz") == 200, "gateway unhealthy after examples")


def test_operations_both_versions(env):
    r, edge, gw, app = env.stack()
    env.agent(edge, AOR, INST, trusted=[app.hostport])
    srv = {"host": "127.0.0.1", "port": app.port}
    for v in (11, 12):
        rid = f"soap-op-{v}"
        fields = {"device": "7546658000", "request_id": rid, "server": srv,
                  "protocol": "http", "path": "/cb", "component": "voicemail",
                  "alt_servers": [{"host": "127.0.0.1", "port": 9}], "ttl_s": 60,
                  "on_behalf_of": "app-7"}
        resp = soap(gw, envelope("RequestCallback", fields, v), v, "RequestCallback")
        kind, rec = parse(resp, "RequestCallback")
        check(kind == "ok" and rec == {"request_id": rid, "status": "queued",
                                       "_op": "RequestCallbackResponse"}, f"{v}: {resp}")
        check(resp.headers["content-type"].startswith(
            "text/xml" if v == 11 else "application/soap+xml"), f"{resp.headers}")
        app.wait_callbacks(rid)

        def delivered():
            k, rec = parse(soap(gw, envelope("GetCallbackStatus", {"request_id": rid}, v), v),
                           "get")
            return rec if k == "ok" and rec.get("status") == "delivered" else None
        rec = beckon.wait_for(delivered, f"{rid} delivered over SOAP {v}")
        check(rec["_op"] == "GetCallbackStatusResponse" and rec["sip_status"] == "200" and
              rec["on_behalf_of"] == "app-7" and rec["requested_by"] == "default" and
              rec["component"] == "voicemail", f"record {rec}")
        kind, rec = parse(soap(gw, envelope("CompleteCallback", {"request_id": rid}, v), v,
                               "CompleteCallback"), "complete")
        check(kind == "ok" and rec["status"] == "completed" and rec["completed_at"], f"{rec}")
        # SOAP 1.1 answers every Fault with 500; 1.2 a Sender Fault with 400.
        code, http = ("Client", 500) if v == 11 else ("Sender", 400)
        expect_fault(soap(gw, envelope("CancelCallback", {"request_id": rid}, v), v),
                     http, code, 409, "is completed", "cancel completed")
        # A queued one (unknown device) is cancelled.
        q = f"soap-q-{v}"
        soap(gw, envelope("RequestCallback", {"device": "999", "request_id": q}, v), v)
        kind, rec = parse(soap(gw, envelope("CancelCallback", {"request_id": q}, v), v,
                               "CancelCallback"), "cancel")
        check(kind == "ok" and rec["status"] == "cancelled" and rec["reason"] == "cancelled",
              f"{rec}")
        # Faults carry the REST problem: 404, 400.
        expect_fault(soap(gw, envelope("GetCallbackStatus", {"request_id": "nope"}, v), v),
                     http, code, 404, "no callback request 'nope'", "unknown request")
        expect_fault(soap(gw, envelope("RequestCallback", {"device": "1", "ttl_s": 0}, v), v),
                     http, code, 404, "no subscribed binding", "ttl 0, unknown device")


def test_soap_and_rest_are_one_request(env):
    r = env.redis()
    gw = env.gateway(r)
    fields = {"device": "7546658000", "request_id": "one-1", "path": "/x", "ttl_s": 120,
              "server": {"host": "app.example.com", "port": 443}}
    kind, rec = parse(soap(gw, envelope("RequestCallback", fields, 12), 12), "soap")
    check(kind == "ok", f"{rec}")
    # The same fields over REST: the same request (200), a different one: 409.
    again = gw.post(fields)
    check(again.status == 200 and again.json["status"] == "queued", f"REST retry: {again}")
    other = gw.post(dict(fields, path="/y"))
    check(other.status == 409, f"REST with another body: {other}")
    st = gw.get("one-1").json
    check(st["request"]["server"] == {"host": "app.example.com", "port": 443} and
          st["request"]["ttl_s"] == 120, f"{st}")
    # A REST-made request is read over SOAP, and the client header applies to both.
    check(gw.post({"device": "1", "request_id": "one-2"}).status == 202, "REST create")
    kind, rec = parse(soap(gw, envelope("GetCallbackStatus", {"request_id": "one-2"}), 11),
                      "soap get")
    check(kind == "ok" and rec["request_id"] == "one-2", f"{rec}")
    kind, rec = parse(soap(gw, envelope("GetCallbackStatus", {"request_id": "one-2"}), 11,
                           headers={"X-Beckon-Client": "someone-else"}), "other client")
    check(kind == "fault" and rec["status"] == 404, f"{rec}")
    # Same validation messages as REST.
    rest = gw.post({"device": "1", "server": {"host": "a.example", "port": 0}})
    kind, f = parse(soap(gw, envelope("RequestCallback",
                                      {"device": "1", "server": {"host": "a.example",
                                                                 "port": 0}})), "port 0")
    check(kind == "fault" and f["reason"] == rest.json["detail"] and f["status"] == 400 and
          f["type"] == "bad-request", f"{f} vs {rest.json}")


def test_hostile_xml(env):
    r = env.redis()
    gw = env.gateway(r, extra=["--max-body", "16384"])
    ok = envelope("GetCallbackStatus", {"request_id": "x"})
    # Billion laughs, 10^9 expansions if anything expanded it: refused fast.
    lol = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10 if i else "lol"}">'
                  for i in range(10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE s:Envelope [{lol}]>' + ok.replace(
        "<b:request_id>x", "<b:request_id>&l9;")
    t0 = time.monotonic()
    expect_fault(soap(gw, bomb), 500, "Client", 400, "DOCTYPE", "billion laughs")
    check(time.monotonic() - t0 < 1, "billion laughs took over a second")
    xxe = ('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' +
           ok.replace("<b:request_id>x", "<b:request_id>&x;"))
    expect_fault(soap(gw, xxe, 12), 400, "Sender", 400, "DOCTYPE", "external entity")
    # UTF-16: the byte scan cannot see the DOCTYPE, the parser's hook does.
    u16 = ('<?xml version="1.0" encoding="UTF-16"?>' + bomb[len('<?xml version="1.0"?>'):])
    expect_fault(soap(gw, u16.encode("utf-16")), 500, "Client", 400, "DOCTYPE", "UTF-16 bomb")
    # Oversize (over max-body, under the hard limit): a Fault, 413 inside.
    big = ok.replace("<b:request_id>x", "<b:request_id>" + "x" * 20000)
    expect_fault(soap(gw, big), 500, "Client", 413, "larger than 16384 bytes", "oversize")
    # Far over: refused by the HTTP layer before it is read.
    huge = soap(gw, "<" + "a" * 100000)
    check(huge.status == 413, f"huge body: {huge}")
    # 3000 levels, cut to fit max-body: the depth bound stops the parser long before the end.
    deep = ok.replace("<b:request_id>x</b:request_id>", "<b:d>" * 3000)[:16000]
    expect_fault(soap(gw, deep), 500, "Client", 400, "nested deeper than 32", "deep 3000")
    deep40 = ok.replace("<b:request_id>x</b:request_id>", "<b:d>" * 40 + "</b:d>" * 40)
    expect_fault(soap(gw, deep40), 500, "Client", 400, "nested deeper than 32", "deep 40")
    many = ok.replace("<b:request_id>x</b:request_id>", "<b:e/>" * 1500)
    expect_fault(soap(gw, many, 12), 400, "Sender", 400, "more than 1000 elements", "many")
    expect_fault(soap(gw, ok.replace("GetCallbackStatus", "Shutdown")), 500, "Client", 400,
                 "unknown operation", "unknown operation")
    expect_fault(soap(gw, ok, content_type="application/json"), 415, "Client", 415,
                 "Content-Type must be", "JSON content type")
    expect_fault(soap(gw, ok, content_type="text/xml"), 500, "Client", 400,
                 "needs a SOAPAction header", "no SOAPAction")
    expect_fault(soap(gw, ok, 12), 500, "VersionMismatch", 400, "envelope namespace",
                 "1.1 envelope as 1.2")
    expect_fault(soap(gw, ok.replace(E11, E12)), 500, "VersionMismatch", 400,
                 "envelope namespace", "1.2 envelope as 1.1")
    expect_fault(soap(gw, b"\x00\xff garbage"), 500, "Client", 400, "malformed XML", "binary")
    expect_fault(soap(gw, b""), 500, "Client", 400, "malformed XML", "empty")
    r405 = beckon.http_request(gw.port, "GET", "/soap")
    check(r405.status == 405, f"GET /soap: {r405}")
    # Still serving.
    kind, _ = parse(soap(gw, ok), "after the attacks")
    check(kind == "fault", "GetCallbackStatus of an unknown id")
    check(beckon.http_status(gw.port, "/healthz") == 200, "gateway unhealthy")


if __name__ == "__main__":
    beckon.main(globals())
