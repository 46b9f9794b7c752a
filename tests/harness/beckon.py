# SPDX-License-Identifier: Apache-2.0
"""Integration-test harness for beckon: real binaries, a real redis-server, real sockets.

Each test script calls beckon.main(globals()). main() first re-executes the script inside a
network namespace of its own that has only loopback (`ip netns`), so a NOTIFY sent to the
wrong (private, Contact) address can never leave the machine. Then every test_* function
runs with a fresh Env: a temp dir, free loopback ports, and the processes it starts
(redis-server, sip-edge, api-gateway, contact-agent, SIPp, a recording app server).

Readiness is always awaited on an event with a deadline: a line on the process's stderr or
stdout, a Redis PING, GET /readyz == 200. Waiting re-checks its condition whenever any
process prints or the app server records a callback, and at least every 50 ms for
conditions that can only be polled (an HTTP GET); there is no sleep "to give it time".

At the end every process gets SIGTERM; our services must exit 0 and their stderr must hold
no ASan/UBSan report. Stdlib only.
"""

import ctypes
import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

SOURCE_ROOT = os.environ.get("BECKON_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("BECKON_BUILD_DIR") or os.path.join(SOURCE_ROOT, "build")
SIPP_DIR = os.path.join(SOURCE_ROOT, "proto", "sipp")
REST_EXAMPLES = os.path.join(SOURCE_ROOT, "proto", "examples", "rest")

# Default deadline for anything we wait for; generous because the sanitizer build is slow.
DEADLINE = float(os.environ.get("BECKON_TEST_DEADLINE", "20"))
SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")
PACKAGE = "application-server-contact-me"

# Notified whenever anything observable happens (a process printed a line, the app server
# got a request), so waiters re-check their condition at once.
CHANGED = threading.Condition()


class TestFailure(AssertionError):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def _notify():
    with CHANGED:
        CHANGED.notify_all()


def wait_for(pred, what, timeout=None, poll=0.05):
    """Returns pred()'s first truthy value; fails after timeout seconds naming `what`."""
    deadline = time.monotonic() + (timeout or DEADLINE)
    while True:
        v = pred()
        if v:
            return v
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"timed out after {timeout or DEADLINE:.0f}s waiting for {what}")
        with CHANGED:
            CHANGED.wait(min(left, poll))


# ---------------------------------------------------------------- ports, namespace

def free_port(udp_too=False):
    """A free loopback TCP port (also free for UDP when udp_too), by binding port 0."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        try:
            if udp_too:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                finally:
                    u.close()
            return port
        finally:
            t.close()
    fail("no free port pair found")


def free_udp_port():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    u.close()
    return port


# What the namespace's /etc/resolv.conf says (ip netns exec bind-mounts
# /etc/netns/<name>/resolv.conf over it). By default the host's resolver, unreachable from
# the namespace, is replaced by 127.0.0.1, where nothing listens: lookups fail at once with
# "connection refused" instead of depending on the host's configuration.
RESOLV_CONF = "nameserver 127.0.0.1\n"


def enter_netns(resolv_conf=None):
    """Re-executes this script in a fresh network namespace with only loopback up.

    Guarded by BECKON_NETNS so the child does not recurse. Needs root; fails loudly otherwise
    (set BECKON_NO_NETNS=1 to run outside a namespace on purpose, e.g. for debugging)."""
    if os.environ.get("BECKON_NETNS") or os.environ.get("BECKON_NO_NETNS"):
        return
    if os.geteuid() != 0:
        sys.stderr.write("FATAL: integration tests run in their own network namespace "
                         "(ip netns) and need root. Run as root, or set BECKON_NO_NETNS=1 "
                         "to run without isolation.\n")
        sys.exit(2)
    name = f"beckon-{os.getpid()}"
    etc = os.path.join("/etc/netns", name)
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "resolv.conf"), "w") as f:
        f.write(resolv_conf or RESOLV_CONF)
    subprocess.run(["ip", "netns", "add", name], check=True)
    child = None

    def forward(signum, frame):
        if child and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc = 1
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True)
        env = dict(os.environ, BECKON_NETNS=name)
        child = subprocess.Popen(["ip", "netns", "exec", name, sys.executable,
                                  os.path.abspath(sys.argv[0])] + sys.argv[1:], env=env)
        rc = child.wait()
    finally:
        subprocess.run(["ip", "netns", "del", name])
        shutil.rmtree(etc, ignore_errors=True)
    sys.exit(rc)


def _die_with_parent():
    # The services must not outlive a test runner that was killed (meson timeout).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


# ---------------------------------------------------------------- processes

class Proc:
    """A child process whose stdout and stderr lines are collected by reader threads.

    JSON log lines ({"ts","level","service","msg"}) are matched on their msg; other lines
    (sanitizer reports, redis's own log) on the raw text."""

    def __init__(self, name, argv, cwd, env=None, check_clean=True, stdout_file=None):
        self.name = name
        self.argv = argv
        self.check_clean = check_clean
        self.lines = []  # (stream, raw, msg)
        self.lock = threading.Lock()
        self.rc = None
        self.logpath = os.path.join(cwd, f"{name}.log")
        self._log = open(self.logpath, "a", encoding="utf-8", errors="replace")
        self._log.write("$ " + " ".join(argv) + "\n")
        self._log.flush()
        out = subprocess.PIPE
        self._stdout_f = None
        if stdout_file:
            self._stdout_f = open(stdout_file, "wb")
            out = self._stdout_f
        self.p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        self.threads = []
        streams = [("err", self.p.stderr)] + ([] if stdout_file else [("out", self.p.stdout)])
        for tag, f in streams:
            t = threading.Thread(target=self._reader, args=(tag, f), daemon=True)
            t.start()
            self.threads.append(t)

    def _reader(self, tag, f):
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            msg = line
            if line.startswith("{"):
                try:
                    msg = json.loads(line).get("msg", line)
                except ValueError:
                    pass
            with self.lock:
                self.lines.append((tag, line, msg))
                self._log.write(f"[{tag}] {line}\n")
                self._log.flush()
            _notify()
        _notify()

    def mark(self):
        """Position to pass as since= to match only lines printed from now on."""
        with self.lock:
            return len(self.lines)

    def find(self, substr, since=0):
        with self.lock:
            return [m for (_, _, m) in self.lines[since:] if substr in m]

    def alive(self):
        return self.p.poll() is None

    def wait_log(self, substr, since=0, timeout=None, count=1):
        """Waits for count lines containing substr (in msg) since the mark; returns them."""
        def pred():
            hits = self.find(substr, since)
            if len(hits) >= count:
                return hits
            if not self.alive():
                self.join()
                fail(f"{self.name} exited (rc={self.p.returncode}) while waiting for "
                     f"'{substr}'\n{self.tail()}")
            return None
        return wait_for(pred, f"{self.name} to log '{substr}' x{count}", timeout)

    def join(self):
        for t in self.threads:
            t.join(timeout=5)

    def text(self):
        with self.lock:
            return "\n".join(raw for (_, raw, _) in self.lines)

    def tail(self, n=60):
        with self.lock:
            return "\n".join(f"  {self.name}| {raw}" for (_, raw, _) in self.lines[-n:])

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the process and reaps it. Returns a list of problems (empty when clean)."""
        problems = []
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
                self.rc = self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.rc = self.p.wait()
                problems.append(f"{self.name}: did not exit within {timeout}s of signal {sig}")
        else:
            self.rc = self.p.returncode
        self.join()
        if self._stdout_f:
            self._stdout_f.close()
        if self.check_clean:
            if self.rc != 0:
                problems.append(f"{self.name}: exit status {self.rc} (want 0 on SIGTERM)")
            text = self.text()
            for mark in SANITIZER_MARKS:
                if mark in text:
                    problems.append(f"{self.name}: sanitizer report ('{mark}') on stderr")
                    break
        self._log.close()
        return problems


# ---------------------------------------------------------------- redis

class RedisClient:
    """Minimal synchronous RESP2 client, for inspecting state from tests."""

    def __init__(self, port, timeout=5, auth=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        if auth:  # (password,) or (user, password)
            self("AUTH", *auth)

    def close(self):
        self.f.close()
        self.sock.close()

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad RESP line {line!r}")

    def hgetall(self, key):
        v = self("HGETALL", key) or []
        return dict(zip(v[::2], v[1::2]))

    def scan(self, pattern):
        keys, cursor = [], "0"
        while True:
            cursor, batch = self("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            keys += batch
            if cursor == "0":
                return sorted(keys)


class Redis:
    """redis-server on a free loopback port. With password, it requires one (requirepass):
    url carries it (percent-encoded) and client() authenticates."""

    def __init__(self, env, port=None, extra=(), name="redis", password=None):
        self.env = env
        self.port = port or free_port()
        self.password = password
        self.extra = list(extra)  # more redis-server flags, e.g. ["--replicaof", ip, port]
        if password:
            self.extra += ["--requirepass", password]
        self.dir = os.path.join(env.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.start()

    def start(self):
        self.proc = self.env.spawn("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
            "--loglevel", "notice",
            # The compact-encoding bounds of deploy/redis/redis.conf, so tests see the hashes
            # in the encoding production uses (listpack: HGETALL in insertion order).
            "--hash-max-listpack-value", "1024", "--zset-max-listpack-value", "256"]
            + self.extra, check_clean=True)
        self.proc.wait_log("Ready to accept connections")
        c = self.client()
        check(c("PING") == "PONG", "redis did not answer PING")
        c.close()

    @property
    def url(self):
        if self.password:
            pw = urllib.parse.quote(self.password, safe="")
            return f"redis://:{pw}@127.0.0.1:{self.port}"
        return f"redis://127.0.0.1:{self.port}"

    def client(self, timeout=5):
        return RedisClient(self.port, timeout=timeout,
                          auth=(self.password,) if self.password else ())

    def bindings(self, number):
        """The bindings of a directory number, {binding id: hash}, in index order."""
        c = self.client()
        try:
            return {b: c.hgetall(f"beckon:binding:{b}")
                    for b in c("ZRANGE", f"beckon:dev:num:{number}", 0, -1)}
        finally:
            c.close()

    def binding(self, number):
        """The one binding of a directory number (fails unless there is exactly one)."""
        recs = list(self.bindings(number).values())
        check(len(recs) == 1, f"want one binding for {number}, got {recs}")
        return recs[0]

    def shutdown(self, save=False):
        """Stops redis the way an outage would look to clients. With save, the data set is
        written to dir first so start() brings it back (to check nothing was half-written)."""
        if save:
            c = self.client()
            try:
                c("SHUTDOWN", "SAVE")
            except ConnectionError:
                pass
            c.close()
        problems = self.proc.stop()
        self.env.procs.remove(self.proc)
        check(not problems, "; ".join(problems))


class Sentinel:
    """A redis-sentinel (redis-server --sentinel, the same binary) on a free loopback port,
    monitoring master `name` at master (a Redis) with the given quorum and a short
    down-after, so a test failover takes seconds. Ready once it monitors the master and
    has found `replicas` replicas (SENTINEL FAILOVER needs one). With password it requires
    one itself (requirepass); a master with a password is monitored with it (auth-pass)."""

    def __init__(self, env, master, name="beckon", quorum=1, replicas=1, down_ms=1000,
                 port=None, master_host="127.0.0.1", extra_conf="", password=None):
        self.env = env
        self.name = name
        self.password = password
        self.port = port or free_port()
        self.dir = os.path.join(env.tmp, f"sentinel-{self.port}")
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "sentinel.conf")  # sentinel rewrites it
        with open(conf, "w") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\ndaemonize no\ndir {self.dir}\n"
                    f"{extra_conf}"
                    f"sentinel monitor {name} {master_host} {master.port} {quorum}\n"
                    f"sentinel down-after-milliseconds {name} {down_ms}\n"
                    f"sentinel failover-timeout {name} 10000\n"
                    f"sentinel parallel-syncs {name} 1\n")
            if password:
                f.write(f"requirepass {password}\n")
            if master.password:
                f.write(f"sentinel auth-pass {name} {master.password}\n")
        self.proc = env.spawn("sentinel", ["redis-server", conf, "--sentinel"])
        self.proc.kind = "redis"  # stopped last, like redis
        self.proc.wait_log(f"+monitor master {name}")
        if replicas:
            self.proc.wait_log("+slave slave", count=replicas)

            def replicas_ok():  # else SENTINEL FAILOVER may say NOGOODSLAVE
                c = self.client()
                try:
                    rs = c("SENTINEL", "replicas", name)
                finally:
                    c.close()
                info = [dict(zip(r[::2], r[1::2])) for r in rs]
                return len(info) >= replicas and all(
                    i.get("flags") == "slave" and i.get("master-link-status") == "ok"
                    for i in info)
            wait_for(replicas_ok, f"sentinel: {replicas} replica(s) known and linked")

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def client(self, timeout=5):
        return RedisClient(self.port, timeout=timeout,
                           auth=(self.password,) if self.password else ())

    def master_addr(self):
        c = self.client()
        try:
            return c("SENTINEL", "get-master-addr-by-name", self.name)
        finally:
            c.close()


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            pass

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


# ---------------------------------------------------------------- API keys and TLS
#
# api-gateway authenticates every API request (proto/rest.md "Authentication") and serves
# HTTPS unless started with --insecure-http. So that tests written before that stay as they
# are, http_request() adds `Authorization: Bearer <key>` by itself for a port the harness
# started a gateway on: the key of the client named by X-Beckon-Client (default "default"),
# created on first use, contact-triggering when the body sets on_behalf_of. Pass
# headers={"Authorization": None} to send none, or an explicit value to send that.

GATEWAYS = {}  # port -> {"redis": Redis, "keys": {(client, role): key}, "tls": SSLContext|None}


def new_api_key(redis, client="default", role="app-server", packages="*", devices="*",
                rate=1000000, **extra):
    """Stores a new API key the way scripts/beckon-admin does; returns the key."""
    key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    h = hashlib.sha256(key.encode()).hexdigest()
    fields = {"client": client, "role": role, "packages": packages, "devices": devices,
              "rate": rate, "created": int(time.time())}
    fields.update(extra)
    c = redis.client()
    try:
        args = []
        for k, v in fields.items():
            args += [k, v]
        c("HSET", f"beckon:apikey:{h}", *args)
    finally:
        c.close()
    return key


def add_credential(redis, user, password, realm="beckon"):
    """Provisions sip-edge digest credentials (proto/redis.md "Credentials"): only the HA1s,
    MD5 and SHA-256, of user:realm:password."""
    def ha1(h):
        return h(f"{user}:{realm}:{password}".encode()).hexdigest()
    c = redis.client()
    try:
        c("HSET", f"beckon:cred:{realm}:{user}", "ha1_md5", ha1(hashlib.md5),
          "ha1_sha256", ha1(hashlib.sha256))
    finally:
        c.close()


def _auth_header(port, h, body):
    gw = GATEWAYS.get(port)
    names = {k.lower(): k for k in h}
    if "authorization" in names:
        if h[names["authorization"]] is None:
            del h[names["authorization"]]
        return
    if not gw:
        return
    client = h.get(names.get("x-beckon-client", "X-Beckon-Client")) or "default"
    text = body if isinstance(body, (str, bytes)) else json.dumps(body) if body else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    role = "contact-triggering" if re.search(r'"on_behalf_of"\s*:\s*"|on_behalf_of>[^<]', text) \
        else "app-server"
    k = gw["keys"].get((client, role))
    if not k:
        k = gw["keys"][(client, role)] = new_api_key(gw["redis"], client, role)
    h["Authorization"] = f"Bearer {k}"


def make_certs(dirname, names=("server",), clients=()):
    """A test CA and certificates signed by it (openssl CLI), in dirname. Returns the paths:
    {"ca": ca.crt, "<name>": (crt, key), ...}. Never committed: made in the test's temp dir."""
    os.makedirs(dirname, exist_ok=True)
    out = {}

    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, cwd=dirname,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=beckon test CA")
    out["ca"] = os.path.join(dirname, "ca.crt")
    for n in list(names) + list(clients):
        ext = os.path.join(dirname, f"{n}.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if n in names else
                    "extendedKeyUsage=clientAuth\n")
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{n}.key", "-out", f"{n}.csr", "-subj", f"/CN={n}")
        ossl("x509", "-req", "-in", f"{n}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{n}.crt", "-days", "2", "-extfile", ext)
        out[n] = (os.path.join(dirname, f"{n}.crt"), os.path.join(dirname, f"{n}.key"))
    return out


def http_request(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=10,
                 context=None):
    """body: dict/list → JSON; str → its UTF-8 bytes as they are; bytes → raw.

    Returns a Resp. A server that answers early and closes (413) is fine: a failed send is
    ignored if a response can still be read. HTTPS when the port is a harness gateway started
    with tls=True (or context is given)."""
    h = dict(headers or {})
    _auth_header(port, h, body)
    if context is None and port in GATEWAYS:
        context = GATEWAYS[port]["tls"]
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode("utf-8")
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, bytes):
        data = body
        h.setdefault("Content-Type", "application/json")
    if context:  # context=False: plain HTTP whatever the port
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=data, headers=h)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def http_status(port, path):
    try:
        return http_request(port, "GET", path, timeout=2).status
    except OSError:
        return None


class Gateway:
    """api-gateway over plain HTTP (--insecure-http), or with tls=True over HTTPS with a
    certificate made for the test (self.certs; client_ca=True also asks clients for one, and
    require_client_cert=True insists). self.context is the client's SSLContext."""

    def __init__(self, env, redis, extra=(), http_port=None, environ=None, tls=False,
                 client_ca=False, require_client_cert=False):
        self.env = env
        self.redis = redis
        self.port = http_port or free_port()
        self.context = None
        argv = [env.binary("api-gateway")]
        if environ is None:
            argv += ["--http-listen", f"127.0.0.1:{self.port}", "--redis-url", redis.url]
        if tls:
            self.certs = make_certs(os.path.join(env.tmp, "tls"), clients=("client",))
            argv += ["--tls-cert", self.certs["server"][0], "--tls-key", self.certs["server"][1]]
            if client_ca or require_client_cert:
                argv += ["--tls-client-ca", self.certs["ca"]]
            if require_client_cert:
                argv += ["--require-client-cert", "true"]
            self.context = ssl.create_default_context(cafile=self.certs["ca"])
            if client_ca or require_client_cert:
                self.context.load_cert_chain(*self.certs["client"])
        elif environ is None:
            argv += ["--insecure-http"]
        else:
            environ = dict(environ)
            environ.setdefault("BECKON_INSECURE_HTTP", "true")
        argv += list(extra)
        GATEWAYS[self.port] = {"redis": redis, "keys": {}, "tls": self.context}
        self.proc = env.spawn("api-gateway", argv, environ=environ)
        self.wait_ready()

    def key(self, client="default", role="app-server", **kw):
        """A new API key for this gateway's Redis (see new_api_key)."""
        return new_api_key(self.redis, client, role, **kw)

    def wait_ready(self, timeout=None):
        def ready():
            if not self.proc.alive():
                fail(f"api-gateway exited (rc={self.proc.p.returncode})\n{self.proc.tail()}")
            return http_status(self.port, "/readyz") == 200
        wait_for(ready, "api-gateway GET /readyz == 200", timeout)

    def post(self, body, **kw):
        return http_request(self.port, "POST", "/v1/callbacks", body, **kw)

    def get(self, request_id):
        return http_request(self.port, "GET", f"/v1/callbacks/{request_id}")

    def callback(self, device, app, request_id=None, path="/cb", protocol="http", **fields):
        """POSTs a request for device to the app server; asserts 202; returns request_id."""
        body = {"device": device, "server": {"host": "127.0.0.1", "port": app.port},
                "protocol": protocol, "path": path}
        if request_id:
            body["request_id"] = request_id
        body.update(fields)
        r = self.post(body)
        check(r.status == 202, f"POST /v1/callbacks {body} → {r}, want 202")
        check(r.json and r.json.get("request_id"), f"202 without request_id: {r}")
        if request_id:
            check(r.json["request_id"] == request_id, f"request_id changed: {r}")
        check(r.json.get("status") == "queued", f"202 status is not 'queued': {r}")
        return r.json["request_id"]

    def wait_status(self, request_id, status="delivered", timeout=None):
        last = [None]

        def pred():
            r = self.get(request_id)
            last[0] = r
            if r.status == 200 and r.json and r.json.get("status") == status:
                return r.json
            if r.status == 200 and r.json and r.json.get("status") == "failed" \
                    and status != "failed":
                fail(f"request {request_id} failed: {r}")
            return None
        try:
            return wait_for(pred, f"request {request_id} status '{status}'", timeout)
        except TestFailure as e:
            raise TestFailure(f"{e}; last GET: {last[0]}") from None


class SipEdge:
    """sip-edge on free loopback ports. Its digest authentication (`auth`) is on by default;
    here it is off unless auth=True (or extra turns it on), so that tests about something else
    register without credentials; auth=None leaves the setting out (the default).
    test_digest_auth.py and the auth cases elsewhere turn it on."""

    def __init__(self, env, redis, edge_id="edge-a", transports=("udp", "tcp"), extra=(),
                 drain_timeout=3, auth=False):
        self.env = env
        self.edge_id = edge_id
        self.sip_port = free_port(udp_too=True)
        self.http_port = free_port()
        listen = ",".join(f"{t}:127.0.0.1:{self.sip_port}" for t in transports)
        self.proc = env.spawn("sip-edge", [
            env.binary("sip-edge"), "--sip-listen", listen,
            "--http-listen", f"127.0.0.1:{self.http_port}", "--redis-url", redis.url,
            "--edge-id", edge_id,
            # SIGTERM lets NOTIFYs in flight finish for up to this long (se_drain.h); the
            # default 10 s would slow down every test that ends with one unanswered.
            "--drain-timeout", str(drain_timeout)]
            + ([] if auth is None else ["--auth", "true" if auth else "false"]) + list(extra))

        def ready():
            if not self.proc.alive():
                fail(f"sip-edge exited (rc={self.proc.p.returncode})\n{self.proc.tail()}")
            return http_status(self.http_port, "/readyz") == 200
        wait_for(ready, "sip-edge GET /readyz == 200")

    def registrar(self, transport="udp"):
        uri = f"sip:127.0.0.1:{self.sip_port}"
        return uri + (";transport=tcp" if transport == "tcp" else "")


class Agent:
    def __init__(self, env, edge, aor, instance, transport="udp", trusted=(), extra=(),
                 name=None, wait=True):
        self.env = env
        self.aor = aor
        self.instance = instance
        argv = [env.binary("contact-agent"), "--registrar", edge.registrar(transport),
                "--aor", aor, "--instance-id", instance,
                "--sip-listen", f"{transport}:127.0.0.1:0"]
        if trusted:
            argv += ["--trusted-servers", ",".join(trusted)]
        mark = edge.proc.mark()
        self.proc = env.spawn(name or "contact-agent", argv + list(extra))
        if wait:
            self.proc.wait_log(f"registered aor={aor}")
            # The edge's own record of it, opted in to the package.
            hits = edge.proc.wait_log(f"registered aor={aor}", since=mark)
            check("subscribed=1" in hits[0], f"agent binding not subscribed: {hits[0]}")


class AppServer:
    """Records every request it gets (the endpoint's callback) and answers 200."""

    def __init__(self, env):
        self.received = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                with outer.lock:
                    outer.received.append({"method": self.command, "path": self.path,
                                           "headers": dict(self.headers), "body": body,
                                           "json": parsed, "t": time.monotonic()})
                out = b'{"ok":true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                _notify()

            do_POST = do_GET = do_PUT = _record

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.hostport = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def for_request(self, request_id):
        with self.lock:
            return [r for r in self.received if r["json"] and r["json"].get("request_id")
                    == request_id]

    def wait_callbacks(self, request_id, count=1, timeout=None):
        return wait_for(lambda: (lambda h: h if len(h) >= count else None)(
            self.for_request(request_id)),
            f"{count} callback(s) for request {request_id} on app server :{self.port}",
            timeout)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Sipp:
    """SIPp as an independent endpoint. Messages are traced to a file for assertions."""

    def __init__(self, env, edge, scenario, user, transport="u1", ooc="answer-notify-ooc.xml",
                 keys=None, name="sipp", extra=()):
        self.env = env
        self.port = free_port(udp_too=True)
        self.msgfile = os.path.join(env.tmp, f"{name}-messages.log")
        argv = ["sipp", f"127.0.0.1:{edge.sip_port}", "-sf", os.path.join(SIPP_DIR, scenario),
                "-i", "127.0.0.1", "-p", str(self.port), "-t", transport, "-m", "1",
                "-nostdin", "-d", "120000", "-timeout", "150",
                "-trace_msg", "-message_file", self.msgfile,
                "-trace_err", "-error_file", os.path.join(env.tmp, f"{name}-errors.log"),
                "-key", "user", user, "-key", "domain", "example.com"]
        if ooc:
            argv += ["-oocsf", os.path.join(SIPP_DIR, ooc)]
        for k, v in (keys or {}).items():
            argv += ["-key", k, v]
        argv += list(extra)  # e.g. ["-au", user, "-ap", password] for [authentication]
        self.proc = env.spawn(name, argv, check_clean=False,
                              stdout_file=os.path.join(env.tmp, f"{name}-screen.log"))

    def messages(self):
        try:
            with open(self.msgfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# ---------------------------------------------------------------- test environment

class Env:
    """One test's world: temp dir, processes, app servers. close() stops everything."""

    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"beckon-{name}-")
        self.procs = []
        self.apps = []

    def binary(self, name):
        path = os.path.join(BUILD_DIR, "services", name, name)
        check(os.access(path, os.X_OK), f"binary not built: {path}")
        return path

    def spawn(self, name, argv, check_clean=True, environ=None, stdout_file=None):
        base = name
        n = 1
        while any(p.name == name for p in self.procs):
            n += 1
            name = f"{base}-{n}"
        env = dict(os.environ)
        if environ:
            env.update(environ)
        # Debugging hook: BECKON_WRAP_SIP_EDGE="valgrind -q" (or strace, gdb -batch ...)
        # runs that kind of process under the given command.
        wrap = os.environ.get("BECKON_WRAP_" + base.upper().replace("-", "_"))
        if wrap:
            argv = shlex.split(wrap) + list(argv)
        p = Proc(name, argv, self.tmp, env=env, check_clean=check_clean,
                 stdout_file=stdout_file)
        p.kind = base
        self.procs.append(p)
        return p

    # Shorthands.
    def redis(self, **kw):
        return Redis(self, **kw)

    def sip_edge(self, redis, **kw):
        return SipEdge(self, redis, **kw)

    def gateway(self, redis, **kw):
        return Gateway(self, redis, **kw)

    def agent(self, edge, aor, instance, **kw):
        return Agent(self, edge, aor, instance, **kw)

    def app_server(self):
        a = AppServer(self)
        self.apps.append(a)
        return a

    def sipp(self, edge, scenario, user, **kw):
        return Sipp(self, edge, scenario, user, **kw)

    def stack(self, transports=("udp", "tcp")):
        """redis + sip-edge + api-gateway + app server, the usual starting point."""
        r = self.redis()
        e = self.sip_edge(r, transports=transports)
        g = self.gateway(r)
        a = self.app_server()
        return r, e, g, a

    def close(self):
        problems = []
        # Endpoints first, then the services, Redis last so nothing logs a spurious outage.
        order = {"redis": 3, "api-gateway": 2, "sip-edge": 2}
        for p in sorted(self.procs, key=lambda p: order.get(p.kind, 1)):
            problems += p.stop()
        for a in self.apps:
            a.close()
        return problems

    def dump(self):
        for p in self.procs:
            sys.stdout.write(f"--- {p.name} ({' '.join(p.argv)})\n{p.tail()}\n")


def main(namespace, resolv_conf=None):
    """Runs every test_* function of the calling module (or those named by -k SUBSTR)."""
    enter_netns(resolv_conf)
    if os.environ.get("BECKON_NETNS"):
        links = os.listdir("/sys/class/net")
        check(links == ["lo"], f"netns has more than loopback: {links}")
    only = None
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "-k":
        only = args[1]
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    if only:
        tests = [(n, f) for n, f in tests if only in n]
    check(tests, "no tests selected")
    failed = []
    for name, fn in tests:
        sys.stdout.write(f"=== {name}\n")
        sys.stdout.flush()
        env = Env(name)
        err = None
        t0 = time.monotonic()
        try:
            fn(env)
        except Exception:  # noqa: BLE001 — report any failure, keep going
            err = traceback.format_exc()
        problems = env.close()
        if problems and not err:
            err = "after the test:\n  " + "\n  ".join(problems)
        elif problems:
            err += "\nalso after the test:\n  " + "\n  ".join(problems)
        dt = time.monotonic() - t0
        if err:
            failed.append(name)
            sys.stdout.write(f"FAIL {name} ({dt:.1f}s)\n{err}\n")
            env.dump()
            sys.stdout.write(f"logs kept in {env.tmp}\n")
        else:
            sys.stdout.write(f"ok   {name} ({dt:.1f}s)\n")
            if not os.environ.get("BECKON_KEEP_TMP"):
                shutil.rmtree(env.tmp, ignore_errors=True)
        sys.stdout.flush()
    sys.stdout.write(f"{len(tests) - len(failed)}/{len(tests)} passed"
                     + (f"; failed: {', '.join(failed)}\n" if failed else "\n"))
    sys.exit(1 if failed else 0)
