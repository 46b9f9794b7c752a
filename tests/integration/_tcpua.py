# SPDX-License-Identifier: Apache-2.0
"""A SIP UA on one TCP connection for the outbound and Path tests (stdlib only): sends
REGISTERs with any Contact, Supported and extra headers, answers every request it receives
(NOTIFYs) with 200 on the same connection, and records both."""
import select
import socket
import threading
import uuid

import _path  # noqa: F401
import beckon
from sipua import SipMsg, response
from sipwire import frame

P = beckon.PACKAGE
INST = "urn:uuid:00000000-0000-4000-8000-000000000700"


class TcpUA:
    """A SIP UA on one TCP connection: sends REGISTERs, answers every request with `code`."""

    def __init__(self, env, edge, user, instance=INST):
        self.user = user
        self.aor = f"sip:{user}@example.com"
        self.instance = instance
        self.s = socket.create_connection(("127.0.0.1", edge.sip_port), timeout=5)
        self.local = "%s:%d" % self.s.getsockname()
        self.lock = threading.Lock()
        self.responses, self.requests = [], []
        self.call_id = f"reg-{uuid.uuid4().hex}"
        self.cseq = 0
        self.closed = False
        self.code = 200  # the answer to every request
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()
        env.apps.append(self)

    def _reader(self):
        buf = b""
        while not self.closed:
            try:
                r, _, _ = select.select([self.s], [], [], 0.2)
                if not r:
                    continue
                d = self.s.recv(65536)
            except (OSError, ValueError):
                return
            if not d:
                return
            buf += d
            while True:
                m, buf = frame(buf)
                if m is None:
                    break
                msg = SipMsg(m.decode("utf-8", "replace"))
                if msg.is_response:
                    with self.lock:
                        self.responses.append(msg)
                else:
                    with self.lock:  # recorded before answered (see sipua.py)
                        self.requests.append(msg)
                    self._answer(msg)
                beckon._notify()

    def _answer(self, req):
        try:
            self.s.sendall(response(req, self.code))
        except OSError:
            pass

    def register(self, reg_id=1, supported="outbound", contact=None, expires=300, extra=()):
        self.cseq += 1
        if contact is None:
            contact = (f"<sip:{self.user}@10.255.255.1:5999;transport=tcp>"
                       f';+sip.instance="<{self.instance}>";reg-id={reg_id}')
        lines = ["REGISTER sip:example.com SIP/2.0",
                 f"Via: SIP/2.0/TCP {self.local};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
                 "Max-Forwards: 70", f"From: <{self.aor}>;tag={uuid.uuid4().hex[:8]}",
                 f"To: <{self.aor}>", f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} REGISTER",
                 f"Contact: {contact}", f"Expires: {expires}", f"Accept: application/{P}"]
        if supported:
            lines.append(f"Supported: {supported}")
        lines += list(extra) + ["Content-Length: 0"]
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        cseq = self.cseq

        def pred():
            with self.lock:
                for r in self.responses:
                    if r.get("call-id") == self.call_id and r.cseq == (cseq, "REGISTER"):
                        return r
            return None
        return beckon.wait_for(pred, f"answer to REGISTER cseq {cseq} over TCP")

    def notifies(self):
        with self.lock:
            return [m for m in self.requests if m.method == "NOTIFY"]

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.s.close()
