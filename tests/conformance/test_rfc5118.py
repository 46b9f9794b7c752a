#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""RFC 5118 IPv6 torture messages (12 files) sent to sip-edge over UDP and TCP, each followed
by a valid REGISTER that must be answered. The archive has bare LF lines: they are sent with
CRLF and a recomputed Content-Length (../shared/conformance/README.md). Expected, for a
registrar: ipv6-bad (an unbracketed IPv6 Request-URI) 400; every other message parses and is
handled by method (REGISTER 200 and stored, OPTIONS 200, INVITE/BYE 405), including both
received-param forms, IPv4-mapped addresses and the 3-colon form that RFC 5118 asks receivers
to tolerate.
"""
import os

import _path  # noqa: F401
import _torture
import beckon
import sipwire
from _torture import DROP

CASES = [
    dict(name="ipv4-mapped-ipv6", section="4.7", expect=(405,)),
    dict(name="ipv6-bad", section="4.2", expect=(400,), known=(DROP,),
         why="sofia: request line unparseable, garbage"),
    dict(name="ipv6-bug-abnf-3-colons", section="4.10", expect=(200,)),
    dict(name="ipv6-correct-abnf-2-colons", section="4.10", expect=(200,)),
    dict(name="ipv6-good", section="4.1", expect=(200,), stores=True),
    dict(name="ipv6-in-sdp", section="4.6", expect=(405,)),
    dict(name="mult-ip-in-header", section="4.8", expect=(405,)),
    dict(name="mult-ip-in-sdp", section="4.9", expect=(405,)),
    dict(name="port-ambiguous", section="4.3", expect=(200,), stores=True),
    dict(name="port-unambiguous", section="4.4", expect=(200,), stores=True),
    dict(name="via-received-param-no-delim", section="4.5", expect=(200,)),
    dict(name="via-received-param-with-delim", section="4.5", expect=(405,)),
]


def load(name):
    with open(os.path.join(_torture.suite_dir("rfc5118"), name), "rb") as f:
        return sipwire.crlf(f.read())


def test_rfc5118_udp(env):
    _torture.run_suite(env, "RFC 5118", CASES, load, "udp")


def test_rfc5118_tcp(env):
    _torture.run_suite(env, "RFC 5118", CASES, load, "tcp")


if __name__ == "__main__":
    beckon.main(globals())
