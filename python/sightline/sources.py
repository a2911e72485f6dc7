"""Where frames come from: a line's ZeroMQ endpoint, a NATS JetStream stream (`sightline bridge`), a recording."""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Iterable, Iterator, Optional, Sequence

import msgpack

from .wire import ClassBook, Event, Frame, Message, WireError, decode

#: the kinds a subscriber yields by default
DEFAULT_TOPICS = ("pred/",)


def _wanted(topic: str, topics: Sequence[str]) -> bool:
    return any(topic.startswith(t) for t in topics)


def _read(topic: str, body: bytes, book: ClassBook, topics, on_error) -> Optional[Message]:
    """A body decoded, its class names attached (an event teaches the book), or None: not wanted, or unreadable
    (then handed to on_error)."""
    try:
        m = decode(body)
    except WireError as e:
        if on_error:
            on_error(topic, e)
        return None
    if isinstance(m, Event):
        book.learn(m)
    elif isinstance(m, Frame):
        m.class_names = book.names(m)
    return m if topic and _wanted(topic, topics) else None


def subscribe(source: str, topics: Sequence[str] = DEFAULT_TOPICS, *, timeout: Optional[float] = None,
              durable: Optional[str] = None, stream: str = "SIGHTLINE", start_seq: int = 0,
              on_error=None) -> Iterator[Message]:
    """Messages of one or more lines, as Frame / Event / Stat, each Frame with its class names once known.

    source: a line's publish endpoint (tcp://HOST:PORT, ipc://PATH), or NATS server URLs (nats://HOST:PORT[,...])
    to read the JetStream stream `stream` that `sightline bridge` fills (needs nats-py).
    topics: wire topic prefixes to yield ("pred/", "shadow/", "stat/", "event"); events are always read, to learn
    the class names, and yielded only when asked for.
    timeout: stop after this many seconds without a message (None: never).
    durable (JetStream): a durable consumer's name: a restart resumes after the last message this generator moved
    past (a message counts as done once you ask for the next). start_seq: where a new consumer starts (0: the first).
    on_error: called with (topic, WireError) for a body this reader cannot take (default: skipped silently).
    """
    if source.startswith("nats://") or source.startswith("tls://"):
        yield from _jetstream(source, topics, timeout, durable, stream, start_seq, on_error)
    else:
        yield from _zeromq(source, topics, timeout, on_error)


def _zeromq(endpoint: str, topics, timeout, on_error) -> Iterator[Message]:
    import zmq
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 100000)
    for e in endpoint.split(","):
        sock.connect(e.strip())
    for t in set(topics) | {"event"}:
        sock.setsockopt_string(zmq.SUBSCRIBE, t)
    book = ClassBook()
    try:
        while True:
            if not sock.poll(None if timeout is None else int(timeout * 1000)):
                return
            parts = sock.recv_multipart()
            if len(parts) < 2:
                continue
            m = _read(parts[0].decode("utf-8", "replace"), parts[1], book, topics, on_error)
            if m is not None:
                yield m
    finally:
        sock.close()


_KIND_OF_SUBJECT = {"pred": "pred/", "shadow": "shadow/", "stat": "stat/", "event": "event"}


def _topic_of(subject: str) -> str:
    """sightline.<line>.<kind>.<camera> -> the wire topic kind/<camera> (the camera as the body names it)."""
    parts = subject.split(".")
    return _KIND_OF_SUBJECT.get(parts[2], "") if len(parts) >= 3 else ""


def _jetstream(urls: str, topics, timeout, durable, stream, start_seq, on_error) -> Iterator[Message]:
    try:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    except ImportError as e:
        raise ImportError("reading JetStream needs nats-py: pip install nats-py (or sightline[nats])") from e
    got: "queue.Queue" = queue.Queue(maxsize=4096)
    done = queue.Queue()  # messages to acknowledge, handed back by the generator
    stop = threading.Event()

    async def run():
        async def quiet(e):  # connection trouble: nats-py reconnects; said through `logging`, not printed
            import logging
            logging.getLogger("sightline").debug("nats: %s", e)

        nc = await nats.connect(servers=urls.split(","), max_reconnect_attempts=-1, error_cb=quiet)
        js = nc.jetstream()
        cfg = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT,
                             deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.ALL,
                             opt_start_seq=start_seq or None)
        sub = await js.pull_subscribe("", durable=durable, stream=stream, config=cfg)
        left = []  # fetched and not handed over when the generator closes: given back at once (nak)
        try:
            while not stop.is_set():
                while not done.empty():
                    await done.get_nowait().ack()
                try:
                    msgs = await sub.fetch(64, timeout=0.2)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    continue
                for i, m in enumerate(msgs):
                    while True:
                        if stop.is_set():
                            left.extend(msgs[i:])
                            break
                        try:
                            got.put((m.subject, m.data, m), timeout=0.1)
                            break
                        except queue.Full:
                            while not done.empty():
                                await done.get_nowait().ack()
                    if stop.is_set():
                        break
            while not done.empty():
                await done.get_nowait().ack()
            while not got.empty():
                item = got.get_nowait()
                if item is not None:
                    left.append(item[2])
            for m in left:
                await m.nak()
        finally:
            await nc.drain()

    failure = []

    def thread():
        try:
            asyncio.run(run())
        except Exception as e:  # handed to the generator
            failure.append(e)
            got.put(None)

    t = threading.Thread(target=thread, daemon=True)
    t.start()
    book, last = ClassBook(), None
    try:
        while True:
            try:
                item = got.get(timeout=timeout)
            except queue.Empty:
                return
            if item is None:
                raise failure[0]
            subject, data, handle = item
            if last is not None:
                done.put(last)
            last = handle
            m = _read(_topic_of(subject), data, book, topics, lambda _, e: on_error and on_error(subject, e))
            if m is not None:
                yield m
    finally:
        if last is not None:
            done.put(last)
        stop.set()
        t.join(timeout=5)


def read_recording(path, topics: Sequence[str] = DEFAULT_TOPICS, *, on_error=None) -> Iterator[Message]:
    """The messages of a recording (`sightline run --record`), in order, each Frame with its class names (the
    header's, or each version's in a line of several)."""
    with open(path, "rb") as f:
        records = msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30)
        try:
            header = next(records)
        except StopIteration:
            raise WireError(f"{path}: empty, not a recording") from None
        if not isinstance(header, dict) or header.get("schema") != "sightline.record/1":
            raise WireError(f"{path}: not a sightline recording (schema {header.get('schema') if isinstance(header, dict) else None!r})")
        book = ClassBook()
        book.learn_header(header)
        for rec in records:
            if not isinstance(rec, (list, tuple)) or len(rec) != 2:
                raise WireError(f"{path}: a record that is not [topic, body]")
            m = _read(rec[0], rec[1], book, topics, on_error)
            if m is not None:
                yield m
