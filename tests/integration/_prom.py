# SPDX-License-Identifier: Apache-2.0
"""A small parser of the Prometheus text format 0.0.4 for the metrics tests: checks the
syntax as it goes (HELP and TYPE before samples, label syntax, numeric values) and checks
each histogram's buckets (cumulative, +Inf equal to _count)."""
import re

import beckon
from beckon import check

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _labels(text):
    out, pos = {}, 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        check(m, f"bad label syntax at {text[pos:]!r}")
        out[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\n", "\n") \
            .replace("\\\\", "\\")
        pos = m.end()
    return out


class Metrics:
    """samples: {name: [(labels dict, value)]}; types: {family: type}."""

    def __init__(self, text):
        self.samples, self.types, helps = {}, {}, set()
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("# HELP "):
                helps.add(line.split()[2])
                continue
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ", 3)
                check(typ in ("counter", "gauge", "histogram"), f"type {typ!r}")
                check(name in helps, f"TYPE before HELP for {name}")
                self.types[name] = typ
                continue
            m = _SAMPLE.match(line)
            check(m, f"not a sample line: {line!r}")
            name, labels, value = m.group(1), _labels(m.group(3) or ""), float(m.group(4))
            fam = re.sub(r"_(bucket|sum|count)$", "", name) \
                if re.sub(r"_(bucket|sum|count)$", "", name) in self.types else name
            check(fam in self.types, f"sample {name} before its TYPE")
            self.samples.setdefault(name, []).append((labels, value))
        for fam, typ in self.types.items():
            if typ == "histogram":
                self._check_histogram(fam)

    def _check_histogram(self, fam):
        series = {}
        for labels, v in self.samples.get(fam + "_bucket", []):
            key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            series.setdefault(key, []).append((labels["le"], v))
        for key, buckets in series.items():
            vals = [v for _, v in buckets]
            check(vals == sorted(vals), f"{fam}{dict(key)} buckets not cumulative: {buckets}")
            check(buckets[-1][0] == "+Inf", f"{fam}{dict(key)} last bucket is not +Inf")
            count = self.value(fam + "_count", **dict(key))
            check(buckets[-1][1] == count,
                  f"{fam}{dict(key)}: +Inf bucket {buckets[-1][1]} != _count {count}")

    def value(self, name, **labels):
        """The sum of the samples of name whose labels include these (0 if none)."""
        return sum(v for lab, v in self.samples.get(name, [])
                   if all(lab.get(k) == x for k, x in labels.items()))


def scrape(port):
    r = beckon.http_request(port, "GET", "/metrics")
    check(r.status == 200, f"GET /metrics → {r}")
    ctype = r.headers.get("content-type", "")
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          f"/metrics Content-Type {ctype!r}")
    return Metrics(r.body.decode())
