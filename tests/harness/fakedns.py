# SPDX-License-Identifier: Apache-2.0
"""A DNS server for a test's network namespace that answers every A query with one address
(127.0.0.1 by default) and every other query with an empty NOERROR answer.

Torture messages name hosts in their Via headers (c.example.com, host129.example.com, ...); a
SIP server that answers to the Via resolves them. With the namespace's resolv.conf pointing
at this server (beckon.main(..., resolv_conf="nameserver 127.0.0.1\\n")) those answers land on
the test's catcher instead of vanishing, so they can be checked. Stdlib only.
"""

import socket
import struct
import threading


class FakeDns:
    def __init__(self, address="127.0.0.1", answer="127.0.0.1", port=53):
        self.answer = socket.inet_aton(answer)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.queries = []
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.closed = True
        self.sock.close()

    def _serve(self):
        while not self.closed:
            try:
                q, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            reply = self._reply(q)
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def _reply(self, q):
        if len(q) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        if qd != 1:
            return None
        # Question: labels up to a zero byte, then QTYPE and QCLASS.
        i, labels = 12, []
        while i < len(q) and q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        if i + 5 > len(q):
            return None
        qtype, qclass = struct.unpack("!HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        self.queries.append((".".join(labels), qtype))
        rd = flags & 0x0100
        if qtype == 1 and qclass == 1:
            head = struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 1, 0, 0)
            rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + self.answer
            return head + question + rr
        return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 0, 0, 0) + question
