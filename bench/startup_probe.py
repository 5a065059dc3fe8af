#!/usr/bin/env python3
"""Start-up time to the first answer, measured without a process per probe.

usage: startup_probe.py PORT LOG RESULT -- COMMAND [ARG...]

Started before t0 (its own interpreter start-up is not in the figure): takes
t0, starts COMMAND (stdout and stderr to LOG), then connects to
127.0.0.1:PORT and sends GET /_ping in a loop (a refused connect is retried
after 0.2 ms) until an HTTP status line arrives. Writes "PID MS STATUS" to
RESULT (MS to 0.1 ms; STATUS the answer's status code, or "exited" if the
command ended first), then waits for the command to exit, so the caller can
signal PID and then `wait` for this probe. Exits with the command's status.

The curl loop it replaces (a curl process every 2 ms) put each probe's own
fork+exec and library loading (~5-10 ms on this machine, sharing the two cores
with the starting proxy) inside the figure; see bench/NOTES.md section 13.
"""
import os
import socket
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.stderr.write(__doc__)
        return 2
    port, log, result, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[5:]
    req = b"GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with open(log, "wb") as out:
        t0 = time.monotonic_ns()
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    status = "exited"
    while child.poll() is None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(req)
            data = s.recv(64)
            if data.startswith(b"HTTP/1."):
                status = data.split(b" ", 2)[1].decode("ascii", "replace")
                break
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.0002)
    t1 = time.monotonic_ns()
    with open(result + ".tmp", "w") as f:
        f.write(f"{child.pid} {(t1 - t0) / 1e6:.1f} {status}\n")
    os.rename(result + ".tmp", result)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
