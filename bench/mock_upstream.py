#!/usr/bin/env python3
"""A stand-in Docker upstream on a Unix socket for the connection benchmark.

usage: mock_upstream.py SOCKET

GET /events answers a chunked 200 and then stays silent (an idle `docker
events` stream); every other request gets a small JSON body with
Content-Length, keep-alive. It keeps the shared dockerd out of a benchmark
that opens hundreds of streams.
"""
import asyncio
import os
import sys

BODY = b'{"ApiVersion":"1.41","Version":"20.10.24","Os":"linux","Arch":"amd64"}'


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            path = line.split(" ")[1] if " " in line else "/"
            if path.split("?")[0].endswith("/events"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                await writer.drain()
                await reader.read()  # until the proxy closes the stream
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(path):
    if os.path.exists(path):
        os.unlink(path)
    server = await asyncio.start_unix_server(handle, path=path, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
