#!/usr/bin/env python3
"""A small NDJSON client for the daemon's control socket (docs/control.md),
for tests/e2e/control_test.sh. It speaks the protocol by hand (json module),
independently of the C client, so the two are checked against each other.

  ctlclient.py SOCK [opts] req CMD [ARGS_JSON]   one request; prints the
        response line; exit 0 when ok, 1 when refused, 2 on protocol trouble
  ctlclient.py SOCK [opts] hello                 prints the hello answer line
  ctlclient.py SOCK [opts] events KINDS N SECS   subscribes (KINDS: JSON list or
        "all"); prints each event line until N arrived; exit 3 on timeout
  ctlclient.py SOCK [opts] stall READY_FILE      subscribes to everything, then
        never reads (tiny receive buffer); touches READY_FILE; sleeps
  ctlclient.py SOCK [opts] bye SECS              subscribes; prints the bye line
        when it comes; exit 3 without one
opts: --client NAME (default ctl), --on-behalf-of NAME, --hello-version N
"""
import json
import socket
import sys
import time


def connect(path, client, obo, version, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(path)
    hello = {"hello": version, "client": client}
    if obo:
        hello["on_behalf_of"] = obo
    s.sendall((json.dumps(hello) + "\n").encode())
    return s


class Lines:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def next(self, timeout=10.0):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8")  # strict: the daemon must send valid UTF-8


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    client, obo, version = "ctl", None, 1
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--client":
            client = args.pop(0)
        elif opt == "--on-behalf-of":
            obo = args.pop(0)
        elif opt == "--hello-version":
            version = int(args.pop(0))
    mode = args.pop(0)
    rcv = 4096 if mode == "stall" else None
    s = connect(path, client, obo, version, rcv)
    rd = Lines(s)
    first = rd.next()
    if first is None:
        print("no hello answer", file=sys.stderr)
        return 2
    if mode == "hello":
        print(first)
        return 0 if "error" not in json.loads(first) else 1
    if "error" in json.loads(first):
        print(first)
        return 1
    if mode == "req":
        req = {"id": 41, "cmd": args[0]}
        if len(args) > 1:
            req.update(json.loads(args[1]))
        s.sendall((json.dumps(req) + "\n").encode())
        line = rd.next(float(args[2]) if len(args) > 2 else 60.0)
        if line is None:
            print("no answer", file=sys.stderr)
            return 2
        print(line)
        obj = json.loads(line)
        if obj.get("id") != 41:
            print("answer without the request's id", file=sys.stderr)
            return 2
        return 0 if obj.get("ok") is True else 1
    sub = {"id": 1, "cmd": "subscribe"}
    if mode == "events" and args[0] != "all":
        sub["kinds"] = json.loads(args[0])
    s.sendall((json.dumps(sub) + "\n").encode())
    ans = rd.next()
    if ans is None or json.loads(ans).get("ok") is not True:
        print("subscribe refused: %s" % ans, file=sys.stderr)
        return 2
    if mode == "stall":
        with open(args[0], "w") as f:
            f.write("subscribed\n")
        while True:
            time.sleep(3600)
    if mode == "events":
        want, secs = int(args[1]), float(args[2])
        end = time.monotonic() + secs
        got = 0
        while got < want:
            line = rd.next(max(0.0, end - time.monotonic()))
            if line is None:
                return 3
            if "event" in json.loads(line):
                print(line, flush=True)
                got += 1
        return 0
    if mode == "bye":
        end = time.monotonic() + float(args[0])
        while True:
            line = rd.next(max(0.0, end - time.monotonic()))
            if line is None:
                return 3
            if "bye" in json.loads(line):
                print(line)
                return 0
    print("unknown mode", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
