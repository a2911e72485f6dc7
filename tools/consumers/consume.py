#!/usr/bin/env python3
"""A sightline consumer using only pyzmq, msgpack and numpy: prints every message and checks sequence gaps.

    /usr/bin/python3 tools/consumers/consume.py tcp://127.0.0.1:5555 [--topic pred/] [--count N] [--timeout S]

Debian's python3 has the three packages once scripts/setup.sh ran (python3-zmq, python3-msgpack, python3-numpy);
any other Python: `python -m pip install pyzmq msgpack numpy`. Class names come from the run's `run_start` event
(docs/wire.md); a consumer that joins a running line sees indices until the next run starts, and is told it joined
late (its first sequence number per camera is above 0). Ctrl-C prints the summary and exits.
"""
import argparse
import datetime
import sys

try:
    import msgpack
    import numpy as np
    import zmq
except ImportError as e:
    sys.exit(f"consume.py needs pyzmq, msgpack and numpy ({e}): with Debian's /usr/bin/python3 run scripts/setup.sh "
             "(python3-zmq, python3-msgpack, python3-numpy); elsewhere: python -m pip install pyzmq msgpack numpy")


def wall(ns):
    return datetime.datetime.fromtimestamp(ns / 1e9).strftime("%H:%M:%S.%f")[:-3] if ns else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("endpoint")
    ap.add_argument("--topic", action="append", help="topic prefix to subscribe to (repeatable; default: all)")
    ap.add_argument("--count", type=int, default=0, help="stop after this many messages (0: never)")
    ap.add_argument("--timeout", type=float, default=0, help="stop after this many seconds without a message")
    args = ap.parse_args()

    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.endpoint)
    for t in args.topic or [""]:
        sock.setsockopt_string(zmq.SUBSCRIBE, t)
    last_seq, gaps, seen, late, classes = {}, 0, 0, {}, None
    try:
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
                cls = np.frombuffer(msg["classes"], "<i4")
                flags = np.frombuffer(msg["flags"], "<u4")
                cam, seq = msg["camera"], msg["seq"]
                if cam not in last_seq and seq > 0:
                    late[cam] = seq
                    print(f"{cam}: joined late, first message seq {seq} ({seq} before it were not seen)",
                          file=sys.stderr)
                elif cam in last_seq and seq != last_seq[cam] + 1:
                    gaps += 1
                    print(f"{cam}: gap, seq {last_seq[cam]} -> {seq}", file=sys.stderr)
                last_seq[cam] = seq
                name = (lambda k: classes[k] if classes and 0 <= k < len(classes) else str(k))
                best = f" best {name(int(cls[0]))}@{scores[0]:.2f} {boxes[0].round(1).tolist()}" if n else ""
                print(f"{wall(msg.get('time_ns', 0))} {topic.decode()} seq {seq} n {n} "
                      f"flagged {int((flags != 0).sum())}{best}")
            elif msg["type"] == "event" and msg["kind"] in ("run_start", "line_info"):
                # line_info repeats run_start's content with every set of stats: a consumer that joined late
                # learns the class names within a second
                if msg["kind"] == "run_start" or classes is None:
                    classes = msg.get("classes")
                    print(f"{wall(msg['time_ns'])} {msg['kind']}: model {msg['message']}, publishing on "
                          f"{msg.get('endpoint', '?')}, classes {classes}")
            else:
                print(f"{wall(msg.get('time_ns', 0))} {topic.decode()} {msg}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    print(f"{seen} messages, {gaps} sequence gaps" + (f", joined late on {sorted(late)}" if late else ""),
          file=sys.stderr)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
