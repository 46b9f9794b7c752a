#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Parser robustness seen in the wild (issue 9, docs/interop.md "What the parser must take"),
each case a deterministic raw message over loopback:

* several Accept lines (linphonec sends three), the contact-me type on one of them →
  registered and subscribed;
* compact header forms (twinkle with compact_headers=yes: v: f: t: i: m: l:, plus k: for
  Supported, and o: for the Event of a SUBSCRIBE) → 200, the binding stored as for the long
  forms;
* a UDP REGISTER without Content-Length (linphonec) → 200 (RFC 3261 18.3: optional over UDP);
* CRLF keep-alives as UDP datagrams (linphonec sends "\\r\\n\\r\\n" every 30 s) → ignored, no
  answer, no error logged, the edge keeps serving; over TCP a CRLFCRLF ping gets the RFC 5626
  CRLF pong (TPTAG_PONG2PING) and the connection keeps working."""
import socket
import time
import uuid

import _path  # noqa: F401
import beckon
from beckon import check
from sipwire import Stream, register, status_of

P = beckon.PACKAGE


class Udp:
    """One UDP socket towards the edge: send raw bytes, read the answer for a Call-ID."""

    def __init__(self, edge):
        self.dest = ("127.0.0.1", edge.sip_port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendto(data, self.dest)

    def answer(self, call, timeout=5.0):
        """The final answer whose Call-ID (long or compact form) is `call`, or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65535)
            except socket.timeout:
                return None
            st = status_of(d)
            if st and st >= 200 and any(
                    line.split(b":", 1)[1].strip() == call.encode()
                    for line in d.split(b"\r\n")
                    if line.lower().startswith((b"call-id:", b"i:"))):
                return d

    def silent(self, timeout=0.5):
        """Whatever arrives within timeout (nothing is the right answer to a keep-alive)."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(65535)
        except socket.timeout:
            return None


def request(udp, user, headers, method="REGISTER", ruri="sip:example.com", cl=True,
            compact=False, call=None):
    """A request from udp's socket; headers are full lines after the fixed ones."""
    call = call or f"wild-{uuid.uuid4().hex}"
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    tag = uuid.uuid4().hex[:8]
    n = {"via": "v", "from": "f", "to": "t", "call-id": "i", "content-length": "l"} \
        if compact else {}

    def h(name):
        return n.get(name.lower(), name)
    lines = [f"{method} {ruri} SIP/2.0",
             f"{h('Via')}: SIP/2.0/UDP 127.0.0.1:{udp.port};branch={branch};rport",
             "Max-Forwards: 70",
             f"{h('From')}: <sip:{user}@example.com>;tag={tag}",
             f"{h('To')}: <sip:{user}@example.com>",
             f"{h('Call-ID')}: {call}",
             f"CSeq: 1 {method}"] + list(headers)
    if cl:
        lines.append(f"{h('Content-Length')}: 0")
    udp.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    return call


def registered(edge, udp, user, headers, mark, **kw):
    call = request(udp, user, headers, **kw)
    ans = udp.answer(call)
    check(ans is not None and status_of(ans) == 200, f"REGISTER {kw} → {ans!r}, want 200")
    return ans, edge.proc.wait_log(f"registered aor=sip:{user}@example.com", since=mark)[0]


def no_errors(edge, since):
    bad = edge.proc.find('"level":"error"', since)
    check(not bad, f"sip-edge logged errors: {bad}")


def test_several_accept_lines(env):
    r = env.redis()
    edge = env.sip_edge(r)
    udp = Udp(edge)
    # The contact-me type last (linphonec's order of lines), then in the middle of a list.
    for user, accepts in (
            ("7546657100", ["Accept: application/sdp", "Accept: text/plain",
                            f"Accept: application/{P}"]),
            ("7546657101", ["Accept: application/sdp",
                            f"Accept: text/plain, application/{P};q=0.5, message/sipfrag",
                            "Accept: application/vnd.gsma.rcs-ft-http+xml"])):
        mark = edge.proc.mark()
        _, hit = registered(edge, udp, user, [
            f"Contact: <sip:{user}@10.255.255.1:5999>", "Expires: 60"] + accepts, mark)
        check("subscribed=1" in hit, f"several Accept lines did not subscribe: {hit}")
        b = list(r.bindings(user).values())
        check(len(b) == 1 and b[0].get(f"pkg:{P}") == "accept", f"binding {b}")
    # Several Accept lines none of which names the type: registered, not subscribed.
    mark = edge.proc.mark()
    _, hit = registered(edge, udp, "7546657102", [
        "Contact: <sip:7546657102@10.255.255.1:5999>", "Expires: 60",
        "Accept: application/sdp", "Accept: text/plain"], mark)
    check("subscribed=0" in hit, f"subscribed without the type: {hit}")
    udp.close()


def test_compact_forms(env):
    r = env.redis()
    edge = env.sip_edge(r)
    udp = Udp(edge)
    user = "7546657200"
    mark = edge.proc.mark()
    ans, hit = registered(edge, udp, user, [
        f"m: <sip:{user}@10.255.255.1:5999;transport=udp>;expires=60", "k: path",
        "User-Agent: Twinkle/1.10.2", f"Accept: application/{P}"], mark, compact=True)
    check("subscribed=1" in hit and "transport=udp" in hit, f"compact REGISTER: {hit}")
    b = list(r.bindings(user).values())
    check(len(b) == 1, f"bindings {b}")
    b = b[0]
    check(b.get("contact", "").startswith(f"<sip:{user}@10.255.255.1:5999;transport=udp>")
          or f"sip:{user}@10.255.255.1:5999" in b.get("contact", ""), f"contact: {b}")
    check(b.get("source") == f"127.0.0.1:{udp.port}", f"source: {b}")
    check(b.get("user_agent") == "Twinkle/1.10.2", f"user_agent: {b}")
    check(b"10.255.255.1:5999" in ans, f"200 does not list the binding: {ans!r}")
    # A SUBSCRIBE in compact forms too (o: is Event), from the registered Contact.
    call = request(udp, user, [f"m: <sip:{user}@10.255.255.1:5999;transport=udp>", f"o: {P}",
                               "Expires: 300"],
                   method="SUBSCRIBE", ruri=f"sip:{user}@example.com", compact=True)
    ans = udp.answer(call)
    check(ans is not None and status_of(ans) == 200, f"compact SUBSCRIBE → {ans!r}")
    no_errors(edge, mark)
    udp.close()


def test_udp_without_content_length(env):
    r = env.redis()
    edge = env.sip_edge(r)
    udp = Udp(edge)
    user = "7546657300"
    mark = edge.proc.mark()
    _, hit = registered(edge, udp, user, [
        f"Contact: <sip:{user}@10.255.255.1:5999>", "Expires: 60",
        f"Accept: application/{P}"], mark, cl=False)
    check("subscribed=1" in hit, f"REGISTER without Content-Length: {hit}")
    check(len(r.bindings(user)) == 1, "binding not stored")
    udp.close()


def test_crlf_keepalives(env):
    r = env.redis()
    edge = env.sip_edge(r)
    udp = Udp(edge)
    mark = edge.proc.mark()
    # linphonec's keep-alive datagram, a lone CRLF, and a burst of them.
    for d in [b"\r\n\r\n", b"\r\n", b"\r\n\r\n\r\n\r\n"] + [b"\r\n\r\n"] * 50:
        udp.send(d)
    got = udp.silent(0.5)
    check(got is None, f"answer to a UDP keep-alive: {got!r}")
    user = "7546657400"
    registered(edge, udp, user, [f"Contact: <sip:{user}@10.255.255.1:5999>", "Expires: 60"],
               edge.proc.mark())
    check(edge.proc.alive(), "sip-edge died")
    no_errors(edge, mark)

    # TCP: CRLFCRLF ping → CRLF pong (RFC 5626 4.4.1), then a REGISTER on the same connection.
    st = Stream("127.0.0.1", edge.sip_port)
    st.s.sendall(b"\r\n\r\n")
    st.s.settimeout(3)
    pong = st.s.recv(64)
    check(pong == b"\r\n", f"CRLFCRLF ping over TCP → {pong!r}, want CRLF")
    msg, call = register(st.sent_by, user="7546657401", transport="TCP")
    st.send(msg)
    ans, _ = st.messages_until(call, 5)
    check(ans is not None and status_of(ans) == 200, f"REGISTER after the ping → {ans!r}")
    st.close()
    no_errors(edge, mark)
    udp.close()


if __name__ == "__main__":
    beckon.main(globals())
