#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reliable wake-ups and dead edges (issue 5, proto/redis.md "Channels", "Liveness").

A wake-up published while sip-edge is cut off from Redis (its connections killed, new ones
refused through maxclients) is still delivered once the edge is back: it catches up from its
stream beckon:wake:<edge-id>. Each request reaches the endpoint exactly once, even with extra
stream entries and doorbells for the same targets. With only the pub/sub connection gone the
1 s poll delivers on its own. An edge killed with -9 loses its liveness key; new requests for
its endpoint then wait (target `waiting:0:edge-down`) and go out when the endpoint registers
on another edge (so does a request whose NOTIFY was unanswered on the dead edge), or when the
edge comes back under the same id (so does a request whose NOTIFY was unanswered when it was
killed, at the device's next REGISTER, even one from the same source)."""
import _path  # noqa: F401
import beckon
from beckon import check, wait_for
from sipua import SipUA

P = beckon.PACKAGE


def client_ids(c):
    out = set()
    for line in c("CLIENT", "LIST").splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        out.add(f["id"])
    return out


def post(gw, app, device, rid, ttl=60):
    r = gw.post({"device": device, "request_id": rid, "ttl_s": ttl,
                 "server": {"host": "127.0.0.1", "port": app.port}})
    check(r.status == 202 and r.json.get("status") == "queued", f"POST {rid} → {r}")


def notifies_for(ua, rid):
    return [m for m in ua.received() if f"request-id={rid}" in m.body]


def binding_of(c, user):
    ids = c("ZRANGE", f"beckon:dev:num:{user}", 0, -1)
    check(len(ids) == 1, f"bindings of {user}: {ids}")
    return ids[0]


def kill9(c, edge):
    """kill -9 the edge and wait until its liveness key has expired."""
    edge.proc.check_clean = False
    edge.proc.p.kill()
    edge.proc.p.wait()
    wait_for(lambda: c("EXISTS", f"beckon:alive:edge:{edge.edge_id}") == 0,
             f"{edge.edge_id}'s liveness key to expire", timeout=6)


def post_while_down(gw, app, c, user, bid, rid):
    """POSTs rid for an endpoint whose edge is dead: its target must wait for the edge."""
    post(gw, app, user, rid)
    t = c("HGET", f"beckon:req:default:{rid}", f"target:{bid}")
    check(t == "waiting:0:edge-down", f"{rid}: target {t}, want waiting:0:edge-down")


def test_catchup_after_disconnect(env):
    r = env.redis()
    c = r.client()
    mine = client_ids(c)
    edge = env.sip_edge(r)
    edge_conns = wait_for(lambda: (lambda s: s if len(s) >= 2 else None)(client_ids(c) - mine),
                          "the edge's two Redis connections")
    gw = env.gateway(r)
    app = env.app_server()
    user = "7546658701"
    ua = SipUA(env, edge, user)
    ua.register()

    # Cut the edge off: no new connection is accepted, its own ones are killed.
    mark = edge.proc.mark()
    n = len(c("CLIENT", "LIST").splitlines())
    c("CONFIG", "SET", "maxclients", str(n - len(edge_conns)))
    for i in edge_conns:
        c("CLIENT", "KILL", "ID", i)
    edge.proc.wait_log("redis disconnected", since=mark)
    check(c("PUBSUB", "NUMSUB", "beckon:edge:edge-a")[1] == 0, "edge still subscribed")
    # Still counted alive (a cut shorter than the key's 3 s): keep its key for the test.
    alive = c("GET", "beckon:alive:edge:edge-a")
    check(alive and alive.startswith("edge-a/"), f"liveness value {alive!r}")
    c("SET", "beckon:alive:edge:edge-a", alive, "PX", "10000")
    rids = [f"cu-{i}" for i in range(5)]
    for rid in rids:
        post(gw, app, user, rid)
    bid = binding_of(c, user)
    for rid in rids:
        t = c("HGET", f"beckon:req:default:{rid}", f"target:{bid}")
        check(t == "queued", f"{rid} target {t}, want queued")
    check(c("XLEN", "beckon:wake:edge-a") >= len(rids), "wake-ups not in the edge's stream")
    check(not notifies_for(ua, rids[0]), "NOTIFY sent while the edge was cut off")

    # Back: the edge catches up from its stream.
    mark = edge.proc.mark()
    c("CONFIG", "SET", "maxclients", "10000")
    edge.proc.wait_log("redis connected", since=mark)
    for rid in rids:
        gw.wait_status(rid, "delivered")

    # Duplicate entries and doorbells for delivered targets send nothing.
    for rid in rids:
        c("XADD", "beckon:wake:edge-a", "*", "ref", f"default:{rid}", "bid", bid)
        c("PUBLISH", "beckon:edge:edge-a", f"default:{rid} {bid}")
    post(gw, app, user, "cu-fence")
    gw.wait_status("cu-fence", "delivered")
    wait_for(lambda: c("XPENDING", "beckon:wake:edge-a", "sip-edge")[0] == 0,
             "every stream entry acknowledged")
    for rid in rids + ["cu-fence"]:
        got = notifies_for(ua, rid)
        check(len(got) == 1, f"{rid} NOTIFYed {len(got)} times, want exactly 1")
    c.close()


def test_pubsub_lost_poll_delivers(env):
    r, edge, gw, app = env.stack()
    c = r.client()
    user = "7546658702"
    ua = SipUA(env, edge, user)
    ua.register()
    # Lose only the doorbell: kill the pub/sub connection and refuse its reconnect.
    subs = [line for line in c("CLIENT", "LIST").splitlines() if " sub=1 " in line]
    check(len(subs) == 1, f"pub/sub connections: {subs}")
    n = len(c("CLIENT", "LIST").splitlines())
    c("CONFIG", "SET", "maxclients", str(n - 1))
    c("CLIENT", "KILL", "TYPE", "pubsub")
    wait_for(lambda: c("PUBSUB", "NUMSUB", "beckon:edge:edge-a")[1] == 0, "no subscriber")
    # A doorbell and a second entry for the same target: still one NOTIFY.
    post(gw, app, user, "poll-1")
    bid = binding_of(c, user)
    c("XADD", "beckon:wake:edge-a", "*", "ref", "default:poll-1", "bid", bid)
    gw.wait_status("poll-1", "delivered", timeout=10)
    c("CONFIG", "SET", "maxclients", "10000")
    post(gw, app, user, "poll-fence")
    gw.wait_status("poll-fence", "delivered")
    check(len(notifies_for(ua, "poll-1")) == 1, f"poll-1 NOTIFYs {notifies_for(ua, 'poll-1')}")
    c.close()


def test_dead_edge_then_register_elsewhere(env):
    r = env.redis()
    c = r.client()
    gw = env.gateway(r)
    app = env.app_server()
    edge_a = env.sip_edge(r, edge_id="edge-a")
    edge_b = env.sip_edge(r, edge_id="edge-b")
    user = "7546658703"
    ua = SipUA(env, edge_a, user, instance="urn:uuid:00000000-0000-4000-8000-000000008703")
    ua.register()
    bid = binding_of(c, user)
    # An unanswered NOTIFY on edge-a: the target is `sent` there when it dies.
    ua.answer = lambda m: None
    post(gw, app, user, "dead-sent")
    ua.wait_request(lambda m: "request-id=dead-sent" in m.body, "the first NOTIFY")
    wait_for(lambda: c("HGET", "beckon:req:default:dead-sent", f"target:{bid}") == "sent",
             "target sent")

    kill9(c, edge_a)
    post_while_down(gw, app, c, user, bid, "dead-new")
    check(gw.get("dead-new").json.get("status") == "queued", "request not queued")
    check(c("ZSCORE", "beckon:pending:num:" + user, "default:dead-new") is not None,
          "request not in its pending set")

    # The endpoint registers on edge-b: both go out from there.
    ua.answer = lambda m: 200
    ua.edge = ("127.0.0.1", edge_b.sip_port)
    ua.register()
    for rid in ("dead-new", "dead-sent"):
        gw.wait_status(rid, "delivered")
    check(c("HGET", "beckon:binding:" + bid, "edge") == "edge-b", "binding not on edge-b")
    check(len(notifies_for(ua, "dead-new")) == 1, "dead-new NOTIFYed more than once")
    c.close()


def test_dead_edge_same_id_returns(env):
    """kill -9 and a restart under the same id: a request created while the edge was down
    (target waiting:0:edge-down) goes out from the new process without a new REGISTER, from
    the entry the gateway added to the edge's (still existing) stream."""
    r = env.redis()
    c = r.client()
    gw = env.gateway(r)
    app = env.app_server()
    edge = env.sip_edge(r, edge_id="edge-s")
    user = "7546658704"
    ua = SipUA(env, edge, user)
    ua.register()
    bid = binding_of(c, user)
    kill9(c, edge)
    post_while_down(gw, app, c, user, bid, "back-1")
    edge2 = beckon.SipEdge(env, r, edge_id="edge-s")
    ua.edge = ("127.0.0.1", edge2.sip_port)
    gw.wait_status("back-1", "delivered")
    check(len(notifies_for(ua, "back-1")) == 1, "back-1 not NOTIFYed exactly once")
    c.close()


def test_killed_mid_notify_same_id_same_source(env):
    """kill -9 while a NOTIFY is unanswered (target `sent` and claimed, its stream entry
    already acknowledged), a new process under the same edge id, and the device keeps
    registering with the same Call-ID from the same UDP source: a refresh, yet the binding
    was registered by the dead process (its `edge_token`), so the new process sends the
    request again at once, long before its deadline, and only once."""
    r = env.redis()
    c = r.client()
    gw = env.gateway(r)
    app = env.app_server()
    edge = env.sip_edge(r, edge_id="edge-r")
    user = "7546658705"
    ua = SipUA(env, edge, user)
    ua.register()
    bid = binding_of(c, user)
    rid, rk = "restart-sent", "beckon:req:default:restart-sent"
    ua.answer = lambda m: None
    post(gw, app, user, rid, ttl=60)
    ua.wait_request(lambda m: f"request-id={rid}" in m.body, "the first NOTIFY")
    wait_for(lambda: c("HGET", rk, f"target:{bid}") == "sent"
             and (c("HGET", rk, f"claim:{bid}") or "").startswith("edge-r/"),
             "target sent and claimed by edge-r")
    wait_for(lambda: c("XPENDING", "beckon:wake:edge-r", "sip-edge")[0] == 0,
             "the wake-up entry acknowledged")
    check(c("XLEN", "beckon:wake:edge-r") == 0, "a wake-up entry is left for the new process")

    # Restarted at once, as a supervisor would: the dead process's liveness key may linger.
    edge.proc.check_clean = False
    edge.proc.p.kill()
    edge.proc.p.wait()
    before = {m.get("call-id") for m in notifies_for(ua, rid)}
    edge2 = beckon.SipEdge(env, r, edge_id="edge-r")
    ua.answer = lambda m: 200
    ua.edge = ("127.0.0.1", edge2.sip_port)
    ua.register()
    gw.wait_status(rid, "delivered", timeout=5)
    post(gw, app, user, "restart-fence")
    gw.wait_status("restart-fence", "delivered")
    after = [m for m in notifies_for(ua, rid) if m.get("call-id") not in before]
    check(len(after) == 1, f"{len(after)} NOTIFYs for {rid} after the restart, want 1")
    check(c("HGET", "beckon:binding:" + bid, "edge_token")
          == c("GET", "beckon:alive:edge:edge-r"), "binding not written by the new process")
    c.close()


def test_restarted_edge_catching_up_sends_once(env):
    """After a kill -9 and a restart under the same id, the new process sends a request
    from its stream (created while the edge was down) and the NOTIFY is still unanswered
    when the device's first REGISTER reaches it. That REGISTER re-targets what the dead
    process held, but not this target, which the new process itself holds (its claim):
    one NOTIFY, answered on a retransmission."""
    r = env.redis()
    c = r.client()
    gw = env.gateway(r)
    app = env.app_server()
    edge = env.sip_edge(r, edge_id="edge-t")
    user = "7546658706"
    ua = SipUA(env, edge, user)
    ua.register()
    bid = binding_of(c, user)
    kill9(c, edge)
    rid, rk = "again-1", "beckon:req:default:again-1"
    post_while_down(gw, app, c, user, bid, rid)
    ua.answer = lambda m: None
    edge2 = beckon.SipEdge(env, r, edge_id="edge-t")
    ua.edge = ("127.0.0.1", edge2.sip_port)
    ua.wait_request(lambda m: f"request-id={rid}" in m.body, "the NOTIFY from the stream")
    token = c("GET", "beckon:alive:edge:edge-t")
    wait_for(lambda: c("HGET", rk, f"target:{bid}") == "sent"
             and (c("HGET", rk, f"claim:{bid}") or "").startswith(token + "#"),
             "target sent and claimed by the new process")
    ua.register()
    ua.answer = lambda m: 200
    gw.wait_status(rid, "delivered")
    post(gw, app, user, "again-fence")
    gw.wait_status("again-fence", "delivered")
    calls = {m.get("call-id") for m in notifies_for(ua, rid)}
    check(len(calls) == 1, f"{rid} sent as {len(calls)} NOTIFYs (Call-IDs {calls}), want 1")
    c.close()


if __name__ == "__main__":
    beckon.main(globals())
