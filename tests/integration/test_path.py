#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""RFC 3327 Path: sip-edge behind an edge proxy or SIP load balancer.

A UDP socket the test owns plays the edge proxy: the REGISTER names it in a Path header. The
200 echoes the Path (the UA said `Supported: path`), the binding stores it (`path`), and a
callback's NOTIFY goes to the proxy socket, not to the REGISTER's source, with a Route header
made of the path (loose routing). Without `Supported: path` the path is stored anyway but not
echoed (Kamailio's "lazy" mode). A malformed Path is a 400."""
import _path  # noqa: F401
import beckon
from _tcpua import TcpUA
from beckon import check
from sipua import SipUA

P = beckon.PACKAGE


def register(ua, extra, cseq):
    hdrs = [f"Contact: {ua.contact()}", "Expires: 300", f"Accept: application/{P}"]
    return ua.send("REGISTER", ua.reg_call_id, cseq, hdrs + list(extra))


def test_path_notify_goes_through_proxy(env):
    r, edge, gw, app = env.stack()
    user = "7546658800"
    proxy = SipUA(env, edge, "proxy")  # answers 200 to whatever reaches it
    ua = SipUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000800")
    path = [f"<sip:127.0.0.1:{proxy.port};lr>", "<sip:lb.example.net;lr>"]
    ans = register(ua, ["Supported: path", f"Path: {path[0]}", f"Path: {path[1]}"], 1)
    check(ans.status == 200, f"REGISTER with Path → {ans.start}")
    echoed = ", ".join(ans.all("path"))
    check(echoed == ", ".join(path), f"200 echoes Path {echoed!r}, want {path}")
    b = r.binding(user)
    check(b.get("path") == ", ".join(path), f"stored path {b.get('path')!r}")

    rid = gw.callback(user, app, request_id="path-1")
    n = proxy.wait_request(lambda m: f"request-id={rid}" in m.body, "the NOTIFY at the proxy")[0]
    route = ", ".join(n.all("route"))
    check(route == ", ".join(path), f"Route {route!r}, want the path {path}")
    check(n.uri == ua.contact_uri, f"Request-URI {n.uri}, want the Contact {ua.contact_uri}")
    gw.wait_status(rid, "delivered")
    check(not ua.received(), "the NOTIFY went to the REGISTER's source, not the Path hop")

    # Without Supported: path: stored (lazy), not echoed.
    ans = register(ua, [f"Path: {path[0]}"], 2)
    check(ans.status == 200 and not ans.all("path"), f"REGISTER without Supported → {ans.raw}")
    check(r.binding(user).get("path") == path[0], "path without Supported: path not stored")
    # A refresh without Path drops it: the NOTIFY goes to the source again.
    ans = register(ua, [], 3)
    check(ans.status == 200 and r.binding(user).get("path") == "", "path not cleared")
    rid = gw.callback(user, app, request_id="path-2")
    ua.wait_request(lambda m: f"request-id={rid}" in m.body, "the NOTIFY at the UA")
    check(not ua.received()[0].all("route"), "Route header without a path")


def test_path_over_tcp_uses_the_connection(env):
    """Over TCP the connection is the first hop (a proxy's connection): the NOTIFY goes on it,
    with the Route header, even when the Path URI names a host that does not resolve."""
    r, edge, gw, app = env.stack()
    user = "7546658802"
    proxy = TcpUA(env, edge, user, instance="urn:uuid:00000000-0000-4000-8000-000000000802")
    hop = "<sip:lb.invalid;transport=tcp;lr>"
    ans = proxy.register(supported="path", extra=[f"Path: {hop}"],
                         contact=f"<sip:{user}@10.255.255.1:5999;transport=tcp>")
    check(ans.status == 200 and ans.all("path") == [hop], f"REGISTER → {ans.raw}")
    rid = gw.callback(user, app, request_id="path-tcp")
    n = beckon.wait_for(lambda: proxy.notifies(), "the NOTIFY on the proxy's connection")[0]
    check(f"request-id={rid}" in n.body and n.all("route") == [hop], f"NOTIFY {n.raw}")
    gw.wait_status(rid, "delivered")


def test_malformed_path_is_400(env):
    r = env.redis()
    edge = env.sip_edge(r)
    user = "7546658801"
    ua = SipUA(env, edge, user)
    for cseq, bad in enumerate(["Path: <tel:+15551234>", "Path: <sip:p1.example.net;lr",
                                "Path: " + ", ".join(f"<sip:p{i}.example.net;lr>"
                                                     for i in range(9))], 1):
        ans = register(ua, ["Supported: path", bad], cseq)
        check(ans.status == 400, f"{bad!r} → {ans.start}, want 400")
    c = r.client()
    check(c("ZCARD", f"beckon:dev:num:{user}") == 0, "a refused REGISTER stored a binding")
    c.close()
    check(edge.proc.alive(), "sip-edge died")


if __name__ == "__main__":
    beckon.main(globals())
