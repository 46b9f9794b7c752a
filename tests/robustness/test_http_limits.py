#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile HTTP requests to api-gateway, written byte by byte on raw sockets: oversized
request lines and headers, too many headers, oversized and lying bodies, and JSON bodies in
the style of JSONTestSuite (deep nesting, duplicate keys, invalid UTF-8, lone surrogates,
huge numbers, NUL, trailing garbage). Each must be answered with the right 4xx (or the
connection closed, where HTTP allows nothing else), never a 5xx or a crash; a GET /healthz
after every case proves the gateway alive, and a valid POST at the end still gets 202/404.
"""
import socket
import time

import _path  # noqa: F401
import beckon
from beckon import check

JSON_HDRS = b"Content-Type: application/json\r\n"


def with_key(gw):
    """Every POST carries an API key (proto/rest.md "Authentication"), so the cases reach the
    body checks they are about."""
    global JSON_HDRS
    JSON_HDRS = (b"Content-Type: application/json\r\nAuthorization: Bearer %s\r\n" %
                 gw.key("robustness").encode())


def raw_http(port, data, timeout=5):
    """Writes data, reads one response. Returns (status or None if the server closed
    without answering, head text, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early and closed: the answer may still be readable
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                d = b""
            if not d:
                break
            buf += d
        if b"\r\n\r\n" not in buf:
            return None, "", b""
        head, _, body = buf.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        want = 0
        for line in text.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                want = int(v.strip())
        while len(body) < want:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            body += d
        return int(text.split(" ")[1]), text, body
    finally:
        s.close()


def post(body, extra=b""):
    return (b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" + JSON_HDRS + extra +
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def alive(gw):
    t0 = time.monotonic()
    st, _, _ = raw_http(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(st == 200, f"GET /healthz → {st} after a hostile request (gateway dead?)")
    return time.monotonic() - t0


def run_cases(gw, cases):
    rows, bad = [], []
    for name, data, want in cases:
        st, head, body = raw_http(gw.port, data)
        got = st if st is not None else "closed"
        ok = got in want
        rows.append((name, len(data), got, "/".join(str(w) for w in want), "ok" if ok else
                     "FAIL"))
        if not ok:
            bad.append(f"{name}: got {got} {body[:200]!r}, want {want}")
        alive(gw)
    out = [f"  {'case':<34} {'bytes':>8} {'answer':<7} {'expected':<14} result"]
    out += [f"  {n:<34} {b:>8} {str(g):<7} {w:<14} {r}" for n, b, g, w, r in rows]
    print("\n".join(out))
    check(not bad, "\n  ".join(["wrong answers:"] + bad))


def test_header_and_body_limits(env):
    r = env.redis()
    gw = env.gateway(r)
    with_key(gw)
    big = b"a" * 70000
    cases = [
        # MHD's per-connection memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 KiB by
        # default, set explicitly in cm_http.c) bounds the request line plus headers.
        ("request line 70 kB", b"GET /" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n", (414, 431)),
        ("one header of 70 kB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big +
         b"\r\n\r\n", (431,)),
        ("2000 headers of 40 bytes", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
         b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 32) for i in range(2000)) + b"\r\n",
         (431,)),
        ("header without colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
         (400,)),
        ("bare LF lines", b"GET /healthz HTTP/1.1\nHost: x\n\n", (200, 400)),
        ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", (400,)),
        ("unknown HTTP version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", (505, 400)),
        ("garbage request line", b"\x00\x01\x02\xff\r\n\r\n", (400, "closed")),
        ("Content-Length 10 GB", b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" + JSON_HDRS +
         b"Content-Length: 10000000000\r\n\r\n{}", (413,)),
        ("Content-Length not a number", b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" +
         JSON_HDRS + b"Content-Length: 12abc\r\n\r\n{}", (400, 413)),
        ("negative Content-Length", b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" +
         JSON_HDRS + b"Content-Length: -1\r\n\r\n{}", (400, 413)),
        ("two Content-Lengths", b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" + JSON_HDRS +
         b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", (400,)),
        ("chunked body of 1 MB", b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" + JSON_HDRS +
         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
         b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(64)) + b"0\r\n\r\n",
         (413,)),
        ("bad chunk size", b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n" + JSON_HDRS +
         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
         (400, "closed")),
    ]
    run_cases(gw, cases)


def json_cases():
    deep = 100000
    return [
        ("nesting 100000 arrays", b"[" * deep + b"]" * deep),
        ("nesting 100000 objects", b'{"a":' * deep + b"1" + b"}" * deep),
        ("nesting 3000 in a field", b'{"device":"7546658000","server":{"host":"h","port":1},'
         b'"path":"/p","x":' + b"[" * 3000 + b"]" * 3000 + b"}"),
        ("duplicate key", b'{"device":"7546658000","device":"7546658001",'
         b'"server":{"host":"h","port":1},"path":"/p"}'),
        ("duplicate nested key", b'{"device":"7546658000","server":{"host":"h","port":1,'
         b'"port":2},"path":"/p"}'),
        ("invalid UTF-8 (0xff)", b'{"device":"75466\xff8000","server":{"host":"h","port":1},'
         b'"path":"/p"}'),
        ("overlong UTF-8 (0xc0 0xaf)", b'{"device":"7546658000","server":{"host":"h",'
         b'"port":1},"path":"/\xc0\xaf"}'),
        ("UTF-16 surrogate as UTF-8", b'{"device":"7546658000","server":{"host":"h",'
         b'"port":1},"path":"/\xed\xa0\x80"}'),
        ("lone high surrogate escape", b'{"device":"\\ud800","server":{"host":"h",'
         b'"port":1},"path":"/p"}'),
        ("lone low surrogate escape", b'{"device":"7546658000","server":{"host":"h",'
         b'"port":1},"path":"/\\udc00"}'),
        ("NUL escape in a string", b'{"device":"7546658000\\u0000x","server":{"host":"h",'
         b'"port":1},"path":"/p"}'),
        ("raw NUL byte", b'{"device":"7546658000","server":{"host":"h","port":1},'
         b'"path":"/p"}\x00'),
        ("huge integer port", b'{"device":"7546658000","server":{"host":"h",'
         b'"port":123456789012345678901234567890},"path":"/p"}'),
        ("huge exponent port", b'{"device":"7546658000","server":{"host":"h",'
         b'"port":1e999999},"path":"/p"}'),
        ("negative zero port", b'{"device":"7546658000","server":{"host":"h","port":-0},'
         b'"path":"/p"}'),
        ("float port", b'{"device":"7546658000","server":{"host":"h","port":80.5},'
         b'"path":"/p"}'),
        ("NaN", b'{"device":"7546658000","server":{"host":"h","port":NaN},"path":"/p"}'),
        ("trailing comma", b'{"device":"7546658000","server":{"host":"h","port":1},'
         b'"path":"/p",}'),
        ("trailing garbage", b'{"device":"7546658000","server":{"host":"h","port":1},'
         b'"path":"/p"} x'),
        ("two documents", b'{"device":"7546658000"}{"device":"7546658000"}'),
        ("single quotes", b"{'device':'7546658000'}"),
        ("BOM then object", b'\xef\xbb\xbf{"device":"7546658000","server":{"host":"h",'
         b'"port":1},"path":"/p"}'),
        ("top-level string", b'"7546658000"'),
        ("top-level number", b"1"),
        ("empty body", b""),
        ("only whitespace", b" \r\n\t "),
        ("10000 keys", b"{" + b",".join(b'"k%d":1' % i for i in range(10000)) + b"}"),
        ("string of 15000 escapes", b'{"device":"' + b"\\u0041" * 2500 + b'"}'),
    ]


def test_json_torture(env):
    r = env.redis()
    gw = env.gateway(r)
    with_key(gw)
    cases = []
    for name, body in json_cases():
        # 413 where the body itself is over --max-body (16 KiB): also a clean refusal.
        want = (400, 413) if len(body) > 16384 else (400,)
        cases.append((name, post(body), want))
    run_cases(gw, cases)
    # Still serving real requests: a valid one is accepted or, with no such device, 404.
    st, _, body = raw_http(gw.port, post(b'{"device":"7546658000","server":{"host":'
                                         b'"127.0.0.1","port":9},"path":"/p"}'))
    check(st in (202, 404), f"valid POST after the torture → {st} {body[:200]!r}")


if __name__ == "__main__":
    beckon.main(globals())
