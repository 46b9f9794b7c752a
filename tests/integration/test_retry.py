#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""NOTIFY retries (proto/contact-me.md "NOTIFY", proto/redis.md "Retries"): a 500 then 200
from SIPp (proto/sipp/answer-notify-500-then-200-ooc.xml) → delivered with attempts=2, the
retry on the same Call-ID with a higher CSeq; a 603 fails at once (no retry); a binding that
goes away while a retry is scheduled makes the request wait (target `waiting:`), and the next
registration of the device delivers it. Needs api-gateway's ttl_s/deadline (issue 3)."""
import re

import _path  # noqa: F401
import beckon
from beckon import check
from sipua import SipUA

P = beckon.PACKAGE
UNREACHABLE = {"contact_host": "10.255.255.1", "contact_port": "5999"}


def req_hash(r, rid):
    c = r.client()
    h = c.hgetall(f"beckon:req:default:{rid}")
    c.close()
    return h


def post(gw, app, device, rid, ttl=60):
    resp = gw.post({"device": device, "request_id": rid, "ttl_s": ttl,
                    "server": {"host": "127.0.0.1", "port": app.port}})
    check(resp.status == 202, f"POST → {resp}")


def test_sipp_500_then_200(env):
    r, edge, gw, app = env.stack()
    user = "7546658500"
    mark = edge.proc.mark()
    sipp = env.sipp(edge, "register-contact-me.xml", user, ooc="answer-notify-500-then-200-ooc.xml",
                    keys=dict(UNREACHABLE, instance="urn:uuid:00000000-0000-4000-8000-000000000500"))
    edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)
    post(gw, app, user, "retry-500")
    edge.proc.wait_log("notify retry request-id=retry-500")
    st = gw.wait_status("retry-500", "delivered", timeout=beckon.DEADLINE + 5)
    check(st.get("sip_status") == 200, f"GET {st}")
    h = req_hash(r, "retry-500")
    check(h.get("attempts") == "2", f"attempts {h.get('attempts')}, want 2: {h}")
    sent = edge.proc.find("notify sent request-id=retry-500")
    cids = {re.search(r"call-id=(\S+)", line).group(1) for line in sent}
    check(len(sent) == 2 and len(cids) == 1, f"retry should keep the Call-ID: {sent}")
    cseqs = re.findall(r"^CSeq:\s*(\d+) NOTIFY", sipp.messages(), re.M | re.I)
    check("1" in cseqs and "2" in cseqs, f"retry should raise the CSeq: {cseqs}")


def test_ua_503_then_200_and_603(env):
    r, edge, gw, app = env.stack()
    user = "7546658501"
    ua = SipUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000501")
    seen = {}

    def answer(m):
        rid = re.search(r"request-id=(\S+)", m.body)
        rid = rid.group(1) if rid else ""
        seen[rid] = seen.get(rid, 0) + 1
        if rid == "perm":
            return 603
        return 503 if seen[rid] == 1 else 200
    ua.answer = answer
    ua.register(accept=(P,))
    post(gw, app, user, "r503")
    st = gw.wait_status("r503", "delivered", timeout=beckon.DEADLINE + 5)
    check(st.get("sip_status") == 200, f"GET {st}")
    check(req_hash(r, "r503").get("attempts") == "2", f"{req_hash(r, 'r503')}")

    post(gw, app, user, "perm")
    st = gw.wait_status("perm", "failed")
    check(st.get("sip_status") == 603, f"GET {st}")
    h = req_hash(r, "perm")
    check(h.get("attempts") == "1", f"a 603 was retried: {h}")
    check(not edge.proc.find("notify retry request-id=perm"), "a 603 was retried")


def test_binding_gone_waits_for_next_registration(env):
    r, edge, gw, app = env.stack()
    user = "7546658502"
    ua = SipUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000502")
    state = {"code": 408}
    ua.answer = lambda m: state["code"]
    ua.register(accept=(P,))
    post(gw, app, user, "gone-1")
    edge.proc.wait_log("notify retry request-id=gone-1")
    # Before the retry (1 s later) the device unregisters: the retry re-reads the binding.
    ua.register(accept=(P,), expires=0)
    edge.proc.wait_log("reason=binding-gone")
    h = req_hash(r, "gone-1")
    waiting = [v for k, v in h.items() if k.startswith("target:")]
    check(waiting and waiting[0].startswith("waiting:480:binding-gone"),
          f"target should wait for the next registration: {h}")
    check(h.get("status") == "sent", f"status {h.get('status')}, want still sent: {h}")
    c = r.client()
    check(c("ZSCORE", f"beckon:pending:num:{user}", "default:gone-1") is not None,
          "the request left its pending set")
    c.close()
    # The device comes back: queued delivery sends it again, now accepted.
    state["code"] = 200
    ua.register(accept=(P,))
    st = gw.wait_status("gone-1", "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    check(req_hash(r, "gone-1").get("attempts") == "2", f"{req_hash(r, 'gone-1')}")


if __name__ == "__main__":
    beckon.main(globals())
