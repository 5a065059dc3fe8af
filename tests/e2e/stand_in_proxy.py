#!/usr/bin/env python3
"""A byte-level TCP -> Docker socket relay with the proxy's command line.

Only for checking the e2e harness itself in proxy mode while (or when) the real
binary is not available:  DPP_BIN=tests/e2e/stand_in_proxy.py tests/e2e/run_all.sh
It enforces nothing. Per connection: two threads copying bytes, half-close passed on.
Logs "listening on ADDR:PORT" to stderr; exits 0 on SIGTERM/SIGINT.
"""
import argparse
import signal
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
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
    pump(client, up)
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
