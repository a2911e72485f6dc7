"""Wire format v1 (docs/wire.md) as typed Python objects: Frame (pred and shadow), Event, Stat, and the class names a
consumer learns from run_start / line_info / model_info events and recording headers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import msgpack
import numpy as np

SCHEMA_VERSION = 1

#: docs/wire.md's flag bits by name (a pred's `flags`, per detection; `frame_flags` from bit 16)
FLAGS = {
    "near_threshold": 1 << 0, "ambiguous_class": 1 << 1, "high_entropy": 1 << 2, "reappeared": 1 << 3,
    "class_switch": 1 << 4, "score_oscillation": 1 << 5, "unusual_count": 1 << 16, "candidate_below": 1 << 17,
    "unknown_object": 1 << 18, "too_dark": 1 << 19, "too_bright": 1 << 20, "low_contrast": 1 << 21,
    "blurred": 1 << 22, "disagree": 1 << 23, "unexplained": 1 << 24,
}


def flag_names(bits: int) -> List[str]:
    """The names of the bits set in `bits`, low bits first (unknown bits are left out)."""
    return [name for name, bit in sorted(FLAGS.items(), key=lambda kv: kv[1]) if bits & bit]


class WireError(ValueError):
    """A body this reader cannot take: not msgpack, another schema version, a field missing or of the wrong kind."""


@dataclass
class Frame:
    """One processed frame of one camera (`pred/<camera>`, or `shadow/<camera>` for a version running beside)."""
    camera: str
    seq: int
    model: str
    boxes: np.ndarray  #: (n, 4) float32, x1 y1 x2 y2 in frame pixels
    scores: np.ndarray  #: (n,) float32
    classes: np.ndarray  #: (n,) int32, indices into class_names
    flags: np.ndarray  #: (n,) uint32, FLAGS bits per detection
    margins: np.ndarray
    entropies: np.ndarray
    line: str = ""
    pts_ns: int = 0
    time_ns: int = 0  #: wall clock when published (0: an older message)
    frame: int = -1
    width: int = 0
    height: int = 0
    track_ids: Optional[np.ndarray] = None
    frame_flags: int = 0
    uncertainty: Optional[float] = None
    luma: Optional[float] = None
    sharpness: Optional[float] = None
    contrast: Optional[float] = None
    stamps_ns: Dict[str, int] = field(default_factory=dict)
    meta: Dict[str, str] = field(default_factory=dict)
    shadow: bool = False
    #: the model's class names, once known (run_start, line_info, model_info, a recording's header); None before:
    #: a consumer that joined a running line learns them within about a second (line_info)
    class_names: Optional[List[str]] = None

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def labels(self) -> List[str]:
        """Each detection's class name (its index as text while the names are not known)."""
        names = self.class_names
        return [names[c] if names is not None and 0 <= c < len(names) else str(int(c)) for c in self.classes]

    @property
    def flag_names(self) -> List[str]:
        """The frame's flags by name."""
        return flag_names(self.frame_flags)

    def to_supervision(self):
        """A supervision.Detections (xyxy, confidence, class_id; data: class_name, flags, track_id where sent)."""
        try:
            import supervision as sv
        except ImportError as e:  # optional: only this method needs it
            raise ImportError("Frame.to_supervision() needs supervision: pip install supervision") from e
        data = {"class_name": np.array(self.labels, dtype=object), "flags": self.flags}
        return sv.Detections(xyxy=self.boxes.astype(np.float32), confidence=self.scores,
                             class_id=self.classes.astype(int), data=data,
                             tracker_id=None if self.track_ids is None else self.track_ids.astype(int))


@dataclass
class Event:
    """camera_up/down, run_start/end, line_info, model_*, a monitor's alarm_raised/cleared (topic `event`)."""
    kind: str
    camera: str = ""
    line: str = ""
    message: str = ""
    time_ns: int = 0
    run: str = ""
    endpoint: str = ""
    classes: Optional[List[str]] = None
    alarm: Optional[dict] = None
    fields: dict = field(default_factory=dict)  #: the body as sent (every key, known or not)


@dataclass
class Stat:
    """Per-camera statistics (topic `stat/<camera>`)."""
    camera: str
    values: Dict[str, float]
    time_ns: int = 0
    model: str = ""
    line: str = ""


Message = Union[Frame, Event, Stat]


def _blob(body: dict, key: str, dtype: str, count: int, width: int = 1) -> np.ndarray:
    raw = body.get(key, b"")
    if not isinstance(raw, (bytes, bytearray)):
        raise WireError(f"field '{key}': a blob (msgpack bin) expected")
    a = np.frombuffer(raw, dtype)
    if a.size != count * width:
        raise WireError(f"field '{key}': {a.size} values for n = {count}")
    return a.reshape(count, width) if width > 1 else a


def _need(body: dict, key: str, kind: type):
    v = body.get(key)
    if v is None or not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
        raise WireError(f"field '{key}' missing or not a {kind.__name__}")
    return v


def decode(body: bytes) -> Message:
    """A wire body as a Frame, Event or Stat. WireError names what is wrong (docs/wire.md: reject what you do not
    know); keys this reader does not know are ignored, as the contract says."""
    try:
        m = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several types for bytes that are not msgpack
        raise WireError(f"not a msgpack body: {e}") from e
    if not isinstance(m, dict):
        raise WireError("the body is not a map")
    if m.get("v") != SCHEMA_VERSION:
        raise WireError(f"schema version {m.get('v')!r}, this reader reads {SCHEMA_VERSION}")
    kind = m.get("type")
    if kind == "pred":
        n = _need(m, "n", int)
        track = m.get("track_ids")
        return Frame(camera=_need(m, "camera", str), seq=_need(m, "seq", int), model=_need(m, "model", str),
                     boxes=_blob(m, "boxes", "<f4", n, 4), scores=_blob(m, "scores", "<f4", n),
                     classes=_blob(m, "classes", "<i4", n), flags=_blob(m, "flags", "<u4", n),
                     margins=_blob(m, "margins", "<f4", n), entropies=_blob(m, "entropies", "<f4", n),
                     line=m.get("line", ""), pts_ns=m.get("pts_ns", 0), time_ns=m.get("time_ns", 0),
                     frame=m.get("frame", -1), width=m.get("width", 0), height=m.get("height", 0),
                     track_ids=None if track is None else _blob(m, "track_ids", "<i4", n),
                     frame_flags=m.get("frame_flags", 0), uncertainty=m.get("uncertainty"), luma=m.get("luma"),
                     sharpness=m.get("sharpness"), contrast=m.get("contrast"), stamps_ns=dict(m.get("t", {})),
                     meta=dict(m.get("meta", {})), shadow=bool(m.get("shadow", False)))
    if kind == "event":
        return Event(kind=_need(m, "kind", str), camera=m.get("camera", ""), line=m.get("line", ""),
                     message=m.get("message", ""), time_ns=m.get("time_ns", 0), run=m.get("run", ""),
                     endpoint=m.get("endpoint", ""), classes=m.get("classes"), alarm=m.get("alarm"), fields=m)
    if kind == "stat":
        return Stat(camera=_need(m, "camera", str), values=dict(_need(m, "values", dict)),
                    time_ns=m.get("time_ns", 0), model=m.get("model", ""), line=m.get("line", ""))
    raise WireError(f"unknown message type {kind!r}")


class ClassBook:
    """The class names of each (line, model) heard so far: run_start and line_info name the serving model in
    `message` and its names in `classes`; model_info does the same for every other version (docs/wire.md)."""

    def __init__(self):
        self._names: Dict[tuple, List[str]] = {}

    def learn(self, e: Event) -> None:
        if e.kind in ("run_start", "line_info", "model_info") and e.classes is not None and e.message:
            self._names[(e.line, e.message)] = list(e.classes)

    def learn_header(self, header: dict, line: str = "") -> None:
        """A recording's header: `model` with `classes`, and `versions` (name@version -> classes) when several."""
        if header.get("model") and header.get("classes") is not None:
            self._names[(line, header["model"])] = list(header["classes"])
        for model, names in (header.get("versions") or {}).items():
            self._names[(line, model)] = list(names)

    def names(self, f: Frame) -> Optional[List[str]]:
        return self._names.get((f.line, f.model)) or self._names.get(("", f.model))
