#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""API security (issue 4): HTTPS with a test CA made here by openssl (TLS 1.0/1.1 refused,
plain HTTP on the HTTPS port refused, no start without a certificate unless insecure-http),
client certificates, API keys (missing, wrong, revoked with scripts/beckon-admin: 401), scope
(package, device prefix, role: 403), the per-key rate limit (429 + Retry-After), one client
never seeing another's requests, SOAP Faults for the same, health endpoints that say nothing,
/metrics behind a key on the API port and open only on --metrics-listen."""
import hashlib
import os
import re
import socket
import ssl
import subprocess
import warnings

import _path  # noqa: F401
import beckon
from beckon import check

ADMIN = os.path.join(beckon.SOURCE_ROOT, "scripts", "beckon-admin")
NO_KEY = {"Authorization": None}


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def body(app, rid=None, device="7546658000", **kw):
    b = {"device": device, "server": {"host": "127.0.0.1", "port": app.port}, "path": "/cb"}
    if rid:
        b["request_id"] = rid
    b.update(kw)
    return b


def post(gw, b, key=None, headers=None):
    h = dict(headers or {})
    if key:
        h.update(bearer(key))
    return beckon.http_request(gw.port, "POST", "/v1/callbacks", b, headers=h)


def req(gw, method, path, key, headers=None):
    h = dict(headers or {})
    h.update(bearer(key) if key else NO_KEY)
    return beckon.http_request(gw.port, method, path, headers=h)


def problem(resp, status, detail=None):
    check(resp.status == status, f"want {status}, got {resp}")
    check(resp.headers.get("content-type", "").startswith("application/problem+json"),
          f"not a problem: {resp.headers}")
    if detail:
        check(detail in resp.json.get("detail", ""), f"detail lacks {detail!r}: {resp}")


def admin(redis, *args):
    p = subprocess.run([ADMIN, "--redis-url", redis.url, *args], capture_output=True,
                       text=True, timeout=20)
    check(p.returncode == 0, f"beckon-admin {args}: rc={p.returncode} {p.stderr}")
    return p.stdout


def test_health_reveals_nothing(env):
    r = env.redis()
    gw = env.gateway(r)
    for path, want in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
        resp = req(gw, "GET", path, None)
        check(resp.status == 200 and resp.json == want, f"{path}: {resp}")


def test_metrics_protected(env):
    r = env.redis()
    mport = beckon.free_port()
    gw = env.gateway(r, tls=True, extra=["--metrics-listen", f"127.0.0.1:{mport}"])
    problem(req(gw, "GET", "/metrics", None), 401)
    resp = req(gw, "GET", "/metrics", gw.key("scraper"))
    check(resp.status == 200 and b"beckon_http_requests_total" in resp.body, f"{resp}")
    # The separate listener: plain HTTP, no key, nothing but metrics and health.
    resp = beckon.http_request(mport, "GET", "/metrics")
    check(resp.status == 200 and b"beckon_http_requests_total" in resp.body, f"{resp}")
    check(beckon.http_request(mport, "GET", "/healthz").status == 200, "metrics-listen health")
    problem(beckon.http_request(mport, "GET", "/v1/callbacks/x"), 404)
    problem(beckon.http_request(mport, "POST", "/v1/callbacks", {"device": "1"}), 404)


def test_no_plain_http_unless_configured(env):
    r = env.redis()
    p = subprocess.run([env.binary("api-gateway"), "--http-listen",
                        f"127.0.0.1:{beckon.free_port()}", "--redis-url", r.url],
                       capture_output=True, text=True, timeout=15)
    check(p.returncode != 0 and "tls-cert" in p.stderr and "insecure-http" in p.stderr,
          f"started without a certificate: rc={p.returncode} {p.stderr}")


def test_https(env):
    r = env.redis()
    gw = env.gateway(r, tls=True)
    app = env.app_server()
    gw.proc.wait_log("scheme=https")
    resp = post(gw, body(app, "tls-1"))
    check(resp.status == 202, f"POST over HTTPS: {resp}")
    resp = beckon.http_request(gw.port, "GET", "/v1/callbacks/tls-1")
    check(resp.status == 200 and resp.json["request_id"] == "tls-1", f"GET over HTTPS: {resp}")
    with socket.create_connection(("127.0.0.1", gw.port)) as s, \
            gw.context.wrap_socket(s, server_hostname="localhost") as t:
        check(t.version() in ("TLSv1.3", "TLSv1.2"), f"negotiated {t.version()}")

    # TLS 1.0/1.1 refused by the server: let the local OpenSSL offer them (security level 0),
    # so a failure is the server's answer, not our own library declining to try.
    warnings.simplefilter("ignore", DeprecationWarning)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(gw.certs["ca"])
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = v
            ctx.maximum_version = v
        except (ValueError, ssl.SSLError) as e:
            print(f"note: local OpenSSL cannot offer {v.name}: {e}; checked by the priority "
                  "string only")
            continue
        if v == ssl.TLSVersion.TLSv1_2:
            # The control: this same permissive client does get through with TLS 1.2.
            with socket.create_connection(("127.0.0.1", gw.port)) as s, \
                    ctx.wrap_socket(s, server_hostname="localhost") as t:
                check(t.version() == "TLSv1.2", f"{t.version()}")
                check("GCM" in t.cipher()[0] or "CHACHA" in t.cipher()[0],
                      f"not an AEAD cipher: {t.cipher()}")
            continue
        try:
            with socket.create_connection(("127.0.0.1", gw.port)) as s, \
                    ctx.wrap_socket(s, server_hostname="localhost") as t:
                beckon.fail(f"{v.name} accepted: {t.version()}")
        except ssl.SSLError as e:
            # GnuTLS either alerts protocol_version or drops the connection ("received
            # handshake message out of context"), which OpenSSL reports as an early EOF.
            check(any(w in str(e).upper() for w in ("VERSION", "HANDSHAKE", "EOF")),
                  f"{v.name}: unexpected error {e}")
        except ConnectionResetError:
            pass

    # Plain HTTP to the HTTPS port gets no HTTP answer.
    try:
        resp = beckon.http_request(gw.port, "GET", "/healthz", context=False, timeout=5)
        check(resp.status >= 400, f"plain HTTP answered on the HTTPS port: {resp}")
    except (OSError, beckon.http.client.HTTPException):
        pass
    # A client that does not trust the gateway's CA refuses it (the certificate is real TLS).
    try:
        beckon.http_request(gw.port, "GET", "/healthz", context=ssl.create_default_context())
        beckon.fail("a certificate from an unknown CA was accepted")
    except ssl.SSLCertVerificationError:
        pass
    check(gw.proc.alive(), "gateway died")


def test_client_certificates(env):
    r = env.redis()
    gw = env.gateway(r, tls=True, require_client_cert=True)
    app = env.app_server()
    resp = post(gw, body(app, "mtls-1"))
    check(resp.status == 202, f"with a client certificate: {resp}")
    bare = ssl.create_default_context(cafile=gw.certs["ca"])
    check(beckon.http_request(gw.port, "GET", "/readyz", context=bare).status == 200,
          "health needs no client certificate")
    resp = beckon.http_request(gw.port, "GET", "/v1/callbacks/mtls-1", context=bare)
    problem(resp, 403, "client certificate is required")
    # A certificate from another CA is refused (by the handshake or with 403).
    other = beckon.make_certs(os.path.join(env.tmp, "other"), names=(), clients=("rogue",))
    rogue = ssl.create_default_context(cafile=gw.certs["ca"])
    rogue.load_cert_chain(*other["rogue"])
    try:
        resp = beckon.http_request(gw.port, "GET", "/v1/callbacks/mtls-1", context=rogue)
        problem(resp, 403, "not valid")
    except (ssl.SSLError, ConnectionResetError):
        pass


def test_certificate_identity(env):
    """No Authorization header: a verified client certificate's CN names the client through
    beckon:apicert:<CN> (made with beckon-admin --cert-cn)."""
    r = env.redis()
    gw = env.gateway(r, tls=True, client_ca=True)
    app = env.app_server()
    problem(post(gw, body(app, "cert-1"), headers=NO_KEY), 401, "unknown client certificate")
    admin(r, "apikey", "create", "--client", "cert-app", "--role", "app-server", "--cert-cn",
          "client", "--devices", "num:7546")
    check("cert:client" in admin(r, "apikey", "list"), "list shows the certificate record")
    check(post(gw, body(app, "cert-1"), headers=NO_KEY).status == 202, "by certificate")
    problem(post(gw, body(app, "cert-2", device="1234"), headers=NO_KEY), 403, "device")
    c = r.client()
    check(c.scan("beckon:req:*") == ["beckon:req:cert-app:cert-1"], "stored under cert-app")
    c.close()
    # Without a client certificate the same request is anonymous.
    bare = ssl.create_default_context(cafile=gw.certs["ca"])
    problem(beckon.http_request(gw.port, "GET", "/v1/callbacks/cert-1", headers=NO_KEY,
                                context=bare), 401)
    # A key still wins over the certificate (and names its own client).
    resp = beckon.http_request(gw.port, "GET", "/v1/callbacks/cert-1")
    problem(resp, 404)
    admin(r, "apikey", "revoke", "cert:client")
    beckon.wait_for(lambda: beckon.http_request(gw.port, "GET", "/v1/callbacks/cert-1",
                                                headers=NO_KEY).status == 401,
                    "revoked certificate record refused", timeout=12, poll=0.5)


def test_keys(env):
    r = env.redis()
    gw = env.gateway(r)
    app = env.app_server()

    resp = post(gw, body(app), headers=NO_KEY)
    problem(resp, 401, "API key is required")
    check(resp.headers.get("www-authenticate") == 'Bearer realm="beckon"', f"{resp.headers}")
    resp = post(gw, body(app), key="not-a-key")
    problem(resp, 401, "unknown API key")
    check('error="invalid_token"' in resp.headers.get("www-authenticate", ""), f"{resp.headers}")
    resp = post(gw, body(app), headers={"Authorization": "Basic dXNlcjpwYXNz"})
    problem(resp, 401, "Bearer")
    for m, path in (("GET", "/v1/callbacks/x"), ("DELETE", "/v1/callbacks/x"),
                    ("POST", "/v1/callbacks/x/complete"), ("GET", "/nowhere")):
        problem(req(gw, m, path, None), 401)
    problem(req(gw, "GET", "/v1/callbacks/x", "x" * 300), 401)

    # The admin tool: create prints the key once; list shows the client; Redis has only the hash.
    key = admin(r, "apikey", "create", "--client", "tool-app", "--role", "app-server",
                "--rate", "50").strip()
    check(re.fullmatch(r"[A-Za-z0-9_-]{43}", key), f"key format: {key!r}")
    h = hashlib.sha256(key.encode()).hexdigest()
    c = r.client()
    stored = c.hgetall(f"beckon:apikey:{h}")
    check(stored.get("client") == "tool-app" and stored.get("role") == "app-server" and
          stored.get("rate") == "50", f"stored {stored}")
    check(not any(key in k for k in c.scan("*")), "the key itself is in Redis")
    c.close()
    check("tool-app" in admin(r, "apikey", "list"), "list")
    resp = post(gw, body(app, "tool-1"), key=key)
    check(resp.status == 202, f"admin-made key: {resp}")
    check(req(gw, "GET", "/v1/callbacks/tool-1", key).status == 200, "GET with key")

    # Revoked: refused once the gateway's cache (5 s) has expired.
    admin(r, "apikey", "revoke", h[:12])
    check(r.client().hgetall(f"beckon:apikey:{h}").get("revoked"), "revoked not set")
    beckon.wait_for(lambda: req(gw, "GET", "/v1/callbacks/tool-1", key).status == 401,
                    "revoked key refused", timeout=12, poll=0.5)
    resp = req(gw, "GET", "/v1/callbacks/tool-1", key)
    problem(resp, 401, "revoked")
    # A key deleted from Redis is unknown.
    k2 = gw.key("gone")
    check(req(gw, "GET", "/v1/callbacks/none", k2).status == 404, "fresh key")
    c = r.client()
    c("DEL", f"beckon:apikey:{hashlib.sha256(k2.encode()).hexdigest()}")
    c.close()
    beckon.wait_for(lambda: req(gw, "GET", "/v1/callbacks/none", k2).status == 401,
                    "deleted key refused", timeout=12, poll=0.5)


def test_scope(env):
    r = env.redis()
    gw = env.gateway(r, extra=["--packages", "application-server-contact-me,other-pkg"])
    app = env.app_server()

    k = gw.key("scoped", devices="num:7546, aor:sip:alice@example.com", packages=
               "application-server-contact-me")
    check(post(gw, body(app, "s-1"), key=k).status == 202, "in scope")
    check(post(gw, body(app, "s-2", device="sip:alice@example.com"), key=k).status == 202,
          "aor in scope")
    problem(post(gw, body(app, "s-3", device="7547000000"), key=k), 403, "device '7547000000'")
    problem(post(gw, body(app, "s-4", device="sip:bob@example.com"), key=k), 403, "device")
    problem(post(gw, body(app, "s-5", package="other-pkg"), key=k), 403, "package 'other-pkg'")

    ct = gw.key("ct-server", role="contact-triggering")
    problem(post(gw, body(app, "r-1"), key=ct), 403, "on_behalf_of")
    resp = post(gw, body(app, "r-2", on_behalf_of="app-9"), key=ct)
    check(resp.status == 202, f"contact-triggering with on_behalf_of: {resp}")
    st = req(gw, "GET", "/v1/callbacks/r-2", ct).json
    check(st["requested_by"] == "ct-server" and st["on_behalf_of"] == "app-9", f"{st}")
    problem(post(gw, body(app, "r-3", on_behalf_of="app-9"), key=k), 403, "on_behalf_of")
    # Nothing was stored for the refused requests.
    c = r.client()
    keys = c.scan("beckon:req:*")
    c.close()
    check(not any(x in k for k in keys for x in ("s-3", "s-4", "s-5", "r-1", "r-3")),
          f"refused request stored: {keys}")


def test_rate_limit(env):
    r = env.redis()
    gw = env.gateway(r)
    k = gw.key("slow", rate=2)
    seen = []
    for _ in range(12):
        resp = req(gw, "GET", "/v1/callbacks/none", k)
        seen.append(resp.status)
        if resp.status == 429:
            break
    check(seen[-1] == 429, f"no 429 at 2/s: {seen}")
    check(seen[0] == 404, f"first request refused: {seen}")
    problem(resp, 429, "rate limit")
    check(int(resp.headers.get("retry-after", "0")) >= 1, f"Retry-After: {resp.headers}")
    # Another key is not affected.
    check(req(gw, "GET", "/v1/callbacks/none", gw.key("fast")).status == 404, "other key")


def test_clients_isolated(env):
    r = env.redis()
    gw = env.gateway(r)
    app = env.app_server()
    a, b = gw.key("client-a"), gw.key("client-b")
    check(post(gw, body(app, "iso-1"), key=a).status == 202, "A creates")
    for m, path in (("GET", "/v1/callbacks/iso-1"), ("DELETE", "/v1/callbacks/iso-1"),
                    ("POST", "/v1/callbacks/iso-1/complete")):
        problem(req(gw, m, path, b), 404)
        # X-Beckon-Client no longer picks the namespace.
        problem(req(gw, m, path, b, headers={"X-Beckon-Client": "client-a"}), 404)
    st = req(gw, "GET", "/v1/callbacks/iso-1", a)
    check(st.status == 200 and st.json["status"] == "queued", f"A's request touched: {st}")
    check(post(gw, body(app, "iso-1"), key=b).status == 202, "B's own iso-1")
    check(req(gw, "GET", "/v1/callbacks/iso-1", b).json["requested_by"] == "client-b", "B")


def soap(gw, op, fields, key):
    inner = "".join(f"<b:{k}>{v}</b:{k}>" for k, v in fields.items())
    xml = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
           f'xmlns:b="urn:beckon:soap:v1"><s:Body><b:{op}>{inner}</b:{op}></s:Body>'
           "</s:Envelope>")
    h = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"urn:beckon:soap:v1:{op}"'}
    h.update(bearer(key) if key else NO_KEY)
    return beckon.http_request(gw.port, "POST", "/soap", xml.encode(), headers=h)


def fault_status(resp):
    m = re.search(rb"<[^>]*status>(\d+)<", resp.body)
    return int(m.group(1)) if m else None


def test_soap(env):
    r = env.redis()
    gw = env.gateway(r)
    app = env.app_server()
    a, b = gw.key("soap-a"), gw.key("soap-b", devices="num:9")
    fields = {"device": "7546658000", "request_id": "soap-1",
              "server": f"<b:host>127.0.0.1</b:host><b:port>{app.port}</b:port>"}
    resp = soap(gw, "RequestCallback", fields, a)
    check(resp.status == 200, f"SOAP with a key: {resp}")
    resp = soap(gw, "RequestCallback", fields, None)
    check(resp.status == 500 and b"Fault" in resp.body and fault_status(resp) == 401,
          f"SOAP without a key: {resp}")
    check(resp.headers.get("www-authenticate", "").startswith("Bearer"), f"{resp.headers}")
    resp = soap(gw, "GetCallbackStatus", {"request_id": "soap-1"}, b)
    check(b"Fault" in resp.body and fault_status(resp) == 404, f"other client's: {resp}")
    resp = soap(gw, "RequestCallback", fields, b)
    check(b"Fault" in resp.body and fault_status(resp) == 403, f"out of scope: {resp}")
    resp = soap(gw, "GetCallbackStatus", {"request_id": "soap-1"}, a)
    check(resp.status == 200 and b"soap-1" in resp.body, f"own request: {resp}")


if __name__ == "__main__":
    beckon.main(globals())
