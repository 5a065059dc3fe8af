#!/usr/bin/env python3
"""A byte-level TCP -> Docker socket relay with the proxy's command line.

Only for checking the e2e harness itself in proxy mode while (or when) the real
binary is not available:  DPP_BIN=tests/e2e/stand_in_proxy.py tests/e2e/run_all.sh
It enforces nothing. Per connection: two threads copying bytes, half-close passed on.
Logs "listening on ADDR:PORT" to stderr; exits 0 on SIGTERM/SIGINT.

To show that the proxy-only scenarios can fail, DPP_STAND_IN_FAULTS (comma-separated)
breaks it on purpose:
  leak    a client's EOF is not passed upstream: idle streams (events) keep their
          threads and sockets after the client went away
  buffer  client bytes are held until 64 MiB or 0.5 s of silence (unbounded memory)
  nostop  SIGTERM is ignored
"""
import argparse
import os
import signal
import socket
import sys
import threading


FAULTS = set(filter(None, os.environ.get("DPP_STAND_IN_FAULTS", "").split(",")))


def pump_buffered(src, dst):
    held = []
    size = 0
    src.settimeout(0.5)
    try:
        while True:
            try:
                data = src.recv(65536)
            except socket.timeout:
                data = None
            if data:
                held.append(data)
                size += len(data)
            if held and (data is None or not data or size >= 64 << 20):
                dst.sendall(b"".join(held))
                held, size = [], 0
            if data == b"":
                break
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def pump(src, dst, upstream_bound=False):
    if upstream_bound and "buffer" in FAULTS:
        return pump_buffered(src, dst)
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    if upstream_bound and "leak" in FAULTS:
        return
    for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            s.shutdown(how)
        except OSError:
            pass


def serve(client, sock_path):
    try:
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(sock_path)
    except OSError as e:
        print("upstream connect failed: %s" % e, file=sys.stderr, flush=True)
        client.close()
        return
    t = threading.Thread(target=pump, args=(up, client), daemon=True)
    t.start()
    pump(client, up, upstream_bound=True)
    t.join()
    client.close()
    up.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--headless", action="store_true")
    ap.add_argument("--config")
    ap.add_argument("--port", type=int, default=2375)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--socket", default="/var/run/docker.sock")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args()

    stop = threading.Event()
    if "nostop" in FAULTS:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.bind, args.port))
    ls.listen(128)
    ls.settimeout(0.2)
    print("stand-in proxy listening on %s:%d" % (args.bind, args.port), file=sys.stderr, flush=True)
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        except OSError:
            if stop.is_set():
                break
            raise
        c.settimeout(None)
        threading.Thread(target=serve, args=(c, args.socket), daemon=True).start()
    ls.close()
    print("stand-in proxy: stopping", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
