# SPDX-License-Identifier: Apache-2.0
"""A tiny scripted SIP user agent over UDP for integration tests (stdlib only).

It sends hand-written REGISTER / SUBSCRIBE requests to sip-edge, waits for their responses,
records every request it receives (NOTIFYs) and answers each with the status its `answer`
policy returns (200 by default; it may also return (status, extra header lines), e.g. a
WWW-Authenticate for a challenge, or None for no answer at all). Unlike SIPp it can look at
every header and body and change its mind between messages, which the SUBSCRIBE, retry and
digest tests need. The Contact may name an unreachable address: what arrives anyway came
over the flow (the UA's own socket).
"""

import socket
import threading
import uuid

import beckon
from beckon import check


class SipMsg:
    def __init__(self, raw):
        self.raw = raw
        head, _, body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.start = lines[0]
        self.headers = []  # (lower name, value) in order
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers.append((k.strip().lower(), v.strip()))
        self.body = body
        parts = self.start.split(" ", 2)
        self.is_response = parts[0].startswith("SIP/")
        self.status = int(parts[1]) if self.is_response else None
        self.method = None if self.is_response else parts[0]
        self.uri = None if self.is_response else parts[1]

    _COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact",
                "c": "content-type", "l": "content-length", "o": "event", "e": "content-encoding"}

    def all(self, name):
        name = name.lower()
        return [v for (k, v) in self.headers if self._COMPACT.get(k, k) == name]

    def get(self, name, default=None):
        v = self.all(name)
        return v[0] if v else default

    @property
    def cseq(self):
        n, m = self.get("cseq", "0 X").split()
        return int(n), m

    def tag(self, name):
        v = self.get(name, "")
        for p in v.split(";")[1:]:
            if p.strip().lower().startswith("tag="):
                return p.strip()[4:]
        return None

    def __repr__(self):
        return f"<SipMsg {self.start!r}>"


def response(req, code, extra=()):
    """The wire bytes of a bodiless answer to request `req` with status `code` and the
    header lines `extra` (a To tag is added when the request has none)."""
    lines = [f"SIP/2.0 {code} {'OK' if code < 300 else 'Failed'}"]
    lines += [f"Via: {v}" for v in req.all("via")]
    lines.append(f"From: {req.get('from')}")
    to = req.get("to")
    if req.tag("to") is None:
        to += ";tag=ua" + uuid.uuid4().hex[:8]
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {req.get('call-id')}")
    lines.append(f"CSeq: {req.get('cseq')}")
    lines += list(extra)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class SipUA:
    def __init__(self, env, edge, user, domain="example.com", instance=None,
                 contact_host="10.255.255.1", contact_port=5999, ip="127.0.0.1"):
        self.env = env
        self.edge = ("127.0.0.1", edge.sip_port)
        self.user = user
        self.domain = domain
        self.aor = f"sip:{user}@{domain}"
        self.instance = instance
        self.contact_uri = f"sip:{user}@{contact_host}:{contact_port}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.ip, self.port = self.sock.getsockname()
        self.lock = threading.Lock()
        self.responses = []
        self.requests = []
        # answer(msg) -> status code, or (status code, [extra header lines]), for a received
        # request, or None to leave it unanswered; default: 200.
        self.answer = lambda msg: 200
        self.reg_call_id = f"reg-{uuid.uuid4().hex}"
        self.reg_cseq = 0
        self.from_tag = uuid.uuid4().hex[:10]
        self.closed = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        env.apps.append(self)  # closed with the environment

    # ------------------------------------------------------------ wire

    def _reader(self):
        while not self.closed:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            msg = SipMsg(data.decode("utf-8", "replace"))
            if msg.is_response:
                with self.lock:
                    self.responses.append(msg)
            else:
                code, extra = self._answer(msg)
                # Recorded before it is answered: a test that sees the result of the answer
                # (a request `delivered`) must also see the request here.
                with self.lock:
                    self.requests.append((msg, code))
                if code is not None:  # None: leave it unanswered (recorded all the same)
                    self.sock.sendto(response(msg, code, extra), addr)
            beckon._notify()

    def _answer(self, msg):
        a = self.answer(msg)
        return a if isinstance(a, tuple) else (a, [])

    def contact(self):
        c = f"<{self.contact_uri}>"
        if self.instance:
            c += f';+sip.instance="<{self.instance}>"'
        return c

    def send(self, method, call_id, cseq, headers, body="", ruri=None, to=None, from_tag=None):
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        lines = [f"{method} {ruri or 'sip:' + self.domain} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"From: <{self.aor}>;tag={from_tag or self.from_tag}",
                 f"To: {to or '<' + self.aor + '>'}",
                 f"Call-ID: {call_id}",
                 f"CSeq: {cseq} {method}"]
        lines += headers
        lines.append(f"Content-Length: {len(body.encode())}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), self.edge)

        def pred():
            with self.lock:
                for r in self.responses:
                    if r.get("call-id") == call_id and r.cseq == (cseq, method) \
                            and r.status >= 200:
                        return r
            return None
        return beckon.wait_for(pred, f"final response to {method} cseq {cseq}")

    # ------------------------------------------------------------ requests

    def register(self, accept=(beckon.PACKAGE,), expires=300):
        self.reg_cseq += 1
        hdrs = [f"Contact: {self.contact()}", f"Expires: {expires}",
                "User-Agent: beckon-test-ua"]
        if accept:
            hdrs.append("Accept: " + ", ".join(f"application/{p}" for p in accept))
        r = self.send("REGISTER", self.reg_call_id, self.reg_cseq, hdrs)
        check(r.status == 200, f"REGISTER → {r.start}")
        return r

    def subscribe(self, event=beckon.PACKAGE, expires=600, call_id=None, cseq=1, to_tag=None,
                  extra=()):
        hdrs = [f"Contact: {self.contact()}"]
        if event:
            hdrs.append(f"Event: {event}")
        if expires is not None:
            hdrs.append(f"Expires: {expires}")
        hdrs += list(extra)
        to = f"<{self.aor}>" + (f";tag={to_tag}" if to_tag else "")
        return self.send("SUBSCRIBE", call_id or f"sub-{uuid.uuid4().hex}", cseq, hdrs,
                         ruri=self.aor, to=to)

    # ------------------------------------------------------------ received

    def received(self, method="NOTIFY"):
        with self.lock:
            return [m for (m, _) in self.requests if m.method == method]

    def wait_request(self, pred=lambda m: True, what="a NOTIFY", count=1, method="NOTIFY"):
        def ready():
            hits = [m for m in self.received(method) if pred(m)]
            return hits if len(hits) >= count else None
        return beckon.wait_for(ready, f"{what} at UA {self.user}")

    def close(self):
        self.closed = True
        self.sock.close()


def records(body):
    """Splits a state NOTIFY body into records (dicts label -> value); [] when empty."""
    out = []
    for chunk in body.split("\r\n\r\n") if body else []:
        rec = {}
        for line in chunk.split("\r\n"):
            if line:
                k, _, v = line.partition("=")
                rec[k] = v
        if rec:
            out.append(rec)
    return out
