#!/usr/bin/env python3
"""Validate a Prometheus text exposition (format 0.0.4) file.

usage: check_prometheus.py INPUT [JSON_OUT]

Parses INPUT with prometheus_client.parser.text_string_to_metric_families
(the reference Python client's parser), then checks what that parser lets
pass: every family has a TYPE, no sample (name + labels) appears twice, and
every histogram has cumulative buckets ending in le="+Inf" equal to _count.
With JSON_OUT, writes the parsed samples there as a JSON list of
{"family", "type", "name", "labels", "value"} so the caller can compare
label values after unescaping.

Exit status: 0 valid, 1 invalid (reason on stderr), 2 prometheus_client is
missing (Debian: apt-get install python3-prometheus-client).
"""
import json
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as exc:
    sys.stderr.write(
        "check_prometheus: cannot import prometheus_client (%s) with %s; "
        "install Debian's python3-prometheus-client\n" % (exc, sys.executable))
    sys.exit(2)


def fail(msg):
    sys.stderr.write("check_prometheus: %s\n" % msg)
    sys.exit(1)


def check_histogram(fam):
    groups = {}
    for s in fam.samples:
        base = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        groups.setdefault(base, {"buckets": [], "count": None, "sum": None})
        g = groups[base]
        if s.name == fam.name + "_bucket":
            g["buckets"].append((s.labels.get("le"), s.value))
        elif s.name == fam.name + "_count":
            g["count"] = s.value
        elif s.name == fam.name + "_sum":
            g["sum"] = s.value
    if not groups:
        fail("histogram %s has no samples" % fam.name)
    for base, g in groups.items():
        if not g["buckets"] or g["count"] is None or g["sum"] is None:
            fail("histogram %s%s lacks buckets, _sum or _count" % (fam.name, base))
        prev_le, prev_v = -math.inf, -math.inf
        for le, v in g["buckets"]:
            bound = float(le)
            if bound <= prev_le:
                fail("histogram %s: le=%s not increasing" % (fam.name, le))
            if v < prev_v:
                fail("histogram %s: bucket le=%s (%s) not cumulative" % (fam.name, le, v))
            prev_le, prev_v = bound, v
        if g["buckets"][-1][0] != "+Inf":
            fail("histogram %s: last bucket is not +Inf" % fam.name)
        if g["buckets"][-1][1] != g["count"]:
            fail("histogram %s: +Inf bucket %s != _count %s"
                 % (fam.name, g["buckets"][-1][1], g["count"]))


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: check_prometheus.py INPUT [JSON_OUT]")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError and friends
        fail("parse error: %r" % exc)
    seen = set()
    out = []
    for fam in families:
        if fam.type in ("unknown", "untyped"):
            fail("family %s has no TYPE line" % fam.name)
        if fam.type == "histogram":
            check_histogram(fam)
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                fail("duplicate sample %s%s" % key)
            seen.add(key)
            out.append({"family": fam.name, "type": fam.type, "name": s.name,
                        "labels": s.labels, "value": s.value})
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            json.dump(out, f)
    print("check_prometheus: OK, %d families, %d samples" % (len(families), len(out)))


if __name__ == "__main__":
    main()
