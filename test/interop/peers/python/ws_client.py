#!/usr/bin/python3
"""WebSocket test client on Debian's python3-websockets 10.4 (legacy asyncio API).

    ws_client.py URL SCENARIO [--subprotocol NAME ...] [--no-compression]
                 [--timeout SECONDS] [--max-size BYTES]

Scenarios:
  echo-text    sends text messages (ASCII, empty, 2/3/4-byte UTF-8, 64 KiB+)
               one at a time and checks each echo is the same str (text frame).
  echo-binary  sends binary messages of 0, 1, 125, 126, 65535, 65536 and
               1048576 bytes (seeded pseudo-random) and checks each echo is the
               same bytes (binary frame). 125/126/65535/65536 straddle the
               7-bit / 16-bit / 64-bit payload-length encodings.
  close        closes with code 4000 reason "bye" and reports the close frame
               the server sent back (close_code / close_reason in the JSON).

Both echo scenarios end with a normal close (1000).
On success: exit 0 and ONE JSON line on stdout, e.g.
  {"ok": true, "scenario": "close", "close_code": 4000, "close_reason": "bye", ...}
On failure: exit 1, the cause on stderr, and a JSON line {"ok": false, "error": ...}.
Usage errors exit 2 (argparse). python3-websockets missing: exit 3.
"""
import argparse
import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _wsimport  # noqa: E402,F401  (re-execs under /usr/bin/python3 if needed)
import websockets  # noqa: E402

TEXT_MESSAGES = [
    "hello",
    "",
    "h\u00e9llo w\u00f6rld",                      # 2-byte UTF-8
    "\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8",  # 3-byte UTF-8
    "emoji \U0001F680\U0001F389 \u2713",          # 4-byte UTF-8
    "\u20ac" * 40000,                            # 120000 bytes, 16/64-bit length
    "a" * 125,
    "b" * 126,
]
BINARY_SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024]


class Failure(Exception):
    pass


def describe(msg):
    kind = "text" if isinstance(msg, str) else "binary"
    size = len(msg.encode("utf-8")) if isinstance(msg, str) else len(msg)
    return f"{kind}[{size} bytes]"


PROGRESS = {"step": "connecting"}


async def expect_echo(ws, sent, index):
    PROGRESS["step"] = f"waiting for the echo of message {index} ({describe(sent)})"
    await ws.send(sent)
    got = await ws.recv()
    if type(got) is not type(sent):
        raise Failure(f"message {index}: sent {describe(sent)}, got {describe(got)} (frame type differs)")
    if got != sent:
        raise Failure(f"message {index}: sent {describe(sent)}, got different payload {describe(got)}")


async def run(args):
    result = {"scenario": args.scenario, "url": args.url}
    started = time.monotonic()
    async with websockets.connect(
        args.url,
        subprotocols=args.subprotocol or None,
        compression=None if args.no_compression else "deflate",
        max_size=args.max_size,
        ping_interval=None,
        open_timeout=args.timeout,
        close_timeout=args.timeout,
    ) as ws:
        PROGRESS["step"] = "running"
        result["subprotocol"] = ws.subprotocol
        result["extensions"] = [e.name for e in ws.extensions]
        if args.scenario == "echo-text":
            for i, m in enumerate(TEXT_MESSAGES):
                await expect_echo(ws, m, i)
            result["messages"] = len(TEXT_MESSAGES)
            await ws.close(1000, "done")
        elif args.scenario == "echo-binary":
            rnd = random.Random(6455)
            for i, size in enumerate(BINARY_SIZES):
                await expect_echo(ws, rnd.randbytes(size), i)
            result["messages"] = len(BINARY_SIZES)
            await ws.close(1000, "done")
        elif args.scenario == "close":
            PROGRESS["step"] = "closing with 4000 'bye'"
            await ws.close(4000, "bye")
        else:  # argparse restricts choices; kept for safety
            raise Failure(f"unknown scenario {args.scenario}")
        # Legacy API: after close() returns, close_code/close_reason are what
        # the peer put in its close frame; 1006 means no close frame arrived.
        result["close_code"] = ws.close_code
        result["close_reason"] = ws.close_reason
        if ws.close_code == 1006:
            raise Failure("connection dropped without a close frame (1006)")
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("url")
    p.add_argument("scenario", choices=["echo-text", "echo-binary", "close"])
    p.add_argument("--subprotocol", action="append", default=[])
    p.add_argument("--no-compression", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="overall limit in seconds (default 30)")
    p.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    args = p.parse_args()
    try:
        result = asyncio.run(asyncio.wait_for(run(args), args.timeout))
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        cause = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if isinstance(e, asyncio.TimeoutError):
            cause = f"timed out after {args.timeout}s {PROGRESS['step']}"
        sys.stderr.write(f"ws_client {args.scenario} FAILED: {cause}\n")
        print(json.dumps({"ok": False, "scenario": args.scenario, "error": cause}), flush=True)
        sys.exit(1)
    print(json.dumps({"ok": True, **result}), flush=True)


if __name__ == "__main__":
    main()
