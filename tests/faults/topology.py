# SPDX-License-Identifier: Apache-2.0
"""A provider network and two NATed branch networks in Linux network namespaces, for the
fault tests (docs/testing.md "Fault tests" has the picture).

The test script already runs in a network namespace of its own (beckon.main re-executes it
with `ip netns`); that namespace is the *provider* side: Redis, two sip-edges, two
api-gateways, HAProxy in front of the gateways and the app server all live there, the
services reachable from the branches at PROVIDER_ADDR (on lo). Each branch is two more
namespaces: a NAT router (nftables masquerade on its provider-facing side, forward policy
drop except LAN->WAN and established/related back) and a LAN with the endpoints
(contact-agents, SIPp). The provider even has a route to each LAN through its router, so
"cannot connect into a branch" is the router's doing, not a missing route.

Everything is torn down by close() (processes first, then the namespaces), and by a SIGTERM
handler and atexit if the test dies first. Readiness is awaited on sockets and log lines
with deadlines (beckon.wait_for), never with sleeps. Stdlib only.
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import http.server

import beckon
from beckon import check, fail

PROVIDER_ADDR = "10.100.0.1"
REDIS_PORT, APP_PORT, HAPROXY_PORT, HAPROXY_STATS = 6379, 9000, 8080, 8404
REPLICA_PORT, SENTINEL_PORTS = 6380, (26379, 26380, 26381)
EDGE_SIP = (5060, 5062)
EDGE_HTTP = (8181, 8182)
GW_HTTP = (8281, 8282)
FINAL = ("delivered", "completed", "failed", "expired", "cancelled")


def password(num):
    """The SIP digest password of endpoint num (its HA1s are written before it registers)."""
    return f"pw-{num}-faults"


def sh(*argv, check_rc=True, ns=None):
    """Runs one command (in namespace ns); fails the test with its stderr when it fails."""
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if check_rc and p.returncode != 0:
        fail(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


class Branch:
    """One branch network: router namespace + LAN namespace."""

    def __init__(self, topo, n):
        self.n = n
        tag = f"bf{os.getpid()}"
        self.router = f"{tag}-r{n}"
        self.lan = f"{tag}-l{n}"
        self.wan_addr = f"10.100.{n}.2"  # what the provider sees: every flow is NATed to it
        self.subnet = f"192.168.{n}.0/24"
        self.lan_gw = f"192.168.{n}.1"
        self.hosts = 0
        self.topo = topo

    def build(self):
        r, l, n = self.router, self.lan, self.n
        for ns in (r, l):
            sh("ip", "netns", "add", ns)
            self.topo.namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"pr{n}", "type", "veth", "peer", "name", "wan", "netns", r)
        sh("ip", "addr", "add", f"10.100.{n}.1/24", "dev", f"pr{n}")
        sh("ip", "link", "set", f"pr{n}", "up")
        sh("ip", "-n", r, "addr", "add", f"{self.wan_addr}/24", "dev", "wan")
        sh("ip", "-n", r, "link", "set", "wan", "up")
        sh("ip", "-n", r, "link", "add", "lan", "type", "veth", "peer", "name", "eth0",
           "netns", l)
        sh("ip", "-n", r, "addr", "add", f"{self.lan_gw}/24", "dev", "lan")
        sh("ip", "-n", r, "link", "set", "lan", "up")
        sh("ip", "-n", l, "link", "set", "eth0", "up")
        sh("ip", "-n", r, "route", "add", "default", "via", f"10.100.{n}.1")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=r)
        rules = f"""
table inet beckon {{
  chain postrouting {{ type nat hook postrouting priority srcnat; oifname "wan" masquerade; }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    iifname "lan" oifname "wan" accept
    iifname "wan" oifname "lan" ct state established,related accept
  }}
}}
"""
        p = subprocess.run(["ip", "netns", "exec", r, "nft", "-f", "-"], input=rules,
                           capture_output=True, text=True, timeout=10)
        check(p.returncode == 0, f"nft in {r}: {p.stderr}")
        # The provider knows the way in; only the router's NAT/filter stands between.
        sh("ip", "route", "add", self.subnet, "via", self.wan_addr)

    def host(self):
        """A new LAN address for one endpoint (one per endpoint, like separate devices)."""
        self.hosts += 1
        addr = f"192.168.{self.n}.{9 + self.hosts}"
        sh("ip", "-n", self.lan, "addr", "add", f"{addr}/24", "dev", "eth0")
        if self.hosts == 1:
            sh("ip", "-n", self.lan, "route", "add", "default", "via", self.lan_gw)
        return addr

    def listener(self, env, addr, port=7000):
        """A TCP server in the LAN (accepts and closes), so a failed connect from outside
        means "blocked", not "nothing listening"; checked reachable from inside the LAN."""
        code = ("import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
                "socket.SO_REUSEADDR,1);s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8);"
                "print('listening',flush=True)\nwhile True: s.accept()[0].close()")
        p = env.spawn(f"listener-{self.n}", ["ip", "netns", "exec", self.lan, "python3", "-c",
                                             code, addr, str(port)], check_clean=False)
        p.wait_log("listening")
        probe = ("import socket,sys;socket.create_connection((sys.argv[1],int(sys.argv[2])),"
                 "timeout=2).close()")
        sh("python3", "-c", probe, addr, str(port), ns=self.lan)
        return p

    def partition(self):
        """Drops everything crossing the router, both ways (a dead uplink)."""
        sh("nft", "add table inet cut", ns=self.router)
        sh("nft", "add chain inet cut forward { type filter hook forward priority -10; "
           "policy drop; }", ns=self.router)

    def heal(self):
        sh("nft", "delete table inet cut", ns=self.router)

    def drop_flow(self, lan_addr, lan_port, proto="tcp"):
        """Silently drops one flow at the router, both ways (a NAT that lost its state)."""
        sh("nft", "add table inet flowcut", ns=self.router)
        sh("nft", "add chain inet flowcut forward { type filter hook forward priority -10; }",
           ns=self.router)
        sh("nft", f"add rule inet flowcut forward ip saddr {lan_addr} {proto} sport "
           f"{lan_port} drop", ns=self.router)
        sh("nft", f"add rule inet flowcut forward ip daddr {lan_addr} {proto} dport "
           f"{lan_port} drop", ns=self.router)


class AppServer:
    """The app server on the provider side: records each callback (and its source address,
    which shows the NAT) and answers 200."""

    def __init__(self, addr=PROVIDER_ADDR, port=APP_PORT):
        self.received = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with outer.lock:
                    outer.received.append({"path": self.path, "json": parsed,
                                           "peer": self.client_address[0],
                                           "t": time.monotonic()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                beckon._notify()

            do_GET = do_PUT = do_POST

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((addr, port), Handler)
        self.httpd.daemon_threads = True
        self.hostport = f"{addr}:{port}"
        self.port = port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def first(self, rid):
        with self.lock:
            for r in self.received:
                if r["json"] and r["json"].get("request_id") == rid:
                    return r
        return None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Topology:
    def __init__(self, env, aof=False, sentinel=False):
        check(os.environ.get("BECKON_NETNS"), "fault tests run in beckon's network namespace")
        self.env = env
        self.namespaces = []
        self.closed = False
        self.aof = aof
        self.sentinel = sentinel
        self.service_extra = []
        self.sentinels = []
        self.edges, self.gateways, self.agents = [], [], []
        self.haproxy = None
        self.app = None
        _LIVE.append(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ build

    def _build(self):
        sh("ip", "addr", "add", f"{PROVIDER_ADDR}/32", "dev", "lo")
        self.branches = [Branch(self, 1), Branch(self, 2)]
        for b in self.branches:
            b.build()
        self.redis_dir = os.path.join(self.env.tmp, "redis")
        os.makedirs(self.redis_dir, exist_ok=True)
        self.start_redis()
        if self.sentinel:
            self.start_sentinels()
        self.api_key = beckon.new_api_key(self, "faults")
        for i in range(2):
            self.start_edge(i)
        for i in range(2):
            self.gateways.append(beckon.Gateway(self.env, self, http_port=GW_HTTP[i],
                                                extra=self.service_extra))
        self.start_haproxy()
        self.app = AppServer()

    # RedisClient factory with the interface beckon.new_api_key / Gateway expect.
    @property
    def url(self):
        return f"redis://127.0.0.1:{REDIS_PORT}"

    def client(self, timeout=5):
        return beckon.RedisClient(REDIS_PORT, timeout=timeout)

    def credential(self, num):
        """Writes endpoint num's digest credentials to the current master (after a Sentinel
        failover that is the old replica)."""
        port = REDIS_PORT
        if self.sentinel:
            s = beckon.RedisClient(SENTINEL_PORTS[0])
            try:
                port = int(s("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "beckon")[1])
            finally:
                s.close()
        beckon.add_credential(types.SimpleNamespace(client=lambda: beckon.RedisClient(port)),
                              str(num), password(num))

    def start_redis(self):
        argv = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                "--save", "", "--dir", self.redis_dir, "--daemonize", "no",
                "--loglevel", "notice"]
        # AOF with fsync on every write: an accepted request (its 202 follows the write)
        # survives kill -9 of Redis (proto/redis.md; deploy/redis/redis.conf uses everysec).
        argv += ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else \
            ["--appendonly", "no"]
        self.redis = self.env.spawn("redis", argv)
        self.redis.wait_log("Ready to accept connections")

    def start_sentinels(self):
        """A replica of the master (port REPLICA_PORT) and three Sentinels watching master
        name `beckon` (quorum 2, down after 1 s); the services find the master through them."""
        rdir = os.path.join(self.env.tmp, "replica")
        os.makedirs(rdir, exist_ok=True)
        self.replica = self.env.spawn("redis-replica", [
            "redis-server", "--port", str(REPLICA_PORT), "--bind", "127.0.0.1", "--save", "",
            "--dir", rdir, "--appendonly", "yes", "--appendfsync", "always",
            "--replicaof", "127.0.0.1", str(REDIS_PORT), "--daemonize", "no"])
        self.replica.kind = "redis"
        self.replica.wait_log("MASTER <-> REPLICA sync: Finished with success")
        addrs = []
        for k, port in enumerate(SENTINEL_PORTS):
            conf = os.path.join(self.env.tmp, f"sentinel-{k + 1}.conf")
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndaemonize no\n"
                        f"sentinel monitor beckon 127.0.0.1 {REDIS_PORT} 2\n"
                        "sentinel down-after-milliseconds beckon 1000\n"
                        "sentinel failover-timeout beckon 10000\n"
                        "sentinel parallel-syncs beckon 1\n")
            p = self.env.spawn(f"sentinel-{k + 1}", ["redis-server", conf, "--sentinel"])
            p.kind = "redis"
            p.wait_log("+monitor master beckon")
            self.sentinels.append(p)
            addrs.append(f"127.0.0.1:{port}")
        # Every Sentinel knows the replica and the other Sentinels before the test starts.
        for p in self.sentinels:
            p.wait_log("+slave slave 127.0.0.1:")
            p.wait_log("+sentinel sentinel", count=2)
        self.service_extra = ["--redis-sentinels", ",".join(addrs),
                              "--redis-sentinel-master", "beckon"]

    def kill(self, proc):
        """kill -9, reaped, and forgotten by the env (which wants exit 0 otherwise)."""
        proc.p.kill()
        proc.p.wait(timeout=10)
        proc.join()
        self.env.procs.remove(proc)

    def start_edge(self, i):
        port = EDGE_SIP[i]
        argv = [self.env.binary("sip-edge"), "--sip-listen",
                f"udp:{PROVIDER_ADDR}:{port},tcp:{PROVIDER_ADDR}:{port}",
                "--http-listen", f"127.0.0.1:{EDGE_HTTP[i]}", "--redis-url", self.url,
                # `auth` at its default (on), as deployed: every endpoint below registers
                # with credentials (a 401 round trip at each edge it registers with).
                "--edge-id", f"edge-{i + 1}"] + self.service_extra
        proc = self.env.spawn(f"sip-edge-{i + 1}", argv)
        proc.kind = "sip-edge"

        def ready():
            if not proc.alive():
                fail(f"sip-edge-{i + 1} exited\n{proc.tail()}")
            return beckon.http_status(EDGE_HTTP[i], "/readyz") == 200
        beckon.wait_for(ready, f"sip-edge-{i + 1} ready")
        if len(self.edges) > i:
            self.edges[i] = proc
        else:
            self.edges.append(proc)
        return proc

    def start_haproxy(self):
        with open(os.path.join(beckon.SOURCE_ROOT, "deploy", "haproxy", "haproxy.cfg")) as f:
            conf = f.read()
        for i in range(2):
            conf = conf.replace(f"api-gateway-{i + 1}:8080", f"127.0.0.1:{GW_HTTP[i]}")
        conf = conf.replace("bind *:8080", f"bind 127.0.0.1:{HAPROXY_PORT}")
        conf = conf.replace("bind *:8404", f"bind 127.0.0.1:{HAPROXY_STATS}")
        conf = conf.replace("maxconn 20000", "maxconn 2000")
        conf = conf.replace("ipv4@127.0.0.1:9999", "ipv4@127.0.0.1:9998")
        # No Docker DNS here: addresses are literal.
        conf = conf.replace(" resolvers docker init-addr last,libc,none", "")
        path = os.path.join(self.env.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(conf)
        self.haproxy = self.env.spawn("haproxy", ["haproxy", "-db", "-f", path],
                                      check_clean=False)

        def both_up():
            try:
                csv = beckon.http_request(HAPROXY_STATS, "GET", "/stats;csv",
                                          timeout=1).body.decode()
            except OSError:
                return False
            up = [r for r in csv.splitlines() if r.startswith("gateways,api-gateway")
                  and ",UP," in r]
            return len(up) == 2
        beckon.wait_for(both_up, "HAProxy sees both gateways UP")

    def agent(self, branch, num, transport="udp", expires=30, extra=()):
        """A contact-agent in a branch LAN with both edges (edge 1 first, or edge 2 for an
        even num so both edges get endpoints); waits until it is registered."""
        b = self.branches[branch]
        addr = b.host()
        first, second = (0, 1) if num % 2 else (1, 0)
        reg = [f"sip:{PROVIDER_ADDR}:{EDGE_SIP[k]}" + (";transport=tcp" if transport == "tcp"
                                                          else "") for k in (first, second)]
        aor = f"sip:{num}@example.com"
        self.credential(num)
        argv = ["ip", "netns", "exec", b.lan, self.env.binary("contact-agent"),
                "--registrar", reg[0], "--backup-registrar", reg[1], "--aor", aor,
                "--instance-id", f"urn:uuid:00000000-0000-4000-8000-{num:012d}",
                "--sip-listen", f"{transport}:{addr}:0",
                "--trusted-servers", self.app.hostport, "--expires", str(expires),
                "--register-retry", "1", "--keepalive", "1", "--sip-timeout", "2"]
        p = self.env.spawn(f"agent-{num}", argv + list(extra),
                           environ={"BECKON_PASSWORD": password(num)})
        p.kind = "contact-agent"
        p.num, p.addr, p.branch, p.aor = str(num), addr, b, aor
        p.wait_log(f"registered aor={aor}")
        self.agents.append(p)
        return p

    def sipp(self, branch, num):
        """A SIPp UAS in a branch LAN, registered with edge 1 (with digest credentials),
        answering NOTIFYs 200."""
        b = self.branches[branch]
        addr = b.host()
        self.credential(num)
        sdir = beckon.SIPP_DIR
        msgs = os.path.join(self.env.tmp, f"sipp-{num}-messages.log")
        argv = ["ip", "netns", "exec", b.lan, "sipp", f"{PROVIDER_ADDR}:{EDGE_SIP[0]}",
                "-sf", os.path.join(sdir, "register-digest.xml"),
                "-au", str(num), "-ap", password(num),
                "-oocsf", os.path.join(sdir, "answer-notify-ooc.xml"),
                "-i", addr, "-p", "5070", "-t", "u1", "-m", "1", "-nostdin",
                "-d", "120000", "-timeout", "150", "-trace_msg", "-message_file", msgs,
                "-key", "user", str(num), "-key", "domain", "example.com",
                "-key", "contact_host", addr, "-key", "contact_port", "5070",
                "-key", "instance", f"urn:uuid:00000000-0000-4000-8000-{num:012d}"]
        p = self.env.spawn(f"sipp-{num}", argv, check_clean=False,
                           stdout_file=os.path.join(self.env.tmp, f"sipp-{num}-screen.log"))
        p.msgfile = msgs
        self.edges[0].wait_log(f"registered aor=sip:{num}@example.com")
        return p

    # ------------------------------------------------------------ API

    def post(self, body, timeout=5):
        return beckon.http_request(HAPROXY_PORT, "POST", "/v1/callbacks", body,
                                   headers={"Authorization": f"Bearer {self.api_key}"},
                                   timeout=timeout)

    def get(self, rid, timeout=5):
        return beckon.http_request(HAPROXY_PORT, "GET", f"/v1/callbacks/{rid}",
                                   headers={"Authorization": f"Bearer {self.api_key}"},
                                   timeout=timeout)

    def body(self, num, rid, ttl=60):
        return {"device": str(num), "request_id": rid, "protocol": "http", "ttl_s": ttl,
                "server": {"host": PROVIDER_ADDR, "port": self.app.port}, "path": f"/cb/{rid}"}

    # ------------------------------------------------------------ teardown

    def close(self):
        """Stops every process, then removes the namespaces, veths and addresses. Returns
        the problems found (services not exiting 0, sanitizer reports)."""
        if self.closed:
            return []
        self.closed = True
        problems = self.env.close()
        # beckon.main closes the env again after the test: nothing is left to stop, but
        # its dump of a failed test's logs must still see the processes.
        stopped = self.env.procs
        self.env.procs = []
        self.env.apps = []
        self.env.dump = lambda: [sys.stdout.write(f"--- {p.name}\n{p.tail()}\n")
                                 for p in stopped]
        if self.app:
            self.app.close()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        for b in getattr(self, "branches", []):
            subprocess.run(["ip", "route", "del", b.subnet], capture_output=True, timeout=10)
            subprocess.run(["ip", "link", "del", f"pr{b.n}"], capture_output=True, timeout=10)
        subprocess.run(["ip", "addr", "del", f"{PROVIDER_ADDR}/32", "dev", "lo"],
                       capture_output=True, timeout=10)
        if self in _LIVE:
            _LIVE.remove(self)
        return problems


# Teardown even when the test dies: atexit, and SIGTERM (meson's timeout, forwarded by the
# parent in beckon.enter_netns) turned into SystemExit so finally blocks and atexit run.
_LIVE = []


def _cleanup():
    for t in list(_LIVE):
        t.close()


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(SystemExit(143)))


def connect_fails(addr, port, timeout=1.0):
    """True when a TCP connect from here to addr:port does not succeed within timeout."""
    try:
        socket.create_connection((addr, port), timeout=timeout).close()
        return False
    except OSError:
        return True


class Ledger:
    """The accounting of one fault test: every POST, its 2xx (accepted) and its end.

    post() retries a connection error, a 5xx or a timeout with the same request_id (POST is
    idempotent by request_id: a retry of an accepted request answers 200 with its status)
    for at most retry_for seconds. settle() waits until each accepted request has been
    called back at the app server (delivered) or reached another final status; report()
    prints the figures and asserts that nothing accepted was lost."""

    def __init__(self, topo, fault):
        self.topo = topo
        self.fault = fault
        self.accepted = {}  # rid -> monotonic time of the 2xx
        self.refused = 0
        self.retries = 0
        self.ended = {}  # rid -> final status other than delivered
        self.seen = {}  # rid -> monotonic time of its callback at the app server
        self.by_get = set()  # delivered per GET (SIPp endpoints make no callback)
        self.lock = threading.Lock()  # post() runs in several client threads
        self.backoff = threading.Event()  # never set

    def post(self, num, rid, ttl=60, retry_for=10):
        deadline = time.monotonic() + retry_for
        while True:
            try:
                r = self.topo.post(self.topo.body(num, rid, ttl), timeout=3)
                if r.status in (200, 202):
                    with self.lock:
                        self.accepted.setdefault(rid, time.monotonic())
                    return True
                if r.status < 500:
                    fail(f"POST {rid}: {r}")
            except OSError:
                pass
            with self.lock:
                if time.monotonic() >= deadline:
                    self.refused += 1
                    return False
                self.retries += 1
            # A refused connect or a 503 comes back at once: back off 100 ms (pacing of
            # the retries, not a wait for anything).
            self.backoff.wait(0.1)

    def settle(self, timeout=30):
        app = self.topo.app
        pending = set(self.accepted)

        def done():
            for rid in list(pending):
                hit = app.first(rid)
                if hit:
                    self.seen[rid] = hit["t"]
                    pending.discard(rid)
                    continue
                try:
                    r = self.topo.get(rid, timeout=2)
                except OSError:
                    continue
                st = r.json.get("status") if r.status == 200 and r.json else None
                if st in ("delivered", "completed"):  # a SIPp endpoint: no HTTP callback
                    self.by_get.add(rid)  # delivered, its delay unmeasured (polled)
                    pending.discard(rid)
                elif st in FINAL:
                    self.ended[rid] = st
                    pending.discard(rid)
            return not pending
        try:
            beckon.wait_for(done, f"{len(pending)} accepted requests to end", timeout,
                            poll=0.2)
        except beckon.TestFailure:
            pass
        return pending

    def report(self, timeout=30, want_ended=None):
        lost = self.settle(timeout)
        # Requests parked on purpose (device not registered yet) report their own delay.
        delays = sorted(((self.seen[r] - t) * 1000, r) for r, t in self.accepted.items()
                        if r in self.seen and not r.startswith("parked-"))
        parked = sorted(((self.seen[r] - t) * 1000, r) for r, t in self.accepted.items()
                        if r in self.seen and r.startswith("parked-"))
        delivered = len(delays) + len(parked) + len(self.by_get)
        line = (f"FAULT {self.fault}: accepted={len(self.accepted)} delivered={delivered} "
                f"ended_otherwise={len(self.ended)}"
                f"{' ' + json.dumps(sorted(set(self.ended.values()))) if self.ended else ''}"
                f" lost={len(lost)} longest_delay_ms={delays[-1][0] if delays else 0:.0f}"
                f" ({delays[-1][1] if delays else '-'})"
                f"{f' parked_delivered_after_ms={parked[-1][0]:.0f}' if parked else ''}"
                f" post_retries={self.retries} not_accepted={self.refused}")
        print(line, flush=True)
        results = os.environ.get("BECKON_FAULTS_RESULTS")
        if results:
            with open(results, "a") as f:
                f.write(line + "\n")
        check(self.accepted, f"{self.fault}: nothing was accepted")
        check(not lost, f"{self.fault}: accepted requests lost: {sorted(lost)[:10]}")
        if want_ended is not None:
            bad = {r: s for r, s in self.ended.items() if s not in want_ended}
            check(not bad, f"{self.fault}: ended with an unexpected status: {bad}")
        return line
