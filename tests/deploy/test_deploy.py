#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks of deploy/ that need no container engine and no cluster (suite 'deploy').

    test_deploy.py compose     docker compose config (or docker-compose), and compose.yaml's
                               services and settings == scripts/cluster's topology
    test_deploy.py k8s         kubectl kustomize of every branch overlay; every object
                               validated against the Kubernetes API schemas (npm
                               kubernetes-models, ajv); probes, preStop, PDBs, HPA, namespaces
    test_deploy.py haproxy     haproxy -c on deploy/haproxy/haproxy.cfg
    test_deploy.py kamailio    kamailio -c on deploy/kamailio/kamailio.cfg
    test_deploy.py containers  each Containerfile: multi-stage Debian 12 -> 12-slim, non-root
                               USER, HEALTHCHECK, ENTRYPOINT, COPY sources exist, and the runtime
                               packages provide every shared library the built binary needs

Each exits 77 (meson: skipped) when the tool it needs is missing, saying which; 0 when the
check passed; 1 with the reason otherwise. The npm packages are pinned and cached in
$XDG_CACHE_HOME/beckon (BECKON_NO_NPM=1 skips the schema part).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.environ.get("BECKON_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("BECKON_BUILD_DIR") or os.path.join(ROOT, "build")
DEPLOY = os.path.join(ROOT, "deploy")
SKIP = 77
NPM_PACKAGES = ["kubernetes-models@4.5.1", "js-yaml@4.1.0"]
SERVICES = ("sip-edge", "api-gateway", "contact-agent")


class Skip(Exception):
    pass


class Failed(Exception):
    pass


def need(tool):
    path = shutil.which(tool)
    if not path:
        raise Skip(f"{tool} not installed")
    return path


def run(argv, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def load_yaml_all(text):
    try:
        import yaml
    except ImportError:
        raise Skip("python3-yaml not installed") from None
    return [d for d in yaml.safe_load_all(text) if d]


# ---------------------------------------------------------------- compose

def check_compose():
    f = os.path.join(DEPLOY, "compose", "compose.yaml")
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        argv = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        argv = ["docker-compose"]
    else:
        raise Skip("neither `docker compose` nor docker-compose installed "
                   "(apt-get install docker-compose)")
    for profile in ([], ["--profile", "sip-front"]):
        p = run(argv + ["-f", f] + profile + ["config", "-q"])
        check(p.returncode == 0, f"{' '.join(argv)} config {profile}: {p.stderr}{p.stdout}")
    p = run(argv + ["-f", f, "--profile", "sip-front", "config"])
    check(p.returncode == 0, p.stderr)
    compose = load_yaml_all(p.stdout)[0]["services"]
    p = run([sys.executable, os.path.join(ROOT, "scripts", "cluster"), "topology"])
    check(p.returncode == 0, f"scripts/cluster topology: {p.stderr}")
    topo = json.loads(p.stdout)
    check(set(compose) == set(topo),
          f"compose services {sorted(compose)} != scripts/cluster nodes {sorted(topo)}")
    for name, node in topo.items():
        if "env" not in node:
            continue
        env = {k: str(v) for k, v in (compose[name].get("environment") or {}).items()}
        check(env == node["env"], f"{name}: compose environment {env} != scripts/cluster "
              f"{node['env']}")
    # Every file compose mounts or builds from exists.
    for name, svc in compose.items():
        b = svc.get("build")
        if b:
            df = os.path.join(b["context"], b.get("dockerfile", "Dockerfile"))
            check(os.path.exists(df), f"{name}: build file {df} missing")
        for v in svc.get("volumes") or []:
            src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
            if src and src.startswith("/"):
                check(os.path.exists(src), f"{name}: mounted file {src} missing")
    print(f"compose: {len(compose)} services match scripts/cluster")


# ---------------------------------------------------------------- kubernetes

def npm_modules():
    if os.environ.get("BECKON_NO_NPM"):
        raise Skip("BECKON_NO_NPM set")
    need("node")
    need("npm")
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or
                         os.path.join(os.path.expanduser("~"), ".cache"), "beckon",
                         "k8s-validate-" + "-".join(p.replace("@", "") for p in NPM_PACKAGES))
    mods = os.path.join(cache, "node_modules")
    if not os.path.isdir(os.path.join(mods, "kubernetes-models")):
        os.makedirs(cache, exist_ok=True)
        p = run(["npm", "install", "--prefix", cache, "--no-audit", "--no-fund",
                 "--no-save", "--silent"] + NPM_PACKAGES, timeout=300)
        if p.returncode != 0:
            raise Skip(f"npm install {' '.join(NPM_PACKAGES)} failed (offline?): "
                       f"{p.stderr[-500:]}")
    return mods


def containers_of(obj):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", [])


def check_k8s():
    need("kubectl")
    branches_dir = os.path.join(DEPLOY, "k8s", "branches")
    branches = sorted(os.listdir(branches_dir))
    check(len(branches) >= 2, f"want an overlay per branch network, found {branches}")
    mods = None
    try:
        mods = npm_modules()
    except Skip as e:
        print(f"k8s: schema validation skipped: {e}")
    namespaces = set()
    for br in branches:
        p = run(["kubectl", "kustomize", os.path.join(branches_dir, br)])
        check(p.returncode == 0, f"kubectl kustomize {br}: {p.stderr}")
        if mods:
            v = run(["node", os.path.join(ROOT, "tests", "deploy", "k8s-validate.js")],
                    input=p.stdout, env=dict(os.environ, NODE_PATH=mods))
            check(v.returncode == 0, f"{br}: schema validation failed:\n{v.stdout}{v.stderr}")
        docs = load_yaml_all(p.stdout)
        ns = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
        check(len(ns) == 1, f"{br}: want one Namespace, got {ns}")
        namespaces.add(ns[0])
        for d in docs:
            if d["kind"] != "Namespace":
                check(d["metadata"].get("namespace") == ns[0],
                      f"{br}: {d['kind']}/{d['metadata']['name']} not in namespace {ns[0]}")
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        work = dict(by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {}))
        for svc in ("sip-edge", "api-gateway"):
            check(svc in work, f"{br}: no workload {svc}")
            c = containers_of(work[svc])[0]
            check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
                  f"{br}: {svc} liveness probe is not GET /healthz")
            check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
                  f"{br}: {svc} readiness probe is not GET /readyz")
            check("preStop" in c.get("lifecycle", {}), f"{br}: {svc} has no preStop drain")
            check(work[svc]["spec"]["template"]["spec"].get("securityContext", {})
                  .get("runAsNonRoot"), f"{br}: {svc} may run as root")
        # Every workload is covered by a PodDisruptionBudget.
        pdb_sel = [p["spec"]["selector"]["matchLabels"] for p in
                   by_kind.get("PodDisruptionBudget", {}).values()]
        for name, w in work.items():
            labels = w["spec"]["template"]["metadata"]["labels"]
            check(any(all(labels.get(k) == v for k, v in s.items()) for s in pdb_sel),
                  f"{br}: no PodDisruptionBudget selects {name}")
        hpa = by_kind.get("HorizontalPodAutoscaler", {})
        check(any(h["spec"]["scaleTargetRef"]["name"] == "api-gateway" and
                  h["spec"]["metrics"][0]["type"] == "Pods" for h in hpa.values()),
              f"{br}: no HPA on a per-pod request-rate metric for api-gateway")
        # Config the workloads read exists.
        cms = by_kind.get("ConfigMap", {})
        for w in work.values():
            for c in containers_of(w):
                for ef in c.get("envFrom", []):
                    ref = ef.get("configMapRef", {}).get("name")
                    check(ref in cms, f"{br}: {w['metadata']['name']} reads missing "
                          f"ConfigMap {ref}")
    check(len(namespaces) == len(branches), f"branches share a namespace: {namespaces}")
    print(f"k8s: {len(branches)} branch overlays render and validate"
          + ("" if mods else " (schemas not checked)"))


# ---------------------------------------------------------------- haproxy, kamailio

def check_haproxy():
    need("haproxy")
    p = run(["haproxy", "-c", "-f", os.path.join(DEPLOY, "haproxy", "haproxy.cfg")])
    check(p.returncode == 0, f"haproxy -c: {p.stdout}{p.stderr}")
    print("haproxy: configuration valid")


def check_kamailio():
    need("kamailio")
    with tempfile.TemporaryDirectory() as d:
        p = run(["kamailio", "-c", "-f", os.path.join(DEPLOY, "kamailio", "kamailio.cfg"),
                 "-A", 'DISPATCHER_LIST="%s"' % os.path.join(DEPLOY, "kamailio",
                                                            "dispatcher.list")], cwd=d)
    check(p.returncode == 0 and "config file ok" in p.stdout + p.stderr,
          f"kamailio -c: {p.stdout[-2000:]}{p.stderr[-2000:]}")
    print("kamailio: configuration valid")


# ---------------------------------------------------------------- containers

def needed_packages(binary):
    """Debian packages providing each DT_NEEDED library of binary (not transitively)."""
    need("readelf")
    need("dpkg")
    p = run(["readelf", "-d", binary])
    libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", p.stdout)
    cache = run(["ldconfig", "-p"]).stdout
    pkgs = {}
    for lib in libs:
        m = re.search(r"^\s*" + re.escape(lib) + r" \(libc6,x86-64[^)]*\) => (\S+)", cache, re.M)
        if not m:
            m = re.search(r"^\s*" + re.escape(lib) + r" .*=> (\S+)", cache, re.M)
        check(m, f"{binary}: {lib} not found by ldconfig")
        path = m.group(1)
        q = run(["dpkg", "-S", os.path.realpath(path)])
        if q.returncode != 0:
            q = run(["dpkg", "-S", path])
        check(q.returncode == 0, f"no package owns {path}")
        pkgs[lib] = q.stdout.split(":")[0]
    return pkgs


def build_packages():
    """Debian -dev packages providing each dependency('...') of the top-level meson.build."""
    need("pkg-config")
    need("dpkg")
    names = re.findall(r"dependency\('([^']+)'", open(os.path.join(ROOT, "meson.build")).read())
    pkgs = {}
    for n in names:
        d = run(["pkg-config", "--variable=pcfiledir", n]).stdout.strip()
        check(d, f"pkg-config does not know {n}")
        q = run(["dpkg", "-S", os.path.realpath(os.path.join(d, n + ".pc"))])
        check(q.returncode == 0, f"no package owns {n}.pc")
        pkgs[n] = q.stdout.split(":")[0]
    return pkgs


def check_containers():
    cdir = os.path.join(DEPLOY, "containers")
    problems = []
    try:
        dev = build_packages()
    except Skip as e:
        dev = {}
        print(f"containers: build dependencies not checked: {e}")
    for svc in SERVICES + ("redis", "kamailio"):
        path = os.path.join(cdir, f"{svc}.Containerfile")
        if not os.path.exists(path):
            problems.append(f"{path} missing")
            continue
        text = open(path).read()
        lines = [ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines()]
        froms = [ln for ln in lines if ln.startswith("FROM ")]
        user = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
        if not user or user[-1].split(":")[0] in ("root", "0"):
            problems.append(f"{svc}: does not switch to a non-root USER")
        if not any(ln.startswith("HEALTHCHECK ") for ln in lines):
            problems.append(f"{svc}: no HEALTHCHECK")
        if not any(ln.startswith(("ENTRYPOINT ", "CMD ")) for ln in lines):
            problems.append(f"{svc}: no ENTRYPOINT/CMD")
        for ln in lines:
            if ln.startswith("COPY ") and "--from=" not in ln:
                for src in ln.split()[1:-1]:
                    if not os.path.exists(os.path.join(ROOT, src)):
                        problems.append(f"{svc}: COPY source {src} missing")
        if svc not in SERVICES:
            continue
        if not (len(froms) == 2 and re.search(r"debian:12 AS build$", froms[0])
                and froms[1].endswith("debian:12-slim")):
            problems.append(f"{svc}: want FROM debian:12 AS build, then debian:12-slim: "
                            f"{froms}")
        if svc != "contact-agent":
            hc = [ln for ln in lines if ln.startswith("HEALTHCHECK ")]
            if not hc or "/healthz" not in hc[0]:
                problems.append(f"{svc}: HEALTHCHECK does not hit /healthz")
            if not any(ln.startswith("EXPOSE ") for ln in lines):
                problems.append(f"{svc}: no EXPOSE")
        # The builder configures the whole project: every meson dependency's -dev package.
        builder = text.split("FROM docker.io/library/debian:12-slim", 1)[0]
        for n, pkg in dev.items():
            if not re.search(r"\s" + re.escape(pkg) + r"(\s|$)", builder):
                problems.append(f"{svc}: build stage lacks {pkg} (meson dependency {n})")
        # Runtime stage installs a package for every library the binary links.
        runtime = text.split("FROM docker.io/library/debian:12-slim", 1)[-1]
        m = re.search(r"apt-get install -y --no-install-recommends ([^\\&\n]+)", runtime)
        installed = set(m.group(1).split()) if m else set()
        binary = os.path.join(BUILD, "services", svc, svc)
        if os.access(binary, os.X_OK) and shutil.which("readelf") and shutil.which("dpkg"):
            for lib, pkg in needed_packages(binary).items():
                # Sanitizer runtimes come from a sanitizer build dir; images build release.
                if pkg not in installed and pkg != "libc6" and \
                        not re.match(r"lib(a|ub|l|t|hwa)san\d", pkg):
                    problems.append(f"{svc}: runtime stage lacks {pkg} (for {lib})")
        else:
            print(f"containers: {svc} not built or readelf/dpkg missing: libraries not checked")
    check(not problems, "\n".join(problems))
    print("containers: Containerfiles check out")


CHECKS = {"compose": check_compose, "k8s": check_k8s, "haproxy": check_haproxy,
          "kamailio": check_kamailio, "containers": check_containers}


def main():
    names = sys.argv[1:] or list(CHECKS)
    rc = 0
    for n in names:
        try:
            CHECKS[n]()
        except Skip as e:
            print(f"SKIP {n}: {e}")
            rc = rc or SKIP
        except Failed as e:
            print(f"FAIL {n}: {e}")
            rc = 1
    return 0 if rc == SKIP and len(names) > 1 else rc


if __name__ == "__main__":
    sys.exit(main())
