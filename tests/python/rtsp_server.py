#!/usr/bin/python3
"""A real RTSP server for the tests and the line-speed comparison (bench/peers/bench_linespeed_rtsp.py): GStreamer's
gst-rtsp-server through python3-gi, serving each H.264 MP4 at rtsp://127.0.0.1:PORT/NAME in real time, each
mount's stream started by its first client. For each mount it prints, once its pipeline plays, one JSON line
{"mount": "camK", "base_ns": B, "pts0_ns": P}: the buffer with presentation time p leaves at B + p on
CLOCK_MONOTONIC (GStreamer's system clock), so a frame's send time is known to the nanosecond.
Prints "ready" once it listens.

Usage: /usr/bin/python3 tests/python/rtsp_server.py PORT NAME=VIDEO.mp4 [NAME=VIDEO.mp4 ...]"""
import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PRINT = threading.Lock()


def on_configure(factory, media, mount):
    pay = media.get_element().get_by_name("pay0")
    pipeline = media.get_element()
    while pipeline.get_parent() is not None:
        pipeline = pipeline.get_parent()

    first = []

    def on_buffer(pad, info):  # the first buffers go out while the pipeline prerolls, before its base time is set
        if not first:
            first.append(info.get_buffer().pts)
        if pipeline.get_base_time() == 0:
            return Gst.PadProbeReturn.OK
        with PRINT:  # each mount's pipeline streams in a thread of its own
            print(json.dumps({"mount": mount, "base_ns": pipeline.get_base_time(), "pts0_ns": first[0]}), flush=True)
        return Gst.PadProbeReturn.REMOVE

    pay.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_buffer)


def main(port, mounts):
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    for spec in mounts:
        mount, path = spec.split("=", 1)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f"( filesrc location={path} ! qtdemux ! h264parse config-interval=-1 ! "
                           f"rtph264pay name=pay0 pt=96 config-interval=1 )")
        factory.set_shared(True)
        factory.connect("media-configure", on_configure, mount)
        server.get_mount_points().add_factory(f"/{mount}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {port}", file=sys.stderr)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
