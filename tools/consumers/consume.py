#!/usr/bin/env python3
"""A sightline consumer using only pyzmq, msgpack and numpy: prints every message and checks sequence gaps.

    python3 tools/consumers/consume.py tcp://127.0.0.1:5555 [--topic pred/] [--count N]
"""
import argparse
import sys

import msgpack
import numpy as np
import zmq


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("endpoint")
    ap.add_argument("--topic", action="append", help="topic prefix to subscribe to (repeatable; default: all)")
    ap.add_argument("--count", type=int, default=0, help="stop after this many messages (0: never)")
    ap.add_argument("--timeout", type=float, default=0, help="stop after this many seconds without a message")
    args = ap.parse_args()

    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.connect(args.endpoint)
    for t in args.topic or [""]:
        sock.setsockopt_string(zmq.SUBSCRIBE, t)
    last_seq, gaps, seen = {}, 0, 0
    while args.count == 0 or seen < args.count:
        if args.timeout and not sock.poll(int(args.timeout * 1000)):
            break
        topic, body = sock.recv_multipart()
        msg = msgpack.unpackb(body, raw=False)
        if msg.get("v") != 1:
            print(f"unknown schema version {msg.get('v')} on {topic!r}", file=sys.stderr)
            continue
        seen += 1
        if msg["type"] == "pred":
            n = msg["n"]
            boxes = np.frombuffer(msg["boxes"], "<f4").reshape(n, 4)
            scores = np.frombuffer(msg["scores"], "<f4")
            classes = np.frombuffer(msg["classes"], "<i4")
            flags = np.frombuffer(msg["flags"], "<u4")
            cam, seq = msg["camera"], msg["seq"]
            if cam in last_seq and seq != last_seq[cam] + 1:
                gaps += 1
                print(f"{cam}: gap, seq {last_seq[cam]} -> {seq}", file=sys.stderr)
            last_seq[cam] = seq
            best = f" best {classes[0]}@{scores[0]:.2f} {boxes[0].round(1).tolist()}" if n else ""
            print(f"{topic.decode()} seq {seq} n {n} flagged {int((flags != 0).sum())}{best}")
        else:
            print(f"{topic.decode()} {msg}")
    print(f"{seen} messages, {gaps} sequence gaps", file=sys.stderr)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
