#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Redis with a password: sip-edge and api-gateway authenticate with the password in
redis-url (requirepass, and a Redis 6 ACL user limited to beckon's keys and channels) and a
callback goes end to end; a wrong password, a missing one and an ACL user without beckon's
channels each leave the service not ready with a log line naming the refusal; the same for
Sentinels with a password (redis-sentinel-auth); no log line ever shows a password."""
import os
import signal
import subprocess
import urllib.parse

import _path  # noqa: F401
import beckon
from beckon import check

AOR = "sip:7546658200@example.com"
INST = "urn:uuid:3f5c0a5e-0000-4000-8000-000000000200"
# ':', '@' and '/' must be percent-encoded in the URL; the services decode them.
PASSWORD = "s3cr:t@pa/ss"
ACL_PASSWORD = "acl-Pa55word"
SENTINEL_PASSWORD = "sentinel:s3cret"
ADMIN = os.path.join(beckon.SOURCE_ROOT, "scripts", "beckon-admin")


def url(redis, user, password):
    return (f"redis://{user}:{urllib.parse.quote(password, safe='')}"
            f"@127.0.0.1:{redis.port}")


def no_secret_logged(proc, *secrets):
    text = proc.text()
    for s in secrets:
        check(s not in text and urllib.parse.quote(s, safe="") not in text,
              f"{proc.name} logged a password")


def refused(env, redis_url, want, name, extra=()):
    """sip-edge with redis_url (and extra settings): stays not ready and logs `want`."""
    port, http = beckon.free_port(udp_too=True), beckon.free_port()
    p = env.spawn(name, [env.binary("sip-edge"), "--sip-listen", f"udp:127.0.0.1:{port}",
                         "--http-listen", f"127.0.0.1:{http}", "--redis-url", redis_url,
                         "--edge-id", name, "--drain-timeout", "1"] + list(extra))
    p.wait_log(want)
    check(beckon.http_status(http, "/readyz") == 503,
          f"{name}: /readyz is not 503 with Redis refusing it")
    return p


def exits_naming(env, name, argv, want):
    """Runs argv, which must exit non-zero at start with a line containing want; returns the
    process (stopped and out of env's list) so the caller can read its output."""
    p = env.spawn(name, argv, check_clean=False)
    rc = p.p.wait(timeout=20)
    p.join()
    check(rc != 0, f"{name} started: {argv}")
    check(p.find(want), f"{name} did not log '{want}':\n{p.tail()}")
    p.stop()
    env.procs.remove(p)
    return p


def stop(env, p):
    problems = p.stop()
    env.procs.remove(p)
    check(not problems, "; ".join(problems))


def test_password_and_acl_user(env):
    r = env.redis(password=PASSWORD)
    # Least privilege: only beckon's keys and channels, no admin commands.
    c = r.client()
    c("ACL", "SETUSER", "beckon", "on", ">" + ACL_PASSWORD, "~beckon:*", "&beckon:*",
      "+@all", "-@admin", "-@dangerous", "+role", "+info")
    c.close()
    edge = env.sip_edge(r, extra=["--redis-url", url(r, "beckon", ACL_PASSWORD)])
    c = r.client()
    check("user=beckon " in c("CLIENT", "LIST"), "sip-edge is not connected as ACL user beckon")
    c.close()
    gw = env.gateway(r)  # the requirepass form, redis://:<password>@host:port
    app = env.app_server()
    agent = env.agent(edge, AOR, INST, trusted=[app.hostport])
    rid = gw.callback("7546658200", app, request_id="auth-1")
    app.wait_callbacks(rid)
    gw.wait_status(rid, "delivered")
    agent.proc.wait_log(f"notify received request-id={rid}")
    c = r.client()
    check(c.hgetall(f"beckon:req:default:{rid}").get("status") == "delivered",
          "record not delivered in Redis")
    # Nothing outside beckon's key space was written by the ACL user.
    check(all(k.startswith("beckon:") for k in c.scan("*")), "keys outside beckon:*")
    c.close()
    for p in (edge.proc, gw.proc):
        no_secret_logged(p, PASSWORD, ACL_PASSWORD)

    # scripts/beckon-admin takes the same URL forms (the ACL user's and requirepass).
    def admin(redis_url, *args, stdin=""):
        return subprocess.run([ADMIN, "--redis-url", redis_url, *args], input=stdin,
                              capture_output=True, text=True, timeout=15)
    p = admin(url(r, "beckon", ACL_PASSWORD), "sipuser", "set", "--user", "7546658201",
              stdin="device-pw-201\n")
    check(p.returncode == 0, f"beckon-admin as ACL user: {p.stderr}")
    p = admin(url(r, "", PASSWORD), "sipuser", "list")
    check(p.returncode == 0 and "7546658201" in p.stdout, f"beckon-admin list: {p.stdout}{p.stderr}")
    p = admin(url(r, "beckon", "wrong-password"), "sipuser", "set", "--user", "7546658202",
              stdin="device-pw-202\n")
    check(p.returncode != 0, "beckon-admin with a wrong password succeeded")
    check("wrong-password" not in p.stdout + p.stderr, "beckon-admin echoed the password")
    c = r.client()
    check(c("EXISTS", "beckon:cred:beckon:7546658202") == 0, "written with a wrong password")
    c.close()


def test_refusals(env):
    r = env.redis(password=PASSWORD)
    c = r.client()
    # An ACL user whose channels do not include beckon's: SUBSCRIBE is refused (NOPERM).
    c("ACL", "SETUSER", "nochan", "on", ">" + ACL_PASSWORD, "~beckon:*", "resetchannels",
      "+@all")
    c.close()
    bad = refused(env, url(r, "", "wrong-password"), "AUTH refused", "edge-wrong")
    none = refused(env, f"redis://127.0.0.1:{r.port}", "ROLE refused: NOAUTH", "edge-nopass")
    nochan = refused(env, url(r, "nochan", ACL_PASSWORD), "lost: NOPERM", "edge-nochan")
    unknown = refused(env, url(r, "nobody", ACL_PASSWORD), "AUTH refused for user nobody",
                      "edge-nouser")
    for p in (bad, none, nochan, unknown):
        stop(env, p)
        no_secret_logged(p, PASSWORD, ACL_PASSWORD, "wrong-password")
    # The gateway too: not ready, so the API answers 503 and stores nothing.
    gp = beckon.free_port()
    g = env.spawn("gw-wrong", [env.binary("api-gateway"), "--http-listen",
                               f"127.0.0.1:{gp}", "--insecure-http",
                               "--redis-url", url(r, "", "wrong-password")])
    g.wait_log("AUTH refused")
    check(beckon.http_status(gp, "/readyz") == 503, "api-gateway ready with a wrong password")
    stop(env, g)
    no_secret_logged(g, "wrong-password")


def test_sentinel_with_password(env):
    """Sentinels with a password of their own (redis-sentinel-auth) in front of a master
    with one (redis-url): the services find the master and are ready; a wrong or missing
    sentinel password leaves them not ready, the sentinel's refusal in the log."""
    m = env.redis(password=PASSWORD)
    s = beckon.Sentinel(env, m, replicas=0, password=SENTINEL_PASSWORD)
    auth = ":" + urllib.parse.quote(SENTINEL_PASSWORD, safe="")
    edge = env.sip_edge(m, extra=["--redis-sentinels", s.addr, "--redis-sentinel-auth", auth])
    edge.proc.wait_log("(master per sentinel)")
    gw = env.gateway(m, extra=["--redis-sentinels", s.addr, "--redis-sentinel-auth", auth])
    gw.proc.wait_log("(master per sentinel)")
    for args, want, name in (
            (["--redis-sentinel-auth", ":wrong-password"], "AUTH refused: WRONGPASS",
             "edge-s-wrong"),
            ([], "NOAUTH", "edge-s-none")):
        p = refused(env, m.url, f"redis sentinel {s.addr}: {want}", name,
                    ["--redis-sentinels", s.addr] + args)
        stop(env, p)
        no_secret_logged(p, PASSWORD, SENTINEL_PASSWORD, "wrong-password")
    for p in (edge.proc, gw.proc):
        no_secret_logged(p, PASSWORD, SENTINEL_PASSWORD)
    # A value that is not [USER]:PASSWORD stops the service at start, naming the setting.
    exits_naming(env, "edge-s-bad", [env.binary("sip-edge"), "--redis-url", m.url,
                                     "--redis-sentinels", s.addr,
                                     "--redis-sentinel-auth", "hunter2"], "redis-sentinel-auth")


def test_bad_url_not_echoed(env):
    """A redis-url the services cannot use: they exit non-zero naming the form wanted, with
    the userinfo shown as ***."""
    for url_ in ("redis://beckon:hunter2@redis.example.net:6379",  # names are not looked up
                 "redis://beckon@127.0.0.1:6379"):                  # a user without password
        port, http = beckon.free_port(udp_too=True), beckon.free_port()
        edge = [env.binary("sip-edge"), "--sip-listen", f"udp:127.0.0.1:{port}",
                "--http-listen", f"127.0.0.1:{http}", "--redis-url", url_]
        gw = [env.binary("api-gateway"), "--http-listen", f"127.0.0.1:{beckon.free_port()}",
              "--insecure-http", "--redis-url", url_]
        for name, argv in (("edge-badurl", edge), ("gw-badurl", gw)):
            p = exits_naming(env, name, argv, "redis://***@")
            check("hunter2" not in p.text(), f"{name}: the password was echoed")


if __name__ == "__main__":
    beckon.main(globals())
