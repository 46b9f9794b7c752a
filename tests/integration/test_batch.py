#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""REGISTER batching (se_registrar.c): the REGISTERs of one loop turn share one register-script
call, and each still gets its own answer.

40 REGISTERs for distinct AORs, each with its own Contact and expiry, go out in one TCP write,
so sofia delivers them in one loop turn. Among them: one whose expiry is too brief (423 from the
parser, never sent to Redis), one out of order for an existing binding (the script's "cseq"
refusal → 500) and one whose binding key has the wrong type in Redis (a command error inside the
script → 500 for that one only). Every other one must get a 200 listing exactly its own contact
with its own expiry, its binding must be stored, and Redis must have run fewer EVALSHAs than
REGISTERs (INFO commandstats). The same burst over UDP (one datagram each) must be answered
correctly too, however sofia spreads it over loop turns."""
import hashlib
import re
import socket
import time

import _path  # noqa: F401
import beckon
from beckon import check
from sipwire import Stream, call_id, header, register, status_of

N = 40
BASE = 7546659000


def evalsha_calls(c):
    m = re.search(r"cmdstat_evalsha:calls=(\d+)", c("INFO", "commandstats"))
    return int(m.group(1)) if m else 0


def binding_id(aor, uri):
    return hashlib.sha256(f"{aor}\n{uri}".encode()).hexdigest()[:32]


def contact_port(i):
    return 20000 + i


def expected_expires(i):
    return 600 + i


def burst(users, sent_by, transport, special):
    """The REGISTERs for users (call ids by user); special[user] = (expires, cseq, call)."""
    msgs, calls = [], {}
    for i, u in users:
        exp, cseq, call = special.get(u, (expected_expires(i), 1, None))
        m, call = register(sent_by, user=str(u), transport=transport, call=call, cseq=cseq,
                           expires=exp, contact=f"10.255.255.1:{contact_port(i)}")
        msgs.append(m)
        calls[u] = call
    return msgs, calls


def check_answers(r, answers, calls, users, refused):
    c = r.client()
    for i, u in users:
        ans = answers.get(calls[u])
        check(ans is not None, f"no answer for user {u}")
        st = status_of(ans)
        if u in refused:
            check(st == refused[u], f"user {u}: {st}, want {refused[u]}: {ans!r}")
            continue
        check(st == 200, f"user {u}: {st}: {ans!r}")
        ct = header(ans, "Contact") or ""
        want = f"<sip:{u}@10.255.255.1:{contact_port(i)}>;expires="
        check(ct.count("<sip:") == 1 and ct.startswith(want),
              f"user {u}: Contact {ct!r}, want only {want}")
        left = int(ct.rsplit("=", 1)[1])
        check(expected_expires(i) - 5 <= left <= expected_expires(i),
              f"user {u}: expires {left}, want {expected_expires(i)}")
        aor = f"sip:{u}@example.com"
        bid = binding_id(aor, f"sip:{u}@10.255.255.1:{contact_port(i)}")
        h = c.hgetall(f"beckon:binding:{bid}")
        check(h.get("aor") == aor and h.get("call_id") == calls[u],
              f"user {u}: binding {bid} {h}")
    c.close()


def test_tcp_burst_one_turn(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    users = [(i, BASE + i) for i in range(N)]
    brief, late, broken = BASE + 3, BASE + 17, BASE + 29
    # An existing binding with CSeq 10 for `late`; the burst's CSeq 5 of the same Call-ID is
    # out of order (RFC 3261 10.3 step 7).
    st = Stream("127.0.0.1", edge.sip_port)
    i_late = late - BASE
    m, late_call = register(st.sent_by, user=str(late), transport="TCP", cseq=10,
                            expires=expected_expires(i_late),
                            contact=f"10.255.255.1:{contact_port(i_late)}")
    st.send(m)
    ans, _ = st.messages_until(late_call, 5)
    check(ans is not None and status_of(ans) == 200, f"setup REGISTER: {ans!r}")
    # A binding key of the wrong type: the script's HMGET on it fails with WRONGTYPE.
    i_broken = broken - BASE
    c("SET", "beckon:binding:" + binding_id(
        f"sip:{broken}@example.com", f"sip:{broken}@10.255.255.1:{contact_port(i_broken)}"),
      "not-a-hash")
    special = {brief: (5, 1, None), late: (expected_expires(i_late), 5, late_call)}
    msgs, calls = burst(users, st.sent_by, "TCP", special)
    mark = edge.proc.mark()
    before = evalsha_calls(c)
    st.send(b"".join(msgs))
    answers = {}
    for u in calls.values():
        if u in answers:
            continue
        ans, others = st.messages_until(u, 10)
        for m in others + ([ans] if ans else []):
            if call_id(m) and status_of(m):
                answers[call_id(m).decode()] = m
    sent_to_redis = N - 1  # the 423 is answered by the parser
    calls_used = evalsha_calls(c) - before
    check(calls_used < sent_to_redis,
          f"{calls_used} EVALSHA calls for {sent_to_redis} REGISTERs: not batched")
    check_answers(r, answers, calls, users, {brief: 423, late: 500, broken: 500})
    edge.proc.wait_log("register script failed", since=mark)  # WRONGTYPE logged
    edge.proc.wait_log("reason=cseq", since=mark)  # the out-of-order refusal logged
    print(f"  {sent_to_redis} REGISTERs to Redis in {calls_used} EVALSHA calls")
    st.close()
    c.close()


def test_udp_burst(env):
    r = env.redis()
    edge = env.sip_edge(r)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sent_by = f"127.0.0.1:{s.getsockname()[1]}"
    users = [(i, BASE + 100 + i) for i in range(N)]
    brief = BASE + 100 + 7
    msgs, calls = burst(users, sent_by, "UDP", {brief: (5, 1, None)})
    for m in msgs:
        s.sendto(m, ("127.0.0.1", edge.sip_port))
    answers = {}
    deadline = time.monotonic() + 10
    while len(answers) < N and time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = s.recv(65535)
        except socket.timeout:
            break
        if call_id(d) and status_of(d) and status_of(d) >= 200:
            answers[call_id(d).decode()] = d
    check_answers(r, answers, calls, users, {brief: 423})
    s.close()


def test_refresh_index_expiry(env):
    """The refresh fast path inside a batch still moves the binding's and its index keys'
    expiry with each refresh (proto/redis.md "Bindings")."""
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sent_by = f"127.0.0.1:{s.getsockname()[1]}"
    user = BASE + 500
    aor = f"sip:{user}@example.com"
    bid = binding_id(aor, f"sip:{user}@10.255.255.1:5999")

    def reg(cseq, expires):
        m, _ = register(sent_by, user=str(user), transport="UDP", call=f"ttl-{user}",
                        cseq=cseq, expires=expires, contact="10.255.255.1:5999")
        s.sendto(m, ("127.0.0.1", edge.sip_port))
        s.settimeout(5)
        d = s.recv(65535)
        check(status_of(d) == 200, f"REGISTER cseq {cseq}: {d!r}")
        exp = int(c("HGET", f"beckon:binding:{bid}", "expires"))
        check(int(c("PEXPIRETIME", f"beckon:binding:{bid}")) == exp, "binding hash expiry")
        return exp, int(c("PEXPIRETIME", f"beckon:dev:num:{user}"))

    for cseq, expires in ((1, 600), (2, 1800), (3, 3000)):  # the last two: the fast path
        exp, idx = reg(cseq, expires)
        check(idx == exp, f"REGISTER {cseq}: index expiry {idx}, binding expiry {exp}")
    s.close()
    c.close()


if __name__ == "__main__":
    beckon.main(globals())
