#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""RFC 3261 10.3 on the register script's full path (se_register.c), checked in Redis.

The full path tracks the AOR set itself (one ZRANGE instead of ZREMRANGEBYSCORE, ZCOUNT, ZSCORE
and the listing's ZRANGEBYSCORE), reads each binding hash once, writes its package fields and
`subscribed` in the binding's one HSET, and extends index keys with PEXPIREAT NX, then GT. These
tests pin what that must keep: the 200 lists every live contact of the AOR ordered by expiry,
with each one's remaining seconds; an unregistered contact leaves the listing, the hash and the
index sets; an out-of-order CSeq changes nothing; the 33rd binding is refused; index keys live
as long as their longest binding (never shortened); an expired member left in the AOR set is
dropped and not listed; a contact given twice in one REGISTER ends as a sequence of two would;
Accept sets and clears the package field and `subscribed`; `Contact: *` removes them all."""
import hashlib
import re
import socket
import time
import uuid

import _path  # noqa: F401
import beckon
from beckon import check
from sipwire import status_of

PKG = "application-server-contact-me"
HOST = "10.255.255.2"


def binding_id(aor, uri):
    return hashlib.sha256(f"{aor}\n{uri}".encode()).hexdigest()[:32]


class Ua:
    """One UDP socket registering contacts of one user; answers are read synchronously."""

    def __init__(self, edge, user):
        self.edge, self.user = edge, user
        self.aor = f"sip:{user}@example.com"
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(5)
        self.sent_by = f"127.0.0.1:{self.s.getsockname()[1]}"
        self.call = f"reg-{uuid.uuid4().hex}"

    def uri(self, port):
        return f"sip:{self.user}@{HOST}:{port}"

    def bid(self, port):
        return binding_id(self.aor, self.uri(port))

    def register(self, cseq, contacts, accept=True, call=None):
        """contacts: [(port, expires)], or "*" (with Expires: 0). Returns (status,
        [(uri, expires)] of the 200)."""
        if contacts == "*":
            lines = "Contact: *\r\nExpires: 0\r\n"
        else:
            lines = "".join(f"Contact: <{self.uri(p)}>;expires={e}\r\n" for p, e in contacts)
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        m = (f"REGISTER sip:example.com SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP {self.sent_by};branch={branch};rport\r\n"
             f"Max-Forwards: 70\r\n"
             f"From: <{self.aor}>;tag={uuid.uuid4().hex[:8]}\r\n"
             f"To: <{self.aor}>\r\n"
             f"Call-ID: {call or self.call}\r\n"
             f"CSeq: {cseq} REGISTER\r\n" + lines +
             (f"Accept: application/{PKG}\r\n" if accept else "") +
             "Content-Length: 0\r\n\r\n").encode()
        self.s.sendto(m, ("127.0.0.1", self.edge.sip_port))
        d = self.s.recv(65535)
        ct = ", ".join(v.decode() for v in re.findall(rb"(?im)^(?:Contact|m)[ \t]*:([^\r\n]*)", d))
        listed = [(u, int(e)) for u, e in re.findall(r"<([^>]+)>;expires=(\d+)", ct)]
        return status_of(d), listed

    def close(self):
        self.s.close()


def near(got, want):
    return want - 5 <= got <= want


def test_listing_order_and_unregister(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    ua = Ua(edge, 7546660001)
    st, listed = ua.register(1, [(5002, 1200), (5001, 600)])
    check(st == 200, f"first REGISTER: {st}")
    check([u for u, _ in listed] == [ua.uri(5001), ua.uri(5002)] and near(listed[0][1], 600)
          and near(listed[1][1], 1200), f"listing ordered by expiry: {listed}")
    # A later REGISTER lists the contacts it did not write too (read from their hashes).
    st, listed = ua.register(2, [(5003, 900)])
    check(st == 200 and [u for u, _ in listed] == [ua.uri(p) for p in (5001, 5003, 5002)],
          f"second REGISTER: {st} {listed}")
    aorkey = f"beckon:dev:aor:{ua.aor}"
    check(int(c("ZCARD", aorkey)) == 3, "three members in the AOR set")
    # Unregister one: gone from the listing, the hash and every index set.
    st, listed = ua.register(3, [(5001, 0)])
    check(st == 200 and [u for u, _ in listed] == [ua.uri(5003), ua.uri(5002)],
          f"after unregister: {st} {listed}")
    check(c("EXISTS", f"beckon:binding:{ua.bid(5001)}") == 0, "unregistered hash deleted")
    check(c("ZSCORE", aorkey, ua.bid(5001)) is None, "unregistered: not in the AOR set")
    check(c("ZSCORE", f"beckon:dev:num:{ua.user}", ua.bid(5001)) is None,
          "unregistered: not in the number set")
    # Out of order (same Call-ID, lower CSeq): refused, nothing written.
    check(ua.register(5, [(5002, 1200)])[0] == 200, "refresh at CSeq 5")
    before = c.hgetall(f"beckon:binding:{ua.bid(5002)}")
    st, _ = ua.register(4, [(5002, 300)])
    check(st == 500, f"out-of-order CSeq answered {st}")
    check(c.hgetall(f"beckon:binding:{ua.bid(5002)}") == before, "out-of-order changed the hash")
    ua.close()
    c.close()


def test_wildcard_removes_all(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    ua = Ua(edge, 7546660007)
    check(ua.register(1, [(5501, 600), (5502, 900)])[0] == 200, "two contacts")
    st, listed = ua.register(2, "*")
    check(st == 200 and listed == [], f"wildcard: {st} {listed}")
    check(c("EXISTS", f"beckon:dev:aor:{ua.aor}", f"beckon:binding:{ua.bid(5501)}",
            f"beckon:binding:{ua.bid(5502)}") == 0, "wildcard left keys behind")
    # A query (no Contact) now lists nothing; a new contact lists only itself.
    st, listed = ua.register(3, [(5503, 600)])
    check(st == 200 and [u for u, _ in listed] == [ua.uri(5503)], f"{st} {listed}")
    ua.close()
    c.close()


def test_too_many_bindings(env):
    r = env.redis()
    edge = env.sip_edge(r)
    ua = Ua(edge, 7546660002)
    for k in range(4):
        st, listed = ua.register(k + 1, [(6000 + 8 * k + i, 600) for i in range(8)])
        check(st == 200 and len(listed) == 8 * (k + 1), f"REGISTER {k}: {st} {len(listed)}")
    st, _ = ua.register(5, [(6100, 600)])
    check(st == 403, f"33rd binding answered {st}")
    # Changing an existing binding (new expiry: the full path) is still fine.
    st, listed = ua.register(6, [(6000, 900), (6001, 0)])
    check(st == 200 and len(listed) == 31, f"update at the limit: {st} {len(listed)}")
    ua.close()


def test_index_expiry_never_shortened(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    ua = Ua(edge, 7546660003)
    keys = [f"beckon:dev:aor:{ua.aor}", f"beckon:dev:num:{ua.user}"]

    def expiry(port):
        return int(c("HGET", f"beckon:binding:{ua.bid(port)}", "expires"))

    def index_expiries():
        return [int(c("PEXPIRETIME", k)) for k in keys]

    check(ua.register(1, [(5101, 1200)])[0] == 200, "first")
    check(index_expiries() == [expiry(5101)] * 2, "new index keys get the binding's expiry")
    check(ua.register(2, [(5102, 600)])[0] == 200, "shorter")
    check(index_expiries() == [expiry(5101)] * 2, "a shorter binding shortened an index key")
    check(ua.register(3, [(5103, 1800)])[0] == 200, "longer")
    check(index_expiries() == [expiry(5103)] * 2, "a longer binding did not extend them")
    ua.close()
    c.close()


def test_expired_member_dropped(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    ua = Ua(edge, 7546660004)
    aorkey = f"beckon:dev:aor:{ua.aor}"
    c("ZADD", aorkey, int(time.time() * 1000) - 60000, "0" * 32)
    st, listed = ua.register(1, [(5201, 600)])
    check(st == 200 and [u for u, _ in listed] == [ua.uri(5201)], f"{st} {listed}")
    check(c("ZSCORE", aorkey, "0" * 32) is None, "the expired member is still in the AOR set")
    ua.close()
    c.close()


def test_same_contact_twice(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    ua = Ua(edge, 7546660005)
    st, listed = ua.register(1, [(5301, 600), (5301, 1200)])
    check(st == 200 and len(listed) == 1 and near(listed[0][1], 1200), f"{st} {listed}")
    h = c.hgetall(f"beckon:binding:{ua.bid(5301)}")
    check(int(h["expires"]) == int(c("ZSCORE", f"beckon:dev:aor:{ua.aor}", ua.bid(5301))),
          f"hash and AOR set disagree: {h}")
    ua.close()
    c.close()


def test_accept_sets_and_clears_package(env):
    r = env.redis()
    edge = env.sip_edge(r)
    c = r.client()
    ua = Ua(edge, 7546660006)
    bk = f"beckon:binding:{ua.bid(5401)}"
    check(ua.register(1, [(5401, 600)])[0] == 200, "with Accept")
    h = c.hgetall(bk)
    check(h.get(f"pkg:{PKG}") == "accept" and h.get("subscribed") == "1", f"{h}")
    check(ua.register(2, [(5401, 600)], accept=False)[0] == 200, "without Accept")
    h = c.hgetall(bk)
    check(f"pkg:{PKG}" not in h and h.get("subscribed") == "0", f"{h}")
    check(ua.register(3, [(5401, 600)])[0] == 200, "with Accept again")
    h = c.hgetall(bk)
    check(h.get(f"pkg:{PKG}") == "accept" and h.get("subscribed") == "1", f"{h}")
    ua.close()
    c.close()


if __name__ == "__main__":
    beckon.main(globals())
