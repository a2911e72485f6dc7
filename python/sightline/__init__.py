"""sightline for Python consumers: the wire (docs/wire.md) as typed frames.

    import sightline
    for frame in sightline.subscribe("tcp://127.0.0.1:5555"):     # or "nats://HOST:4222" (JetStream)
        print(frame.camera, frame.seq, frame.labels, frame.scores)
    for frame in sightline.read_recording("run.slrec"):
        detections = frame.to_supervision()
"""
from .sources import read_recording, subscribe
from .wire import FLAGS, ClassBook, Event, Frame, Stat, WireError, decode, flag_names

__all__ = ["subscribe", "read_recording", "decode", "Frame", "Event", "Stat", "ClassBook", "WireError", "FLAGS",
           "flag_names"]
__version__ = "0.12.0"
