#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""RFC 4475 SIP torture messages (49 files + the stray test.dat) sent to sip-edge over UDP and
TCP, in a network namespace whose loopback carries the addresses the files name. Each case is
followed by a valid REGISTER that must be answered 200. The table below is the expectation of
../shared/conformance/README.md, applied to a registrar: valid requests of other methods get
405 (never 400), OPTIONS 200, REGISTER 200; invalid requests 400 (badvers 505); responses,
which match no transaction of ours, are dropped. Where the README allows an endpoint's answer
(415, 406) a registrar's 405 is accepted too; regaut01 (an unknown Authorization scheme) is 200
until digest authentication exists (issue 4). A `known` outcome is a documented deviation
(docs/robustness.md): sofia-sip cannot parse the message at all, or a sip-edge bug on file.
"""
import os

import _path  # noqa: F401
import _torture
import beckon
import sipwire
from _torture import DROP

VALID_INVITE = (405,)  # a registrar does not take calls
INVALID = (400,)


def stores_params(r, answers, stored):
    contacts = _torture.binding_contacts(r)
    if not any("unknownparam" in c for c in contacts):
        return f"no stored contact keeps ;unknownparam: {contacts}"
    return None


def names_unsupported(r, answers, stored):
    u = sipwire.header(answers[0], "Unsupported") or ""
    if "nothingSupportsThis" not in u:
        return f"420 without 'Unsupported: nothingSupportsThis...' (got {u!r})"
    return None


CASES = [
    # 3.1.1 valid messages
    dict(name="wsinv", section="3.1.1", expect=VALID_INVITE),
    dict(name="intmeth", section="3.1.1", expect=(405, 501), known=(DROP,),
         why="sofia: '+' and '`' in a method are garbage"),
    dict(name="esc01", section="3.1.1", expect=VALID_INVITE),
    dict(name="escnull", section="3.1.1", expect=(200,), stores=True),
    dict(name="esc02", section="3.1.1", expect=(405, 501)),
    dict(name="lwsdisp", section="3.1.1", expect=(200,)),
    dict(name="longreq", section="3.1.1", expect=VALID_INVITE),
    dict(name="dblreq", section="3.1.1", expect=(200,), stores=True),
    dict(name="semiuri", section="3.1.1", expect=(200,)),
    dict(name="transports", section="3.1.1", expect=(200,)),
    dict(name="mpart01", section="3.1.1", expect=(405,)),
    dict(name="unreason", section="3.1.1", expect=(DROP,)),
    dict(name="noreason", section="3.1.1", expect=(DROP,)),
    # 3.1.2 invalid messages
    dict(name="badinv01", section="3.1.2", expect=INVALID, known=(DROP,),
         why="no parseable Via to answer to"),
    # Over TCP a Content-Length past the end means "more body follows": the stream waits.
    dict(name="clerr", section="3.1.2", expect=INVALID, expect_tcp=(DROP,)),
    dict(name="ncl", section="3.1.2", expect=INVALID),
    dict(name="scalar02", section="3.1.2", expect=INVALID),
    dict(name="scalarlg", section="3.1.2", expect=(DROP,)),
    dict(name="quotbal", section="3.1.2", expect=INVALID),
    dict(name="ltgtruri", section="3.1.2", expect=INVALID),
    dict(name="lwsruri", section="3.1.2", expect=INVALID, known=(DROP,),
         why="sofia: request line unparseable, garbage"),
    dict(name="lwsstart", section="3.1.2", expect=INVALID),
    dict(name="trws", section="3.1.2", expect=INVALID),
    dict(name="escruri", section="3.1.2", expect=INVALID),
    dict(name="baddate", section="3.1.2", expect=INVALID),
    dict(name="regbadct", section="3.1.2", expect=INVALID),
    dict(name="badaspec", section="3.1.2", expect=INVALID),
    dict(name="baddn", section="3.1.2", expect=INVALID),
    dict(name="badvers", section="3.1.2", expect=(505,)),
    dict(name="mismatch01", section="3.1.2", expect=INVALID),
    dict(name="mismatch02", section="3.1.2", expect=INVALID),
    dict(name="bigcode", section="3.1.2", expect=(DROP,)),
    # 3.2.1 missing transaction id
    dict(name="badbranch", section="3.2.1", expect=(200,)),
    # 3.3 application layer
    dict(name="insuf", section="3.3", expect=INVALID),
    dict(name="unkscm", section="3.3", expect=(416,)),
    dict(name="novelsc", section="3.3", expect=(416, 404)),
    dict(name="unksm2", section="3.3", expect=INVALID),
    dict(name="bext01", section="3.3", expect=(420,), check=names_unsupported),
    dict(name="invut", section="3.3", expect=(405, 415)),
    # A REGISTER without Contact is a query (RFC 3261 10.3): 200 listing the bindings.
    dict(name="regaut01", section="3.3", expect=(200, 401)),
    dict(name="multi01", section="3.3", expect=INVALID),
    dict(name="mcl01", section="3.3", expect=INVALID),
    dict(name="bcast", section="3.3", expect=(DROP,)),
    dict(name="zeromf", section="3.3", expect=(200,)),
    dict(name="cparam01", section="3.3", expect=(200,), stores=True, check=stores_params),
    dict(name="cparam02", section="3.3", expect=(200,), stores=True, check=stores_params),
    # 400, or store without the escaped header: sip-edge refuses it (se_sanity.c).
    dict(name="regescrt", section="3.3", expect=(400,)),
    dict(name="sdp01", section="3.3", expect=(405, 406)),
    # 3.4.1 RFC 2543 syntax
    # No Content-Length: fine in a datagram, a 400 on a stream (RFC 3261 18.3).
    dict(name="inv2543", section="3.4.1", expect=VALID_INVITE, expect_tcp=INVALID),
    # Not in the RFC: a stray, malformed file of the archive (no SIP version).
    dict(name="test", section="-", expect=(400, DROP)),
]


def load(name):
    with open(os.path.join(_torture.suite_dir("rfc4475"), name + ".dat"), "rb") as f:
        return f.read()


def test_rfc4475_udp(env):
    _torture.run_suite(env, "RFC 4475", CASES, load, "udp")


def test_rfc4475_tcp(env):
    _torture.run_suite(env, "RFC 4475", CASES, load, "tcp")


if __name__ == "__main__":
    beckon.main(globals())
