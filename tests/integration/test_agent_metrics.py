#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""contact-agent's optional HTTP server (--http-listen): /healthz, /readyz (200 only while
registered) and /metrics (beckon_agent_*). The agent starts on a registrar that is not there,
so it is unready and fails over to its backup (the edge); once registered it is ready, and
the counters follow a delivered callback, an untrusted server and a malformed NOTIFY. A bad
http-listen value stops the agent before it starts."""
import subprocess

import _path  # noqa: F401
import _agent_sip as raw
import _prom
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000a7"


def test_ready_and_counters(env):
    r, edge, gw, app = env.stack()
    rogue = env.app_server()
    dead = beckon.free_port(udp_too=True)  # nothing answers SIP there
    port = beckon.free_port()
    argv = [env.binary("contact-agent"), "--registrar", f"sip:127.0.0.1:{dead}",
            "--backup-registrar", edge.registrar(), "--aor", AOR, "--instance-id", INST,
            "--sip-listen", "udp:127.0.0.1:0", "--trusted-servers", app.hostport,
            "--register-retry", "2", "--sip-timeout", "2",
            "--http-listen", f"127.0.0.1:{port}"]
    agent = env.spawn("contact-agent", argv)
    agent.wait_log(f"http listening on port {port}")
    check(beckon.http_status(port, "/healthz") == 200, "healthz not 200")
    # Not registered yet (the first registrar cannot answer 200): unready.
    check(beckon.http_status(port, "/readyz") == 503, "readyz not 503 before registering")
    agent.wait_log("register failed")
    agent.wait_log("registrar switched")
    check(beckon.http_status(port, "/readyz") == 503, "readyz not 503 after a failed REGISTER")
    m = _prom.scrape(port)
    check(m.value("beckon_agent_registered") == 0, "registered gauge not 0")
    check(m.value("beckon_agent_registers_total", result="failed") >= 1,
          "failed REGISTER not counted")
    check(m.value("beckon_agent_registrar_switches_total", reason="register-failed") >= 1,
          "registrar switch not counted")

    agent.wait_log(f"registered aor={AOR}")
    beckon.wait_for(lambda: beckon.http_status(port, "/readyz") == 200, "readyz 200")
    m = _prom.scrape(port)
    check(m.value("beckon_agent_registered") == 1, "registered gauge not 1")
    check(m.value("beckon_agent_registers_total", result="ok", **{"class": "2xx"}) >= 1,
          "REGISTER 200 not counted")
    check(m.value("beckon_agent_register_attempts_total") >=
          m.value("beckon_agent_registers_total"), "attempts below answers")
    check(beckon.http_status(port, "/nowhere") == 404, "unknown path not 404")

    # A delivered callback.
    rid = gw.callback("7546658000", app, request_id="am-ok")
    app.wait_callbacks(rid)
    beckon.wait_for(lambda: _prom.scrape(port).value("beckon_agent_callbacks_total",
                                                     result="ok") == 1, "callbacks ok == 1")
    m = _prom.scrape(port)
    check(m.value("beckon_agent_notifies_total", outcome="accepted") == 1, "accepted != 1")
    check(m.value("beckon_agent_requests_total", outcome="started") == 1, "started != 1")

    # An untrusted server: answered 200, never called back.
    rid = gw.callback("7546658000", rogue, request_id="am-untrusted")
    gw.wait_status(rid, "delivered")
    agent.wait_log(f"untrusted server {rogue.hostport} refused request-id={rid}")
    m = _prom.scrape(port)
    check(m.value("beckon_agent_notifies_total", outcome="accepted") == 2, "accepted != 2")
    check(m.value("beckon_agent_requests_total", outcome="untrusted") == 1, "untrusted != 1")
    check(m.value("beckon_agent_callbacks_total") == 1, "an untrusted request was called back")

    # A malformed body: 400, counted as bad-body.
    target = raw.agent_contact(r, "7546658000")
    check(raw.send_notify(target, AOR, "no-equals-sign\r\n") == 400, "bad body not 400")
    m = _prom.scrape(port)
    check(m.value("beckon_agent_notifies_total", outcome="bad-body") == 1, "bad-body != 1")
    check(not rogue.received, f"untrusted server was contacted: {rogue.received}")


def test_bad_http_listen(env):
    argv = [env.binary("contact-agent"), "--registrar", "sip:127.0.0.1:5060", "--aor", AOR,
            "--instance-id", INST]
    for bad in ("garbage", "127.0.0.1:99999", "localhost:80"):
        p = subprocess.run(argv + ["--http-listen", bad], capture_output=True, text=True,
                           timeout=15, cwd=env.tmp)
        out = p.stdout + p.stderr
        check(p.returncode == 2 and "http-listen" in out and bad in out,
              f"--http-listen {bad}: exit {p.returncode}, want 2 and a message naming it: {out}")


if __name__ == "__main__":
    beckon.main(globals())
