#!/usr/bin/env python3
"""Hostile and heavy clients for tests/e2e/fault_test.sh. Each mode is bounded
in time and count and prints one summary line of key=value pairs; the exit
status is 0 when the mode's own expectation held, 1 otherwise.

  upload-kill PORT PATH N          N times: a child process starts a PUT with a
                                   declared 256 MiB body, sends 4 MiB and is
                                   SIGKILLed mid-upload.
  loris-heads PORT N SECONDS       N connections drip a request head one byte
                                   a second; each must be cut by the proxy
                                   within SECONDS.
  loris-bodies PORT PATH N SECONDS N connections send a head with a body length
                                   and then drip the body; each must be cut
                                   within SECONDS.
  churn PORT TOTAL CONC            TOTAL fresh connections (CONC at a time),
                                   one GET /_ping each: all must answer 200.
"""
import os
import signal
import socket
import sys
import threading
import time


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def upload_kill(port, path, n):
    killed = 0
    for _ in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                s = connect(port)
                s.sendall((f"PUT {path} HTTP/1.1\r\nHost: docker\r\n"
                           "Content-Type: application/x-tar\r\n"
                           f"Content-Length: {256 << 20}\r\n\r\n").encode())
                chunk = b"\0" * 65536
                for _ in range(64):  # 4 MiB
                    s.sendall(chunk)
                os.write(w, b"x")
                time.sleep(60)  # killed long before
            finally:
                os._exit(0)
        os.close(w)
        ok = os.read(r, 1) == b"x"
        os.close(r)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        killed += ok
    print(f"upload_kill sent_and_killed={killed} of={n}")
    return killed == n


def drip(port, head, body_len, n, limit, what):
    """Opens n connections; sends head (all at once when body_len > 0), then
    one byte a second; records when each connection is closed by the server."""
    cut = [None] * n
    t0 = time.monotonic()

    def one(i):
        try:
            s = connect(port)
        except OSError:
            cut[i] = -1.0
            return
        s.settimeout(1.0)
        try:
            if body_len > 0:
                s.sendall(head)
                data = b"{" + b" " * (body_len - 1)
            else:
                data = head
            k = 0
            while time.monotonic() - t0 < limit + 5:
                if k < len(data):
                    s.send(data[k:k + 1])
                    k += 1
                try:
                    got = s.recv(4096)
                    if got == b"" or got:
                        # closed, or answered (408/400...): either way it is over
                        cut[i] = time.monotonic() - t0
                        return
                except socket.timeout:
                    continue
        except OSError:
            cut[i] = time.monotonic() - t0
            return
        finally:
            s.close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    done = [c for c in cut if c is not None and c >= 0]
    worst = max(done) if done else -1
    print(f"{what} connections={n} cut={len(done)} never_connected={cut.count(-1.0)} "
          f"worst_s={worst:.1f} limit_s={limit}")
    return len(done) == n and worst <= limit


def churn(port, total, conc):
    lock = threading.Lock()
    stats = {"ok": 0, "bad": 0, "err": 0, "next": 0}

    def worker():
        while True:
            with lock:
                if stats["next"] >= total:
                    return
                stats["next"] += 1
            try:
                s = connect(port)
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
                buf = b""
                while True:
                    got = s.recv(65536)
                    if not got:
                        break
                    buf += got
                s.close()
                key = "ok" if buf.startswith(b"HTTP/1.1 200") else "bad"
            except OSError:
                key = "err"
            with lock:
                stats[key] += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.monotonic() - t0
    print(f"churn total={total} ok={stats['ok']} non200={stats['bad']} errors={stats['err']} "
          f"seconds={el:.1f}")
    return stats["ok"] == total


def main(argv):
    mode = argv[1]
    if mode == "upload-kill":
        return upload_kill(int(argv[2]), argv[3], int(argv[4]))
    if mode == "loris-heads":
        head = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: " + b"x" * 200 + b"\r\n\r\n"
        return drip(int(argv[2]), head, 0, int(argv[3]), float(argv[4]), "loris_heads")
    if mode == "loris-bodies":
        head = (f"POST {argv[3]} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                "Content-Length: 4096\r\n\r\n").encode()
        return drip(int(argv[2]), head, 4096, int(argv[4]), float(argv[5]), "loris_bodies")
    if mode == "churn":
        return churn(int(argv[2]), int(argv[3]), int(argv[4]))
    print(f"unknown mode {mode}", file=sys.stderr)
    return False


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv) else 1)
