#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Stock Debian softphones as endpoints (issue 9; proto/contact-me.md "Opting in" and
"Fallback"; headless configurations in tests/softphones/). Each runs inside this test's
network namespace and registers to sip-edge over loopback:

* linphonec with contact_parameters=+sip.events="application-server-contact-me" is opted in
  by the feature tag: its contact-me NOTIFY is answered 200 → delivered, opt_in=feature-tag
  (over UDP and TCP). Without the tag, and with fallback=resync, it gets check-sync and
  answers 200 too (it answers 200 to anything) → delivered, opt_in=none. With sip-edge's
  digest auth (its default) it registers with its password, answering SHA-256.
* baresip never opts in: with fallback=resync it gets a check-sync NOTIFY (with
  Subscription-State) and answers 481 → failed, sip_status 481, one NOTIFY (no retry).
  Sent the package's own Event (fallback set to that Event value) it answers 481 as well.
* twinkle-console (compact_headers=yes: it registers with v: f: t: i: m: l:) never opts in
  either: its check-sync NOTIFY, and one with the package's Event, are answered 489 with
  Allow-Events (u:) → failed, sip_status 489, one NOTIFY. Without a Contact in the NOTIFY it
  answers 400 "Contact header missing".

Exits 77 (skipped) when no softphone is installed; a test whose softphone is missing
is skipped on its own."""
import os
import re
import shutil
import signal
import sys
import time

import _path  # noqa: F401
import beckon
from beckon import check

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "..", "softphones")


def fill(template, dest, **values):
    with open(os.path.join(CONF, template), encoding="utf-8") as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text)


def start_baresip(env, edge, user):
    d = os.path.join(env.tmp, "baresip")
    os.makedirs(d)
    port = beckon.free_port(udp_too=True)
    fill("baresip.config", os.path.join(d, "config"), SIP_LISTEN=f"127.0.0.1:{port}")
    with open(os.path.join(d, "accounts"), "w", encoding="utf-8") as f:
        f.write(f"<sip:{user}@127.0.0.1:{edge.sip_port};transport=udp>;regint=60\n")
    with open(os.path.join(d, "uuid"), "w", encoding="utf-8") as f:
        f.write("3f5c0a5e-0000-4000-8000-000000009500")  # no newline: baresip keeps it
    # -s prints the SIP trace on stdout, which the harness collects.
    return env.spawn("baresip", ["baresip", "-f", d, "-s"], check_clean=False)


def start_linphonec(env, edge, user, transport="udp", tag=True, password=None):
    home = os.path.join(env.tmp, f"linphone-{user}")
    os.makedirs(os.path.join(home, ".local", "share", "linphone"))
    udp = beckon.free_port(udp_too=True)
    tcp = beckon.free_port() if transport == "tcp" else -1
    rc = os.path.join(home, "linphonerc")
    fill("linphonerc", rc, UDP_PORT=udp if transport == "udp" else -1, TCP_PORT=tcp,
         REGISTRAR=f"sip:127.0.0.1:{edge.sip_port};transport={transport}", USER=user,
         CONTACT_PARAMETERS='+sip.events="application-server-contact-me"' if tag else "",
         AUTH_INFO=(f"[auth_info_0]\nusername={user}\npasswd={password}\nrealm=beckon\n"
                    "domain=127.0.0.1\n") if password else "")
    fifo = os.path.join(home, "stdin")
    os.mkfifo(fifo)
    log = os.path.join(home, "linphonec.log")
    # stdin opened read-write on a FIFO never reaches EOF (linphonec quits on EOF); exec so
    # that the harness's SIGTERM reaches linphonec itself.
    p = env.spawn("linphonec", ["sh", "-c", 'exec linphonec -c "$1" -d 6 -l "$2" <> "$0"',
                                fifo, rc, log],
                  check_clean=False, environ={"HOME": home})
    p.sip_log = log
    return p


def start_twinkle(env, edge, user, transport="udp", compact=True):
    home = os.path.join(env.tmp, f"twinkle-{user}")
    conf = os.path.join(home, ".twinkle")
    os.makedirs(conf)
    fill("twinkle.sys", os.path.join(conf, "twinkle.sys"),
         SIP_PORT=beckon.free_port(udp_too=True), RTP_PORT=beckon.free_port(udp_too=True))
    fill("twinkle.cfg", os.path.join(conf, "beckon.cfg"), USER=user, TRANSPORT=transport,
         REGISTRAR=f"127.0.0.1:{edge.sip_port}", COMPACT="yes" if compact else "no")
    fifo = os.path.join(home, "stdin")
    os.mkfifo(fifo)
    # Debian's twinkle-console takes the profile file as its first argument (-f is read as a
    # file name) and quits on EOF: the same never-ending FIFO as linphonec.
    p = env.spawn("twinkle", ["sh", "-c", 'exec twinkle-console beckon.cfg <> "$0"', fifo],
                  check_clean=False, environ={"HOME": home})
    p.sip_log = os.path.join(conf, "twinkle.log")
    return p


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def need(tool):
    if not shutil.which(tool):
        sys.stdout.write(f"skip: {tool} not installed\n")
        return False
    return True


def run_linphonec_tag(env, transport):
    if not need("linphonec"):
        return
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r)
    app = env.app_server()
    user = "7546659600" if transport == "udp" else "7546659601"
    mark = edge.proc.mark()
    start_linphonec(env, edge, user, transport)
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@127.0.0.1", since=mark,
                             timeout=20)[0]
    check("subscribed=1" in hit and f"transport={transport}" in hit,
          f"linphonec's feature tag did not subscribe: {hit}")
    b = r.binding(user)
    check(b.get("pkg:application-server-contact-me") == "feature-tag", f"binding {b}")
    check('+sip.events="application-server-contact-me"' in b.get("contact", ""), f"{b}")
    rid = gw.callback(user, app, request_id=f"linphonec-{transport}")
    st = gw.wait_status(rid, "delivered", timeout=20)
    t = st["targets"]
    check(st.get("sip_status") == 200 and len(t) == 1 and t[0]["opt_in"] == "feature-tag"
          and t[0]["fallback"] is None, f"GET {st}")
    # linphonec answers 200 and ignores it: nobody calls the app server.
    check(not app.received, f"app server got {app.received}")


def test_linphonec_feature_tag_udp(env):
    run_linphonec_tag(env, "udp")


def test_linphonec_feature_tag_tcp(env):
    run_linphonec_tag(env, "tcp")


def test_linphonec_digest(env):
    """linphonec's own digest client against sip-edge's `auth` (its default): the REGISTER is
    challenged with SHA-256 and MD5, linphonec answers SHA-256 with its password, and the
    callback is delivered; with a wrong password it stays unregistered."""
    if not need("linphonec"):
        return
    r = env.redis()
    edge = env.sip_edge(r, auth=None, extra=["--auth-sha256", "true"])
    gw = env.gateway(r)
    app = env.app_server()
    user, wrong = "7546659603", "7546659604"
    beckon.add_credential(r, user, "linphone-pw-603")
    beckon.add_credential(r, wrong, "linphone-pw-604")
    mark = edge.proc.mark()
    lp = start_linphonec(env, edge, user, password="linphone-pw-603")
    start_linphonec(env, edge, wrong, password="not-the-password")
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@127.0.0.1", since=mark,
                             timeout=20)[0]
    check("subscribed=1" in hit, f"linphonec with auth did not subscribe: {hit}")
    rid = gw.callback(user, app, request_id="linphonec-digest")
    gw.wait_status(rid, "delivered", timeout=20)
    # The edge offers SHA-256 first (auth-sha256); linphonec, unlike sofia's client, takes it.
    check(re.search(r"^Authorization: .*algorithm=SHA-256", read(lp.sip_log), re.M),
          "linphonec did not answer the SHA-256 challenge")
    edge.proc.wait_log(f"auth failed user={wrong}", since=mark, timeout=20)
    check(not r.bindings(wrong), f"{wrong} registered with a wrong password")


def test_linphonec_untagged_resync(env):
    if not need("linphonec"):
        return
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--fallback", "resync"])
    app = env.app_server()
    user = "7546659602"
    mark = edge.proc.mark()
    start_linphonec(env, edge, user, tag=False)
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@127.0.0.1", since=mark,
                             timeout=20)[0]
    check("subscribed=0" in hit, f"linphonec without the tag subscribed: {hit}")
    rid = gw.callback(user, app, request_id="linphonec-resync")
    st = gw.wait_status(rid, "delivered", timeout=20)
    t = st["targets"]
    check(st.get("sip_status") == 200 and len(t) == 1 and t[0]["opt_in"] == "none"
          and t[0]["fallback"] == "check-sync", f"GET {st}")


def test_baresip_resync_481(env):
    if not need("baresip"):
        return
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--fallback", "resync"])
    app = env.app_server()
    user = "7546659500"
    mark = edge.proc.mark()
    bs = start_baresip(env, edge, user)
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@127.0.0.1:{edge.sip_port}",
                             since=mark, timeout=20)[0]
    check("subscribed=0" in hit, f"baresip subscribed: {hit}")
    check(r.binding(user).get("user_agent", "").startswith("baresip"), "user agent")
    rid = gw.callback(user, app, request_id="baresip-resync", ttl_s=60)
    st = gw.wait_status(rid, "failed", timeout=20)
    t = st["targets"]
    check(st.get("sip_status") == 481 and len(t) == 1 and t[0]["status"] == "failed"
          and t[0]["sip_status"] == 481 and t[0]["opt_in"] == "none"
          and t[0]["fallback"] == "check-sync", f"GET {st}")
    trace = bs.text()
    check(re.search(r"^Event: check-sync\s*$", trace, re.M), f"baresip saw no check-sync:\n{trace}")
    check(re.search(r"^Subscription-State: active;expires=\d+", trace, re.M), "no state")
    check(re.search(r"^SIP/2\.0 481 ", trace, re.M), f"baresip did not answer 481:\n{trace}")
    check(len(re.findall(r"^NOTIFY sip:", trace, re.M)) == 1, "NOTIFY was retried")


def test_baresip_contact_me_481(env):
    # The package's own Event, sent through an explicit fallback Event value (baresip cannot
    # opt in): what baresip answers to a contact-me NOTIFY, and no retry of that 4xx.
    if not need("baresip"):
        return
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--fallback", beckon.PACKAGE])
    app = env.app_server()
    user = "7546659501"
    mark = edge.proc.mark()
    bs = start_baresip(env, edge, user)
    edge.proc.wait_log(f"registered aor=sip:{user}@127.0.0.1:{edge.sip_port}", since=mark,
                       timeout=20)
    rid = gw.callback(user, app, request_id="baresip-contact-me", ttl_s=60)
    st = gw.wait_status(rid, "failed", timeout=20)
    t = st["targets"]
    check(st.get("sip_status") == 481 and len(t) == 1 and t[0]["sip_status"] == 481
          and t[0]["fallback"] == beckon.PACKAGE, f"GET {st}")
    time.sleep(1.5)  # past the first retry step
    sent = edge.proc.find(f"notify sent request-id={rid} ")
    check(len(sent) == 1, f"edge sent {len(sent)} NOTIFYs for {rid}: {sent}")
    trace = bs.text()
    check(re.search(rf"^Event: {beckon.PACKAGE}\s*$", trace, re.M), f"no NOTIFY:\n{trace}")
    check(re.search(r"^SIP/2\.0 481 ", trace, re.M), f"baresip did not answer 481:\n{trace}")

def test_twinkle_resync_489(env):
    twinkle_case(env, "resync", "check-sync", "7546659700")


def test_twinkle_contact_me_489(env):
    # What twinkle answers to the package's own Event (the fallback may name any Event value;
    # twinkle cannot opt in, so this is the only way a contact-me NOTIFY reaches it).
    twinkle_case(env, beckon.PACKAGE, beckon.PACKAGE, "7546659701")


def twinkle_case(env, fallback, event, user):
    if not need("twinkle-console"):
        return
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--fallback", fallback])
    app = env.app_server()
    mark = edge.proc.mark()
    tw = start_twinkle(env, edge, user)
    try:
        run_twinkle(edge, gw, app, r, tw, user, mark, event)
    finally:
        # twinkle 1.10 hangs after "SIGTERM received" (it never leaves its signal thread):
        # kill it, so the harness's SIGTERM does not wait 15 s for nothing.
        tw.stop(sig=signal.SIGKILL)


def run_twinkle(edge, gw, app, r, tw, user, mark, event):
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@127.0.0.1", since=mark,
                             timeout=20)[0]
    check("subscribed=0" in hit, f"twinkle subscribed: {hit}")
    trace = read(tw.sip_log)
    # compact_headers=yes: the REGISTER the edge just accepted used the compact forms.
    for h in ("v", "f", "t", "i", "m", "l"):
        check(re.search(rf"^{h}: ", trace, re.M), f"twinkle sent no compact {h}:\n{trace}")
    b = r.binding(user)
    check(b.get("user_agent", "").startswith("Twinkle"), f"binding {b}")
    check(f"sip:{user}@127.0.0.1:" in b.get("contact", ""), f"binding contact {b}")
    rid = gw.callback(user, app, request_id=f"twinkle-{user}", ttl_s=60)
    st = gw.wait_status(rid, "failed", timeout=20)
    t = st["targets"]
    check(st.get("sip_status") == 489 and len(t) == 1 and t[0]["status"] == "failed"
          and t[0]["sip_status"] == 489 and t[0]["opt_in"] == "none"
          and t[0]["fallback"] == event, f"GET {st}")
    # No retry storm: a 4xx is final, one NOTIFY. Wait past the first retry step (1 s).
    time.sleep(1.5)
    sent = edge.proc.find(f"notify sent request-id={rid} ")
    check(len(sent) == 1, f"edge sent {len(sent)} NOTIFYs for {rid}: {sent}")
    st = gw.get(rid).json
    check(st.get("attempts", 1) == 1, f"attempts: {st}")
    trace = read(tw.sip_log)
    check(re.search(rf"^Event: {event}\s*$", trace, re.M), f"no {event}:\n{trace}")
    # A NOTIFY needs a Contact (RFC 6665): without one twinkle answers 400.
    check(re.search(r"^Contact: <sip:beckon@127\.0\.0\.1:", trace, re.M), "no Contact")
    check(re.search(r"^SIP/2\.0 489 ", trace, re.M), f"twinkle did not answer 489:\n{trace}")
    # Allow-Events, compact form u: (compact_headers=yes).
    check(re.search(r"^(Allow-Events|u): \S", trace, re.M), "489 without Allow-Events")
    check(len(re.findall(r"^NOTIFY sip:", trace, re.M)) == 1, "NOTIFY was retried")


if __name__ == "__main__":
    if not any(shutil.which(t) for t in ("baresip", "linphonec", "twinkle-console")):
        sys.stdout.write("skip: none of baresip, linphonec, twinkle-console is installed\n")
        sys.exit(77)
    beckon.main(globals())
