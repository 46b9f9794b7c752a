# SPDX-License-Identifier: Apache-2.0
"""beckon benchmark driver: beckon (sip-edge + api-gateway + Redis) side by side with Kamailio.

Every server process is pinned to CPU 0 (taskset), every load generator to CPU 1, all on
loopback. Each REGISTER step gets freshly started servers, so an overloaded step cannot leave
a backlog for the next one. Scenarios (issue 6):

  1 register   highest REGISTER rate with < 0.1 % bad answers (lost, non-2xx, or later than
               500 ms = SIP T1), UDP and TCP, for beckon, Kamailio in-memory usrloc and
               Kamailio usrloc written through to Redis (db_redis)
  2 callback   POST /v1/callbacks → Redis → NOTIFY → 200 → status stored: closed-loop maximum
               with zero failures, then open-loop latency at fixed fractions of it; Kamailio's
               JSON-RPC tm.t_uac_wait trigger path the same way
  3 soap       the same over SOAP, when api-gateway serves /soap
  4 footprint  Redis bytes per binding at 100k bindings, sip-edge RSS per idle UDP binding and
               per idle TCP flow at 10k flows (Kamailio alongside)
  5 fanout     one callback to a number with 3 devices
  register-auth  REGISTER with digest authentication (sip-edge `auth` on, HA1s seeded in
               Redis) against without, in the same run: highest rate and CPU per REGISTER for
               plain, challenged (every REGISTER a 401 + authenticated pair) and nonce reuse
               (refreshes with the last nonce and the next nonce-count, as phones do)

Writes results.json (every figure), table.md, chart.png (gnuplot) and logs/ into
bench/results/<timestamp>/ and prints the table. Absolute numbers mean nothing across
machines; compare ratios measured in one run. --smoke is the seconds-long version run by the
'bench-smoke' test suite: it only checks that the tools and the stack still work together.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SERVER_CPU = "0"
LOAD_CPU = "1"
PROCS = []  # every process we started, killed at exit whatever happens
USER_BASE = 7000000000
CB_USER_BASE = 8000000000
DOMAIN = "bench.example"
AUTH_PASSWORD = "bench-secret"  # one password for every AOR; user = the AOR's user
AUTH_REALM = "beckon"  # sip-edge's default realm
REDIS_CONF = os.path.join(ROOT, "deploy", "redis", "redis.conf")


def log(msg):
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ processes

def _pdeathsig():
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the driver


class Proc:
    def __init__(self, name, argv, logdir, cpu=None, stdout=None):
        self.name = name
        argv = pin(cpu) + argv
        self.argv = argv
        self.logpath = os.path.join(logdir, f"{name}.log")
        self.logf = open(self.logpath, "ab")
        self.logstart = self.logf.tell()  # tail() reads only this process's lines
        self.logf.write(("$ " + " ".join(argv) + "\n").encode())
        self.logf.flush()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=stdout if stdout else self.logf,
                                  stderr=self.logf if stdout else subprocess.STDOUT,
                                  preexec_fn=_pdeathsig)
        PROCS.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        if self in PROCS:
            PROCS.remove(self)
        return self.p.returncode

    def tail(self, n=20):
        try:
            with open(self.logpath, "rb") as f:
                f.seek(self.logstart)
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


def kill_all():
    for p in list(PROCS):
        try:
            p.stop(timeout=5)
        except Exception:
            pass


def descendants(pid):
    """pid and every process below it (Kamailio forks its workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    """utime+stime of pid and its descendants, seconds (from /proc/<pid>/stat)."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def memory_kb(pid):
    """(RSS of pid itself, PSS summed over pid and descendants) in kB. PSS counts shared
    memory (Kamailio's shm) once across its processes."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def free_port():
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def wait_until(pred, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def http_status(port, path="/readyz", method="GET", body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def tcp_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class RedisCli:
    """Just enough RESP for INFO, EVAL and HSET."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.s.makefile("rb")

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.s.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad RESP {line!r}")

    def close(self):
        self.f.close()
        self.s.close()


def redis_memory(port):
    c = RedisCli(port)
    info = c("INFO", "memory")
    keys = c("DBSIZE")
    c.close()
    used = int([ln for ln in info.splitlines() if ln.startswith("used_memory:")][0].split(":")[1])
    return used, keys


STATUS_LUA = """local c={} for _,k in ipairs(redis.call('KEYS','beckon:req:*')) do
local s=redis.call('HGET',k,'status') if s then c[s]=(c[s] or 0)+1 end end
local r={} for k,v in pairs(c) do r[#r+1]=k r[#r+1]=v end return r"""


# ------------------------------------------------------------------ servers

class Redis:
    def __init__(self, run, name="redis"):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=run.tmp)
        # The shipped production config (deploy/redis/redis.conf: its compact-encoding bounds
        # decide the bytes per binding), minus persistence: options after the file override it.
        self.proc = Proc(name, ["redis-server", REDIS_CONF, "--port", str(self.port),
                                "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", self.dir,
                                "--daemonize", "no", "--loglevel", "warning"],
                         run.logdir, cpu=SERVER_CPU)
        wait_until(lambda: tcp_open(self.port), "redis")

    def stop(self):
        self.proc.stop()


def seed_credentials(port, users, password=AUTH_PASSWORD, realm=AUTH_REALM):
    """beckon:cred:<realm>:<user> with the MD5 HA1 (proto/redis.md "SIP credentials") for
    every user, pipelined 1,000 at a time."""
    c = RedisCli(port)
    users = list(users)
    for i in range(0, len(users), 1000):
        chunk = users[i:i + 1000]
        out = []
        for u in chunk:
            ha1 = hashlib.md5(f"{u}:{realm}:{password}".encode()).hexdigest()
            args = [b"HSET", f"beckon:cred:{realm}:{u}".encode(), b"ha1_md5", ha1.encode()]
            out.append(b"*%d\r\n" % len(args) +
                       b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        c.s.sendall(b"".join(out))
        for _ in chunk:
            c._read()
    c.close()


class Beckon:
    """Redis + sip-edge (+ api-gateway), every one pinned to the server CPU. auth_users: turn
    on sip-edge's digest authentication, with credentials for USER_BASE + range(auth_users)."""

    def __init__(self, run, gateway=False, tag="beckon", auth_users=0):
        self.run = run
        self.redis = Redis(run, f"{tag}-redis")
        self.sip_port = free_port()
        self.http_port = free_port()
        if auth_users:
            seed_credentials(self.redis.port, range(USER_BASE, USER_BASE + auth_users))
        self.edge = Proc(f"{tag}-sip-edge", [
            run.binary("services/sip-edge/sip-edge"),
            "--sip-listen", f"udp:127.0.0.1:{self.sip_port},tcp:127.0.0.1:{self.sip_port}",
            "--http-listen", f"127.0.0.1:{self.http_port}",
            "--redis-url", f"redis://127.0.0.1:{self.redis.port}",
            "--edge-id", "bench", "--log-level", run.args.log_level,
            "--auth", "true" if auth_users else "false"], run.logdir, cpu=SERVER_CPU)
        self._ready(self.edge, self.http_port)
        self.gw = None
        if gateway:
            self.gw_port = free_port()
            self.gw = Proc(f"{tag}-api-gateway", [
                run.binary("services/api-gateway/api-gateway"),
                "--http-listen", f"127.0.0.1:{self.gw_port}",
                "--redis-url", f"redis://127.0.0.1:{self.redis.port}",
                # Plain HTTP: the load tool speaks no TLS; what is measured is the API itself.
                "--insecure-http",
                "--log-level", run.args.log_level], run.logdir, cpu=SERVER_CPU)
            self._ready(self.gw, self.gw_port)
            # One API key (proto/rest.md "Authentication") with a rate far above any load.
            key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
            c = RedisCli(self.redis.port)
            c("HSET", "beckon:apikey:" + hashlib.sha256(key.encode()).hexdigest(),
              "client", "bench", "role", "app-server", "packages", "*", "devices", "*",
              "rate", 1000000, "created", int(time.time()))
            c.close()
            self.auth = "Authorization: Bearer " + key

    @staticmethod
    def _ready(proc, port):
        def ok():
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            return http_status(port)[0] == 200
        wait_until(ok, f"{proc.name} /readyz")

    def pids(self):
        d = {"sip-edge": self.edge.pid, "redis": self.redis.proc.pid}
        if self.gw:
            d["api-gateway"] = self.gw.pid
        return d

    def stop(self):
        for p in (self.gw, self.edge):
            if p:
                rc = p.stop()
                if rc not in (0, None):
                    log(f"{p.name} exited {rc} (log: {p.logpath})")
        self.redis.stop()


class Kamailio:
    """Kamailio 5.6 from Debian with one of bench/kamailio/*.cfg, pinned to the server CPU."""

    def __init__(self, run, cfg, redis=None, tag=None):
        self.sip_port = free_port()
        self.http_port = free_port()
        self.redis = redis
        with open(os.path.join(HERE, "kamailio", cfg)) as f:
            text = f.read()
        text = (text.replace("@SIP_PORT@", str(self.sip_port))
                .replace("@HTTP_PORT@", str(self.http_port))
                .replace("@REDIS_PORT@", str(redis.port if redis else 0)))
        wd = tempfile.mkdtemp(prefix="kamailio-", dir=run.tmp)
        path = os.path.join(wd, cfg)
        with open(path, "w") as f:
            f.write(text)
        if redis:
            c = RedisCli(redis.port)  # usrloc checks its table version at start
            c("HSET", "version:entry::location", "table_name", "location", "table_version", "9")
            c.close()
        self.proc = Proc(tag or "kamailio-" + cfg.split(".")[0], [
            "kamailio", "-f", path, "-DD", "-E", "-m", "512", "-M", "32", "-w", wd,
            "-P", os.path.join(wd, "kamailio.pid")], run.logdir, cpu=SERVER_CPU)
        port = self.http_port if "trigger" in cfg else self.sip_port

        def up():
            if not self.proc.alive():
                raise RuntimeError(f"kamailio exited:\n{self.proc.tail()}")
            # Listening is not enough: the workers must have forked.
            return tcp_open(port) and len(descendants(self.proc.pid)) >= 4
        wait_until(up, "kamailio")
        time.sleep(0.3)  # Kamailio has no readiness signal; its workers finish init async

    def pids(self):
        d = {"kamailio": self.proc.pid}
        if self.redis:
            d["redis"] = self.redis.proc.pid
        return d

    def stop(self):
        self.proc.stop()
        if self.redis:
            self.redis.stop()


# ------------------------------------------------------------------ load tools

def pin(cpu):
    """taskset prefix for cpu, or nothing when not pinning (smoke runs, one CPU)."""
    return ["taskset", "-c", cpu] if cpu is not None and shutil.which("taskset") else []


def run_tool(run, name, argv, timeout=600):
    """Runs a load tool on the load CPU; returns its JSON (last stdout line)."""
    full = pin(LOAD_CPU) + argv
    with open(os.path.join(run.logdir, f"{name}.log"), "ab") as errf:
        errf.write(("$ " + " ".join(full) + "\n").encode())
        errf.flush()
        r = subprocess.run(full, stdout=subprocess.PIPE, stderr=errf, timeout=timeout,
                           preexec_fn=_pdeathsig)
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"{argv[0]} failed (rc={r.returncode}); see {name}.log")
    return json.loads(lines[-1])


def system_busy():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / CLK_TCK, sum(v) / CLK_TCK


def measure(pids, fn):
    """Runs fn() and returns (its result, CPU seconds per process, memory per process).

    Also records in the result the CPU that processes other than ours (servers and the load
    tool) used meanwhile: this machine may be shared, and such noise must show in the figures."""
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    b0, _ = system_busy()
    t0 = time.monotonic()
    res = fn()
    b1, _ = system_busy()
    cpu = {k: round(cpu_seconds(p) - c0[k], 3) for k, p in pids.items()}
    mem = {k: dict(zip(("rss_kb", "pss_kb"), memory_kb(p))) for k, p in pids.items()}
    res["tool_cpu_s"] = res.get("cpu_s", 0)
    res["wall_s"] = round(time.monotonic() - t0, 3)
    res["foreign_cpu_s"] = round(max(0.0, (b1 - b0) - sum(cpu.values()) - res["tool_cpu_s"]), 2)
    return res, cpu, mem


class UAS:
    """beckon-uas on the load CPU: registers devices (optionally) and answers NOTIFYs."""

    def __init__(self, run, register_to=None, aors=1, instances=1, name="uas"):
        self.port = free_port()
        argv = [run.binary("bench/beckon-uas"), "--bind", f"127.0.0.1:{self.port}",
                "--aors", str(aors), "--instances", str(instances),
                "--user-base", str(CB_USER_BASE), "--domain", DOMAIN,
                # One source address: stay under sip-edge's per-address request limit.
                "--reg-rate", "450"]
        if register_to:
            argv += ["--register-to", f"127.0.0.1:{register_to}"]
        self.out = open(os.path.join(run.logdir, f"{name}.out"), "w+")
        self.proc = Proc(name, argv, run.logdir, cpu=LOAD_CPU, stdout=self.out)
        want = "registered" if register_to else "listening"

        def ready():
            if not self.proc.alive():
                raise RuntimeError(f"beckon-uas exited:\n{self.proc.tail()}")
            return f'"phase": "{want}"' in self.proc.tail(5)
        wait_until(ready, f"beckon-uas {want}", timeout=60)
        if register_to:
            line = [ln for ln in self.proc.tail(5).splitlines() if '"registered"' in ln][-1]
            reg = json.loads(line)
            if reg.get("failed"):
                raise RuntimeError(f"beckon-uas: {reg['failed']} registrations failed")

    def interval(self):
        """Figures since the last call (SIGUSR1 makes the tool print and reset them)."""
        self.out.seek(0, os.SEEK_END)
        pos = self.out.tell()
        self.proc.p.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.out.seek(pos)
            data = self.out.read()
            if data.endswith("\n"):
                return json.loads(data.strip().splitlines()[-1])
            time.sleep(0.02)
        raise RuntimeError("beckon-uas did not report")

    def stop(self):
        self.proc.stop()
        self.out.close()


# ------------------------------------------------------------------ the run

class Run:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = os.path.abspath(args.out or os.path.join(HERE, "results", stamp))
        self.logdir = os.path.join(self.out, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="beckon-bench-")
        self.results = {"started": stamp, "machine": machine(), "mode": args.mode,
                        "scenarios": {}}
        self.t0 = time.monotonic()

    def binary(self, rel):
        p = os.path.join(self.build, rel)
        if not os.access(p, os.X_OK):
            raise RuntimeError(f"{p} missing: build first (scripts/bench does)")
        return p

    def kamailio_ok(self):
        return bool(shutil.which("kamailio")) and not self.args.no_kamailio


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    git = ver(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = ver(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    if os.environ.get("BECKON_BENCH_SOURCE_LABEL"):  # binaries built from another tree
        git, dirty = os.environ["BECKON_BENCH_SOURCE_LABEL"], ""
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": os.uname().release,
            "kamailio": ver(["kamailio", "-v"]).splitlines()[0] if shutil.which("kamailio")
            else None,
            "redis": ver(["redis-server", "--version"]),
            "git": git + ("+dirty" if dirty else ""),
            "rmem_default": open("/proc/sys/net/core/rmem_default").read().strip(),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}


# ---- scenario 1: REGISTER rate

def register_step(run, target, transport, rate, aors=None):
    a = run.args
    aors = aors or a.aors
    srv = start_registrar(run, target, aors)
    try:
        argv = [run.binary("bench/beckon-regload"), "--target", f"127.0.0.1:{srv.sip_port}",
                "--transport", transport, "--rate", str(rate), "--duration", str(a.step_s),
                "--aors", str(aors), "--user-base", str(USER_BASE), "--domain", DOMAIN,
                "--drain-ms", "1500"]
        # Many source addresses (127.1.x.y), as from many endpoints: sip-edge limits each
        # address to a few hundred requests per second.
        argv += ["--conns", str(a.tcp_conns if transport == "tcp" else a.udp_sockets)]
        if target.startswith("beckon-auth"):
            argv += ["--auth-password", AUTH_PASSWORD]
            if target == "beckon-auth-reuse":
                argv += ["--auth-reuse"]
        res, cpu, mem = measure(srv.pids(), lambda: run_tool(run, f"regload-{target}", argv))
    finally:
        srv.stop()
    ok = max(res["ok"], 1)
    res["cpu_s"] = cpu
    res["cpu_us_per_op"] = {k: round(v * 1e6 / ok, 1) for k, v in cpu.items()}
    res["cpu_us_per_op"]["total"] = round(sum(cpu.values()) * 1e6 / ok, 1)
    res["memory"] = mem
    res["pass"] = (res["bad_pct"] < 0.1 and res["send_rate"] >= 0.97 * rate
                   and res["conn_fail"] == 0)
    log(f"  {target:16} {transport} {rate:>7}/s: ok {res['ok']:>7} bad {res['bad_pct']:7.3f}% "
        f"p50 {res['latency']['p50_us']/1e3:7.2f} ms p99 {res['latency']['p99_us']/1e3:7.2f} ms "
        f"cpu/op {res['cpu_us_per_op']['total']:6.1f} us {'PASS' if res['pass'] else 'fail'}"
        f" (other processes: {res['foreign_cpu_s']} s CPU)")
    return res


def start_registrar(run, target, aors=None):
    if target == "beckon":
        return Beckon(run)
    if target.startswith("beckon-auth"):
        return Beckon(run, tag=target, auth_users=aors or run.args.aors)
    if target == "kamailio-mem":
        return Kamailio(run, "registrar-mem.cfg")
    if target == "kamailio-redis":
        return Kamailio(run, "registrar-redis.cfg", redis=Redis(run, "kamailio-redis-redis"))
    raise ValueError(target)


def register_step_checked(run, target, transport, rate, aors=None):
    """A failed step during which other processes took a noticeable share of the machine
    (this may be a shared CI box) is measured once more; both are kept."""
    s = register_step(run, target, transport, rate, aors)
    if not s["pass"] and s["foreign_cpu_s"] > 0.25 * s["wall_s"]:
        log(f"  {target} {transport} {rate}/s: other processes were busy; measuring again")
        again = register_step(run, target, transport, rate, aors)
        again["noisy_first_attempt"] = {k: s[k] for k in ("bad_pct", "foreign_cpu_s",
                                                           "latency")}
        return again
    return s


def register_search(run, target, transport, aors=None):
    """Doubles the rate until a step fails, then bisects between the last pass and the first
    failure. Returns every step and the best passing one."""
    a = run.args
    steps, rate, good, bad = [], a.start_rate, None, None
    while rate <= a.max_rate:
        s = register_step_checked(run, target, transport, rate, aors)
        steps.append(s)
        if s["pass"]:
            good = rate
            if bad is not None:
                break
            rate *= 2
        else:
            bad = rate
            if good is not None or rate <= a.min_rate:
                break
            rate = max(rate // 2, a.min_rate)  # the first step failed: come down first
    for _ in range(a.bisect):
        if good is None or bad is None or bad - good <= max(good // 16, 500):
            break
        mid = (good + bad) // 2 // 500 * 500
        s = register_step_checked(run, target, transport, mid, aors)
        steps.append(s)
        if s["pass"]:
            good = mid
        else:
            bad = mid
    best = max((s for s in steps if s["pass"]), key=lambda s: s["target_rate"], default=None)
    return {"steps": steps, "best": best, "max_rate": good or 0, "first_fail": bad}


def scenario_register(run):
    targets = ["beckon"]
    if run.kamailio_ok():
        targets += ["kamailio-mem", "kamailio-redis"]
    out = {}
    for transport in run.args.transports:
        for t in targets:
            log(f"register {transport}: {t}")
            try:
                out[f"{t}/{transport}"] = register_search(run, t, transport)
            except Exception as e:  # one broken target must not lose the others' figures
                log(f"  {t} {transport}: {e}")
                out[f"{t}/{transport}"] = {"error": str(e)}
    run.results["scenarios"]["register"] = out


# ---- scenario register-auth: digest authentication against none, in one run

AUTH_VARIANTS = ("beckon", "beckon-auth", "beckon-auth-reuse")


def scenario_register_auth(run):
    """Highest rate of each variant (the same search as scenario 1), then CPU per REGISTER of
    each at one fixed rate, the variants alternating so that machine noise hits all alike.
    The searches use scenario 1's AORs; the fixed-rate steps fewer (auth_aors), so that most
    of their REGISTERs are refreshes, where nonce reuse differs from a challenge per REGISTER.
    (Few AORs at a high rate would fail a search early: once an answer takes longer than an
    AOR's period, the next REGISTER of that AOR supersedes it and it counts as lost.)"""
    a = run.args
    transport = "udp" if "udp" in a.transports else a.transports[0]
    out = {"transport": transport, "search": {}, "fixed": {v: [] for v in AUTH_VARIANTS},
           "fixed_rate": a.auth_cpu_rate, "fixed_aors": a.auth_aors, "search_aors": a.aors}
    for v in AUTH_VARIANTS:
        log(f"register-auth {transport}: {v}")
        try:
            out["search"][v] = register_search(run, v, transport)
        except Exception as e:
            log(f"  {v}: {e}")
            out["search"][v] = {"error": str(e)}
    for rnd in range(a.auth_rounds):
        for v in AUTH_VARIANTS:
            try:
                out["fixed"][v].append(register_step(run, v, transport, a.auth_cpu_rate,
                                                     a.auth_aors))
            except Exception as e:
                log(f"  {v} at {a.auth_cpu_rate}/s: {e}")
    # CPU per REGISTER per process: the median of the fixed-rate rounds that passed.
    def median(vals):
        vals = sorted(vals)
        return round((vals[(len(vals) - 1) // 2] + vals[len(vals) // 2]) / 2, 1)

    cpu = {}
    for v, steps in out["fixed"].items():
        good = [st for st in steps if st["pass"]] or steps
        if not good:
            continue
        cpu[v] = {}
        for k in ("sip-edge", "redis", "total"):
            cpu[v][k] = median(st["cpu_us_per_op"].get(k, 0) for st in good)
    out["cpu_us_per_register"] = cpu
    plain = out["search"].get("beckon", {}).get("max_rate") or 0
    out["rate_ratio"] = {v: (round(out["search"][v].get("max_rate", 0) / plain, 2) if plain
                             else None) for v in AUTH_VARIANTS[1:]}
    out["cpu_ratio"] = {v: {k: round(cpu[v][k] / cpu["beckon"][k], 2)
                            for k in cpu[v] if cpu.get("beckon", {}).get(k)}
                        for v in AUTH_VARIANTS[1:] if v in cpu}
    # Every server process shares CPU 0, so its capacity is 1 / (total CPU per REGISTER): the
    # rate ratio that noise in the searches cannot blur.
    out["capacity_ratio"] = {v: round(cpu["beckon"]["total"] / cpu[v]["total"], 2)
                             for v in AUTH_VARIANTS[1:]
                             if cpu.get(v, {}).get("total") and cpu.get("beckon", {}).get("total")}
    log(f"register-auth: rate ratios {out['rate_ratio']}, CPU-bound capacity ratios "
        f"{out['capacity_ratio']}, CPU µs/REGISTER {cpu}")
    run.results["scenarios"]["register-auth"] = out


# ---- scenario 2/3/5: callbacks

CB_JSON = ('{"device":"{dev}","request_id":"{id}","server":{"host":"127.0.0.1","port":9000},'
           '"protocol":"https","path":"/contact/{seq}"}')


def kamailio_rpc_body(uas_port):
    hdrs = ("From: <sip:beckon@bench.example>\\r\\nTo: <sip:{dev}@bench.example>\\r\\n"
            "Event: application-server-contact-me\\r\\n"
            "Subscription-State: terminated;reason=noresource\\r\\n"
            "Content-Type: application/application-server-contact-me\\r\\n")
    body = "request-id={id}\\r\\nserver=127.0.0.1:9000\\r\\nprotocol=https\\r\\npath=/contact/{seq}\\r\\n"
    return ('{"jsonrpc":"2.0","method":"tm.t_uac_wait","params":["NOTIFY",'
            f'"sip:{{dev}}@127.0.0.1:{uas_port}",".",".","{hdrs}","{body}"],"id":{{seq}}}}')


def callback_load(run, name, port, path, body, headers, expect_status, expect_body, devices,
                  rate, seconds, conns):
    argv = [run.binary("bench/beckon-httpload"), "--target", f"127.0.0.1:{port}",
            "--path", path, "--body", body, "--conns", str(conns), "--rate", str(rate),
            "--duration", str(seconds), "--devices", str(devices),
            "--dev-base", str(CB_USER_BASE), "--expect-status", str(expect_status)]
    for h in headers:
        argv += ["--header", h]
    if expect_body:
        argv += ["--expect-body", expect_body]
    return run_tool(run, name, argv)


def callback_series(run, label, srv, uas, port, path, body, headers, expect_status,
                    expect_body, devices, fanout=1):
    """Closed-loop maximum, then open-loop latency at fixed fractions of it."""
    a = run.args
    series = {}

    def one(rate, seconds):
        # NOTIFYs of the previous step may still be on their way (a queue behind an overload):
        # wait until the endpoint has seen none for 300 ms, at most 15 s, then reset.
        deadline = time.monotonic() + 15
        uas.interval()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if uas.interval()["requests"] == 0:
                break
        res, cpu, mem = measure(srv.pids(), lambda: callback_load(
            run, f"httpload-{label}", port, path, body, headers, expect_status, expect_body,
            devices, rate, seconds, a.cb_conns))
        ep = uas.interval()
        good = max(res["good"], 1)
        res["cpu_s"] = cpu
        res["cpu_us_per_op"] = {k: round(v * 1e6 / good, 1) for k, v in cpu.items()}
        res["cpu_us_per_op"]["total"] = round(sum(cpu.values()) * 1e6 / good, 1)
        res["memory"] = mem
        res["endpoint"] = ep
        res["notifies_per_request"] = round(ep["notifies"] / good, 3)
        res["failures"] = (res["sent"] - res["good"]) + max(0, res["good"] * fanout -
                                                            ep["notifies"])
        log(f"  {label:16} rate {'max' if rate == 0 else rate:>6}: {res['rate']:>7.0f}/s "
            f"failures {res['failures']} http p50 {res['latency']['p50_us']/1e3:.2f} "
            f"p99 {res['latency']['p99_us']/1e3:.2f} ms; send→NOTIFY p50 "
            f"{ep['http_send_to_notify']['p50_us']/1e3:.2f} p99 "
            f"{ep['http_send_to_notify']['p99_us']/1e3:.2f} ms; cpu/op "
            f"{res['cpu_us_per_op']['total']:.1f} us (other processes: {res['foreign_cpu_s']} s CPU)")
        return res

    mx = one(0, a.cb_max_s)
    series["max"] = mx
    top = mx["rate"]
    for frac in a.fractions:
        rate = int(top * frac)
        if rate >= 10:
            series[f"{int(frac * 100)}%"] = one(rate, a.cb_step_s)
    return series


def store_check(redis_port):
    c = RedisCli(redis_port)
    r = c("EVAL", STATUS_LUA, "0")
    c.close()
    return dict(zip(r[::2], r[1::2]))


def scenario_callback(run, fanout=1, soap=False):
    a = run.args
    devices = a.cb_devices
    out = {}
    srv = Beckon(run, gateway=True, tag="cb-beckon")
    uas = None
    try:
        uas = UAS(run, register_to=srv.sip_port, aors=devices, instances=fanout,
                  name="uas-beckon")
        if soap:
            body, headers, status, expect = soap_probe(run, srv.gw_port, srv.auth)
            if body is None:
                return {"skipped": headers}
            path = "/soap"
        else:
            body, headers, status, expect, path = (
                CB_JSON, ["Content-Type: application/json", srv.auth], 202, None, "/v1/callbacks")
        out["beckon"] = callback_series(run, "beckon" + ("-soap" if soap else ""), srv, uas,
                                        srv.gw_port, path, body, headers, status, expect,
                                        devices, fanout)
        out["beckon"]["stored_status"] = store_check(srv.redis.port)
    finally:
        if uas:
            uas.stop()
        srv.stop()
    if run.kamailio_ok() and fanout == 1 and not soap:
        log("callback: kamailio trigger (tm.t_uac_wait over xhttp)")
        uas = kam = None
        try:
            uas = UAS(run, name="uas-kamailio")
            kam = Kamailio(run, "trigger.cfg", tag="kamailio-trigger")
            out["kamailio"] = callback_series(
                run, "kamailio-trigger", kam, uas, kam.http_port, "/RPC",
                kamailio_rpc_body(uas.port), ["Content-Type: application/json"], 200, "[200,",
                devices)
        except Exception as e:
            log(f"  kamailio trigger: {e}")
            out["kamailio"] = {"error": str(e)}
        finally:
            if kam:
                kam.stop()
            if uas:
                uas.stop()
    return out


SOAP_TEMPLATE = os.path.join(HERE, "soap", "create-callback.xml")


def soap_probe(run, port, auth):
    """(body, headers, status, expect) when /soap answers our template, else (None, why)."""
    st, _ = http_status(port, "/soap", "POST", b"", {"Content-Type": "text/xml",
                                                    auth.split(": ", 1)[0]: auth.split(": ", 1)[1]})
    if st in (0, 404, 405):
        return None, f"api-gateway has no /soap yet (POST /soap answered {st})", 0, None
    if not os.path.exists(SOAP_TEMPLATE):
        return None, f"no {os.path.relpath(SOAP_TEMPLATE, ROOT)}", 0, None
    with open(SOAP_TEMPLATE) as f:
        body = f.read()
    headers = ["Content-Type: text/xml; charset=utf-8",
               'SOAPAction: "urn:beckon:soap:v1:RequestCallback"', auth]
    probe = (body.replace("{id}", "probe-1").replace("{dev}", str(CB_USER_BASE))
             .replace("{seq}", "0"))
    st, resp = http_status(port, "/soap", "POST", probe.encode(),
                           dict(h.split(": ", 1) for h in headers))
    if st != 200:
        return None, (f"SOAP probe with {os.path.relpath(SOAP_TEMPLATE, ROOT)} answered {st}: "
                      f"{resp[:200]!r} (template out of date with proto/soap?)"), 0, None
    return body, headers, 200, None


# ---- scenario 4: footprint

def per_item(name, m0, m1, n):
    """Bytes per binding/flow: the RSS delta of a one-process server, the PSS delta summed
    over Kamailio's processes (its shm is mapped by every worker; PSS counts it once)."""
    i = 1 if name.startswith("kamailio") else 0
    return round((m1[i] - m0[i]) * 1024 / n, 1)


def scenario_footprint(run):
    a = run.args
    out = {}
    # Redis bytes and sip-edge RSS per binding, UDP, a.fp_bindings distinct AORs.
    targets = [("beckon", lambda: Beckon(run, tag="fp-beckon"))]
    if run.kamailio_ok():
        targets += [("kamailio-mem", lambda: Kamailio(run, "registrar-mem.cfg",
                                                      tag="fp-kamailio-mem")),
                    ("kamailio-redis", lambda: Kamailio(
                        run, "registrar-redis.cfg", redis=Redis(run, "fp-kamailio-redis-redis"),
                        tag="fp-kamailio-redis"))]
    for name, start in targets:
        srv = start()
        try:
            srv_pid = srv.edge.pid if name == "beckon" else srv.proc.pid
            redis = srv.redis.port if name == "beckon" else (srv.redis.port if srv.redis
                                                              else None)
            m0 = memory_kb(srv_pid)
            r0 = redis_memory(redis) if redis else (0, 0)
            res = run_tool(run, f"footprint-{name}", [
                run.binary("bench/beckon-regload"), "--target", f"127.0.0.1:{srv.sip_port}",
                "--once", "--aors", str(a.fp_bindings), "--conns", str(a.udp_sockets),
                "--rate", str(a.fp_rate_slow if name == "kamailio-redis" else a.fp_rate),
                "--user-base", str(USER_BASE), "--domain", DOMAIN, "--drain-ms", "5000"])
            time.sleep(0.5)  # let write-behind (Kamailio) and lazy frees settle
            m1 = memory_kb(srv_pid)
            r1 = redis_memory(redis) if redis else (0, 0)
            n = max(res["ok"], 1)
            f = {"bindings": res["ok"], "asked": a.fp_bindings,
                 "rss_kb_before": m0[0], "rss_kb_after": m1[0],
                 "pss_kb_before": m0[1], "pss_kb_after": m1[1],
                 "server_bytes_per_binding": per_item(name, m0, m1, n)}
            if redis:
                f.update({"redis_used_before": r0[0], "redis_used_after": r1[0],
                          "redis_keys": r1[1],
                          "redis_bytes_per_binding": round((r1[0] - r0[0]) / n, 1)})
            out[f"{name}/udp"] = f
            log(f"  footprint {name} udp: {f}")
        finally:
            srv.stop()
    # Idle TCP flows: one connection, one REGISTER each, then held open.
    for name, start in targets[:2]:
        srv = start()
        try:
            srv_pid = srv.edge.pid if name == "beckon" else srv.proc.pid
            m0 = memory_kb(srv_pid)
            argv = pin(LOAD_CPU) + [run.binary("bench/beckon-regload"),
                    "--target", f"127.0.0.1:{srv.sip_port}", "--transport", "tcp", "--once",
                    "--aors", str(a.fp_flows), "--conns", str(a.fp_flows), "--rate", "5000",
                    "--user-base", str(USER_BASE + 5000000), "--domain", DOMAIN,
                    "--drain-ms", "5000", "--hold", "3"]
            errlog = open(os.path.join(run.logdir, f"footprint-tcp-{name}.log"), "w+")
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errlog,
                                 preexec_fn=_pdeathsig)

            def holding():
                errlog.seek(0)
                return '"holding"' in errlog.read() or p.poll() is not None
            wait_until(holding, "regload holding its TCP flows", timeout=120)
            time.sleep(1.0)
            m1 = memory_kb(srv_pid)
            outp, _ = p.communicate(timeout=30)
            errlog.close()
            res = json.loads(outp.decode().strip().splitlines()[-1])
            n = max(res["ok"], 1)
            f = {"flows": res["connected"], "registered": res["ok"], "conn_fail":
                 res["conn_fail"], "rss_kb_before": m0[0], "rss_kb_held": m1[0],
                 "pss_kb_before": m0[1], "pss_kb_held": m1[1],
                 "server_bytes_per_flow": per_item(name, m0, m1, n)}
            out[f"{name}/tcp"] = f
            log(f"  footprint {name} tcp: {f}")
        finally:
            srv.stop()
    # Idle TLS flows (beckon-regload has no TLS): bench/footprint.py's asyncio client, one
    # connection and one REGISTER each. Kamailio is not measured here (no TLS in its configs).
    import footprint  # late: it imports this module
    try:
        f = footprint.run_flows(run, "tls", a.fp_flows, USER_BASE + 6000000)
        out["beckon/tls"] = f
        log(f"  footprint beckon tls: {f}")
    except Exception as e:  # noqa: BLE001 (a figure missing must not lose the others)
        out["beckon/tls"] = {"skipped": f"error: {e}"}
    run.results["scenarios"]["footprint"] = out


# ---- profile

def profile_register(run):
    """perf record of sip-edge (and redis) under a fixed UDP REGISTER load."""
    if not shutil.which("perf"):
        run.results["profile"] = {"skipped": "perf not installed"}
        return
    a = run.args
    srv = Beckon(run, tag="profile-beckon")
    try:
        data = os.path.join(run.out, "perf-sip-edge.data")
        perf = Proc("perf-record", ["perf", "record", "-e", "cpu-clock", "-F", "2999", "-g",
                                    "-p", f"{srv.edge.pid},{srv.redis.proc.pid}", "-o", data],
                    run.logdir, cpu=LOAD_CPU)
        c = RedisCli(srv.redis.port)
        c("CONFIG", "RESETSTAT")
        c.close()
        time.sleep(0.5)
        rate = a.profile_rate
        res = run_tool(run, "profile-regload", [
            run.binary("bench/beckon-regload"), "--target", f"127.0.0.1:{srv.sip_port}",
            "--rate", str(rate), "--duration", str(a.step_s), "--aors", str(a.aors),
            "--conns", str(a.udp_sockets), "--user-base", str(USER_BASE), "--domain", DOMAIN])
        perf.p.send_signal(signal.SIGINT)
        perf.p.wait(timeout=30)
        perf.stop()
        c = RedisCli(srv.redis.port)
        cmdstats = {}
        for ln in c("INFO", "commandstats").splitlines():
            if ln.startswith("cmdstat_"):
                name, kv = ln[8:].split(":", 1)
                d = dict(x.split("=", 1) for x in kv.split(","))
                cmdstats[name] = {"calls": int(d["calls"]), "usec": int(d["usec"]),
                                  "usec_per_call": float(d["usec_per_call"])}
        c.close()
    finally:
        srv.stop()
    txt = os.path.join(run.out, "profile-sip-edge.txt")
    with open(txt, "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                        "--sort", "comm,dso,symbol", "--percent-limit", "0.5", "-g", "none"],
                       stdout=f, stderr=subprocess.DEVNULL, timeout=300)
    with open(os.path.join(run.out, "profile-sip-edge-dso.txt"), "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                        "--sort", "comm,dso", "-g", "none"],
                       stdout=f, stderr=subprocess.DEVNULL, timeout=300)
    with open(os.path.join(run.out, "profile-sip-edge-callers.txt"), "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--stdio", "--children",
                        "--sort", "symbol", "--percent-limit", "3", "-g", "caller,0.5,callee",
                        "--max-stack", "12"],
                       stdout=f, stderr=subprocess.DEVNULL, timeout=300)
    ok = max(res["ok"], 1)
    run.results["profile"] = {
        "rate": rate, "regload": {k: res[k] for k in ("ok", "loss_pct", "latency")},
        "report": os.path.relpath(txt, run.out), "redis_commandstats": cmdstats,
        # Commands run inside a script are counted on their own AND inside the script's time.
        "redis_script_usec_per_register": round(sum(
            v["usec"] for k, v in cmdstats.items() if k in ("eval", "evalsha")) / ok, 1),
        "redis_scripts_per_register": round(sum(
            v["calls"] for k, v in cmdstats.items() if k in ("eval", "evalsha")) / ok, 2),
        "redis_commands_per_register": round(sum(
            v["calls"] for k, v in cmdstats.items() if k not in ("eval", "evalsha")) / ok, 2)}
    log(f"profile written to {txt}")


# ------------------------------------------------------------------ report

def fmt_rate(x):
    return f"{x:,.0f}" if x else "0"


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def memtext(name, f, after):
    k = "pss" if name.startswith("kamailio") else "rss"
    return (f"{k.upper()} {f[k + '_kb_before']/1024:.1f} → {f[k + '_kb_' + after]/1024:.1f} MB")


def summarize(run):
    r = run.results
    sc = r["scenarios"]
    summary = {}
    lines = [f"beckon benchmark {r['started']} ({r['mode']}) on {r['machine']['nproc']} x "
             f"{r['machine']['cpu_model']}, git {r['machine']['git']}", ""]
    reg = sc.get("register", {})
    if reg:
        lines += ["### REGISTER: highest rate with < 0.1 % lost/failed/late (> 500 ms)", "",
                  "| server | transport | rate/s | p50 ms | p99 ms | p99 new / refresh ms "
                  "| CPU µs/REGISTER (per process) | RSS MB | vs Kamailio mem | vs Kamailio db_redis |",
                  "|---|---|---:|---:|---:|---|---|---:|---:|---:|"]
        for key, v in reg.items():
            name, tp = key.split("/")
            if "error" in v:
                lines.append(f"| {name} | {tp} | error: {v['error'][:60]} | | | | | | | |")
                continue
            b = v["best"]
            km = reg.get(f"kamailio-mem/{tp}", {}).get("max_rate")
            kr = reg.get(f"kamailio-redis/{tp}", {}).get("max_rate")
            if b:
                per = ", ".join(f"{k} {u}" for k, u in b["cpu_us_per_op"].items()
                                if k != "total")
                rss = max(m["rss_kb"] for m in b["memory"].values()) / 1024
                if name.startswith("kamailio"):
                    rss = b["memory"]["kamailio"]["pss_kb"] / 1024
                else:
                    rss = b["memory"]["sip-edge"]["rss_kb"] / 1024
                lines.append(
                    f"| {name} | {tp} | {fmt_rate(v['max_rate'])} | "
                    f"{b['latency']['p50_us']/1e3:.2f} | {b['latency']['p99_us']/1e3:.2f} | "
                    f"{b['latency_new']['p99_us']/1e3:.2f} / "
                    f"{b['latency_refresh']['p99_us']/1e3:.2f} ({b['ok_new']:,} / "
                    f"{b['ok_refresh']:,}) | {b['cpu_us_per_op']['total']} ({per}) | {rss:.1f} | "
                    f"{ratio(v['max_rate'], km) if name == 'beckon' else ''} | "
                    f"{ratio(v['max_rate'], kr) if name == 'beckon' else ''} |")
            else:
                lines.append(f"| {name} | {tp} | < {fmt_rate(run.args.min_rate)} | | | | | | | |")
            summary[f"register_{name}_{tp}"] = v["max_rate"]
        lines.append("")
    ra = sc.get("register-auth")
    if ra:
        lines += [f"### REGISTER with digest authentication ({ra['transport']}, one run)", "",
                  "| variant | highest rate/s (< 0.1 % bad) | vs no auth | p99 new / refresh ms "
                  f"| CPU µs/REGISTER at {ra['fixed_rate']:,}/s: sip-edge, Redis, total "
                  "| vs no auth (sip-edge, Redis) | CPU-bound capacity vs no auth |",
                  "|---|---:|---:|---|---|---|---:|"]
        for v in AUTH_VARIANTS:
            srch = ra["search"].get(v, {})
            b = srch.get("best")
            c = ra["cpu_us_per_register"].get(v, {})
            cr = ra["cpu_ratio"].get(v, {})
            lat = (f"{b['latency_new']['p99_us']/1e3:.2f} / {b['latency_refresh']['p99_us']/1e3:.2f}"
                   if b else "")
            lines.append(
                f"| {v} | {fmt_rate(srch.get('max_rate', 0)) if 'error' not in srch else 'error'} "
                f"| {ra['rate_ratio'].get(v, 1.0) if v != 'beckon' else ''} | {lat} "
                f"| {c.get('sip-edge', '')}, {c.get('redis', '')}, {c.get('total', '')} "
                f"| {cr.get('sip-edge', '')}, {cr.get('redis', '')} "
                f"| {ra.get('capacity_ratio', {}).get(v, '')} |")
            summary[f"register_auth_{v}"] = srch.get("max_rate")
        lines += ["", "beckon-auth: every REGISTER is a 401 challenge and the authenticated "
                  "REGISTER (both counted as one); beckon-auth-reuse: each AOR's first REGISTER is "
                  "challenged, its refreshes reuse the nonce with the next nonce-count.", ""]
    for key, title in (("callback", "Callback end to end (POST → Redis → NOTIFY → 200 → "
                        "status stored)"), ("soap", "Callback over SOAP"),
                       ("fanout", "Fan-out: one callback to a number with 3 devices")):
        cb = sc.get(key)
        if not cb:
            continue
        lines += [f"### {title}", ""]
        if "skipped" in cb:
            lines += [f"skipped: {cb['skipped']}", ""]
            continue
        lines += ["| server | load | requests/s | failures | HTTP p50 / p99 ms | send → NOTIFY "
                  "p50 / p99 ms | NOTIFYs/request | CPU µs/request (per process) |",
                  "|---|---|---:|---:|---|---|---:|---|"]
        for srv, series in cb.items():
            if "error" in series:
                lines.append(f"| {srv} | error: {series['error'][:80]} | | | | | | |")
                continue
            for load, s in series.items():
                if load == "stored_status":
                    continue
                ep = s["endpoint"]["http_send_to_notify"]
                per = ", ".join(f"{k} {u}" for k, u in s["cpu_us_per_op"].items()
                                if k != "total")
                lines.append(
                    f"| {srv} | {'closed loop, ' + str(s['conns']) + ' conns' if load == 'max' else load + ' of max'} "
                    f"| {fmt_rate(s['rate'])} | {s['failures']} | "
                    f"{s['latency']['p50_us']/1e3:.2f} / {s['latency']['p99_us']/1e3:.2f} | "
                    f"{ep['p50_us']/1e3:.2f} / {ep['p99_us']/1e3:.2f} | "
                    f"{s['notifies_per_request']} | {s['cpu_us_per_op']['total']} ({per}) |")
            if "stored_status" in series:
                lines.append(f"| {srv} | statuses in Redis afterwards | "
                             f"{json.dumps(series['stored_status'])} | | | | | |")
        be = cb.get("beckon", {}).get("max", {}).get("rate")
        ka = cb.get("kamailio", {}).get("max", {}).get("rate")
        if be and ka:
            lines += ["", f"beckon / Kamailio trigger rate: **{ratio(be, ka)}×**"]
            summary[f"{key}_ratio_vs_kamailio"] = ratio(be, ka)
        half = cb.get("beckon", {}).get("50%")
        if half:
            summary[f"{key}_p99_send_to_notify_ms_at_half"] = round(
                half["endpoint"]["http_send_to_notify"]["p99_us"] / 1e3, 3)
        lines.append("")
    fp = sc.get("footprint")
    if fp:
        lines += ["### Footprint", "", "| what | server | figure |", "|---|---|---|"]
        for key, f in fp.items():
            if "skipped" in f:
                lines.append(f"| {key} | | skipped: {f['skipped']} |")
            elif key.endswith("/udp"):
                name = key.split("/")[0]
                if "redis_bytes_per_binding" in f:
                    lines.append(f"| Redis bytes per binding ({f['bindings']:,} bindings, "
                                 f"{f['redis_keys']:,} keys) | {name} | "
                                 f"{f['redis_bytes_per_binding']:.0f} B |")
                lines.append(f"| server memory per idle UDP binding | {name} | "
                             f"{f['server_bytes_per_binding']:.0f} B ({memtext(name, f, 'after')}) |")
            elif key.endswith("/tls"):
                lines.append(f"| server memory per idle TLS flow ({f['flows']:,} flows, "
                             f"{f['registered']:,} registered) | beckon | "
                             f"{f['bytes_per_flow']:.0f} B (RSS {f['rss_kb_before'] / 1024:.1f}"
                             f" → {f['rss_kb_held'] / 1024:.1f} MB) |")
            else:
                name = key.split("/")[0]
                lines.append(f"| server memory per idle TCP flow ({f['flows']:,} flows, "
                             f"{f['registered']:,} registered) | {name} | "
                             f"{f['server_bytes_per_flow']:.0f} B ({memtext(name, f, 'held')}) |")
        lines.append("")
        b = fp.get("beckon/udp", {})
        summary["redis_bytes_per_binding"] = b.get("redis_bytes_per_binding")
        summary["tcp_bytes_per_flow"] = fp.get("beckon/tcp", {}).get("server_bytes_per_flow")
        summary["tls_bytes_per_flow"] = fp.get("beckon/tls", {}).get("bytes_per_flow")
    prof = r.get("profile")
    if prof and "redis_commandstats" in prof:
        lines += [f"### Profile: UDP REGISTER at {prof['rate']:,}/s", "",
                  f"Redis per REGISTER: {prof['redis_scripts_per_register']} script calls "
                  f"taking {prof['redis_script_usec_per_register']} µs, running "
                  f"{prof['redis_commands_per_register']} commands (INFO commandstats; "
                  f"commands inside scripts are listed too); perf report: {prof['report']}", "",
                  "| Redis command | calls | µs per call |", "|---|---:|---:|"]
        for name, v in sorted(prof["redis_commandstats"].items(), key=lambda kv: -kv[1]["usec"]):
            lines.append(f"| {name} | {v['calls']:,} | {v['usec_per_call']} |")
        lines.append("")
    steps = [st for v in sc.get("register", {}).values() for st in v.get("steps", [])]
    steps += [st for v in sc.get("register-auth", {}).get("search", {}).values()
              for st in v.get("steps", [])]
    steps += [st for key in ("callback", "fanout", "soap") for srv in sc.get(key, {}).values()
              if isinstance(srv, dict) for k, st in srv.items()
              if isinstance(st, dict) and "foreign_cpu_s" in st]
    if steps:
        foreign = sum(st["foreign_cpu_s"] for st in steps)
        wall = sum(st["wall_s"] for st in steps)
        ncpu = os.cpu_count() or 1
        summary["foreign_cpu_share"] = round(foreign / (ncpu * wall), 3) if wall else None
        lines.append(f"Noise: processes other than the benchmark's used {foreign:.1f} s of CPU "
                     f"during {wall:.0f} s of measured steps ({100 * foreign / (ncpu * wall):.1f} % "
                     f"of {ncpu} CPUs); figures from a busy machine are lower and noisier.")
        lines.append("")
    r["summary"] = summary
    r["elapsed_s"] = round(time.monotonic() - run.t0, 1)
    lines.append(f"whole run: {r['elapsed_s']:.0f} s; figures: results.json")
    return "\n".join(lines) + "\n"


def chart(run):
    """chart.png: REGISTER p99 latency against achieved rate, and callback latency against
    rate. gnuplot from Debian (gnuplot-nox)."""
    if not shutil.which("gnuplot"):
        return None
    sc = run.results["scenarios"]
    files, plots1, plots2 = [], [], []
    for key, v in sc.get("register", {}).items():
        if "steps" not in v:
            continue
        fn = os.path.join(run.out, f"reg-{key.replace('/', '-')}.dat")
        with open(fn, "w") as f:
            for s in sorted(v["steps"], key=lambda s: s["target_rate"]):
                if s["ok"]:
                    f.write(f"{s['target_rate']} {max(s['latency']['p99_us'], 1)/1e3} "
                            f"{s['bad_pct']}\n")
        plots1.append(f"'{fn}' using 1:2 with linespoints title '{key}'")
        files.append(fn)
    for key, v in sc.get("callback", {}).items():
        if "max" not in v:
            continue
        fn = os.path.join(run.out, f"cb-{key}.dat")
        with open(fn, "w") as f:
            for load, s in sorted(((k, s) for k, s in v.items() if k != "stored_status"),
                                  key=lambda kv: kv[1]["rate"]):
                ep = s["endpoint"]["http_send_to_notify"]
                f.write(f"{s['rate']} {max(s['latency']['p99_us'], 1)/1e3} "
                        f"{max(ep['p99_us'], 1)/1e3}\n")
        plots2.append(f"'{fn}' using 1:2 with linespoints title '{key}: HTTP p99'")
        plots2.append(f"'{fn}' using 1:3 with linespoints title '{key}: send→NOTIFY p99'")
        files.append(fn)
    if not plots1 and not plots2:
        return None
    png = os.path.join(run.out, "chart.png")
    gp = [f"set terminal pngcairo size 1200,500" if pngcairo() else "set terminal png size 1200,500",
          f"set output '{png}'", "set multiplot layout 1,2", "set logscale y", "set grid",
          "set key below", "set ylabel 'p99 latency, ms'"]
    if plots1:
        gp += ["set title 'REGISTER: rate vs p99 (each step a fresh server)'",
               "set xlabel 'offered REGISTER/s'", "plot " + ", ".join(plots1)]
    if plots2:
        gp += ["set title 'Callbacks: rate vs p99'", "set xlabel 'requests/s'",
               "plot " + ", ".join(plots2)]
    gp.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(gp), text=True, capture_output=True)
    if r.returncode != 0:
        log(f"gnuplot: {r.stderr.strip()[:300]}")
        return None
    return png


def pngcairo():
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (r.stdout + r.stderr)


# ------------------------------------------------------------------ smoke

def smoke(run):
    """Seconds long: every tool against the real stack once. Fails on breakage, never on
    numbers."""
    problems = []
    srv = Beckon(run, gateway=True, tag="smoke")
    uas = None
    try:
        for tp in ("udp", "tcp"):
            res = run_tool(run, f"smoke-regload-{tp}", [
                run.binary("bench/beckon-regload"), "--target", f"127.0.0.1:{srv.sip_port}",
                "--transport", tp, "--rate", "500", "--duration", "1", "--aors", "300",
                "--conns", "4", "--drain-ms", "5000"])
            log(f"smoke regload {tp}: sent {res['sent']} ok {res['ok']} "
                f"(new {res['ok_new']}, refresh {res['ok_refresh']}) codes {res['codes']}")
            if res["ok"] == 0 or res["ok_new"] == 0 or res["ok_refresh"] == 0:
                problems.append(f"regload {tp}: {res}")
        # Digest auth: every REGISTER challenged, then refreshes reusing the nonce.
        asrv = Beckon(run, tag="smoke-auth", auth_users=300)
        try:
            for extra in ([], ["--auth-reuse"]):
                res = run_tool(run, "smoke-regload-auth", [
                    run.binary("bench/beckon-regload"), "--target",
                    f"127.0.0.1:{asrv.sip_port}", "--rate", "300", "--duration", "1",
                    "--aors", "150", "--user-base", str(USER_BASE), "--conns", "4",
                    "--drain-ms", "5000", "--auth-password", AUTH_PASSWORD] + extra)
                log(f"smoke regload auth {res['auth']}: sent {res['sent']} ok {res['ok']} "
                    f"challenged {res['challenged']} rejected {res['auth_rejected']}")
                want = 150 if extra else res["sent"]
                if res["ok"] == 0 or res["challenged"] != want or res["auth_rejected"]:
                    problems.append(f"regload auth {extra}: {res}")
        finally:
            asrv.stop()
        uas = UAS(run, register_to=srv.sip_port, aors=20, name="smoke-uas")
        res = callback_load(run, "smoke-httpload", srv.gw_port, "/v1/callbacks", CB_JSON,
                            ["Content-Type: application/json", srv.auth], 202, None, 20, 0, 1,
                            2)
        ep = uas.interval()
        log(f"smoke callbacks: {res['good']}/{res['sent']} accepted, {ep['notifies']} "
            f"NOTIFYs answered, {ep['timed']} timed")
        if res["good"] == 0 or ep["notifies"] == 0 or ep["timed"] == 0:
            problems.append(f"callbacks: {res} / {ep}")
        st = store_check(srv.redis.port)
        log(f"smoke statuses in Redis: {st}")
        if not st:
            problems.append("no beckon:req:* status in Redis")
    finally:
        if uas:
            uas.stop()
        srv.stop()
    return problems


# ------------------------------------------------------------------ main

def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build-release"))
    p.add_argument("--out", help="results directory (default bench/results/<timestamp>)")
    p.add_argument("--quick", action="store_true", help="short steps, fewer AORs (development)")
    p.add_argument("--smoke", action="store_true", help="seconds-long check that it all works")
    p.add_argument("--only",
                   default="register,register-auth,callback,soap,footprint,fanout,profile",
                   help="comma-separated scenarios")
    p.add_argument("--transports", default="udp,tcp")
    p.add_argument("--no-kamailio", action="store_true")
    p.add_argument("--log-level", default="warn",
                   help="services' log level during the runs (info logs every REGISTER)")
    a = p.parse_args(argv)
    a.transports = a.transports.split(",")
    a.only = set(a.only.split(","))
    a.mode = "smoke" if a.smoke else "quick" if a.quick else "full"
    q = a.quick
    a.step_s = 2 if q else 4
    # Each REGISTER step sends rate × step_s; with 20k AORs every step past the first 20k
    # REGISTERs is refreshes, so both kinds are measured (reported apart). Footprint uses 100k.
    a.aors = 10000 if q else 20000
    a.start_rate = 5000
    a.min_rate = 500
    a.max_rate = 320000
    a.bisect = 2 if q else 3
    a.tcp_conns = 200
    a.udp_sockets = 200
    a.cb_devices = 200 if q else 1000
    a.cb_conns = 8
    a.cb_max_s = 3 if q else 5
    a.cb_step_s = 2 if q else 4
    a.fractions = [0.5] if q else [0.25, 0.5, 0.75]
    a.fp_bindings = 20000 if q else 100000
    a.fp_flows = 2000 if q else 10000
    a.fp_rate = 5000
    a.fp_rate_slow = 2000  # Kamailio with db_redis loses REGISTERs at 5000/s
    a.profile_rate = 5000 if q else 10000
    a.auth_cpu_rate = 3000  # register-auth: CPU per REGISTER of each variant at this rate
    a.auth_rounds = 1 if q else 2
    a.auth_aors = 2000 if q else 4000  # the first of step_s × rate REGISTERs are new, then refreshes
    return a


def main(argv=None):
    global SERVER_CPU, LOAD_CPU
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.smoke or (os.cpu_count() or 1) < 2:
        SERVER_CPU = LOAD_CPU = None  # share the machine with whatever else runs
    if args.smoke and not args.out:
        args.out = tempfile.mkdtemp(prefix="beckon-bench-smoke-")
    run = Run(args)

    def on_signal(signum, frame):
        kill_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if args.smoke:
            problems = smoke(run)
            for pr in problems:
                log(f"SMOKE FAILURE: {pr} (logs in {run.logdir})")
            if not problems:
                log("smoke: ok")
                shutil.rmtree(run.out, ignore_errors=True)
            return 1 if problems else 0
        log(f"results in {run.out}")
        if "register" in args.only:
            scenario_register(run)
        if "register-auth" in args.only:
            scenario_register_auth(run)
        if "callback" in args.only:
            log("callback: beckon")
            run.results["scenarios"]["callback"] = scenario_callback(run)
        if "soap" in args.only:
            log("soap: beckon")
            try:
                run.results["scenarios"]["soap"] = scenario_callback(run, soap=True)
            except Exception as e:
                run.results["scenarios"]["soap"] = {"skipped": f"error: {e}"}
        if "footprint" in args.only:
            log("footprint")
            scenario_footprint(run)
        if "fanout" in args.only:
            log("fanout: beckon, 3 devices per number")
            run.results["scenarios"]["fanout"] = scenario_callback(run, fanout=3)
        if "profile" in args.only:
            log("profile: perf record of sip-edge under UDP REGISTER load")
            profile_register(run)
        table = summarize(run)
        png = chart(run)
        with open(os.path.join(run.out, "results.json"), "w") as f:
            json.dump(run.results, f, indent=1)
        with open(os.path.join(run.out, "table.md"), "w") as f:
            f.write(table)
        sys.stdout.write("\n" + table)
        if png:
            sys.stdout.write(f"chart: {png}\n")
        return 0
    finally:
        kill_all()
        shutil.rmtree(run.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
