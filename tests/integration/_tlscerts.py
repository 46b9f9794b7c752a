# SPDX-License-Identifier: Apache-2.0
"""Throw-away PKI for the TLS tests, made with the openssl CLI in the test's temp dir (keys
never leave it): a CA, certificates it signs (CN and IP subjectAltName 127.0.0.1 for servers,
since sofia-sip 1.12.11 matches an IP literal against the CN), and a second, unrelated CA to
play the attacker. Also an HTTPS variant of the harness's app server, and a sip-edge with a
tls: transport on a port of its own."""
import atexit
import os
import ssl
import subprocess
import tempfile

import beckon
from beckon import check, fail


def _scope_openssl_leaks():
    """sofia-sip 1.12.11's tls_connect() (the client side: contact-agent) decodes the server
    certificate's subjectAltName (X509V3_EXT_d2i, i2v_GENERAL_NAMES) and never frees it:
    ~220 B per TLS connect, not ours to fix. (The ~48 kB SSL per closed connection it also
    leaked on both sides is freed by common/src/cm_tlsfree.c.) LeakSanitizer's fast unwinder
    stops inside libcrypto (no frame pointers), so for the processes of the TLS tests the
    full unwinder is used and exactly that caller is suppressed (LSAN_OPTIONS takes one file:
    the common suppressions are copied into it)."""
    opts = os.environ.get("LSAN_OPTIONS")
    if not opts and not os.environ.get("ASAN_OPTIONS"):
        return
    parts = [p for p in (opts or "").split(":") if p]
    base = ""
    for p in parts:
        if p.startswith("suppressions="):
            try:
                with open(p.split("=", 1)[1]) as f:
                    base = f.read()
            except OSError:
                pass
    fd, path = tempfile.mkstemp(prefix="beckon-lsan-tls-", suffix=".supp")
    with os.fdopen(fd, "w") as f:
        f.write(base + "\n# sofia-sip 1.12.11 tls_connect: subjectAltName (see _tlscerts.py)\n"
                "leak:tls_connect\n")
    atexit.register(os.unlink, path)  # after the harness has stopped every process
    parts = [p for p in parts if not p.startswith("suppressions=")] + [f"suppressions={path}"]
    os.environ["LSAN_OPTIONS"] = ":".join(parts)
    asan = [p for p in os.environ.get("ASAN_OPTIONS", "").split(":")
            if p and not p.startswith("fast_unwind_on_malloc=")]
    os.environ["ASAN_OPTIONS"] = ":".join(asan + ["fast_unwind_on_malloc=0"])


_scope_openssl_leaks()


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"openssl {' '.join(args)}: {p.stderr}")


class CA:
    """A certificate authority in dir/<name>-ca.{key,pem}; issue() makes leaf certificates."""

    def __init__(self, tmp, name):
        self.tmp = tmp
        self.name = name
        self.key = os.path.join(tmp, f"{name}-ca.key")
        self.pem = os.path.join(tmp, f"{name}-ca.pem")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", self.key, "-out", self.pem, "-days", "2",
                 "-subj", f"/CN=beckon test CA {name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=tmp)

    def issue(self, leaf, cn="127.0.0.1", san="IP:127.0.0.1"):
        """Returns (cert_path, key_path) of a new leaf certificate signed by this CA."""
        key = os.path.join(self.tmp, f"{leaf}.key")
        csr = os.path.join(self.tmp, f"{leaf}.csr")
        pem = os.path.join(self.tmp, f"{leaf}.pem")
        ext = os.path.join(self.tmp, f"{leaf}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={cn}", cwd=self.tmp)
        _openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self.key,
                 "-CAcreateserial", "-out", pem, "-days", "2", "-extfile", ext, cwd=self.tmp)
        return pem, key


class TlsEdge:
    """sip-edge listening on udp:P and tls:Q (TLS needs a port of its own: TCP shares P)."""

    def __init__(self, env, redis, cert, key, ca=None, verify_client=False, edge_id="edge-a"):
        self.env = env
        self.edge_id = edge_id
        self.sip_port = beckon.free_port(udp_too=True)
        self.tls_port = beckon.free_port()
        self.http_port = beckon.free_port()
        argv = [env.binary("sip-edge"), "--sip-listen",
                f"udp:127.0.0.1:{self.sip_port},tls:127.0.0.1:{self.tls_port}",
                "--http-listen", f"127.0.0.1:{self.http_port}", "--redis-url", redis.url,
                "--edge-id", edge_id, "--tls-cert", cert, "--tls-key", key,
                "--auth", "false"]  # as beckon.SipEdge: test_digest_auth.py covers auth
        if ca:
            argv += ["--tls-ca", ca]
        if verify_client:
            argv += ["--tls-verify-client", "true"]
        self.proc = env.spawn("sip-edge", argv)

        def ready():
            if not self.proc.alive():
                fail(f"sip-edge exited (rc={self.proc.p.returncode})\n{self.proc.tail()}")
            return beckon.http_status(self.http_port, "/readyz") == 200
        beckon.wait_for(ready, "sip-edge GET /readyz == 200")
        self.proc.wait_log(f"listening sip=tls:127.0.0.1:{self.tls_port}")

    def registrar(self, transport="tls"):
        if transport == "udp":
            return f"sip:127.0.0.1:{self.sip_port}"
        return f"sips:127.0.0.1:{self.tls_port}"


def https_app(env, cert, key):
    """The harness's recording app server, served over TLS with cert/key."""
    app = env.app_server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    app.httpd.socket = ctx.wrap_socket(app.httpd.socket, server_side=True)
    return app


def bindings(redis, user):
    """The bindings in Redis whose Contact has user as user part."""
    c = redis.client()
    try:
        out = []
        for k in c.scan("beckon:binding:*"):
            b = c.hgetall(k)
            if f":{user}@" in b.get("uri", ""):
                out.append(b)
        return out
    finally:
        c.close()


def check_transport(redis, user, want):
    bs = bindings(redis, user)
    check(bs and all(b.get("transport") == want for b in bs), f"bindings of {user}: {bs}")
