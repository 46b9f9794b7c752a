#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fault tests on the NAT topology (topology.py; docs/testing.md "Fault tests").

Each case runs load through HAProxy (POST /v1/callbacks from several threads, round robin
over the endpoints, a connection error / 5xx / timeout retried with the same request_id),
injects one fault, and then asserts that no accepted request (2xx) was lost: each one was
called back at the app server, or ended visibly (expired, failed, cancelled); where the
device stays reachable (every case but the partition) each one must be delivered. It prints one
line per fault: accepted, delivered, ended otherwise, lost, longest delivery delay (ms from
the 2xx to the callback at the app server). `-k NAME` runs one case.

Endpoints are contact-agents with both edges (--backup-registrar), a 30 s registration,
1 s keepalive, 1 s register retry and a 2 s SIP timeout, so failover takes seconds.
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beckon  # noqa: E402
from beckon import check  # noqa: E402
import topology  # noqa: E402

LOAD_GAP = 0.1  # s between POSTs: ~10 requests/s, enough to have some in flight at the fault
SETTLE = float(os.environ.get("BECKON_FAULTS_SETTLE", "40"))
LATE_WINDOW = 5.0  # s after a heal in which retransmitted NOTIFYs arrive (T2 4 s + 1 s)


def run_load(ledger, agents, seconds, faults, ttl=60, clients=4, gap=LOAD_GAP):
    """`clients` threads POST for `seconds` (round robin over the agents, `gap` s between
    POSTs overall) while this thread injects each (at_s, fn) of faults at its time, so a
    fault lands with POSTs in flight. Returns once the load is over and every fault ran; a
    fault that raised is raised again here."""
    t0 = time.monotonic()
    stop = threading.Event()
    errors = []

    def client(c):
        i = c
        while not stop.is_set() and time.monotonic() - t0 < seconds:
            a = agents[i % len(agents)]
            try:
                ledger.post(a.num, f"{ledger.fault}-{i}", ttl=ttl)
            except BaseException as e:  # noqa: BLE001 — reported by the main thread
                errors.append(e)
                return
            i += clients
            stop.wait(max(0.0, t0 + i * gap - time.monotonic()))

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for th in threads:
        th.start()
    try:
        for at, fn in sorted(faults, key=lambda f: f[0]):
            stop.wait(max(0.0, t0 + at - time.monotonic()))
            fn()
    finally:
        # Bounded: a POST retries for at most its retry_for (10 s) after the load ends.
        for th in threads:
            th.join(timeout=seconds + 15)
        stop.set()
    if errors:
        raise errors[0]


def four_agents(t, transport="udp"):
    # Odd numbers start on edge 1, even on edge 2: each edge holds one endpoint per branch.
    return [t.agent(0, 7546651001, transport), t.agent(0, 7546651002, transport),
            t.agent(1, 7546651003, transport), t.agent(1, 7546651004, transport)]


def park(ledger, num):
    """POSTs for a device that has not registered yet: at a Redis fault these requests exist
    only in Redis (queued). They must survive it and be delivered once the device registers
    (t.agent(..., num) after the fault; finish checks)."""
    for i in range(5):
        check(ledger.post(num, f"parked-{i}"), "POST for the parked device refused")


def check_edges_alive(t, what):
    for e in t.edges:
        check(e.alive(), f"{e.name} died with {what}\n{e.tail()}")


def finish(t, ledger, settle=SETTLE, **kw):
    """Reports (asserting nothing lost; want_ended=() also asserts that every accepted
    request was delivered, none merely ended) and tears the topology down."""
    try:
        ledger.report(timeout=settle, **kw)
    finally:
        problems = t.close()
    check(not problems, "\n".join(problems))


def test_sip_edge_kill(env):
    """kill -9 of sip-edge 1: its endpoints re-register on edge 2 (keepalive failure →
    backup registrar) and their requests, accepted before and after, are delivered."""
    t = topology.Topology(env)
    ledger = topology.Ledger(t, "sip-edge-kill-9")
    try:
        agents = four_agents(t)
        moved = [a for a in agents if int(a.num) % 2]
        marks = {a.num: a.mark() for a in moved}

        def kill():
            t.kill(t.edges[0])
        run_load(ledger, agents, 6, [(1.0, kill)])
        r = t.client()
        try:
            for a in moved:
                a.wait_log("registrar switched to=", since=marks[a.num])
                a.wait_log("registered aor=", since=marks[a.num])
                ids = r("ZRANGE", f"beckon:dev:num:{a.num}", 0, -1)
                edges = {r.hgetall(f"beckon:binding:{i}").get("edge") for i in ids}
                check(edges == {"edge-2"}, f"{a.name}'s binding is on {edges}, want edge-2")
        finally:
            r.close()
    except BaseException:
        t.close()
        raise
    finish(t, ledger, want_ended=())



def in_flight(t, token_prefix):
    """Targets `queued`/`sent` whose claim names the process `token_prefix` (`edge-1/<pid>/`):
    NOTIFYs that process took and that had no final answer yet."""
    r = t.client()
    n = 0
    try:
        # KEYS: a test Redis holding a few hundred requests.
        for key in r("KEYS", "beckon:req:*"):
            if r("TYPE", key) != "hash":
                continue
            h = r.hgetall(key)
            for f, v in h.items():
                if f.startswith("claim:") and v.startswith(token_prefix) and \
                        h.get("target:" + f[6:]) in ("queued", "sent"):
                    n += 1
    finally:
        r.close()
    return n


def test_sip_edge_restart_in_place(env):
    """kill -9 of sip-edge 1 with NOTIFYs in flight and an immediate restart with the same
    edge id, addresses and ports (a StatefulSet / systemd restart): the endpoints keep
    registering with edge 1; the new process re-sends the NOTIFYs that died with the old one
    at the device's next REGISTER (the binding's `edge_token`) and catches up from its wake
    stream for requests created while it was down. Every accepted request is delivered."""
    t = topology.Topology(env)
    ledger = topology.Ledger(t, "sip-edge-restart-in-place")
    caught = {}
    try:
        # Both on edge 1 (odd numbers), one per branch, with the shortest registration the
        # agent takes (30 s; it refuses less): the refresh that re-targets the dead
        # process's requests comes within SETTLE.
        agents = [t.agent(0, 7546654001, expires=30), t.agent(1, 7546654003, expires=30)]

        def kill_restart():
            old = t.edges[0]
            prefix = f"edge-1/{old.p.pid}/"
            # NOTIFYs are answered within milliseconds here, too fast to catch one in flight:
            # cut both branches off first, so the NOTIFYs the old process sends meanwhile
            # stay unanswered (target `sent`, claimed by it), then kill it, restart edge 1
            # and heal. The old transactions die with the process: only the new process's
            # re-send at the next REGISTER can deliver them. Bounded: at ~10 requests/s
            # one is claimed within a few polls; the cut stays well under the agents' 2 s
            # SIP timeout plus 1 s keepalive.
            for b in t.branches:
                b.partition()
            try:
                # A NOTIFY answered just before the cut may have its answer still being
                # written: count only after 300 ms of cut (answers take ~1 ms here), and
                # count again once the old process is dead (nothing can change its claims).
                cut = time.monotonic()
                while time.monotonic() < cut + 2 and (
                        time.monotonic() < cut + 0.3 or in_flight(t, prefix) == 0):
                    time.sleep(0.02)  # polling Redis, bounded by the 2 s above
                t.kill(old)
                caught["n"] = in_flight(t, prefix)
                t.start_edge(0)
            finally:
                for b in t.branches:
                    b.heal()
        run_load(ledger, agents, 6, [(1.0, kill_restart)])
        check(caught.get("n", 0) > 0, "no NOTIFY was in flight at the kill")
        print(f"restart in place: {caught['n']} targets sent and claimed by the old process "
              f"at the kill", flush=True)
        check_edges_alive(t, "the restart of edge 1")
    except BaseException:
        t.close()
        raise
    # The stranded requests go out at the agents' refresh, 33 s after their POST in the
    # normal build and 43 s under ASan (registration 30 s): more room than the other cases.
    finish(t, ledger, settle=max(SETTLE, 80), want_ended=())


def test_gateway_kill(env):
    """kill -9 of api-gateway 1 under load: HAProxy takes it out, clients retry a failed
    POST with the same request_id; every accepted request is delivered once."""
    t = topology.Topology(env)
    ledger = topology.Ledger(t, "api-gateway-kill-9")
    try:
        agents = four_agents(t)

        def kill():
            t.kill(t.gateways[0].proc)
        # ~50 POSTs/s over 8 connections, so some are in flight at the kill.
        run_load(ledger, agents, 4, [(1.5, kill)], clients=8, gap=0.02)
        # HAProxy logs a request it re-sent to the other gateway after a refused connect
        # with its retry count ("/+1"): the client never saw those.
        with t.haproxy.lock:
            redispatched = sum(1 for _, raw, _ in t.haproxy.lines if "/+" in raw)
        print(f"gateway kill: {redispatched} POSTs redispatched by HAProxy", flush=True)
    except BaseException:
        t.close()
        raise
    finish(t, ledger, want_ended=())
    # Idempotent retries: no request was called back twice.
    dup = [r for r in ledger.accepted
           if sum(1 for x in t.app.received if x["json"] and
                  x["json"].get("request_id") == r) > 1]
    check(not dup, f"called back more than once: {dup[:5]}")


def test_redis_restart(env):
    """kill -9 of Redis (AOF on, appendfsync always) under load and a restart on the same
    port and data: requests accepted before the kill survive and are delivered; during the
    outage the API refuses (503) and the client's retries land after the restart."""
    t = topology.Topology(env, aof=True)
    ledger = topology.Ledger(t, "redis-kill-9-restart")
    try:
        agents = four_agents(t)
        # Parked requests must come back from the AOF after the restart.
        parked = 7546651099
        park(ledger, parked)

        def kill():
            t.kill(t.redis)

        def restart():
            t.start_redis()
        run_load(ledger, agents, 6, [(1.5, kill), (2.5, restart)])
        check_edges_alive(t, "Redis")
        t.agent(1, parked)
    except BaseException:
        t.close()
        raise
    finish(t, ledger, want_ended=())


def tcp_port(t, a):
    """The agent's local port of its TCP connection to an edge (ss in its LAN)."""
    out = topology.sh("ss", "-Htn", "state", "established", "src", a.addr, "dst",
                      topology.PROVIDER_ADDR, ns=a.branch.lan)
    ports = [ln.split()[2].rsplit(":", 1)[1] for ln in out.splitlines() if ln.strip()]
    return ports[0] if ports else None


def test_tcp_flow_cut(env):
    """A TCP flow cut: the router silently drops the agent's registration connection (a NAT
    that lost its state) and the agent's socket is reset (ss -K): the agent registers again
    on a new connection; requests accepted before and after are delivered."""
    t = topology.Topology(env)
    ledger = topology.Ledger(t, "tcp-flow-cut")
    try:
        agents = [t.agent(0, 7546652001, "tcp"), t.agent(1, 7546652003, "tcp")]
        a = agents[0]
        port = beckon.wait_for(lambda: tcp_port(t, a), f"{a.name}'s TCP connection")
        mark = a.mark()

        def cut():
            a.branch.drop_flow(a.addr, port)
            topology.sh("ss", "-K", "src", f"{a.addr}:{port}", ns=a.branch.lan)
        run_load(ledger, agents, 5, [(1.0, cut)])
        a.wait_log("registered aor=", since=mark)
        check(tcp_port(t, a) not in (None, port), "the agent did not open a new connection")
    except BaseException:
        t.close()
        raise
    finish(t, ledger, want_ended=())


def test_partition_over_ttl(env):
    """Branch 1 cut off for longer than the requests' TTL: its requests end `expired`
    (visible), branch 2's are delivered; after the partition heals, branch 1 registers
    again and new requests reach it."""
    t = topology.Topology(env)
    ledger = topology.Ledger(t, "branch-partition-over-ttl")
    try:
        # clock-skew 0: every namespace shares this machine's clock, so the default 30 s of
        # tolerance would only let a late NOTIFY (one retransmitted into the partition for up
        # to 32 s) through; the agent must refuse it by valid-until alone.
        a1 = t.agent(0, 7546653001, extra=("--clock-skew", "0"))
        a2 = t.agent(1, 7546653003)
        ttl = 3
        t.branches[0].partition()
        run_load(ledger, [a1, a2], 2, [], ttl=ttl)
        # Bounded: each request of branch 1 ends by its deadline (+ the 1 s sweeper).
        cut_off = [r for r in ledger.accepted if int(r.rsplit("-", 1)[1]) % 2 == 0]
        for rid in cut_off:
            beckon.wait_for(lambda: (lambda r: r.json and r.json.get("status") == "expired")(
                t.get(rid)), f"{rid} expired", timeout=ttl + 10)
        mark = a1.mark()
        t.branches[0].heal()
        healed = time.monotonic()
        a1.wait_log("registered aor=", since=mark)
        check(ledger.post(a1.num, "after-heal"), "POST after heal not accepted")
        beckon.wait_for(lambda: t.app.first("after-heal"), "callback after the heal")
        # A NOTIFY transaction still alive retransmits at least every T2 (4 s, sofia's
        # default), so by heal + T2 + 1 s each one has reached the device at least once.
        time.sleep(max(0.0, healed + LATE_WINDOW - time.monotonic()))
        # Still expired after the heal (final). A NOTIFY that was already being retransmitted
        # into the partition may reach the device once it heals, but its valid-until is past:
        # the agent answers 200 and does not call back, so the app server agrees with the
        # API.
        for rid in cut_off:
            st = t.get(rid).json.get("status")
            check(st == "expired", f"{rid}: status {st} after the heal, want expired")
        late = [r for r in cut_off if t.app.first(r)]
        refused = len(a1.find("callback expired request_id="))
        check(not late, f"{len(late)} expired requests called back after the heal: {late}")
    except BaseException:
        t.close()
        raise
    print(f"partition: {len(cut_off)} requests expired, none called back after the heal "
          f"({refused} late NOTIFYs refused by valid-until)", flush=True)
    finish(t, ledger, want_ended=("expired",))


def test_redis_sentinel_failover(env):
    """kill -9 of the Redis master under load: the Sentinels promote the replica and the
    services follow it (redis-sentinels). Replication is asynchronous: a write the master
    acknowledged but had not yet sent to the replica is lost with it; on loopback that
    window is well under a millisecond, and the ledger would show any such loss."""
    helps = {}
    for svc in ("sip-edge", "api-gateway"):
        p = subprocess.run([env.binary(svc), "--help"], capture_output=True, text=True,
                           timeout=10)
        helps[svc] = p.stdout + p.stderr
    missing = [s for s, h in helps.items() if "redis-sentinels" not in h]
    if missing:
        print(f"SKIP redis sentinel failover: no redis-sentinels setting in "
              f"{', '.join(missing)} --help yet", flush=True)
        return
    t = topology.Topology(env, aof=True, sentinel=True)
    ledger = topology.Ledger(t, "redis-sentinel-failover")
    try:
        agents = four_agents(t)
        parked = 7546651098
        park(ledger, parked)
        marks = [s.mark() for s in t.sentinels]

        def kill():
            t.kill(t.redis)
        run_load(ledger, agents, 8, [(1.5, kill)])
        t.sentinels[0].wait_log("+switch-master beckon", since=marks[0])
        check_edges_alive(t, "the master")
        t.agent(1, parked)
    except BaseException:
        t.close()
        raise
    finish(t, ledger, want_ended=())


if __name__ == "__main__":
    beckon.main(globals())
