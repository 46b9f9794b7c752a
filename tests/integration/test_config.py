#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Settings of the three binaries: --help lists them, a bad value is refused naming the
setting, BECKON_<NAME> environment variables and --config files work."""
import os
import re
import subprocess
import types

import _path  # noqa: F401
import beckon
import sipua
from beckon import check

SERVICES = ("sip-edge", "api-gateway", "contact-agent")
COMMON = {"sip-edge": ("sip-listen", "http-listen", "redis-url", "edge-id", "log-level"),
          "api-gateway": ("http-listen", "redis-url", "max-body", "log-level"),
          "contact-agent": ("registrar", "aor", "instance-id", "sip-listen", "trusted-servers",
                            "log-level")}


def run(env, argv, environ=None, timeout=15):
    e = {k: v for k, v in os.environ.items() if not k.startswith("BECKON_")}
    e.update(environ or {})
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e,
                           cwd=env.tmp)
    except subprocess.TimeoutExpired as t:
        beckon.fail(f"{' '.join(argv)} still running after {timeout}s (want it to exit): "
                    f"{t.stdout!r} {t.stderr!r}")
    return p.returncode, p.stdout + p.stderr


# Settings a service cannot start without, so a bad value is the only error left.
REQUIRED = {"contact-agent": ["--registrar", "sip:127.0.0.1:5060", "--aor",
                              "sip:7546658000@example.com", "--instance-id",
                              "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001"],
            # Without it api-gateway refuses to start for want of a certificate (test_api_auth).
            "api-gateway": ["--insecure-http"]}


def help_settings(text):
    """(name, type) of each setting in --help, in the cm_config_usage format."""
    return re.findall(r"^\s+--([a-z0-9-]+)\s+(TEXT|NUMBER|BOOL)\b", text, re.M)


def test_help(env):
    for svc in SERVICES:
        rc, out = run(env, [env.binary(svc), "--help"])
        check(rc == 0, f"{svc} --help exit {rc}\n{out}")
        names = [n for n, _ in help_settings(out)]
        for want in COMMON[svc]:
            check(want in names, f"{svc} --help does not list --{want}:\n{out}")
        check(f"BECKON_{COMMON[svc][0].upper().replace('-', '_')}" in out,
              f"{svc} --help does not name the environment variables:\n{out}")


def test_bad_values(env):
    for svc in SERVICES:
        rc, out = run(env, [env.binary(svc), "--help"])
        settings = help_settings(out)
        numbers = [n for n, t in settings if t == "NUMBER"]
        bad = [(f"--{n}", "not-a-number", n) for n in numbers[:2]]
        bad += [("--no-such-setting", "1", "no-such-setting"),
                ("--log-level", "loud", "log-level")]
        for flag, value, name in bad:
            rc, out = run(env, [env.binary(svc)] + REQUIRED.get(svc, []) + [flag, value])
            check(rc != 0, f"{svc} {flag} {value}: exit 0\n{out}")
            check(name in out, f"{svc} {flag} {value}: message does not name '{name}':\n{out}")
            check("runtime error:" not in out and "AddressSanitizer" not in out, out)
        # Environment values are validated the same way.
        if numbers:
            n = numbers[0]
            var = "BECKON_" + n.upper().replace("-", "_")
            rc, out = run(env, [env.binary(svc)] + REQUIRED.get(svc, []), {var: "many"})
            check(rc != 0 and n in out, f"{svc} with {var}=many: exit {rc}\n{out}")


def test_bad_listen_values(env):
    cases = [("sip-edge", ["--sip-listen", "carrier-pigeon:1.2.3.4:5"], "sip-listen"),
             ("sip-edge", ["--edge-id", "bad id!"], "edge-id"),
             ("sip-edge", ["--http-listen", "127.0.0.1:99999"], "http-listen"),
             ("contact-agent", ["--registrar", "mailto:someone"], "registrar"),
             ("contact-agent", ["--sip-listen", "udp:nowhere"], "sip-listen"),
             ("contact-agent", ["--trusted-servers", "[::1"], "trusted-servers"),
             ("api-gateway", ["--http-listen", "127.0.0.1:99999"], "http-listen"),
             ("api-gateway", ["--redis-url", "http://127.0.0.1:6379"], "redis-url")]
    wrong = []
    for svc, args, name in cases:
        rc, out = run(env, [env.binary(svc)] + REQUIRED.get(svc, []) + args)
        if rc == 0 or name not in out:
            wrong.append(f"{svc} {' '.join(args)}: exit {rc}, want non-zero and a message "
                         f"naming '{name}':\n{out}")
    check(not wrong, "\n".join(wrong))


def test_environment_and_config_file(env):
    r = env.redis()
    # api-gateway from the environment only.
    port = beckon.free_port()
    gw = beckon.Gateway(env, r, http_port=port, environ={
        "BECKON_HTTP_LISTEN": f"127.0.0.1:{port}", "BECKON_REDIS_URL": r.url})
    check(beckon.http_status(gw.port, "/healthz") == 200, "gateway /healthz")

    # sip-edge from a --config file, with one setting overridden by the environment.
    sip = beckon.free_port(udp_too=True)
    http = beckon.free_port()
    cfg = os.path.join(env.tmp, "sip-edge.conf")
    with open(cfg, "w") as f:
        f.write("# test config\n"
                f"sip-listen = udp:127.0.0.1:{sip},tcp:127.0.0.1:{sip}\n"
                "http-listen = 127.0.0.1:1\n"
                f"redis-url = {r.url}\n"
                "edge-id = edge-from-file\n")
    p = env.spawn("sip-edge", [env.binary("sip-edge"), "--config", cfg],
                  environ={"BECKON_HTTP_LISTEN": f"127.0.0.1:{http}"})
    beckon.wait_for(lambda: p.alive() and beckon.http_status(http, "/readyz") == 200
                    or (not p.alive() and beckon.fail(f"sip-edge exited\n{p.tail()}")),
                    "sip-edge (config file + env) /readyz == 200")

    # The config file leaves `auth` at its default, on: the edge says nothing about it being
    # off, and a REGISTER without credentials is challenged.
    check("auth is off" not in p.text(), "sip-edge warned that auth is off by default")
    ua = sipua.SipUA(env, types.SimpleNamespace(sip_port=sip), "7546658301")
    resp = ua.send("REGISTER", "cfg-noauth", 1, [f"Contact: {ua.contact()}", "Expires: 60"])
    check(resp.status == 401, f"REGISTER without credentials at the default: {resp.start}")

    # contact-agent from the environment, registering with that edge with its password.
    beckon.add_credential(r, "7546658300", "s3cret-300")
    app = env.app_server()
    aor = "sip:7546658300@example.com"
    agent = env.spawn("contact-agent", [env.binary("contact-agent")], environ={
        "BECKON_REGISTRAR": f"sip:127.0.0.1:{sip}", "BECKON_AOR": aor,
        "BECKON_INSTANCE_ID": "urn:uuid:00000000-0000-4000-8000-000000000300",
        "BECKON_SIP_LISTEN": "udp:127.0.0.1:0", "BECKON_TRUSTED_SERVERS": app.hostport,
        "BECKON_PASSWORD": "s3cret-300"})
    agent.wait_log(f"registered aor={aor}")
    c = r.client()
    ids = c("ZRANGE", "beckon:dev:num:7546658300", 0, -1)
    check(len(ids) == 1, f"bindings for the env-configured agent: {ids}")
    b = c.hgetall(f"beckon:binding:{ids[0]}")
    c.close()
    check(b.get("edge") == "edge-from-file", f"edge-id from the config file not used: {b}")

    rid = gw.callback("7546658300", app, request_id="env-1")
    app.wait_callbacks(rid)
    gw.wait_status(rid, "delivered")


if __name__ == "__main__":
    beckon.main(globals())
