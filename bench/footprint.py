#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where the memory goes: Redis bytes per binding under several Redis configs, and sip-edge
RSS per idle TCP/TLS flow (docs/performance.md, "Footprint: where the bytes go").

For each variant (a Redis config: Redis's built-in defaults, or the shipped
deploy/redis/redis.conf with persistence switched off), a fresh redis-server and sip-edge are
started on bench/run.py's CPUs, beckon-regload registers N distinct AORs over UDP (--passes:
the first pass new registrations, later ones refreshes), and the
script reports `used_memory` per binding (INFO memory before/after), then samples bindings and
their index keys: MEMORY USAGE and OBJECT ENCODING of each key, the field and value bytes of the
binding hash, and what is left for the keyspace and expires dictionaries. It also estimates
two schema changes on copies of the sampled keys (fields dropped, index keys merged) without
touching the running code, so the docs can say what they would save. Variants alternate in one
run on one machine, so the ratio between them is the figure to quote.

With --flows N it also opens N idle flows per transport (an asyncio client; beckon-regload has
no TLS) and reports sip-edge's RSS per flow; --flow-builds compares builds in the same run.

  bench/footprint.py --build-dir build-release --bindings 100000 --what-if
  bench/footprint.py --variants default,shipped --bindings 10000 --samples 200
  bench/footprint.py --variants "" --flows 10000 --flow-transports tls --flow-builds OLD,NEW
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

SHIPPED = bench.REDIS_CONF


def redis_argv(variant, port, rdir):
    """redis-server argv for a variant. Command-line options after the file override it, so the
    shipped file is used as is except for where it listens and persistence (a benchmark must not
    fsync an AOF)."""
    base = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", rdir, "--daemonize", "no", "--loglevel", "warning"]
    if variant == "default":
        return ["redis-server"] + base
    if variant == "shipped":
        return ["redis-server", SHIPPED] + base
    raise ValueError(f"unknown variant {variant}")


def info_field(info, name):
    for ln in info.splitlines():
        if ln.startswith(name + ":"):
            return ln.split(":", 1)[1].strip()
    return None


def sample(c, want):
    """Up to want binding keys, found with SCAN (no KEYS on 100k)."""
    keys, cur = [], "0"
    while len(keys) < want:
        cur, batch = c("SCAN", cur, "MATCH", "beckon:binding:*", "COUNT", 1000)
        keys += batch
        if cur == "0":
            break
    return keys[:want]


def hash_fields(c, key):
    flat = c("HGETALL", key)
    return dict(zip(flat[0::2], flat[1::2]))


def measure_keys(c, keys):
    """Per sampled binding: MEMORY USAGE of the hash and of each index key, encodings, and the
    bytes of field names and values. MEMORY USAGE counts the key's own object, its name and one
    keyspace dictEntry, not the expires entry nor the dict buckets."""
    out = {"binding": [], "index": [], "enc_binding": {}, "enc_index": {}, "nindex": [],
           "field_bytes": {}, "name_bytes": [], "index_name_bytes": []}
    for k in keys:
        f = hash_fields(c, k)
        if not f:
            continue
        out["binding"].append(c("MEMORY", "USAGE", k, "SAMPLES", 0))
        e = c("OBJECT", "ENCODING", k)
        out["enc_binding"][e] = out["enc_binding"].get(e, 0) + 1
        out["name_bytes"].append(len(k))
        for name, val in f.items():
            out["field_bytes"].setdefault(name, []).append(len(name.encode()) +
                                                           len(val.encode()))
        idx = [x for x in (f.get("indexes") or "").split("\n") if x]
        tot = 0
        for ik in idx:
            u = c("MEMORY", "USAGE", ik, "SAMPLES", 0) or 0
            tot += u
            e = c("OBJECT", "ENCODING", ik)
            out["enc_index"][e] = out["enc_index"].get(e, 0) + 1
            out["index_name_bytes"].append(len(ik))
        out["index"].append(tot)
        out["nindex"].append(len(idx))
    return out


# Fields a reader could rebuild from others: uri and instance are in contact; indexes is the
# list of device-id keys, derivable from aor/instance (and mac) by the same rules that wrote it.
DERIVABLE = ("uri", "instance", "indexes")


def pipeline(c, cmds):
    """Sends cmds (lists of arguments) in one write and reads every reply."""
    out = []
    for args in cmds:
        out.append(b"*%d\r\n" % len(args))
        for x in args:
            b = x if isinstance(x, bytes) else str(x).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    c.s.sendall(b"".join(out))
    return [c._read() for _ in cmds]


def what_if(c, keys, shards):
    """Sizes of two schema changes, built in db 9 (the live keys are not touched):
    (1) the sampled binding hashes without the derivable fields (COPY, HDEL, MEMORY USAGE);
    (2) every binding's index entries merged into `shards` hashes per kind (field = device id,
    value = binding id) instead of one sorted set per device id: used_memory delta per binding.
    (2) drops what the sorted sets give today: several bindings per device id, and per-entry
    expiry as a score."""
    pipeline(c, [["SELECT", 9], ["FLUSHDB"], ["SELECT", 0]])
    slim = []
    for k in keys:
        r = pipeline(c, [["COPY", k, k, "DB", 9], ["SELECT", 9], ["HDEL", k, *DERIVABLE],
                         ["MEMORY", "USAGE", k, "SAMPLES", 0], ["DEL", k], ["SELECT", 0]])
        if r[0] == 1:
            slim.append(r[3])
    all_keys, cur = [], "0"
    while True:
        cur, batch = c("SCAN", cur, "MATCH", "beckon:binding:*", "COUNT", 5000)
        all_keys += batch
        if cur == "0":
            break
    before = int(info_field(c("INFO", "memory"), "used_memory"))
    n = 0
    for i in range(0, len(all_keys), 1000):
        chunk = all_keys[i:i + 1000]
        idx = pipeline(c, [["HGET", k, "indexes"] for k in chunk])
        cmds = [["SELECT", 9]]
        for k, v in zip(chunk, idx):
            if not v:
                continue
            n += 1
            bid = k.rsplit(":", 1)[1]
            for ik in [x for x in v.split("\n") if x]:
                _, _, kind, val = ik.split(":", 3)
                shard = zlib.crc32(val.encode()) % shards
                cmds.append(["HSET", f"beckon:idx:{kind}:{shard}", val, bid])
        cmds.append(["SELECT", 0])
        pipeline(c, cmds)
    after = int(info_field(c("INFO", "memory"), "used_memory"))
    r = pipeline(c, [["SELECT", 9], ["DBSIZE"], ["RANDOMKEY"]])
    enc = c("OBJECT", "ENCODING", r[2]) if r[2] else None
    pipeline(c, [["FLUSHDB"], ["SELECT", 0]])
    return {"binding_without_" + "_".join(DERIVABLE): round(statistics.mean(slim), 1)
            if slim else None,
            "sharded_index_shards_per_kind": shards, "sharded_index_keys": r[1],
            "sharded_index_encoding": enc,
            "sharded_index_bytes_per_binding": round((after - before) / max(n, 1), 1)}


def run_variant(run, a, variant, users):
    port = bench.free_port()
    rdir = tempfile.mkdtemp(prefix=f"redis-{variant}-", dir=run.tmp)
    redis = bench.Proc(f"fp-redis-{variant}", redis_argv(variant, port, rdir), run.logdir,
                       cpu=bench.SERVER_CPU)
    bench.wait_until(lambda: bench.tcp_open(port), "redis")
    sip, http = bench.free_port(), bench.free_port()
    edge = bench.Proc(f"fp-sip-edge-{variant}", [
        run.binary("services/sip-edge/sip-edge"),
        "--sip-listen", f"udp:127.0.0.1:{sip}", "--http-listen", f"127.0.0.1:{http}",
        "--redis-url", f"redis://127.0.0.1:{port}", "--edge-id", "bench",
        "--log-level", "warn", "--auth", "false"], run.logdir, cpu=bench.SERVER_CPU)
    try:
        bench.Beckon._ready(edge, http)
        c = bench.RedisCli(port)
        cfg = dict(zip(*[iter(c("CONFIG", "GET", "*listpack*"))] * 2))
        m0 = int(info_field(c("INFO", "memory"), "used_memory"))
        rss0 = bench.memory_kb(edge.pid)[0]
        # --passes over the AORs: the first registers them, later ones are refreshes (same
        # Call-ID, next CSeq); memory is read after all of them, Redis CPU is over all of them.
        cpu0 = bench.cpu_seconds(redis.pid)
        res = bench.run_tool(run, f"fp-regload-{variant}", [
            run.binary("bench/beckon-regload"), "--target", f"127.0.0.1:{sip}",
            "--aors", str(a.bindings), "--conns", "200", "--rate", str(a.rate),
            "--duration", str(max(1, a.passes * a.bindings // a.rate)),
            "--user-base", str(users), "--domain", bench.DOMAIN, "--drain-ms", "5000"])
        cpu1 = bench.cpu_seconds(redis.pid)
        info = c("INFO", "memory")
        m1 = int(info_field(info, "used_memory"))
        rss1 = bench.memory_kb(edge.pid)[0]
        n = max(res["ok_new"], 1)
        keys = c("DBSIZE")
        expires = info_field(c("INFO", "keyspace"), "db0") or ""
        s = measure_keys(c, sample(c, a.samples))
        per = (m1 - m0) / n
        b = statistics.mean(s["binding"])
        ix = statistics.mean(s["index"])
        out = {
            "variant": variant, "listpack_config": cfg, "bindings": res["ok_new"],
            "refreshes": res["ok_refresh"], "bad": res["sent"] - res["ok"],
            "redis_cpu_us_per_register": round((cpu1 - cpu0) * 1e6 / max(res["ok"], 1), 1),
            "asked": a.bindings, "used_memory_before": m0, "used_memory_after": m1,
            "keys": keys, "db0": expires, "bytes_per_binding": round(per, 1),
            "keys_per_binding": round(keys / n, 2),
            "binding_hash_memory_usage_mean": round(b, 1),
            "index_keys_memory_usage_mean": round(ix, 1),
            "index_keys_per_binding": round(statistics.mean(s["nindex"]), 2),
            "rest_per_binding": round(per - b - ix, 1),
            "encoding_binding": s["enc_binding"], "encoding_index": s["enc_index"],
            "binding_key_name_bytes": round(statistics.mean(s["name_bytes"]), 1),
            "index_key_name_bytes_mean": round(statistics.mean(s["index_name_bytes"]), 1),
            "field_name_plus_value_bytes": {k: round(statistics.mean(v), 1)
                                            for k, v in sorted(s["field_bytes"].items())},
            "mem_fragmentation_ratio": info_field(info, "mem_fragmentation_ratio"),
            "sip_edge_rss_kb_before": rss0, "sip_edge_rss_kb_after": rss1,
        }
        if a.what_if:
            out["what_if"] = what_if(c, sample(c, a.samples), a.shards)
        c.close()
        return out
    finally:
        edge.stop()
        redis.stop()


# ---- sip-edge memory per idle flow (TCP and TLS through the same client)

def make_cert(d):
    """A self-signed P-256 certificate for 127.0.0.1 (openssl CLI); returns (crt, key)."""
    import subprocess
    crt, key = os.path.join(d, "edge.crt"), os.path.join(d, "edge.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days",
                    "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


async def open_flows(port, tls, n, user_base, parallel=100):
    """n connections to port, one REGISTER each (its own AOR), kept open. Returns
    (writers, registered)."""
    import asyncio
    import ssl
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    tp = "TLS" if tls else "TCP"
    writers, ok = [], [0]
    sem = asyncio.Semaphore(parallel)

    async def one(i):
        async with sem:
            # sip-edge limits each source address to 500 requests/s: spread the flows over
            # 200 addresses 127.1.x.y as beckon-regload does.
            r, w = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx,
                local_addr=(f"127.1.{i % 200 // 250}.{i % 200 % 250 + 1}", 0))
            lport = w.get_extra_info("sockname")[1]
            u = user_base + i
            msg = (f"REGISTER sip:{bench.DOMAIN} SIP/2.0\r\n"
                   f"Via: SIP/2.0/{tp} 127.0.0.1:{lport};branch=z9hG4bKfp{i};rport\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:{u}@{bench.DOMAIN}>;tag=fp{i}\r\n"
                   f"To: <sip:{u}@{bench.DOMAIN}>\r\nCall-ID: fp{i}@bench\r\n"
                   f"CSeq: 1 REGISTER\r\nContact: <sip:{u}@127.0.0.1:{lport};"
                   f"transport={tp.lower()}>\r\nExpires: 3600\r\n"
                   f"Content-Length: 0\r\n\r\n")
            w.write(msg.encode())
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
            if head.startswith(b"SIP/2.0 200"):
                ok[0] += 1
            writers.append(w)
    res = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    errs = [e for e in res if isinstance(e, Exception)]
    if errs:
        bench.log(f"{len(errs)} flows failed, first: {errs[0]!r}")
    return writers, ok[0]


def smaps_heap_kb(pid):
    """RSS of the [heap] mapping and of anonymous mappings (glibc arenas, large mallocs)."""
    heap = anon = 0
    cur = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for ln in f:
                parts = ln.split()
                if len(parts) >= 5 and "-" in parts[0]:
                    cur = parts[5] if len(parts) > 5 else ""
                elif parts and parts[0] == "Rss:":
                    if cur == "[heap]":
                        heap += int(parts[1])
                    elif cur == "":
                        anon += int(parts[1])
    except OSError:
        pass
    return heap, anon


def run_flows(run, transport, nflows, user_base, churn=0):
    """sip-edge RSS per idle flow: fresh Redis (shipped config) and sip-edge listening on
    transport (tcp or tls), nflows connections with one REGISTER each, held while RSS is read."""
    import asyncio
    port = bench.free_port()
    rdir = tempfile.mkdtemp(prefix="redis-flows-", dir=run.tmp)
    redis = bench.Proc(f"fp-redis-{transport}", redis_argv("shipped", port, rdir),
                       run.logdir, cpu=bench.SERVER_CPU)
    bench.wait_until(lambda: bench.tcp_open(port), "redis")
    sip, http = bench.free_port(), bench.free_port()
    argv = [run.binary("services/sip-edge/sip-edge"),
            "--sip-listen", f"{transport}:127.0.0.1:{sip}", "--http-listen", f"127.0.0.1:{http}",
            "--redis-url", f"redis://127.0.0.1:{port}", "--edge-id", "bench",
            "--log-level", "warn", "--auth", "false"]
    if transport == "tls":
        crt, key = make_cert(tempfile.mkdtemp(prefix="tls-", dir=run.tmp))
        argv += ["--tls-cert", crt, "--tls-key", key]
    edge = bench.Proc(f"fp-sip-edge-{transport}", argv, run.logdir, cpu=bench.SERVER_CPU)
    try:
        bench.Beckon._ready(edge, http)
        rss0 = bench.memory_kb(edge.pid)[0]
        h0 = smaps_heap_kb(edge.pid)
        loop = asyncio.new_event_loop()
        writers, ok = loop.run_until_complete(open_flows(sip, transport == "tls", nflows,
                                                         user_base))
        loop.run_until_complete(asyncio.sleep(1.0))  # let the edge finish its Redis writes
        rss1 = bench.memory_kb(edge.pid)[0]
        h1 = smaps_heap_kb(edge.pid)
        for w in writers:
            w.close()
        loop.run_until_complete(asyncio.sleep(2.0))
        # Churn: more rounds of nflows opened and closed. Memory freed at close is reused by the
        # next round, so RSS growth per round after the first is what closed flows leak.
        rss_rounds = [bench.memory_kb(edge.pid)[0]]
        for rnd in range(churn):
            w2, _ = loop.run_until_complete(open_flows(sip, transport == "tls", nflows,
                                                       user_base + (rnd + 1) * nflows))
            for w in w2:
                w.close()
            loop.run_until_complete(asyncio.sleep(2.0))
            rss_rounds.append(bench.memory_kb(edge.pid)[0])
        loop.close()
        n = max(len(writers), 1)
        out = {"transport": transport, "flows": len(writers), "registered": ok,
               "rss_kb_before": rss0, "rss_kb_held": rss1,
               "bytes_per_flow": round((rss1 - rss0) * 1024 / n, 1),
               "heap_kb_before": h0[0], "heap_kb_held": h1[0],
               "anon_kb_before": h0[1], "anon_kb_held": h1[1]}
        if churn:
            out["churn_rss_kb"] = rss_rounds
            out["churn_bytes_per_closed_flow"] = round(
                (rss_rounds[-1] - rss_rounds[0]) * 1024 / (churn * nflows), 1)
        return out
    finally:
        edge.stop()
        redis.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.path.join(bench.ROOT, "build-release"))
    p.add_argument("--variants", default="default,shipped")
    p.add_argument("--bindings", type=int, default=100000)
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--passes", type=int, default=2,
                   help="REGISTERs per AOR (1: new only; 2: new + one refresh)")
    p.add_argument("--what-if", action="store_true",
                   help="also size schema changes on copies of the sampled keys")
    p.add_argument("--shards", type=int, default=1024,
                   help="--what-if: hashes per index kind")
    p.add_argument("--flows", type=int, default=0,
                   help="also sip-edge RSS per idle flow with this many flows")
    p.add_argument("--flow-transports", default="tcp,tls")
    p.add_argument("--churn", type=int, default=0,
                   help="--flows: then this many rounds of --flows flows opened and closed, "
                        "RSS growth per closed flow (a leak shows as growth every round)")
    p.add_argument("--flow-builds", default="",
                   help="comma-separated build dirs to compare for --flows (default: --build-dir)")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    args = bench.parse(["--build-dir", a.build_dir, "--no-kamailio"] +
                       (["--out", a.out] if a.out else []))
    run = bench.Run(args)
    res = []
    try:
        for i, v in enumerate([v for v in a.variants.split(",") if v]):
            bench.log(f"footprint variant {v}: {a.bindings} bindings")
            r = run_variant(run, a, v, bench.USER_BASE + i * 1000000)
            bench.log(json.dumps(r))
            res.append(r)
        flows = []
        builds = a.flow_builds.split(",") if a.flow_builds else [a.build_dir]
        for i, t in enumerate(a.flow_transports.split(",") if a.flows else []):
            for b in builds:  # several builds: an A/B of the same step, one after the other
                run.build = os.path.abspath(b)
                bench.log(f"idle {t} flows: {a.flows} ({b})")
                f = run_flows(run, t, a.flows, bench.USER_BASE + 5000000 + i * 1000000,
                              a.churn)
                f["build"] = b
                bench.log(json.dumps(f))
                flows.append(f)
    finally:
        bench.kill_all()
    with open(os.path.join(run.out, "footprint.json"), "w") as f:
        json.dump({"redis": res, "flows": flows}, f, indent=1)
    print("| variant | bindings | B/binding | keys/binding | binding hash (MEMORY USAGE) "
          "| index keys | rest (dict/expires) | encodings | Redis CPU µs/REGISTER |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in res:
        print(f"| {r['variant']} | {r['bindings']:,} | {r['bytes_per_binding']:,} | "
              f"{r['keys_per_binding']} | {r['binding_hash_memory_usage_mean']} | "
              f"{r['index_keys_memory_usage_mean']} | {r['rest_per_binding']} | "
              f"{r['encoding_binding']} {r['encoding_index']} | "
              f"{r['redis_cpu_us_per_register']} |")
    for f in flows:
        print(f"sip-edge per idle {f['transport']} flow ({f['build']}): {f['bytes_per_flow']:,} B "
              f"({f['flows']:,} flows, {f['registered']:,} registered, RSS "
              f"{f['rss_kb_before']:,} -> {f['rss_kb_held']:,} kB)" +
              (f"; churn RSS kB {f['churn_rss_kb']}, "
               f"{f['churn_bytes_per_closed_flow']:,} B per closed flow" if "churn_rss_kb" in f
               else ""))
    if len(res) > 1:
        print(f"\n{res[-1]['variant']}/{res[0]['variant']}: "
              f"{res[-1]['bytes_per_binding'] / res[0]['bytes_per_binding']:.3f}")
    print(f"\nresults: {os.path.join(run.out, 'footprint.json')}")


if __name__ == "__main__":
    main()
