"""Hostile input for the tests of issue 24: wire messages mutated as an attacker would, with a fixed seed.

A msgpack encoder of its own (the msgpack package cannot write a map with a key twice, nor a `str` holding invalid
UTF-8), real messages read back into that form, and a catalogue of mutations of the kinds the issue found:
non-finite and huge numbers, blobs of inf / NaN / 3e38, class indices outside the model's list, sequence numbers
near 2^63 and 2^64, duplicated keys, non-UTF-8 and 100 kB strings, a camera named "..", 5000-key maps, wrong types,
missing fields, truncated and random bodies.

Imported by the tests beside it: `from hostile import pack, Raw, Bin, Pairs, F32, Mutator, read_recording`.
"""
import math
import random
import struct

import msgpack


class Raw(bytes):
    """A msgpack `str` holding these bytes as they are (valid UTF-8 or not)."""


class Bin(bytes):
    """A msgpack `bin`."""


class F32(float):
    """A float packed as float32 (the wire's luma, sharpness, uncertainty)."""


class Pairs(list):
    """A msgpack map as a list of (key, value) pairs: order kept, a key may repeat."""

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def set(self, key, value):
        for i, (k, _) in enumerate(self):
            if k == key:
                self[i] = (k, value)
                return
        self.append((key, value))

    def remove(self, key):
        self[:] = [(k, v) for k, v in self if k != key]


def pack(o):
    """msgpack bytes of o: Pairs/dict as maps, str/Raw as str, Bin/bytes as bin, F32 as float32, int, float, list."""
    out = bytearray()
    _pack(o, out)
    return bytes(out)


def _pack(o, out):
    if o is None:
        out += b"\xc0"
    elif o is True or o is False:
        out += b"\xc3" if o else b"\xc2"
    elif isinstance(o, F32):
        out += b"\xca" + struct.pack(">f", float(o))
    elif isinstance(o, float):
        out += b"\xcb" + struct.pack(">d", o)
    elif isinstance(o, int):
        if 0 <= o < 2 ** 64:
            out += b"\xcf" + struct.pack(">Q", o)
        else:
            out += b"\xd3" + struct.pack(">q", o)
    elif isinstance(o, Raw) or isinstance(o, str):
        b = bytes(o) if isinstance(o, Raw) else o.encode()
        out += b"\xdb" + struct.pack(">I", len(b)) + b
    elif isinstance(o, (Bin, bytes, bytearray)):
        out += b"\xc6" + struct.pack(">I", len(o)) + bytes(o)
    elif isinstance(o, (Pairs, dict)):
        items = list(o.items()) if isinstance(o, dict) else list(o)
        out += b"\xdf" + struct.pack(">I", len(items))
        for k, v in items:
            _pack(k, out)
            _pack(v, out)
    elif isinstance(o, (list, tuple)):
        out += b"\xdd" + struct.pack(">I", len(o))
        for v in o:
            _pack(v, out)
    else:
        raise TypeError(type(o))


def _to_pairs(o):
    """A message as msgpack read it (raw=True: bytes keys) back into the form pack() takes."""
    if isinstance(o, dict):
        return Pairs((_key(k), _to_pairs(v)) for k, v in o.items())
    if isinstance(o, list):
        return [_to_pairs(v) for v in o]
    return o


def _key(k):
    return k.decode() if isinstance(k, bytes) else k


def from_body(body):
    """A wire body as Pairs (bytes where it has str or bin: typed() tells them apart by key)."""
    return _to_pairs(msgpack.unpackb(body, raw=True, strict_map_key=False))


BLOB_KEYS = {"boxes", "scores", "classes", "flags", "margins", "entropies", "track_ids", "candidate_boxes",
             "candidate_scores", "candidate_classes", "jpeg"}
F32_KEYS = {"luma", "sharpness", "uncertainty", "threshold"}


def typed(o, key=None):
    """Pairs read with raw=True carry bytes for both str and bin: tag them by the key, as the wire defines."""
    if isinstance(o, Pairs):
        return Pairs((k, typed(v, k)) for k, v in o)
    if isinstance(o, list):  # arrays hold strings (classes, tags, reasons), never blobs
        return [typed(v) for v in o]
    if isinstance(o, bytes):
        return Bin(o) if key in BLOB_KEYS else Raw(o)
    if isinstance(o, float) and key in F32_KEYS:
        return F32(o)
    return o


def read_recording(path):
    """(header, [(topic, body_pairs)]) of a recording."""
    with open(path, "rb") as f:
        u = msgpack.Unpacker(f, raw=True, strict_map_key=False)
        header = next(u)
        records = [(t.decode(), typed(from_body(b))) for t, b in u]
    return header, records


def write_recording(path, header, records):
    """A recording of (topic, body bytes) records after a header dict (keys and strings as str)."""
    with open(path, "wb") as f:
        f.write(msgpack.packb(header, use_bin_type=True))
        for topic, body in records:
            f.write(msgpack.packb([topic, body], use_bin_type=True))


def floats(values):
    return Bin(struct.pack(f"<{len(values)}f", *values))


def ints(values):
    return Bin(struct.pack(f"<{len(values)}i", *values))


BAD_NUMBERS = [math.inf, -math.inf, math.nan, 1e30, 3e38, -1e30, -1.0, 2.0 ** 63, 2 ** 63, 2 ** 64 - 1, 2 ** 63 - 5,
               -(2 ** 63), 1e300]
BAD_FLOAT32 = [math.inf, -math.inf, math.nan, 3e38, -3e38, 1e30, -1.0, 7.0]
BAD_STRINGS = [Raw(b"\xff\xfe"), Raw(b"cam\xc3("), Raw(b"\xed\xa0\x80"), Raw(b"a" * 100_000), Raw(b".."), Raw(b""),
               Raw(b"a/b"), Raw(b"x\x00y"), Raw(b"\xf4\x90\x80\x80")]


class Mutator:
    """Seeded mutations of a message in Pairs form. mutate() returns a new message with 1 to 3 of them applied."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def mutate(self, msg):
        m = _copy(msg)
        for _ in range(self.rng.randint(1, 3)):
            try:
                self.rng.choice(self.MUTATIONS)(self, m)
            except (TypeError, ValueError, struct.error):  # an earlier mutation took what this one needs
                pass
        return m

    def _number(self, m):
        keys = [k for k, v in m if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if keys:
            m.set(self.rng.choice(keys), self.rng.choice(BAD_NUMBERS))

    def _float32(self, m):
        m.set(self.rng.choice(["luma", "sharpness", "uncertainty"]), F32(self.rng.choice(BAD_FLOAT32)))

    def _blob(self, m):
        n = m.get("n")
        if not isinstance(n, int) or n <= 0 or n > 1000:
            return
        key = self.rng.choice(["boxes", "scores", "margins", "entropies"])
        count = 4 * n if key == "boxes" else n
        values = list(struct.unpack(f"<{count}f", bytes(m.get(key))))
        values[self.rng.randrange(count)] = self.rng.choice(BAD_FLOAT32)
        m.set(key, floats(values))

    def _class(self, m):
        n = m.get("n")
        if isinstance(n, int) and 0 < n <= 1000:
            values = list(struct.unpack(f"<{n}i", bytes(m.get("classes"))))
            values[self.rng.randrange(n)] = self.rng.choice([-1, 5, 6, 12, 2 ** 31 - 1, -(2 ** 31)])
            m.set("classes", ints(values))

    def _seq(self, m):
        if m.get("seq") is not None:
            m.set("seq", self.rng.choice([2 ** 63, 2 ** 64 - 1, 2 ** 63 - 1, 2 ** 64 - 300, 2 ** 53]))

    def _duplicate(self, m):
        key = self.rng.choice(["luma", "camera", "seq", "scores", "type"])
        value = {"luma": F32(math.inf), "camera": Raw(b"cam9"), "seq": 2 ** 64 - 1, "scores": floats([math.nan]),
                 "type": Raw(b"stat")}[key]
        m.append((key, value))

    def _string(self, m):
        keys = [k for k, v in m if isinstance(v, Raw)]
        if keys:
            m.set(self.rng.choice(keys), self.rng.choice(BAD_STRINGS))

    def _meta(self, m):
        choice = self.rng.randrange(3)
        if choice == 0:
            m.set("meta", Pairs((f"k{i}", f"v{i}") for i in range(5000)))
        elif choice == 1:
            m.set("meta", Pairs([(Raw(b"\xff"), Raw(b"x"))]))
        else:
            m.set("meta", Pairs([("a", "1"), ("a", Raw(b"\xc0\xaf"))]))

    def _type(self, m):
        if m:
            k, _ = m[self.rng.randrange(len(m))]
            m.set(k, self.rng.choice([Raw(b"x"), [1, 2], Pairs(), None, True, Bin(b"\x00\x00\x80\x7f")]))

    def _drop(self, m):
        if m:
            m.remove(m[self.rng.randrange(len(m))][0])

    def _camera(self, m):
        m.set("camera", Raw(self.rng.choice([b"..", b".", b"../../etc", b"cam\x01", b"c" * 200,
                                             f"cam-{self.rng.randrange(10 ** 9)}".encode()])))

    MUTATIONS = [_number, _float32, _blob, _class, _seq, _duplicate, _string, _meta, _type, _drop, _camera]

    def body(self, msg):
        """The packed body of a mutant of msg; now and then truncated or random bytes instead."""
        r = self.rng.random()
        if r < 0.03:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 200)))
        b = pack(self.mutate(msg))
        if r < 0.06:
            return b[: self.rng.randrange(len(b))]
        return b


def _copy(o):
    if isinstance(o, Pairs):
        return Pairs((k, _copy(v)) for k, v in o)
    if isinstance(o, list):
        return [_copy(v) for v in o]
    return o
