#!/usr/bin/env python3
"""A chat relay for loadctl's tests, on the `websockets` package: path /chat/<room>/<user>,
a welcome frame on connect, every text frame relayed to the room's other members inside an
envelope of its own ({"kind": "relay", "from": user, "payload": <the frame, as JSON>}).
Listens on 127.0.0.1, an OS-chosen port, which it prints; serves until killed (the test
kills it) or for 60 s at most."""
import asyncio
import json

import websockets

rooms = {}


async def handler(ws):
    path = ws.request.path if hasattr(ws, "request") else ws.path
    parts = path.strip("/").split("/")
    room, user = parts[1], parts[2]
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        await ws.send(json.dumps({"kind": "welcome", "room": room, "members": len(members)}))
        async for frame in ws:
            out = json.dumps({"kind": "relay", "from": user, "payload": json.loads(frame)})
            for m in list(members):
                if m is not ws:
                    try:
                        await m.send(out)
                    except websockets.ConnectionClosed:
                        pass
    finally:
        members.discard(ws)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.sleep(60)


asyncio.run(main())
