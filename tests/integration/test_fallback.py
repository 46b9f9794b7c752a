#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Real-endpoint opt-ins and the resync fallback, with SIPp as a deterministic stand-in for
the softphones of test_softphones.py (issue 9; proto/contact-me.md "Opting in", "Fallback"):
a Contact with the +sip.events feature tag is opted in (opt_in=feature-tag) and its NOTIFY is
delivered; a registered endpoint that never opted in gets a check-sync NOTIFY when the
gateway's fallback says so, answered 481 as baresip does → failed 481, sent once."""
import re

import _path  # noqa: F401
import beckon
from beckon import check

UNREACHABLE = {"contact_host": "10.255.255.1", "contact_port": "5999"}


def notifies(msgs):
    return re.findall(r"^NOTIFY sip:.*?(?=^\S+ \S+ SIP/2\.0|\Z)", msgs, re.M | re.S)


def run_feature_tag(env, transport):
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r)
    app = env.app_server()
    user = "7546659100" if transport == "u1" else "7546659101"
    mark = edge.proc.mark()
    env.sipp(edge, "register-feature-tag.xml", user, transport=transport,
             keys=dict(UNREACHABLE, instance=f"urn:uuid:00000000-0000-4000-8000-00000000{user[-4:]}"))
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)[0]
    check("subscribed=1" in hit, f"the feature tag did not subscribe: {hit}")
    b = r.binding(user)
    check(b.get("pkg:application-server-contact-me") == "feature-tag", f"binding: {b}")
    rid = gw.callback(user, app, request_id=f"ftag-{transport}")
    st = gw.wait_status(rid, "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    t = st["targets"]
    check(len(t) == 1 and t[0]["opt_in"] == "feature-tag" and t[0]["fallback"] is None,
          f"targets {t}")


def test_feature_tag_udp(env):
    run_feature_tag(env, "u1")


def test_feature_tag_tcp(env):
    run_feature_tag(env, "t1")


def test_resync_fallback_481(env):
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--fallback", "resync"])
    app = env.app_server()
    user = "7546659200"
    mark = edge.proc.mark()
    sipp = env.sipp(edge, "register-no-accept.xml", user, ooc="answer-notify-481-ooc.xml",
                    keys=dict(UNREACHABLE, instance="urn:uuid:00000000-0000-4000-8000-000000009200"))
    hit = edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)[0]
    check("subscribed=0" in hit, f"REGISTER without Accept entry subscribed: {hit}")
    # ttl_s long enough that a retryable answer would be retried: 481 must not be.
    rid = gw.callback(user, app, request_id="resync-481", ttl_s=60)
    st = gw.wait_status(rid, "failed")
    check(st.get("sip_status") == 481, f"GET {st}")
    t = st["targets"]
    check(len(t) == 1 and t[0]["status"] == "failed" and t[0]["sip_status"] == 481
          and t[0]["opt_in"] == "none" and t[0]["fallback"] == "check-sync", f"targets {t}")
    edge.proc.wait_log(f"notify answered request-id={rid}")
    msgs = sipp.messages()
    ns = notifies(msgs)
    check(len(ns) == 1, f"want exactly one NOTIFY (no retry), got {len(ns)}:\n{msgs}")
    n = ns[0]
    check(re.search(r"^Event: check-sync\s*$", n, re.M | re.I), f"no Event: check-sync:\n{n}")
    check(re.search(r"^Subscription-State: active;expires=\d+\s*$", n, re.M | re.I),
          f"no Subscription-State: active;expires=N:\n{n}")
    check(not re.search(r"^Content-Type:", n, re.M | re.I), f"resync NOTIFY has a body:\n{n}")
    check(re.search(r"^Content-Length: *0\s*$", n, re.M | re.I), f"resync NOTIFY body:\n{n}")
    check(f"request-id={rid}" not in msgs, "the contact-me payload went to a resync NOTIFY")
    check(not app.received, f"app server got {app.received}")


def test_fallback_rules(env):
    """Rules are evaluated in order before the default: ua:SIPp*=off wins over resync, a
    num: rule can pick an explicit Event value."""
    r = env.redis()
    edge = env.sip_edge(r)
    gw = env.gateway(r, extra=["--fallback", "resync", "--fallback-rules",
                               "num:7546659301=check-sync;reboot=false,ua:SIPp*=off"])
    app = env.app_server()
    sipps = {}
    for user in ("7546659300", "7546659301"):
        mark = edge.proc.mark()
        sipps[user] = env.sipp(edge, "register-no-accept.xml", user, name=f"sipp{user[-1]}",
                               keys=dict(UNREACHABLE, instance=f"urn:uuid:00000000-0000-4000-"
                                         f"8000-00000000{user[-4:]}"))
        edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)
    resp = gw.post({"device": "7546659300", "request_id": "rule-off",
                    "server": {"host": "127.0.0.1", "port": app.port}, "ttl_s": 0})
    check(resp.status == 404, f"ua:SIPp*=off: POST → {resp}, want 404")
    rid = gw.callback("7546659301", app, request_id="rule-num", ttl_s=0)
    st = gw.wait_status(rid, "delivered")
    t = st["targets"]
    check(len(t) == 1 and t[0]["fallback"] == "check-sync;reboot=false" and
          t[0]["opt_in"] == "none" and t[0]["sip_status"] == 200, f"targets {t}")
    ns = notifies(sipps["7546659301"].messages())
    check(len(ns) == 1 and re.search(r"^Event: check-sync;reboot=false\s*$", ns[0], re.M),
          f"NOTIFYs {ns}")
    check("NOTIFY" not in sipps["7546659300"].messages(), "ua:SIPp*=off still sent a NOTIFY")


def test_bad_fallback_setting(env):
    r = env.redis()
    p = env.spawn("api-gateway", [env.binary("api-gateway"), "--redis-url", r.url,
                                  "--fallback-rules", "ua:x"], check_clean=False)
    beckon.wait_for(lambda: not p.alive(), "api-gateway to refuse a bad fallback-rules")
    check(p.p.returncode != 0, "api-gateway accepted fallback-rules 'ua:x'")
    # The process has exited, but its last stderr line may still be on its way to our reader.
    beckon.wait_for(lambda: p.find("fallback-rules"),
                    f"a message naming the setting fallback-rules:\n{p.tail()}")


if __name__ == "__main__":
    beckon.main(globals())
