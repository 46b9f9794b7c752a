#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""contact-agent's protection option: a NOTIFY naming an untrusted server, or asking for a
plain http callback, is answered 403 before anything is done, and beckon records the request
as failed with that status; trusted https callbacks are made with certificate verification
(callback-ca), so a trusted host:port presenting a certificate of another CA is never sent the
body."""
import _path  # noqa: F401
import _tlscerts
import beckon
from beckon import check

AOR = "sip:7546658200@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000200"
DEV = "7546658200"


def test_protect(env):
    ca = _tlscerts.CA(env.tmp, "beckon")
    other = _tlscerts.CA(env.tmp, "other")
    r, edge, gw, _ = env.stack()
    app = _tlscerts.https_app(env, *ca.issue("app"))
    impostor = _tlscerts.https_app(env, *other.issue("impostor"))
    rogue = _tlscerts.https_app(env, *ca.issue("rogue"))  # good certificate, not trusted
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport, impostor.hostport],
                      extra=["--protect", "true", "--callback-ca", ca.pem])

    # Trusted and https: called back, the certificate verified against callback-ca.
    ok = gw.callback(DEV, app, request_id="p-ok", protocol="https")
    app.wait_callbacks(ok)
    st = gw.wait_status(ok, "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")

    # Untrusted server: 403 to the NOTIFY, recorded by beckon, nobody called.
    bad = gw.callback(DEV, rogue, request_id="p-untrusted", protocol="https")
    st = gw.wait_status(bad, "failed")
    check(st.get("sip_status") == 403, f"GET {st}")
    agent.proc.wait_log("notify refused status=403")
    agent.proc.wait_log("reason=Untrusted Server")

    # Trusted server but plain http: refused the same way.
    plain = gw.callback(DEV, app, request_id="p-http", protocol="http")
    st = gw.wait_status(plain, "failed")
    check(st.get("sip_status") == 403, f"GET {st}")
    agent.proc.wait_log("reason=HTTPS Required")

    # Trusted host:port whose certificate is not from callback-ca: accepted at SIP level
    # (nothing in the NOTIFY is wrong), but curl refuses the server, so no body is sent.
    imp = gw.callback(DEV, impostor, request_id="p-impostor", protocol="https")
    gw.wait_status(imp, "delivered")
    agent.proc.wait_log(f"callback failed request-id={imp}")

    # Fence: a later good request is called back, so every earlier one has been handled.
    ok2 = gw.callback(DEV, app, request_id="p-ok-2", protocol="https")
    app.wait_callbacks(ok2)
    check(not rogue.received, f"untrusted server contacted: {rogue.received}")
    check(not app.for_request(plain), "the http request reached the app server")
    check(not impostor.for_request(imp), "the impostor got the callback body")


if __name__ == "__main__":
    beckon.main(globals())
