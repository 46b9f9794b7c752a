#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SIP over TLS: contact-agent registers with sip-edge over TLS (verifying the edge's
certificate against its tls-ca), the NOTIFY comes back over that TLS connection and the
callback is made; an agent trusting another CA refuses the edge; a plain TCP client gets no SIP
answer on the TLS port; TLS 1.1 is refused while TLS 1.2 is accepted; with tls-verify-client
an agent without a client certificate is refused and one with a certificate of the CA is
accepted; an agent whose TLS connection is reset connects and registers again."""
import shutil
import socket
import subprocess
import time

import _path  # noqa: F401
import _tlscerts
import beckon
from beckon import check

AOR = "sip:7546658100@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000100"


def pki(env):
    ca = _tlscerts.CA(env.tmp, "beckon")
    cert, key = ca.issue("edge")
    return ca, cert, key


def test_register_and_notify_over_tls(env):
    ca, cert, key = pki(env)
    r = env.redis()
    edge = _tlscerts.TlsEdge(env, r, cert, key)
    gw = env.gateway(r)
    app = env.app_server()
    agent = env.agent(edge, AOR, INST, transport="tcp", trusted=[app.hostport],
                      extra=["--tls-ca", ca.pem])
    _tlscerts.check_transport(r, "7546658100", "tls")
    edge.proc.wait_log("registered aor=sip:7546658100@example.com")
    edge.proc.wait_log("transport=tls")  # a tls binding logged

    rid = gw.callback("7546658100", app, request_id="tls-1")
    app.wait_callbacks(rid)
    st = gw.wait_status(rid, "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    sent = edge.proc.wait_log(f"notify sent request-id={rid}")
    check("transport=tls" in sent[0], f"NOTIFY not sent over the TLS flow: {sent[0]}")
    agent.proc.wait_log(f"notify received request-id={rid}")


def test_agent_refuses_unknown_ca(env):
    ca, cert, key = pki(env)
    rogue = _tlscerts.CA(env.tmp, "other")
    r = env.redis()
    edge = _tlscerts.TlsEdge(env, r, cert, key)
    # A refused handshake only shows as a timeout (sofia 1.12.11): shorten it.
    agent = env.agent(edge, AOR, INST, transport="tcp",
                      extra=["--tls-ca", rogue.pem, "--sip-timeout", "3"], wait=False)
    check(not agent.proc.find("registered aor="), "agent registered with an unverified edge")
    check(not _tlscerts.bindings(r, "7546658100"), "a binding exists after a refused handshake")

    # A certificate of the right CA for another name fails the subject check.
    wrong_cert, wrong_key = ca.issue("edge-wrong-name", cn="sip.example.net",
                                     san="DNS:sip.example.net")
    edge2 = _tlscerts.TlsEdge(env, r, wrong_cert, wrong_key, edge_id="edge-b")
    agent2 = env.agent(edge2, AOR, INST, transport="tcp",
                       extra=["--tls-ca", ca.pem, "--sip-timeout", "3"], wait=False)
    agent.proc.wait_log("register over tls timed out")
    agent.proc.wait_log("register failed status=408")
    agent2.proc.wait_log("register failed status=408")
    check(not agent2.proc.find("registered aor="), "agent accepted a certificate for "
          "another host name")


def test_plain_tcp_and_old_tls_refused(env):
    ca, cert, key = pki(env)
    r = env.redis()
    edge = _tlscerts.TlsEdge(env, r, cert, key)

    # Plain SIP over TCP on the TLS port: the handshake fails, no SIP answer comes back.
    s = socket.create_connection(("127.0.0.1", edge.tls_port), timeout=5)
    s.sendall(b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK1"
              b"\r\nFrom: <sip:1@example.com>;tag=1\r\nTo: <sip:1@example.com>\r\n"
              b"Call-ID: plain@x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
    got = b""
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    check(b"SIP/2.0" not in got, f"plain TCP got a SIP answer on the TLS port: {got[:200]!r}")

    if not shutil.which("openssl"):
        print("openssl CLI missing: TLS version checks skipped")
        return

    def s_client(*opts):
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{edge.tls_port}",
                            "-CAfile", ca.pem, *opts], input="", capture_output=True,
                           text=True, timeout=20)
        return p.returncode, p.stdout + p.stderr

    # The client is made willing (SECLEVEL=0) so that the refusal is the server's.
    rc, out = s_client("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    check(rc != 0 and "Cipher is (NONE)" in out,
          f"TLS 1.1 handshake accepted (rc={rc}):\n{out[-800:]}")
    rc, out = s_client("-tls1_2")
    check(rc == 0 and "Verify return code: 0 (ok)" in out,
          f"TLS 1.2 handshake failed (rc={rc}):\n{out[-800:]}")
    # TLS 1.2 suites are forward-secret AEAD only: a client that offers nothing but CBC suites
    # (which sofia's own "ALL:..." list would accept) is refused.
    rc, out = s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256")
    check(rc != 0 and "Cipher is (NONE)" in out,
          f"TLS 1.2 CBC suite accepted (rc={rc}):\n{out[-800:]}")
    rc, out = s_client("-tls1_3")
    check(rc == 0 and "TLSv1.3" in out, f"TLS 1.3 handshake failed (rc={rc}):\n{out[-800:]}")


def test_client_certificate_required(env):
    ca, cert, key = pki(env)
    r = env.redis()
    edge = _tlscerts.TlsEdge(env, r, cert, key, ca=ca.pem, verify_client=True)
    bare = env.agent(edge, AOR, INST, transport="tcp",
                     extra=["--tls-ca", ca.pem, "--sip-timeout", "3"], wait=False,
                     name="agent-nocert")
    bare.proc.wait_log("register failed")
    check(not _tlscerts.bindings(r, "7546658100"), "registered without a client certificate")
    bare.proc.stop()

    ccert, ckey = ca.issue("device", cn="7546658101.devices.example.com",
                           san="DNS:7546658101.devices.example.com")
    env.agent(edge, "sip:7546658101@example.com", "urn:uuid:3f5c0a5e-0000-4000-8000-000000000101",
              transport="tcp", extra=["--tls-ca", ca.pem, "--tls-cert", ccert, "--tls-key", ckey])
    _tlscerts.check_transport(r, "7546658101", "tls")


def test_agent_reconnects(env):
    """The edge side resets the agent's TLS connection three times (ss -K); the agent
    connects and registers again each time, over a new flow. In the sanitizer build this is
    also the leak check of a closed TLS connection on both sides: sofia never frees its SSL
    (common/src/cm_tlsfree.c does), which LeakSanitizer reports at exit."""
    ca, cert, key = pki(env)
    r = env.redis()
    edge = _tlscerts.TlsEdge(env, r, cert, key)
    app = env.app_server()
    agent = env.agent(edge, AOR, INST, transport="tcp", trusted=[app.hostport],
                      extra=["--tls-ca", ca.pem])
    _tlscerts.check_transport(r, "7546658100", "tls")
    flows = {r.binding("7546658100").get("flow")}
    for i in range(3):
        mark = agent.proc.mark()
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(edge.tls_port)],
                       check=True, capture_output=True)
        agent.proc.wait_log("registered aor=", since=mark)
        beckon.wait_for(lambda: r.binding("7546658100").get("flow") not in flows,
                        f"reconnect {i + 1}: a new flow in the binding")
        flows.add(r.binding("7546658100").get("flow"))
    check(len(flows) == 4, f"flows {flows}")
    # Still reachable over the last connection.
    gw = env.gateway(r)
    rid = gw.callback("7546658100", app, request_id="tls-reconnect")
    app.wait_callbacks(rid)


if __name__ == "__main__":
    beckon.main(globals())
