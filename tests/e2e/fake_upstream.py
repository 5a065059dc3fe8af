#!/usr/bin/env python3
"""A small stand-in for dockerd on a Unix socket, for the end-to-end tests that
need to see exactly what the proxy sends upstream, or an upstream that misbehaves
in a controlled way. Used only where the real dockerd cannot show the property
(what reaches Docker byte for byte, a pooled connection closed under a request,
a response slower than the shutdown grace).

Usage: fake_upstream.py SOCKET_PATH RECORD_PATH

Every request is read completely (Content-Length or chunked body) and recorded as
one JSON line in RECORD_PATH:
  {"conn": N, "seq": K, "method": ..., "target": ..., "head": RAW_HEAD,
   "body": BODY (latin-1), "action": "answered" | "dropped", "t": UNIX_TIME}
conn numbers connections in accept order (from 1); seq numbers requests on one
connection (from 1), so seq > 1 means the connection was kept alive and reused.

Behaviour chosen by the request target (so one fake serves a whole scenario):
  .../_ping             200 "OK" (text/plain), like Docker
  .../version           200 a small Docker-like version object (JSON)
  ...drop-reused...     on a reused connection (seq > 1): close without answering
  ...drop-always...     close without answering, always
  ...slow-N...          answer after N seconds (N an integer)
  ...close-after...     answer (keep-alive, as always), then close the connection
                        at once: the proxy's pooled copy is dead when next taken
  anything else         200 {"method": ..., "target": ...} (JSON)
Answers carry Content-Length and keep the connection alive (HTTP/1.1).
Runs until killed (SIGTERM).
"""
import json
import os
import re
import socket
import sys
import threading
import time

SOCK, RECORD = sys.argv[1], sys.argv[2]
lock = threading.Lock()
conn_counter = [0]


def record(entry):
    with lock:
        with open(RECORD, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Closed(Exception):
    pass


class Reader:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise Closed()
        self.buf += chunk

    def until(self, sep):
        while sep not in self.buf:
            self.more()
        data, self.buf = self.buf.split(sep, 1)
        return data

    def exactly(self, n):
        while len(self.buf) < n:
            self.more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def read_request(r):
    head = r.until(b"\r\n\r\n").decode("latin-1")
    lines = head.split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    body = b""
    if fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(r.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                r.until(b"\r\n")  # no trailers expected
                break
            body += r.exactly(size)
            r.exactly(2)
    elif "content-length" in fields:
        body = r.exactly(int(fields["content-length"]))
    return method, target, head, body


def respond(s, status, ctype, payload):
    reason = {200: "OK"}.get(status, "Status")
    s.sendall(("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nApi-Version: 1.41\r\n"
               "Content-Length: %d\r\n\r\n" % (status, reason, ctype, len(payload))).encode()
              + payload)


def serve(s, conn_no):
    r = Reader(s)
    seq = 0
    try:
        while True:
            method, target, head, body = read_request(r)
            seq += 1
            entry = {"conn": conn_no, "seq": seq, "method": method, "target": target,
                     "head": head, "body": body.decode("latin-1"), "t": time.time()}
            if ("drop-reused" in target and seq > 1) or "drop-always" in target:
                entry["action"] = "dropped"
                record(entry)
                return
            entry["action"] = "answered"
            record(entry)
            m = re.search(r"slow-(\d+)", target)
            if m:
                time.sleep(int(m.group(1)))
            path = target.split("?", 1)[0]
            if path.endswith("/_ping"):
                respond(s, 200, "text/plain; charset=utf-8", b"OK")
            elif path.endswith("/version"):
                respond(s, 200, "application/json", json.dumps(
                    {"Version": "20.10.0-fake", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
                     "Os": "linux", "Arch": "amd64"}).encode() + b"\n")
            else:
                respond(s, 200, "application/json",
                        json.dumps({"method": method, "target": target}).encode() + b"\n")
            if "close-after" in target:
                return
    except (Closed, ConnectionError, ValueError):
        return
    finally:
        s.close()


def main():
    if os.path.exists(SOCK):
        os.unlink(SOCK)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(SOCK)
    srv.listen(64)
    while True:
        s, _ = srv.accept()
        conn_counter[0] += 1
        threading.Thread(target=serve, args=(s, conn_counter[0]), daemon=True).start()


if __name__ == "__main__":
    main()
