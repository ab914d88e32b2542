#!/usr/bin/python3
"""WebSocket echo server on Debian's python3-websockets 10.4 (legacy asyncio API).

    ws_echo_server.py --host 127.0.0.1 --port 0 [--subprotocol NAME ...]
                      [--no-compression] [--max-size BYTES]

Prints "LISTENING <port>" on stdout (flushed) once the socket is bound; with
--port 0 the port is the one the kernel chose. Echoes every message back with
the same type (text as text, binary as binary). permessage-deflate is offered
as websockets' default (compression="deflate") unless --no-compression.
A client's close frame is answered with the same code and reason (websockets'
default). One line per connection goes to stderr:
    CONNECT <path> subprotocol=<p|-> extensions=<ext|->
    CLOSE <code> <reason> messages=<n>
SIGINT/SIGTERM: stops listening, closes open connections with 1001, exits 0.

websockets 10.4 has only the legacy API: websockets.serve / websockets.connect
(the new websockets.asyncio.* API arrived in 13.0, websockets.sync in 11.0).
"""
import argparse
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _wsimport  # noqa: E402,F401  (re-execs under /usr/bin/python3 if needed)
import websockets  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--subprotocol", action="append", default=[],
                   help="subprotocol the server may select (repeatable)")
    p.add_argument("--no-compression", action="store_true",
                   help="do not negotiate permessage-deflate")
    p.add_argument("--max-size", type=int, default=64 * 1024 * 1024,
                   help="largest incoming message in bytes (default 64 MiB)")
    return p.parse_args()


async def echo(ws):
    n = 0
    sys.stderr.write(
        f"CONNECT {ws.path} subprotocol={ws.subprotocol or '-'} "
        f"extensions={','.join(e.name for e in ws.extensions) or '-'}\n")
    try:
        async for message in ws:  # str for text frames, bytes for binary
            n += 1
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        sys.stderr.write(f"CLOSE {ws.close_code} {ws.close_reason!r} messages={n}\n")
        sys.stderr.flush()


async def main():
    args = parse_args()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(
        echo,
        args.host,
        args.port,
        compression=None if args.no_compression else "deflate",
        subprotocols=args.subprotocol or None,
        max_size=args.max_size,
        max_queue=64,
        ping_interval=None,  # no unsolicited pings: keeps traces deterministic
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
