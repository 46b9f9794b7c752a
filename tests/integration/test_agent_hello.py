#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The agent's hello (setting hello-url): after its first successful registration the agent
POSTs {device {aor, instance, mac}, registrar, packages, agent} to the app server, once;
a 503 is retried with backoff until the server accepts it."""
import json
import threading
import http.server

import _path  # noqa: F401
import beckon
from beckon import check

AOR = "sip:7546658000@example.com"
MAC_INST = "urn:dev:mac:0011223344AA"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-0000000000a1"


def hellos(app):
    with app.lock:
        return [r for r in app.received if r["path"] == "/hello"]


def test_hello_fields(env):
    r, edge, gw, app = env.stack()
    agent = env.agent(edge, AOR, MAC_INST, trusted=[app.hostport],
                      extra=["--hello-url", f"http://{app.hostport}/hello",
                             "--packages", "application-server-contact-me,app-b"])
    got = beckon.wait_for(lambda: hellos(app), "the hello on the app server")
    h = got[0]
    check(h["method"] == "POST", f"hello method {h['method']}")
    check(h["headers"].get("Content-Type", "").startswith("application/json"),
          f"hello content type {h['headers']}")
    body = h["json"]
    check(isinstance(body, dict), f"hello body is not JSON: {h['body']!r}")
    check(body.get("device") == {"aor": AOR, "instance": MAC_INST, "mac": "0011223344aa"},
          f"hello device: {body.get('device')}")
    check(body.get("registrar") == edge.registrar("udp"), f"hello registrar: {body}")
    check(body.get("packages") == ["application-server-contact-me", "app-b"],
          f"hello packages: {body}")
    check(str(body.get("agent", "")).startswith("contact-agent/"), f"hello agent: {body}")
    agent.proc.wait_log(f"hello sent url=http://{app.hostport}/hello status=200")
    # Fence: a callback request after it goes through the same agent; still one hello.
    rid = gw.callback("0011223344aa", app, request_id="after-hello")
    app.wait_callbacks(rid)
    check(len(hellos(app)) == 1, f"{len(hellos(app))} hellos, want 1")


def test_hello_retried_after_503(env):
    r, edge, gw, app = env.stack()
    seen = []
    lock = threading.Lock()

    class Flaky(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            with lock:
                seen.append(json.loads(body))
                code = 503 if len(seen) == 1 else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            beckon._notify()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hello"
        agent = env.agent(edge, AOR, INST, trusted=[app.hostport], extra=["--hello-url", url])
        agent.proc.wait_log(f"hello sent url={url} status=503")
        agent.proc.wait_log(f"hello sent url={url} status=200")
        with lock:
            check(len(seen) == 2, f"{len(seen)} hello POSTs, want 2")
            check(seen[0] == seen[1], f"the retry differs: {seen}")
            check("mac" not in seen[0]["device"], f"uuid instance got a mac: {seen[0]}")
    finally:
        srv.shutdown()
        srv.server_close()


def test_hello_unreachable_does_not_delay_shutdown(env):
    r, edge, gw, app = env.stack()
    url = f"http://127.0.0.1:{beckon.free_port()}/hello"  # nothing listens there
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport], extra=["--hello-url", url])
    agent.proc.wait_log(f"hello failed url={url}")
    # Waiting for its retry: SIGTERM must not wait for the backoff (stop's timeout is 15 s,
    # the backoff schedule runs 1+2+4+8 s).
    t0 = beckon.time.monotonic()
    problems = agent.proc.stop(timeout=5)
    env.procs.remove(agent.proc)
    check(not problems, "; ".join(problems))
    check(beckon.time.monotonic() - t0 < 5, "shutdown waited for the hello backoff")


if __name__ == "__main__":
    beckon.main(globals())
