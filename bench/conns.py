#!/usr/bin/env python3
"""Idle connections and event streams held against a proxy.

usage: conns.py PORT PID IDLE EVENTS [SETTLE_S]

Opens IDLE keep-alive connections (each sends one GET /_ping and reads the
answer, then stays idle) and EVENTS `GET /events` streams, waits SETTLE_S
seconds, then reports for process PID: resident memory, threads, CPU used
over 5 idle seconds, and the latency of a new request on a new connection
(median of 20). Prints one line of key=value pairs.
"""
import socket
import sys
import time


def read_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def recv_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        rest += s.recv(65536)
    return head


def main():
    port, pid, idle, events = (int(a) for a in sys.argv[1:5])
    settle = float(sys.argv[5]) if len(sys.argv) > 5 else 3
    rss0 = int(read_status(pid)["VmRSS"].split()[0])
    socks = []
    for i in range(idle):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        recv_response(s)
        socks.append(s)
        if i % 200 == 199:
            print(f"  {i + 1} idle connections open", file=sys.stderr, flush=True)
    for i in range(events):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        head = recv_response(s)
        if b" 200 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"events stream refused: {head[:80]!r}")
        socks.append(s)
    print(f"  {events} event streams open", file=sys.stderr, flush=True)
    time.sleep(settle)
    st = read_status(pid)
    t0 = cpu_ticks(pid)
    time.sleep(5)
    idle_cpu = (cpu_ticks(pid) - t0) / 100.0 / 5 * 100  # percent of one core
    lat = []
    for _ in range(20):
        t = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        recv_response(s)
        lat.append((time.monotonic() - t) * 1000)
        s.close()
    lat.sort()
    alive = 0
    for s in socks[:idle]:  # the idle ones must still be served
        try:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            recv_response(s)
            alive += 1
        except OSError:
            pass
    print(f"rss_kib={st['VmRSS'].split()[0]} rss_before_kib={rss0} threads={st['Threads']} "
          f"idle_cpu_pct={idle_cpu:.1f} new_request_ms_p50={lat[10]:.2f} "
          f"new_request_ms_max={lat[-1]:.2f} idle_still_served={alive}/{idle}")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
