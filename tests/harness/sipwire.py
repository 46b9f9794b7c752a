# SPDX-License-Identifier: Apache-2.0
"""Raw SIP over sockets for the conformance and robustness tests: send bytes exactly as a
suite file holds them, catch whatever comes back, and prove the server alive with a valid
REGISTER (the "probe") after each case.

Answers to a request go where its Via says. The torture files name foreign hosts without a
port; nta answers to the packet's source address (it adds received=) at the Via's port,
5060 by default, some files say 5050. So a Catcher binds UDP 0.0.0.0:5060 and :5050 in the
test's network namespace and the server must listen elsewhere (the harness picks a free
port). The Catcher's 5060 socket is also the sender, so every answer lands on a socket we
read. Stdlib only.
"""

import re
import select
import socket
import time
import uuid

STATUS_RE = re.compile(rb"^SIP/2\.0 (\d{3})[ \t]?([^\r\n]*)\r?\n", re.S)
CALL_ID_RE = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)


def status_of(msg):
    m = STATUS_RE.match(msg)
    return int(m.group(1)) if m else None


def header(msg, name):
    """First value of header `name` (long form, case-insensitive) in a raw message, or None."""
    m = re.search(rb"^" + re.escape(name.encode()) + rb"[ \t]*:[ \t]*([^\r\n]*)", msg,
                  re.I | re.M)
    return m.group(1).decode("utf-8", "replace").strip() if m else None


def call_id(msg):
    m = CALL_ID_RE.search(msg)
    return m.group(1).strip() if m else None


def crlf(data):
    """Bare-LF archive text → CRLF lines with Content-Length recomputed (RFC 5118 files)."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return data.rstrip(b"\r\n") + b"\r\n\r\n"
    head = re.sub(rb"(?im)^(Content-Length|l)[ \t]*:[ \t]*\d+",
                  lambda m: m.group(1) + b": " + str(len(body)).encode(), head)
    return head + sep + body


def register(sent_by, user="probe", transport="UDP", call=None, cseq=1, expires=60,
             contact="127.0.0.1:5999", extra=b""):
    """A valid REGISTER (the liveness probe). sent_by is 'ip:port'. The Contact stays the
    same whatever the source port, so repeated probes refresh one binding instead of adding
    one per TCP connection (an AOR holds at most 32)."""
    call = call or f"probe-{uuid.uuid4().hex}"
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    return (f"REGISTER sip:example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {sent_by};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{user}@example.com>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{user}@example.com>\r\n"
            f"Call-ID: {call}\r\n"
            f"CSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{user}@{contact}>;expires={expires}\r\n"
            f"Expires: {expires}\r\n").encode() + extra + b"Content-Length: 0\r\n\r\n", call


def frame(buf):
    """Splits one whole message (by Content-Length) off a stream buffer: (msg or None, rest).
    Leading CRLFs (keep-alives) are skipped."""
    buf = buf.lstrip(b"\r\n")
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    m = re.search(rb"(?im)^(?:Content-Length|l)[ \t]*:[ \t]*(\d+)", buf[:end + 4])
    n = int(m.group(1)) if m else 0
    if len(buf) < end + 4 + n:
        return None, buf
    return buf[:end + 4 + n], buf[end + 4 + n:]


class Catcher:
    """UDP sockets on 0.0.0.0 (5060 and 5050 by default), sending from the first one, and
    TCP listeners on the same ports: an answer to a request whose Via names TCP arrives on a
    connection the server opens to the Via's port."""

    def __init__(self, ports=(5060, 5050), rcvbuf=4 << 20, tcp=True, host="0.0.0.0"):
        self.socks = []
        self.listeners = []
        self.conns = {}  # socket → (local port, buffer)
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.bind((host, p))
            s.setblocking(False)
            self.socks.append(s)
            if tcp:
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((host, p))
                t.listen(64)
                t.setblocking(False)
                self.listeners.append(t)
        self.port = self.socks[0].getsockname()[1]
        self.host = "127.0.0.1" if host == "0.0.0.0" else host
        self.sent_by = f"{self.host}:{self.port}"

    def close(self):
        for s in self.socks + self.listeners + list(self.conns):
            s.close()
        self.conns.clear()

    def send(self, data, dest):
        # Larger than one IPv4 datagram: what a network would carry at most.
        self.socks[0].sendto(data[:65507], dest)

    def _readable(self):
        return self.socks + self.listeners + list(self.conns)

    def drain(self):
        """Every datagram already queued, and every whole message on accepted TCP
        connections, as (local port, bytes)."""
        out = []
        for s in self.socks:
            while True:
                try:
                    out.append((s.getsockname()[1], s.recv(70000)))
                except BlockingIOError:
                    break
        for t in self.listeners:
            while True:
                try:
                    c, _ = t.accept()
                except BlockingIOError:
                    break
                c.setblocking(False)
                self.conns[c] = [t.getsockname()[1], b""]
        for c in list(self.conns):
            port, buf = self.conns[c]
            eof = False
            while True:
                try:
                    d = c.recv(65536)
                except BlockingIOError:
                    break
                except OSError:
                    d = b""
                if not d:
                    eof = True
                    break
                buf += d
            while True:
                m, buf = frame(buf)
                if m is None:
                    break
                out.append((port, m))
            self.conns[c][1] = buf
            if eof:
                c.close()
                del self.conns[c]
        return out

    def until(self, call, timeout):
        """Collects datagrams until one is an answer whose Call-ID is `call` (str) or the
        timeout passes. Returns (answer or None, [other datagrams in arrival order])."""
        want = call.encode()
        others = []
        deadline = time.monotonic() + timeout
        while True:
            answer = None
            for port, d in self.drain():
                if answer is None and call_id(d) == want and status_of(d):
                    answer = d
                else:
                    others.append((port, d))
            if answer is not None:
                # Whatever else is queued now was sent before the answer (one server, one
                # thread) but may sit on another socket.
                return answer, others + self.drain()
            left = deadline - time.monotonic()
            if left <= 0:
                return None, others
            select.select(self._readable(), [], [], left)


class Stream:
    """One TCP connection to the server; reads framed SIP messages (Content-Length)."""

    def __init__(self, host, port, timeout=5):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.closed = False
        local = self.s.getsockname()
        self.sent_by = f"{local[0]}:{local[1]}"

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def close(self):
        self.s.close()

    def messages_until(self, call, timeout):
        """Messages read until one answers Call-ID `call`, the peer closes, or timeout.
        Returns (answer or None, [other messages])."""
        want = call.encode() if call else None
        others = []
        deadline = time.monotonic() + timeout
        while True:
            while True:
                m, self.buf = frame(self.buf)
                if m is None:
                    break
                if want and call_id(m) == want and status_of(m):
                    return m, others
                if m:
                    others.append(m)
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None, others
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            try:
                d = self.s.recv(65536)
            except OSError:
                d = b""
            if not d:
                self.closed = True
                continue
            self.buf += d


def probe_udp(catcher, dest, timeout=2.0, user="probe"):
    """Sends a valid REGISTER from the catcher; returns (status or None, other datagrams)."""
    msg, call = register(catcher.sent_by, user=user)
    catcher.send(msg, dest)
    ans, others = catcher.until(call, timeout)
    return (status_of(ans) if ans else None), others


def probe_tcp(host, port, timeout=2.0, user="probe"):
    """A valid REGISTER on a new TCP connection; returns its status or None."""
    try:
        st = Stream(host, port, timeout=timeout)
    except OSError:
        return None
    try:
        msg, call = register(st.sent_by, user=user, transport="TCP")
        st.send(msg)
        ans, _ = st.messages_until(call, timeout)
        return status_of(ans) if ans else None
    finally:
        st.close()
