# SPDX-License-Identifier: Apache-2.0
"""Raw SIP for the contact-agent tests: send a NOTIFY straight to an agent's registered
Contact (UDP) and read its answer, to replay what a notifier does (a retried NOTIFY, an
unknown event package) without depending on sip-edge to produce it. Stdlib only.

The agent's Contact comes from its binding in Redis (`uri`), so the NOTIFY reaches exactly
the socket the agent registered from."""
import random
import re
import socket
import threading
import time

import beckon
from beckon import check, fail

CRLF = "\r\n"


def agent_contact(redis, aor_user):
    """(host, port) of the agent's UDP Contact, read from its binding."""
    c = redis.client()
    try:
        for k in c.scan("beckon:binding:*"):
            b = c.hgetall(k)
            uri = b.get("uri", "")
            if uri.startswith(f"sip:{aor_user}@") and b.get("transport") == "udp":
                m = re.match(r"sip:[^@]+@([0-9.]+):(\d+)", uri)
                check(m, f"binding uri not host:port: {uri}")
                return m.group(1), int(m.group(2))
    finally:
        c.close()
    fail(f"no udp binding for {aor_user} in redis")


def record(request_id, server=None, **labels):
    """One contact-me payload record (CRLF-terminated lines)."""
    lines = [f"request-id={request_id}"]
    if server:
        lines.append(f"server={server}")
    for k, v in labels.items():
        lines.append(f"{k.replace('_', '-')}={v}")
    return "".join(line + CRLF for line in lines)


def send_notify(target, aor, body, event=beckon.PACKAGE, content_type=None, timeout=None):
    """Sends one out-of-dialog NOTIFY over UDP and returns the final status code. Waits on
    the socket with a deadline (retransmitting like a UDP client, every 0.5 s)."""
    content_type = content_type or f"application/{event}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    tag = "%08x" % random.getrandbits(32)
    branch = "z9hG4bK-%016x" % random.getrandbits(64)
    call_id = "raw-%016x@127.0.0.1" % random.getrandbits(64)
    user = aor.split(":", 1)[1].split("@", 1)[0]
    raw = body.encode()
    msg = (f"NOTIFY sip:{user}@{target[0]}:{target[1]};transport=udp SIP/2.0{CRLF}"
           f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport{CRLF}"
           f"Max-Forwards: 70{CRLF}"
           f"From: <sip:beckon@127.0.0.1>;tag={tag}{CRLF}"
           f"To: <{aor}>{CRLF}"
           f"Call-ID: {call_id}{CRLF}"
           f"CSeq: 1 NOTIFY{CRLF}"
           f"Event: {event}{CRLF}"
           f"Subscription-State: active;expires=600{CRLF}"
           f"Content-Type: {content_type}{CRLF}"
           f"Content-Length: {len(raw)}{CRLF}{CRLF}").encode() + raw
    deadline = time.monotonic() + (timeout or beckon.DEADLINE)
    try:
        while True:
            sock.sendto(msg, target)
            sock.settimeout(0.5)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(f"no final answer to the NOTIFY from {target}")
                sock.settimeout(min(0.5, left))
                try:
                    data, _ = sock.recvfrom(65536)
                except socket.timeout:
                    break  # retransmit
                m = re.match(rb"SIP/2\.0 (\d{3})", data)
                if m and call_id.encode() in data and int(m.group(1)) >= 200:
                    return int(m.group(1))
    finally:
        sock.close()


def _hdr(msg, name, compact=None):
    names = [name] + ([compact] if compact else [])
    for n in names:
        m = re.search(rb"^" + re.escape(n.encode()) + rb"[ \t]*:[ \t]*([^\r\n]*)", msg,
                      re.I | re.M)
        if m:
            return m.group(1).decode("utf-8", "replace").strip()
    return None


def _hdrs(msg, name, compact=None):
    pat = name if not compact else f"(?:{name}|{compact})"
    return [m.group(1).decode().strip() for m in
            re.finditer(rb"^" + pat.encode() + rb"[ \t]*:[ \t]*([^\r\n]*)", msg, re.I | re.M)]


class FakeNotifier:
    """A registrar and notifier on one UDP socket, standing in for sip-edge to test the
    agent's subscriber side alone: answers REGISTER 200 (echoing the Contact with its
    expires), SUBSCRIBE 200 (Expires as asked, a To tag), and sends in-dialog NOTIFYs on
    request. Every request it gets is kept in .requests as (method, raw bytes)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.answers = {}  # call-id + cseq -> status of our NOTIFYs
        self.dialogs = []  # SUBSCRIBE dialogs: dict(call_id, local_tag, remote, uri, peer)
        self.lock = threading.Lock()
        self.cseq = 100
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def registrar(self):
        return f"sip:127.0.0.1:{self.port}"

    def close(self):
        self.closed = True
        self.sock.close()

    def _reply(self, msg, peer, code, phrase, extra=""):
        via = "".join(f"Via: {v}{CRLF}" for v in _hdrs(msg, "Via", "v"))
        to = _hdr(msg, "To", "t")
        if ";tag=" not in to:
            to += ";tag=fake%06x" % random.getrandbits(24)
        out = (f"SIP/2.0 {code} {phrase}{CRLF}{via}"
               f"From: {_hdr(msg, 'From', 'f')}{CRLF}To: {to}{CRLF}"
               f"Call-ID: {_hdr(msg, 'Call-ID', 'i')}{CRLF}CSeq: {_hdr(msg, 'CSeq')}{CRLF}"
               f"{extra}Content-Length: 0{CRLF}{CRLF}")
        self.sock.sendto(out.encode(), peer)
        return to

    def _run(self):
        while not self.closed:
            try:
                msg, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            if msg.startswith(b"SIP/2.0 "):
                m = re.match(rb"SIP/2\.0 (\d{3})", msg)
                with self.lock:
                    self.answers[(_hdr(msg, "Call-ID", "i"), _hdr(msg, "CSeq"))] = \
                        int(m.group(1))
                beckon._notify()
                continue
            method = msg.split(b" ", 1)[0].decode()
            with self.lock:
                self.requests.append((method, msg))
            contact = _hdr(msg, "Contact", "m") or ""
            if method == "REGISTER":
                exp = _hdr(msg, "Expires") or "600"
                self._reply(msg, peer, 200, "OK", f"Contact: {contact};expires={exp}{CRLF}")
            elif method == "SUBSCRIBE":
                exp = _hdr(msg, "Expires") or "600"
                to = self._reply(msg, peer, 200, "OK", f"Expires: {exp}{CRLF}"
                                 f"Contact: <sip:notifier@127.0.0.1:{self.port}>{CRLF}")
                uri = re.search(r"<([^>]+)>", contact).group(1)
                with self.lock:
                    if exp != "0":
                        self.dialogs.append({
                            "call_id": _hdr(msg, "Call-ID", "i"), "local": to,
                            "remote": _hdr(msg, "From", "f"), "uri": uri, "peer": peer,
                            "event": _hdr(msg, "Event", "o")})
            else:
                self._reply(msg, peer, 200, "OK")
            beckon._notify()

    def methods(self, method):
        with self.lock:
            return [raw for (m, raw) in self.requests if m == method]

    def notify(self, dialog, body, state="active;expires=600"):
        """Sends an in-dialog NOTIFY and waits for its final answer; returns the status."""
        with self.lock:
            self.cseq += 1
            cseq = f"{self.cseq} NOTIFY"
        raw = body.encode()
        ev = dialog["event"]
        msg = (f"NOTIFY {dialog['uri']} SIP/2.0{CRLF}"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK-%016x;rport{CRLF}"
               f"Max-Forwards: 70{CRLF}From: {dialog['local']}{CRLF}"
               f"To: {dialog['remote']}{CRLF}Call-ID: {dialog['call_id']}{CRLF}"
               f"CSeq: {cseq}{CRLF}Contact: <sip:notifier@127.0.0.1:{self.port}>{CRLF}"
               f"Event: {ev}{CRLF}Subscription-State: {state}{CRLF}"
               f"Content-Type: application/{ev}{CRLF}"
               f"Content-Length: {len(raw)}{CRLF}{CRLF}") % random.getrandbits(64)
        self.sock.sendto(msg.encode() + raw, dialog["peer"])
        key = (dialog["call_id"], cseq)
        return beckon.wait_for(lambda: self.answers.get(key),
                               f"answer to in-dialog NOTIFY {cseq}")
