#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The deployed topology (deploy/compose/compose.yaml) run as plain processes by
scripts/cluster, inside this test's own network namespace: Redis master + replica,
3 Sentinels, two sip-edges, two api-gateways, HAProxy in front of the gateways (straight to a
gateway when haproxy is not installed). One contact-agent registers through each edge; callback
requests posted to HAProxy reach both, whichever gateway takes them; after `SENTINEL FAILOVER`
every service follows the master to redis-2 by itself and callbacks are still delivered;
`status` and `down` work and every service exits 0. With kamailio installed, a REGISTER
through the SIP front (Kamailio adding Path) reaches an edge, and a callback request for it
is NOTIFYed back through Kamailio along the recorded Path and called back."""
import json
import os
import shutil
import socket
import subprocess
import time

import _path  # noqa: F401
import beckon
from beckon import check

CLUSTER = os.path.join(beckon.SOURCE_ROOT, "scripts", "cluster")
ADMIN = os.path.join(beckon.SOURCE_ROOT, "scripts", "beckon-admin")


def cluster(env, *args, timeout=None):
    argv = [CLUSTER] + list(args) + ["--dir", os.path.join(env.tmp, "cluster"),
                                     "--build-dir", beckon.BUILD_DIR]
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout or beckon.DEADLINE * 2 + 10)
    return p.returncode, p.stdout, p.stderr


class Cluster:
    def __init__(self, env, *extra):
        self.env = env
        rc, out, err = cluster(env, "up", "--json", *extra)
        check(rc == 0, f"scripts/cluster up: exit {rc}\n{out}\n{err}")
        self.state = json.loads(out)
        AUTH["Authorization"] = "Bearer " + self.state["api_key"]  # made by `up`
        self.nodes = self.state["nodes"]
        env.cluster = self

    def down(self):
        if not getattr(self, "nodes", None):
            return []
        self.nodes = None
        rc, out, err = cluster(self.env, "down")
        return [] if rc == 0 else [f"scripts/cluster down: exit {rc}\n{out}\n{err}"]

    def api(self):
        """(addr, port) app servers use: HAProxy, or gateway 1 when HAProxy is missing."""
        n = self.nodes.get("haproxy") or self.nodes["api-gateway-1"]
        return n["addr"], n.get("port") or n["http_port"]

    def edge_log(self, name):
        with open(self.nodes[name]["log"], errors="replace") as f:
            return f.read()

    def wait_edge_log(self, name, substr):
        return beckon.wait_for(lambda: substr in self.edge_log(name),
                               f"{name} to log '{substr}'")


class RedisAt(beckon.RedisClient):
    """The harness's RESP client, for a Redis on another loopback address."""

    def __init__(self, addr, port, timeout=5):
        self.sock = socket.create_connection((addr, port), timeout=timeout)
        self.f = self.sock.makefile("rb")


AUTH = {}
SERVICES = ("sip-edge-1", "sip-edge-2", "api-gateway-1", "api-gateway-2")


def post(addr, port, body):
    return beckon.http_request(port, "POST", "/v1/callbacks", body, host=addr, headers=AUTH)


def get(addr, port, rid):
    return beckon.http_request(port, "GET", f"/v1/callbacks/{rid}", host=addr, headers=AUTH)


def wait_delivered(addr, port, rid):
    def pred():
        r = get(addr, port, rid)
        st = r.json.get("status") if r.status == 200 and r.json else None
        check(st != "failed", f"request {rid} failed: {r}")
        return r.json if st == "delivered" else None
    return beckon.wait_for(pred, f"request {rid} delivered (GET via {addr}:{port})")


def agent(env, c, edge, aor, instance, app):
    """A contact-agent registering aor through edge. The cluster's edges run with `auth` at its
    default (on), as in compose.yaml: its credentials are made first with beckon-admin."""
    user = aor.split(":", 1)[1].split("@", 1)[0]
    password = "pw-" + instance[-12:]
    master = c.nodes["redis-1"]
    p = subprocess.run([ADMIN, "--redis-url", f"redis://{master['addr']}:{master['port']}",
                        "sipuser", "set", "--user", user], input=password + "\n",
                       capture_output=True, text=True, timeout=15)
    check(p.returncode == 0, f"beckon-admin sipuser set: {p.stderr}")
    a = env.spawn("contact-agent", [
        env.binary("contact-agent"), "--registrar", f"sip:{edge['addr']}:{edge['sip_port']}",
        "--aor", aor, "--instance-id", instance, "--sip-listen", "udp:127.0.0.1:0",
        "--trusted-servers", app.hostport], environ={"BECKON_PASSWORD": password})
    a.wait_log(f"registered aor={aor}")
    return a


def test_cluster_callback_through_haproxy(env):
    c = Cluster(env)
    try:
        app, devices = _callbacks(env, c)
        rc, out, err = cluster(env, "status")
        check(rc == 0, f"scripts/cluster status: exit {rc}\n{out}\n{err}")
        for name in SERVICES:
            check(any(name in ln and "readyz=200" in ln for ln in out.splitlines()),
                  f"status does not show {name} ready:\n{out}")
        _failover(env, c, app, devices)
    finally:
        # Agents first (they would log the edges' shutdown), then the cluster.
        for p in env.procs:
            p.stop()
        problems = c.down()
    check(not problems, "\n".join(problems))
    left = [n for n, node in c.state["nodes"].items() if beckon_pid_alive(node["pid"])]
    check(not left, f"still running after down: {left}")


def beckon_pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def _callbacks(env, c):
    n = c.nodes
    check("redis-2" in n and all(f"sentinel-{i}" in n for i in (1, 2, 3)),
          f"Redis replica or sentinels missing: {sorted(n)}")
    if shutil.which("haproxy"):
        check("haproxy" in n, "haproxy is installed but the cluster did not start it")
    app = env.app_server()
    devices = {"sip-edge-1": ("7546658101", "urn:uuid:00000000-0000-4000-8000-000000000101"),
               "sip-edge-2": ("7546658102", "urn:uuid:00000000-0000-4000-8000-000000000102")}
    for edge, (num, inst) in devices.items():
        aor = f"sip:{num}@example.com"
        agent(env, c, n[edge], aor, inst, app)
        c.wait_edge_log(edge, f"registered aor={aor}")

    # The binding belongs to the edge the agent registered with.
    r = RedisAt(n["redis-1"]["addr"], n["redis-1"]["port"])
    for edge, (num, _) in devices.items():
        ids = r("ZRANGE", f"beckon:dev:num:{num}", 0, -1)
        check(len(ids) == 1, f"bindings of {num}: {ids}")
        b = r.hgetall(f"beckon:binding:{ids[0]}")
        check(b.get("edge") == n[edge]["edge_id"], f"binding of {num} not on {edge}: {b}")
    r.close()

    addr, port = c.api()
    # Four requests: round robin gives each gateway two, each edge gets two NOTIFYs.
    rids = []
    for i in range(2):
        for edge, (num, _) in devices.items():
            rid = f"cluster-{num}-{i}"
            resp = post(addr, port, {"device": num, "request_id": rid, "protocol": "http",
                                     "server": {"host": "127.0.0.1", "port": app.port},
                                     "path": f"/cb/{rid}"})
            check(resp.status == 202, f"POST {rid} via {addr}:{port}: {resp}")
            rids.append(rid)
    for rid in rids:
        app.wait_callbacks(rid)
        st = wait_delivered(addr, port, rid)
        check(st.get("sip_status") == 200, f"{rid}: {st}")
    for edge, (num, _) in devices.items():
        c.wait_edge_log(edge, "notify answered request-id=")
        check(f"cluster-{num}-0" in c.edge_log(edge),
              f"{edge} did not send the NOTIFY for its own device {num}")
    # Any gateway reads any request: the state is in Redis.
    for gw in ("api-gateway-1", "api-gateway-2"):
        g = n[gw]
        st = get(g["addr"], g["http_port"], rids[0])
        check(st.status == 200 and st.json.get("status") == "delivered",
              f"GET {rids[0]} on {gw}: {st}")
    if "haproxy" in n:
        # Both gateways took traffic through HAProxy (stats CSV, column stot).
        stats = beckon.http_request(n["haproxy"]["stats_port"], "GET", "/stats;csv",
                                    host=n["haproxy"]["addr"]).body.decode()
        served = {}
        for row in stats.splitlines()[1:]:
            col = row.split(",")
            if len(col) > 7 and col[0] == "gateways" and col[1].startswith("api-gateway"):
                served[col[1]] = int(col[7] or 0)
        check(len(served) == 2 and all(v > 0 for v in served.values()),
              f"HAProxy did not spread requests over both gateways: {served}")
    return app, devices


def _failover(env, c, app, devices):
    """SENTINEL FAILOVER on the running cluster: every service finds the new master through
    the Sentinels by itself (BECKON_REDIS_SENTINELS, as in compose.yaml; no repointing, no
    restart), and callbacks are accepted and delivered afterwards."""
    n = c.nodes
    new = n["redis-2"]["addr"]
    s = RedisAt(n["sentinel-1"]["addr"], n["sentinel-1"]["port"])
    try:
        t0 = time.monotonic()
        check(s("SENTINEL", "FAILOVER", "beckon") == "OK", "SENTINEL FAILOVER refused")
        beckon.wait_for(lambda: s("SENTINEL", "get-master-addr-by-name", "beckon")[0] == new,
                        "sentinel-1 to name redis-2 the master")
    finally:
        s.close()
    for name in SERVICES:
        c.wait_edge_log(name, f"redis command connection to {new}:{n['redis-2']['port']} up")
    print(f"measured: SENTINEL FAILOVER → all 4 services on redis-2: "
          f"{time.monotonic() - t0:.2f} s", flush=True)
    addr, port = c.api()
    rids = []
    for num, _ in devices.values():
        rid = f"failover-{num}"
        resp = post(addr, port, {"device": num, "request_id": rid, "protocol": "http",
                                 "server": {"host": "127.0.0.1", "port": app.port},
                                 "path": f"/cb/{rid}"})
        check(resp.status == 202, f"POST {rid} after the failover: {resp}")
        rids.append(rid)
    for rid in rids:
        app.wait_callbacks(rid)
        wait_delivered(addr, port, rid)
    r = RedisAt(new, n["redis-2"]["port"])
    try:
        role = r("ROLE")[0]
    finally:
        r.close()
    check(role == "master", f"redis-2 is {role} after the failover")
    print(f"measured: SENTINEL FAILOVER → callbacks delivered: {time.monotonic() - t0:.2f} s",
          flush=True)


def test_cluster_sip_front_path(env):
    if not shutil.which("kamailio"):
        print("kamailio not installed: SIP front not tested")
        return
    c = Cluster(env, "--with-kamailio")
    try:
        app = env.app_server()
        aor = "sip:7546658150@example.com"
        front = c.nodes["sip-front"]
        agent(env, c, front, aor, "urn:uuid:00000000-0000-4000-8000-000000000150", app)
        # Hash over the To URI picks one edge; the binding's source is the proxy, and the
        # binding keeps the Path the proxy added.
        r = RedisAt(c.nodes["redis-1"]["addr"], c.nodes["redis-1"]["port"])
        ids = r("ZRANGE", "beckon:dev:num:7546658150", 0, -1)
        check(len(ids) == 1, f"bindings via the SIP front: {ids}")
        b = r.hgetall(f"beckon:binding:{ids[0]}")
        r.close()
        check(b.get("source", "").startswith(front["addr"] + ":"),
              f"binding source is not the SIP front {front['addr']}: {b}")
        check(b.get("edge") in ("sip-edge-1", "sip-edge-2"), f"binding edge: {b}")
        check(front["addr"] in b.get("path", ""), f"binding has no Path through the front: {b}")
        # The NOTIFY goes back through Kamailio (Route = the Path, ;received= the agent's
        # address) and reaches the agent, which calls back.
        addr, port = c.api()
        rid = "cluster-front-1"
        resp = post(addr, port, {"device": "7546658150", "request_id": rid, "protocol": "http",
                                 "server": {"host": "127.0.0.1", "port": app.port},
                                 "path": f"/cb/{rid}"})
        check(resp.status == 202, f"POST {rid} via {addr}:{port}: {resp}")
        app.wait_callbacks(rid)
        st = wait_delivered(addr, port, rid)
        check(st.get("sip_status") == 200, f"{rid}: {st}")
        # Only the edges may route through the front: anyone else's Route is refused.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.bind(("127.0.0.1", 0))
        port_ = s.getsockname()[1]
        s.sendto((f"NOTIFY sip:victim@127.0.0.1:9 SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{port_};branch=z9hG4bKrelay1\r\n"
                  f"Route: <sip:{front['addr']};lr>\r\nMax-Forwards: 70\r\n"
                  f"From: <sip:x@example.com>;tag=1\r\nTo: <sip:victim@example.com>\r\n"
                  f"Call-ID: relay@x\r\nCSeq: 1 NOTIFY\r\nEvent: x\r\n"
                  f"Content-Length: 0\r\n\r\n").encode(), (front["addr"], front["sip_port"]))
        ans = s.recv(4096).decode(errors="replace")
        s.close()
        check(ans.startswith("SIP/2.0 403"), f"the front relayed a stranger's Route: {ans[:200]}")
    finally:
        for p in env.procs:
            p.stop()
        problems = c.down()
    check(not problems, "\n".join(problems))


if __name__ == "__main__":
    beckon.main(globals())
