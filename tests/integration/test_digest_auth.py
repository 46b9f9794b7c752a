#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Digest authentication at sip-edge (issue 4; services/sip-edge/src/se_auth.c): REGISTER
without credentials → 401 with SHA-256 and MD5 challenges, the same for an unknown user;
right credentials → 200 with MD5 and with SHA-256; a wrong password → 401 and, after
auth-fail-max failures, 403 for that source address while another address is still served;
an expired nonce → stale=true; a replayed nonce-count → 401; SUBSCRIBE authenticated the same
way; a NOTIFY challenged by the endpoint is answered with the device's HA1 (and fails with the
challenge's status when the edge has no matching credentials), out of dialog and in a SUBSCRIBE
dialog (there with the dialog's next CSeq).

The UA here is sipua's with digest credentials (hashlib), since SIPp and sofia's client only
do MD5."""
import hashlib
import os
import re
import subprocess
import time
import uuid

import _path  # noqa: F401
import beckon
from beckon import check
from sipua import SipUA

REALM = "beckon"
P = beckon.PACKAGE
ADMIN = os.path.join(beckon.SOURCE_ROOT, "scripts", "beckon-admin")


def H(alg, s):
    return (hashlib.sha256 if alg == "SHA-256" else hashlib.md5)(s.encode()).hexdigest()


def params(challenge):
    """key → value of a Digest challenge or credentials header (quotes removed)."""
    return {k.lower(): v.strip('"') for k, v in
            re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', challenge.split(" ", 1)[1])}


class UA(SipUA):
    """sipua's UA with its own socket as Contact, a REGISTER that takes credentials and may be
    refused, and digest credentials; the tests' answer(msg) → (status, extra header lines)."""

    def __init__(self, env, edge, user, ip="127.0.0.1"):
        super().__init__(env, edge, user, ip=ip)
        self.contact_uri = f"sip:{user}@{self.ip}:{self.port}"

    def register(self, cseq=1, auth=None, call_id=None, accept=True):
        hdrs = [f"Contact: {self.contact()}", "Expires: 300"]
        if accept:
            hdrs.append(f"Accept: application/{P}")
        if auth:
            hdrs.append(f"Authorization: {auth}")
        return self.send("REGISTER", call_id or self.call_id, cseq, hdrs)

    def credentials(self, challenge, password, method="REGISTER", uri="sip:example.com",
                    nc=1, user=None, alg=None):
        c = params(challenge)
        alg = alg or c.get("algorithm", "MD5")
        user = user or self.user
        ha1 = H(alg, f"{user}:{c['realm']}:{password}")
        ncs = "%08x" % nc
        cnonce = uuid.uuid4().hex[:8]
        resp = H(alg, f"{ha1}:{c['nonce']}:{ncs}:{cnonce}:auth:" + H(alg, f"{method}:{uri}"))
        return (f'Digest username="{user}", realm="{c["realm"]}", nonce="{c["nonce"]}", '
                f'uri="{uri}", response="{resp}", algorithm={alg}, cnonce="{cnonce}", '
                f'qop=auth, nc={ncs}')


def notify_response(c, user, password, nonce):
    """The MD5 qop=auth response the edge's Authorization c (params) on a NOTIFY must carry,
    for user's password and the endpoint's nonce."""
    ha1 = H("MD5", f"{user}:{REALM}:{password}")
    return H("MD5", f"{ha1}:{nonce}:{c['nc']}:{c['cnonce']}:auth:"
             + H("MD5", f"NOTIFY:{c['uri']}"))


def challenges(r):
    """{algorithm: header} of a 401."""
    return {params(h).get("algorithm", "MD5"): h for h in r.all("www-authenticate")}


credential = beckon.add_credential


def edge_with_auth(env, r, *extra):
    return env.sip_edge(r, extra=["--auth", "true", "--auth-sha256", "true",
                                  "--auth-fail-max", "4", "--auth-block-time", "30", *extra])


def shape(r):
    """A 401 with the nonces blanked: what must not differ between users."""
    return sorted(re.sub(r'nonce="[0-9a-f]+"', 'nonce=""', h)
                  for h in r.all("www-authenticate"))


def test_register(env):
    r = env.redis()
    edge = edge_with_auth(env, r)
    credential(r, "1001", "secret")
    ua = UA(env, edge, "1001")
    ua.call_id = "c-" + uuid.uuid4().hex

    # No credentials: 401, SHA-256 first, then MD5 (auth-sha256), both qop=auth.
    r1 = ua.register(1)
    check(r1.status == 401, f"REGISTER without credentials → {r1.start}")
    ch = r1.all("www-authenticate")
    check(len(ch) == 2 and "SHA-256" in ch[0] and "MD5" in ch[1], f"challenges {ch}")
    check(all('qop="auth"' in h and 'realm="beckon"' in h for h in ch), f"{ch}")

    # Unknown user: the same challenge (enumeration), and the same answer to a guess.
    ghost = UA(env, edge, "9999")
    ghost.call_id = "g-" + uuid.uuid4().hex
    g1 = ghost.register(1)
    check(g1.status == 401 and shape(g1) == shape(r1), f"unknown user: {g1.all('www-authenticate')}")
    g2 = ghost.register(2, ghost.credentials(challenges(g1)["MD5"], "guess"))
    w2 = ua.register(2, ua.credentials(challenges(r1)["MD5"], "wrong"))
    check(g2.status == w2.status == 401 and shape(g2) == shape(w2),
          f"unknown {g2.start} vs wrong password {w2.start}")

    # Right password, MD5 then SHA-256.
    ok = ua.register(3, ua.credentials(challenges(w2)["MD5"], "secret"))
    check(ok.status == 200, f"REGISTER with MD5 credentials → {ok.start}")
    edge.proc.wait_log("registered aor=sip:1001@example.com")
    r3 = ua.register(4)
    ok = ua.register(5, ua.credentials(challenges(r3)["SHA-256"], "secret"))
    check(ok.status == 200, f"REGISTER with SHA-256 credentials → {ok.start}")

    # The same nonce with the next nc is fine; the same nc again is a replay.
    ch = challenges(r3)["SHA-256"]
    ok = ua.register(6, ua.credentials(ch, "secret", nc=2))
    check(ok.status == 200, f"nc=2 → {ok.start}")
    again = ua.register(7, ua.credentials(ch, "secret", nc=2))
    check(again.status == 401 and "stale" not in again.get("www-authenticate", ""),
          f"replayed nc → {again.start}")
    edge.proc.wait_log("auth replay refused user=1001")

    # Credentials of another user for this AOR: 403.
    credential(r, "1002", "other")
    ch = challenges(ua.register(8))["MD5"]
    forged = ua.register(9, ua.credentials(ch, "other", user="1002"))
    check(forged.status == 403, f"another user's credentials → {forged.start}")

    # A nonce that is not ours (edited), with an otherwise right answer: stale=true.
    bad = ua.register(10, ua.credentials(ch.replace('nonce="', 'nonce="0'), "secret"))
    check(bad.status == 401 and "stale=true" in bad.get("www-authenticate", ""),
          f"foreign nonce → {bad.start} {bad.all('www-authenticate')}")


def test_stale_nonce(env):
    r = env.redis()
    edge = edge_with_auth(env, r, "--auth-nonce-ttl", "10")
    credential(r, "1003", "pw")
    ua = UA(env, edge, "1003")
    ua.call_id = "s-" + uuid.uuid4().hex
    ch = challenges(ua.register(1))["MD5"]
    time.sleep(11.5)
    st = ua.register(2, ua.credentials(ch, "pw"))
    check(st.status == 401, f"expired nonce → {st.start}")
    check(all("stale=true" in h for h in st.all("www-authenticate")), f"{st.all('www-authenticate')}")
    # A wrong password with an expired nonce is just wrong: no stale.
    wr = ua.register(3, ua.credentials(ch, "nope"))
    check(wr.status == 401 and "stale" not in wr.get("www-authenticate"), f"{wr.all('www-authenticate')}")
    ok = ua.register(4, ua.credentials(challenges(st)["MD5"], "pw"))
    check(ok.status == 200, f"fresh nonce after stale → {ok.start}")


def test_blocking(env):
    r = env.redis()
    edge = edge_with_auth(env, r)
    credential(r, "1004", "pw")
    bad = UA(env, edge, "1004", ip="127.0.0.2")
    bad.call_id = "b-" + uuid.uuid4().hex
    last = bad.register(1)
    for i in range(4):
        last = bad.register(2 + i, bad.credentials(challenges(last)["MD5"], "guess%d" % i))
    check(last.status == 403, f"after 4 failures → {last.start}")
    edge.proc.wait_log("auth failed user=1004 source=127.0.0.2")
    # Blocked: even the right password, even without credentials.
    check(bad.register(10).status == 403, "blocked source got a challenge")
    # Another source is still served.
    good = UA(env, edge, "1004")
    good.call_id = "ok-" + uuid.uuid4().hex
    ok = good.register(2, good.credentials(challenges(good.register(1))["SHA-256"], "pw"))
    check(ok.status == 200, f"other source → {ok.start}")


def test_subscribe_and_notify_challenge(env):
    r, edge, gw, app = env.redis(), None, None, None
    edge = edge_with_auth(env, r)
    gw = env.gateway(r)
    app = env.app_server()
    credential(r, "1005", "pw")
    ua = UA(env, edge, "1005")
    ua.call_id = "n-" + uuid.uuid4().hex

    # The endpoint challenges every NOTIFY once; the edge answers with the device's HA1.
    seen = {}

    def answer(m):
        rid = re.search(r"request-id=(\S+)", m.body)
        if not rid:
            return 200, []  # state NOTIFYs of the SUBSCRIBE below
        rid = rid.group(1)
        a = m.get("authorization")
        seen.setdefault(rid, []).append(a)
        if not a:
            return 401, ['WWW-Authenticate: Digest realm="beckon", nonce="abc123", '
                         'algorithm=MD5, qop="auth", opaque="xyz"']
        c = params(a)
        ok = (c["response"] == notify_response(c, "1005", "pw", "abc123")
              and c.get("opaque") == "xyz" and c["username"] == "1005")
        return (200 if ok else 403), []
    ua.answer = answer
    ok = ua.register(1, None)
    ok = ua.register(2, ua.credentials(challenges(ok)["MD5"], "pw"))
    check(ok.status == 200, f"REGISTER → {ok.start}")
    # SUBSCRIBE: challenged, then accepted.
    sub_id = "sub-" + uuid.uuid4().hex
    hdrs = [f"Contact: <sip:1005@{ua.ip}:{ua.port}>", f"Event: {P}", "Expires: 600"]
    s1 = ua.send("SUBSCRIBE", sub_id, 1, hdrs, ruri=ua.aor)
    check(s1.status == 401, f"SUBSCRIBE without credentials → {s1.start}")
    auth = ua.credentials(challenges(s1)["SHA-256"], "pw", method="SUBSCRIBE", uri=ua.aor)
    s2 = ua.send("SUBSCRIBE", sub_id, 2, hdrs + [f"Authorization: {auth}"], ruri=ua.aor)
    check(s2.status in (200, 202), f"SUBSCRIBE with credentials → {s2.start}")
    # Unsubscribe again (authenticated, next nc) so the NOTIFY below goes out of dialog.
    auth = ua.credentials(challenges(s1)["SHA-256"], "pw", method="SUBSCRIBE", uri=ua.aor,
                          nc=2)
    ua.send("SUBSCRIBE", sub_id, 3,
            [h if not h.startswith("Expires") else "Expires: 0" for h in hdrs]
            + [f"Authorization: {auth}"], ruri=ua.aor)

    resp = gw.post({"device": "1005", "request_id": "nc-1",
                    "server": {"host": "127.0.0.1", "port": app.port}})
    check(resp.status == 202, f"POST → {resp}")
    st = gw.wait_status("nc-1", "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    check(len(seen.get("nc-1", [])) == 2 and seen["nc-1"][0] is None,
          f"NOTIFYs seen: {seen}")
    edge.proc.wait_log("notify challenge answered user=1005")

    # Wrong HA1 on the edge's side: the retry is refused, the request fails with it.
    credential(r, "1005", "changed")
    resp = gw.post({"device": "1005", "request_id": "nc-2",
                    "server": {"host": "127.0.0.1", "port": app.port}})
    check(resp.status == 202, f"POST → {resp}")
    st = gw.wait_status("nc-2", "failed")
    check(st.get("sip_status") == 403, f"GET {st}")
    check(len(seen.get("nc-2", [])) == 2, f"the challenge was answered more than once: {seen}")

    # No credentials at all for the device: the 401 itself is the final answer.
    c = r.client()
    c("DEL", f"beckon:cred:{REALM}:1005")
    c.close()
    resp = gw.post({"device": "1005", "request_id": "nc-3",
                    "server": {"host": "127.0.0.1", "port": app.port}})
    st = gw.wait_status("nc-3", "failed")
    check(st.get("sip_status") == 401, f"GET {st}")
    edge.proc.wait_log("notify challenge not answered user=1005 realm=beckon: no-credentials")


def test_agent(env):
    """contact-agent answers the registrar's challenge (nua, MD5), and with notify-auth
    challenges the NOTIFY, which sip-edge answers; a wrong HA1 at the edge fails it."""
    r = env.redis()
    # MD5 only (the default): sofia's nua gives up on a SHA-256 challenge.
    edge = env.sip_edge(r, extra=["--auth", "true"])
    gw = env.gateway(r)
    app = env.app_server()
    credential(r, "1006", "agent-pw")
    env.agent(edge, "sip:1006@example.com", "urn:uuid:00000000-0000-4000-8000-000000001006",
              trusted=(app.hostport,),
              extra=["--password", "agent-pw", "--notify-auth", "true"])
    agent = [p for p in env.procs if p.kind == "contact-agent"][0]
    gw.callback("1006", app, request_id="ag-1")
    st = gw.wait_status("ag-1", "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    agent.wait_log("notify challenged status=401")
    agent.wait_log("notify authenticated")
    app.wait_callbacks("ag-1")

    # The edge holds a wrong HA1: its answer does not verify, the agent challenges again and
    # that 401 is the request's final answer.
    credential(r, "1006", "not-the-agents")
    gw.callback("1006", app, request_id="ag-2")
    st = gw.wait_status("ag-2", "failed")
    check(st.get("sip_status") == 401, f"GET {st}")
    h = r.client().hgetall("beckon:req:default:ag-2")
    check(any(v.startswith("failed:401") for k, v in h.items() if k.startswith("target:")),
          f"target not failed:401: {h}")
    check(not app.for_request("ag-2"), "callback made after a failed NOTIFY auth")

    # A wrong password: the REGISTER fails (no loop of challenges).
    credential(r, "1007", "right")
    bad = env.agent(edge, "sip:1007@example.com", "urn:uuid:00000000-0000-4000-8000-000000001007",
                    extra=["--password", "wrong"], name="agent-bad", wait=False)
    bad.proc.wait_log("register failed status=401")


def test_sipp_verifyauth(env):
    """SIPp registers with [authentication] and challenges the NOTIFY; <verifyauth> accepts
    the edge's answer."""
    r = env.redis()
    edge = env.sip_edge(r, extra=["--auth", "true"])
    gw = env.gateway(r)
    app = env.app_server()
    credential(r, "1008", "sipp-pw")
    mark = edge.proc.mark()
    sipp = env.sipp(edge, "register-digest.xml", "1008", ooc="answer-notify-verifyauth-ooc.xml",
                    keys={"contact_host": "10.255.255.1", "contact_port": "5999",
                          "instance": "urn:uuid:00000000-0000-4000-8000-000000001008",
                          "notify_password": "sipp-pw"},
                    extra=["-au", "1008", "-ap", "sipp-pw"])
    edge.proc.wait_log("registered aor=sip:1008@example.com", since=mark)
    gw.callback("1008", app, request_id="sp-1")
    st = gw.wait_status("sp-1", "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    msgs = sipp.messages()
    check("SIP/2.0 401 Unauthorized" in msgs and re.search(r"^Authorization: Digest", msgs, re.M),
          "no challenged NOTIFY in SIPp's trace")

    # An endpoint that knows another password refuses the edge's answer (403).
    credential(r, "1009", "sipp-pw")
    mark = edge.proc.mark()
    env.sipp(edge, "register-digest.xml", "1009", ooc="answer-notify-verifyauth-ooc.xml",
             keys={"contact_host": "10.255.255.1", "contact_port": "5999",
                   "instance": "urn:uuid:00000000-0000-4000-8000-000000001009",
                   "notify_password": "other"},
             extra=["-au", "1009", "-ap", "sipp-pw"], name="sipp-b")
    edge.proc.wait_log("registered aor=sip:1009@example.com", since=mark)
    gw.callback("1009", app, request_id="sp-2")
    st = gw.wait_status("sp-2", "failed")
    check(st.get("sip_status") == 403, f"GET {st}")


def test_dialog_notify_challenge(env):
    """NOTIFYs in a SUBSCRIBE dialog (the state NOTIFY and a contact-me NOTIFY) challenged by
    the endpoint are answered once, with the dialog's next CSeq from Redis (sub:<pkg>:cseq),
    so every NOTIFY of the dialog has a higher CSeq than the one before."""
    r = env.redis()
    edge = edge_with_auth(env, r)
    gw = env.gateway(r)
    app = env.app_server()
    credential(r, "1010", "dlg-pw")
    ua = UA(env, edge, "1010")
    ua.call_id = "d-" + uuid.uuid4().hex
    sub_id = "dsub-" + uuid.uuid4().hex
    seen = []  # (cseq, had Authorization, response verified, body)

    def answer(m):
        if m.get("call-id") != sub_id:
            return 200, []
        a = m.get("authorization")
        if not a:
            seen.append((m.cseq[0], False, False, m.body))
            return 401, ['WWW-Authenticate: Digest realm="beckon", nonce="dlg42", '
                         'algorithm=MD5, qop="auth"']
        c = params(a)
        ok = (c["response"] == notify_response(c, "1010", "dlg-pw", "dlg42")
              and c["username"] == "1010" and c["uri"] == m.uri)
        seen.append((m.cseq[0], True, ok, m.body))
        return (200 if ok else 403), []
    ua.answer = answer
    ok = ua.register(1, None)
    ok = ua.register(2, ua.credentials(challenges(ok)["MD5"], "dlg-pw"))
    check(ok.status == 200, f"REGISTER → {ok.start}")
    hdrs = [f"Contact: <sip:1010@{ua.ip}:{ua.port}>", f"Event: {P}", "Expires: 600"]
    s1 = ua.send("SUBSCRIBE", sub_id, 1, hdrs, ruri=ua.aor)
    auth = ua.credentials(challenges(s1)["MD5"], "dlg-pw", method="SUBSCRIBE", uri=ua.aor)
    s2 = ua.send("SUBSCRIBE", sub_id, 2, hdrs + [f"Authorization: {auth}"], ruri=ua.aor)
    check(s2.status in (200, 202), f"SUBSCRIBE with credentials → {s2.start}")
    # The state NOTIFY: challenged, answered in the dialog with the next CSeq.
    beckon.wait_for(lambda: len(seen) >= 2 or None, "the state NOTIFY answered")
    check(not seen[0][1] and seen[1][1] and seen[1][2], f"state NOTIFY: {seen}")
    check(seen[1][0] == seen[0][0] + 1, f"state NOTIFY CSeqs {seen}")

    resp = gw.post({"device": "1010", "request_id": "dn-1",
                    "server": {"host": "127.0.0.1", "port": app.port}})
    check(resp.status == 202, f"POST → {resp}")
    st = gw.wait_status("dn-1", "delivered")
    check(st.get("sip_status") == 200, f"GET {st}")
    mine = [x for x in seen if "dn-1" in x[3]]
    check(len(mine) == 2 and not mine[0][1] and mine[1][1] and mine[1][2],
          f"in-dialog NOTIFY not challenged and answered once: {seen}")
    cseqs = [x[0] for x in seen]
    check(cseqs == sorted(set(cseqs)), f"dialog CSeqs not strictly increasing: {cseqs}")
    c = r.client()
    stored = [c.hgetall(f"beckon:binding:{i}").get(f"sub:{P}:cseq")
              for i in c("ZRANGE", "beckon:dev:num:1010", 0, -1)]
    c.close()
    check(stored == [str(cseqs[-1])], f"sub:{P}:cseq {stored}, last NOTIFY CSeq {cseqs[-1]}")
    edge.proc.wait_log("notify challenge answered user=1010")

    # The edge holds another password: the answer is refused (403), once, and that is final.
    credential(r, "1010", "changed")
    gw.post({"device": "1010", "request_id": "dn-2",
             "server": {"host": "127.0.0.1", "port": app.port}})
    st = gw.wait_status("dn-2", "failed")
    check(st.get("sip_status") == 403, f"GET {st}")
    check(len([x for x in seen if "dn-2" in x[3]]) == 2, f"answered more than once: {seen}")


def test_default_and_admin(env):
    """sip-edge authenticates by default (no `auth` setting given), and credentials made with
    scripts/beckon-admin sipuser work; after `sipuser delete` the same password is refused."""
    r = env.redis()
    edge = env.sip_edge(r, auth=None)  # no `auth` setting at all
    check("auth is off" not in edge.proc.text(), "the edge warned that auth is off")

    def admin(*args, stdin=""):
        return subprocess.run([ADMIN, "--redis-url", r.url, "sipuser", *args], input=stdin,
                              capture_output=True, text=True, timeout=15)

    p = admin("set", "--user", "2001", stdin="correct horse\n")
    check(p.returncode == 0, f"sipuser set: {p.stderr}")
    stored = r.client().hgetall(f"beckon:cred:{REALM}:2001")
    check(stored == {"ha1_md5": H("MD5", f"2001:{REALM}:correct horse"),
                     "ha1_sha256": H("SHA-256", f"2001:{REALM}:correct horse")},
          f"stored credentials {stored}")
    for bad, want in ((("set", "--user", "a:b"), "--user"), (("set", "--user", ""), "--user"),
                      (("set", "--user", "2002", "--realm", "x y"), "--realm"),
                      (("set", "--user", "2002"), "8..256"), (("delete", "--user", "2009"),
                                                              "no credentials")):
        q = admin(*bad, stdin="short\n")
        check(q.returncode != 0 and want in q.stderr, f"sipuser {bad}: rc={q.returncode} {q.stderr}")
    check(r.client()("EXISTS", "beckon:cred:beckon:2002") == 0, "a refused set stored something")
    check("2001" in admin("list").stdout, "sipuser list does not show 2001")

    ua = UA(env, edge, "2001")
    ua.call_id = "a-" + uuid.uuid4().hex
    ch = challenges(ua.register(1))["MD5"]
    ok = ua.register(2, ua.credentials(ch, "correct horse"))
    check(ok.status == 200, f"REGISTER with beckon-admin's credentials → {ok.start}")
    check(admin("delete", "--user", "2001").returncode == 0, "sipuser delete failed")
    ch = challenges(ua.register(3))["MD5"]
    gone = ua.register(4, ua.credentials(ch, "correct horse"))
    check(gone.status == 401, f"REGISTER after sipuser delete → {gone.start}")


if __name__ == "__main__":
    beckon.main(globals())
