#!/usr/bin/env python3
"""Raw HTTP probes for the end-to-end tests (no HTTP library between us and the wire).

Usage:
  http_probe.py head-ping PROXY_HOST RAW_HOST
      HEAD /_ping on both hosts; both must answer 200, with equal Api-Version,
      Docker-Experimental and OSType headers, and no body bytes after the HEAD
      response (the connection, if kept open, must then answer a GET /_ping).

Hosts are docker-style: unix:///path or tcp://host:port. Exit status 0 on success,
1 with a "FAIL: ..." line otherwise.
"""
import json
import socket
import sys
import time

HEADERS_OF_INTEREST = ("api-version", "docker-experimental", "ostype")


def connect(host):
    if host.startswith("unix://"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(host[len("unix://"):])
    elif host.startswith("tcp://"):
        addr, port = host[len("tcp://"):].rsplit(":", 1)
        s = socket.create_connection((addr, int(port)))
    else:
        raise ValueError("bad host " + host)
    s.settimeout(5)
    return s


def read_head(s):
    buf = b""
    deadline = time.time() + 5
    while b"\r\n\r\n" not in buf:
        if time.time() > deadline:
            raise TimeoutError("no complete response head within 5 s: %r" % buf)
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed inside the response head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], status, headers, rest


def read_all(s, first=b""):
    buf = first
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    return buf


def head_ping(host):
    out = {"host": host}
    s = connect(host)
    s.sendall(b"HEAD /_ping HTTP/1.1\r\nHost: localhost\r\nUser-Agent: dpp-e2e\r\n\r\n")
    line, status, headers, rest = read_head(s)
    out["status_line"] = line
    out["status"] = status
    out["headers"] = headers
    # Any byte that arrives now, before we send anything else, is a stray body.
    s.settimeout(0.5)
    stray = rest
    closed = False
    try:
        chunk = s.recv(65536)
        if chunk:
            stray += chunk
        else:
            closed = True
    except socket.timeout:
        pass
    out["stray"] = stray.decode("latin-1")
    out["closed_after_head"] = closed
    if not closed and not stray:
        s.settimeout(5)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        line2, status2, headers2, rest2 = read_head(s)
        out["second_status"] = status2
        body = read_all(s, rest2)
        if headers2.get("transfer-encoding", "").lower() == "chunked":
            out["second_body_raw"] = body.decode("latin-1")
            body = b"OK" if b"\r\nOK\r\n" in body else body
        out["second_body"] = body.decode("latin-1")
    s.close()
    return out


def main(argv):
    if len(argv) != 4 or argv[1] != "head-ping":
        print(__doc__)
        return 2
    proxy, raw = head_ping(argv[2]), head_ping(argv[3])
    print("proxy:", json.dumps(proxy, sort_keys=True))
    print("raw:  ", json.dumps(raw, sort_keys=True))
    problems = []
    for name, r in (("proxy", proxy), ("raw", raw)):
        if r["status"] != 200:
            problems.append("%s: HEAD /_ping status %s" % (name, r["status"]))
        if r["stray"]:
            problems.append("%s: %d stray byte(s) after the HEAD response: %r"
                            % (name, len(r["stray"]), r["stray"][:40]))
        if "second_status" in r and (r["second_status"] != 200 or r["second_body"] != "OK"):
            problems.append("%s: GET /_ping after HEAD on the same connection gave %s %r"
                            % (name, r["second_status"], r["second_body"][:40]))
    for h in HEADERS_OF_INTEREST:
        if proxy["headers"].get(h) != raw["headers"].get(h):
            problems.append("header %s: proxy %r, raw %r"
                            % (h, proxy["headers"].get(h), raw["headers"].get(h)))
    if "api-version" not in proxy["headers"]:
        problems.append("proxy: no Api-Version header")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
